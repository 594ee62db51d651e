#!/usr/bin/env bash
# The GPU path, measured in one go on a machine with a CUDA GPU (issue 16): GPU-marked tests, training speed
# (fp32, bf16 autocast, torch.compile), the CNN on the full Fashion-MNIST to its best test accuracy, torchrun on
# one GPU, and Build & train on the GPU as a student sees it. Each step's output lands in $OUT (or bench/out).
# Usage: DLCORE_DATA_DIR=../shared/data bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/out}"; mkdir -p "$out"
export PYTHONUNBUFFERED=1 DLCORE_HOME="${DLCORE_HOME:-$(mktemp -d)}"
step() { local name=$1; shift; echo "== $name: $*"; timeout "${STEP_LIMIT:-240}" "$@" >"$out/$name.log" 2>&1; echo "   exit $?"; tail -n "${TAIL:-3}" "$out/$name.log"; }
nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
step tests python3 -m pytest -q -m gpu -p no:cacheprovider --ignore=tests/e2e
step speed python3 bench/train_speed.py --device cuda --amp bf16 --compile
step best python3 bench/best_accuracy.py --device cuda --preset cnn --epochs 15
step torchrun python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m dlcore train --preset cnn --dataset fashion-mnist --epochs 2 --device cuda --json
step ddp python3 bench/ddp_scaling.py --device cuda
step app python3 bench/gpu_app.py --epochs 2
