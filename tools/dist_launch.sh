#!/usr/bin/env bash
# Copyright (c) mmstim contributors. All rights reserved.
# Start a tool of this folder in NPROC processes of this machine (torchrun).
#   bash tools/dist_launch.sh TOOL NPROC [ARGS of TOOL]
# The dist_*.sh scripts call it. Without GPUs the processes use the gloo
# backend (the tools pick it; --dist-backend gloo says so explicitly).
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
# PYTHON chooses the interpreter.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 TOOL NPROC [ARGS of TOOL]" >&2; exit 2
fi
TOOL=$1
NPROC=$2
shift 2
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: GPUS must be a positive integer, got '$NPROC'" >&2; exit 2
fi
PYTHON=${PYTHON:-python}
AVAILABLE=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
if [ "$AVAILABLE" -gt 0 ] && [ "$NPROC" -gt "$AVAILABLE" ]; then
  echo "error: asked for $NPROC GPUs, this machine has $AVAILABLE" >&2; exit 2
fi
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$DIR/$TOOL" --launcher pytorch "$@"
