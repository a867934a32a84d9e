#!/usr/bin/env bash
# The one script a session lent a CUDA GPU runs (device tool), in under five minutes:
#   1. the comparison with the PyTorch example on the GPU (reference capped at 3 epochs);
#   2. each recipe's time to 99.0% and, for `default`, to 99.3% (training seconds only);
#   3. one epoch per precision and the device-resident loader (bench_devices.py).
# Results land in $OUT (the device tool's folder) or benchmarks/results/.
# Usage on the device machine, from the repository root, with the data copied to .data/:
#   MNISTKIT_DATA_DIR=$PWD/.data bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python - <<'PY' | tee -a "$out/gpu.txt"
import torch, mnistkit
print("torch", torch.__version__, "cuda", torch.version.cuda, "mnistkit", mnistkit.__version__)
PY
timeout 240 python benchmarks/compare_reference.py --device cuda --quick \
    --methods reference mnistkit-0.1 default fast fast-command --json "$out/compare_cuda.json" \
    2>&1 | tee "$out/compare_cuda.log"
timeout 150 python benchmarks/compare_reference.py --device cuda --target 0.993 \
    --methods default --json "$out/compare_cuda_993.json" 2>&1 | tee "$out/compare_cuda_993.log"
timeout 120 python benchmarks/bench_devices.py --device cuda --json "$out/bench_devices_cuda.json" \
    2>&1 | tee "$out/bench_devices_cuda.log"
