#!/usr/bin/env bash
# The GPU measurement of the GPU-path issue, as one prepared run for the lent device machine (no Ray there):
#   device.run(command="bash benchmarks/device_check.sh", timeout_s=540)
# Writes every figure as JSON under $OUT (or ./device-out). Budget: about 8 minutes on one H200.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1
out="${OUT:-device-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
# The recommended recipe's networks (the ensemble space) first (the cheaper one), then the paper's, then the paper's in bf16.
timeout 150 python benchmarks/gpu_folds.py --config ensemble --trials-per-gpu 4 --out "$out" 2>&1 | tee "$out/ensemble.log"
timeout 330 python benchmarks/gpu_folds.py --config paper --trials-per-gpu 4 --out "$out" 2>&1 | tee "$out/paper.log"
timeout 60 python benchmarks/gpu_folds.py --config paper --trials-per-gpu 4 --precision bf16 --folds 8 --out "$out" \
  2>&1 | tee "$out/paper_bf16.log"
