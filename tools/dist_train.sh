#!/usr/bin/env bash
# Multi-process training with torchrun: tools/dist_train.sh CONFIG NPROC [args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT environment variables.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR=$(dirname "$0")
if [ -x "$DIR/../.venv/bin/python" ]; then DEFAULT_PY="$DIR/../.venv/bin/python"; else DEFAULT_PY=python; fi
PY=${PYTHON:-$DEFAULT_PY}

PYTHONPATH="$DIR/..":$PYTHONPATH \
$PY -m torch.distributed.run \
    --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS --master_port=$PORT \
    "$DIR/train.py" "$CONFIG" --launcher pytorch ${@:3}
