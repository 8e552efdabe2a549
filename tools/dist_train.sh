#!/usr/bin/env bash
# Copyright (c) mmstim contributors. All rights reserved.
# Train on several GPUs (or CPU processes) of one machine.
#   bash tools/dist_train.sh CONFIG GPUS [ARGS of tools/train.py]
# Several machines: NNODES, NODE_RANK, MASTER_ADDR, PORT (tools/dist_launch.sh).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [ARGS of tools/train.py]" >&2; exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
