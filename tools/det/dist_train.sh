#!/usr/bin/env bash
# Copyright (c) mmstim contributors. All rights reserved.
# Train a detector on several GPUs (or CPU processes) of one machine.
#   bash tools/det/dist_train.sh CONFIG GPUS [ARGS of tools/det/train.py]
# Several machines: NNODES, NODE_RANK, MASTER_ADDR, PORT (tools/dist_launch.sh).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [ARGS of tools/det/train.py]" >&2; exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/../dist_launch.sh" det/train.py "$2" "$1" "${@:3}"
