#!/usr/bin/env bash
# Test a checkpoint on several GPUs (or CPU processes) of one machine with torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [ARGS of tools/test.py]
# Without GPUs the processes use the gloo backend (--dist-backend gloo).
# Environment: NNODES, NODE_RANK, PORT, MASTER_ADDR for several machines.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [ARGS of tools/test.py]" >&2; exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: GPUS must be a positive integer, got '$GPUS'" >&2; exit 2
fi
PYTHON=${PYTHON:-python}
AVAILABLE=$($PYTHON -c 'import torch; print(torch.cuda.device_count())')
if [ "$AVAILABLE" -gt 0 ] && [ "$GPUS" -gt "$AVAILABLE" ]; then
  echo "error: asked for $GPUS GPUs, this machine has $AVAILABLE" >&2; exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" \
$PYTHON -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
