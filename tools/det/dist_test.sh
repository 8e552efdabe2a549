#!/usr/bin/env bash
# Copyright (c) mmstim contributors. All rights reserved.
# Test a detector on several GPUs (or CPU processes) of one machine.
#   bash tools/det/dist_test.sh CONFIG CHECKPOINT GPUS [ARGS of tools/det/test.py]
# Several machines: NNODES, NODE_RANK, MASTER_ADDR, PORT (tools/dist_launch.sh).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [ARGS of tools/det/test.py]" >&2; exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/../dist_launch.sh" det/test.py "$3" "$1" "$2" "${@:4}"
