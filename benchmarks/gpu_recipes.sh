#!/usr/bin/env bash
# Train and evaluate the speed and accuracy recipes on one CUDA device, in under ten
# minutes (issue 12; the per-model recipes linear, mlp, ... are not among them):
#   fast, default            MNIST, one seed each, all 60,000 training images
#   best                     MNIST, `mnistkit ensemble` of seeds 0 1 2 (each member is a
#                            single-model result; the ensemble averages their probabilities)
#   fashion                  Fashion-MNIST, seed 0 (evaluated also with --tta)
# Each run trains on the whole training set for the recipe's fixed number of epochs (no
# validation split, no early stopping, nothing chosen on the test set) and is evaluated once.
# Results: $OUT/<run>/metrics.json, figures, and $OUT/summary.md (one table).
#
# Usage, from the repository root, with the data under $MNISTKIT_DATA_DIR:
#   bash benchmarks/gpu_recipes.sh              # on the GPU machine
#   bash benchmarks/gpu_recipes.sh --dry-run    # print the commands, run nothing (any machine)
#   OUT=dir DEVICE=cuda:1 SEEDS="0 1 2 3 4" bash benchmarks/gpu_recipes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
case "${1:-}" in
  --dry-run) dry=1 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "gpu_recipes.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

out="${OUT:-benchmarks/results/gpu-recipes}"
device="${DEVICE:-cuda}"
seeds="${SEEDS:-0 1 2}"
python="${PYTHON:-python}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

run() {
  echo "+ $*"
  if [ "$dry" -eq 0 ]; then "$@"; fi
}

if [ "$dry" -eq 0 ]; then
  mkdir -p "$out"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  "$python" -c "import torch, mnistkit; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'mnistkit', mnistkit.__version__)" \
    | tee -a "$out/gpu.txt"
fi

started=$SECONDS
common=(--device "$device" --quiet)
# shellcheck disable=SC2086  # $seeds is a list of numbers
run timeout 60 "$python" -m mnistkit train --recipe fast --val-fraction 0 "${common[@]}" \
  --out "$out/mnist-fast"
run timeout 90 "$python" -m mnistkit train --recipe default --val-fraction 0 "${common[@]}" \
  --out "$out/mnist-default"
# shellcheck disable=SC2086
run timeout 250 "$python" -m mnistkit ensemble --recipe best --seeds $seeds "${common[@]}" \
  --out "$out/mnist-best-ensemble"
run timeout 200 "$python" -m mnistkit train --recipe fashion --dataset fashion-mnist \
  --val-fraction 0 "${common[@]}" --out "$out/fashion-mnist-fashion"
run "$python" -m mnistkit evaluate "$out/mnist-best-ensemble/model.safetensors" --device "$device"
run "$python" -m mnistkit evaluate "$out/fashion-mnist-fashion/model.safetensors" --tta \
  --device "$device"

if [ "$dry" -eq 0 ]; then
  "$python" - "$out" "$((SECONDS - started))" <<'PY' | tee "$out/summary.md"
import json, sys
from pathlib import Path
out, seconds = Path(sys.argv[1]), sys.argv[2]
print(f"| run | test accuracy | epochs | train s | hardware |\n| --- | ---: | ---: | ---: | --- |")
for metrics_path in sorted(out.glob("**/metrics.json")):
    m = json.loads(metrics_path.read_text())
    name = metrics_path.parent.relative_to(out)
    epochs = m.get("epochs", m["config"]["epochs"])
    print(f"| {name} | {m['test_accuracy']:.2%} | {epochs} | {m['train_seconds']:.1f} "
          f"| {m.get('hardware', m['device'])} |")
print(f"\nwall time of the script: {seconds} s")
PY
fi
