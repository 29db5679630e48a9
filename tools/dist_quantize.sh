#!/usr/bin/env bash
# Distributed CLAMP quantization with torchrun, like OpenMMLab's dist_test.sh:
#   bash tools/dist_quantize.sh CONFIG CHECKPOINT NUM_PROCESSES [quantize.py options]
# Pass '' as CHECKPOINT together with --load-quantized PATH. On CPU add
#   --cfg-options env_cfg.dist_cfg.backend=gloo
# Environment: NNODES, NODE_RANK, PORT, MASTER_ADDR, PYTHON.
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [quantize.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NUM_PROCESSES=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NUM_PROCESSES" \
    --master_port="$PORT" \
    "$(dirname "$0")/quantize.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
