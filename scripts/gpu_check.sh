#!/usr/bin/env bash
# GPU readiness in one run (at most 8 minutes: the step limits add up to 490 s): the CUDA tests, the GPU benchmarks and a
# 2-rank comparison, each step with its own time limit; JSON results and logs go to $OUT.
#
#   1. cuda_tests   pytest on the tests parametrised over the `device` fixture, CUDA cases only
#   2. reddiff_cost RED-diff ÷ forward, ÷ DPS, ÷ ΠGDM per step at batch 1 and 8 (throughput ratio
#                   batch 8 ÷ batch 1 in summary.json) and peak memory (benchmarks/reddiff_cost.py)
#   3. vs_deepinv   ours ÷ deepinv for DPS, DDRM, DiffPIR on the same network (vs_deepinv_diffusion.py)
#   4. ranks        the same comparison by 1 process and by 2 ranks under torchrun (NCCL, one GPU per
#                   rank; with fewer than 2 GPUs NCCL cannot run and the step is recorded as skipped)
#
# Usage: OUT=folder bash scripts/gpu_check.sh [--dry-run]
#   --dry-run  CPU and tiny sizes: checks that every step runs (its numbers mean nothing); the
#              2-rank step then uses gloo on the CPU.
# Environment: PYTHON (default python), OUT (default gpu-check-results).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT="${OUT:-gpu-check-results}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
export REDDIFF_BENCHMARK_RESULTS="$OUT"  # the benchmarks write their JSON there
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's package, installed or not
if [ "$DRY" = 1 ]; then
    DEVICE=cpu; QUICK=(--quick); TEST_SELECT=(tests/test_imports.py tests/operators/test_bridges.py); NO_MEMORY=(--no-memory)
    export OMP_NUM_THREADS=1
else
    DEVICE=cuda; QUICK=(); TEST_SELECT=(-k cuda tests); NO_MEMORY=()
fi
STEPS_JSON="$OUT/steps.jsonl"
: > "$STEPS_JSON"

step() {  # step NAME LIMIT_SECONDS COMMAND...: run, log, and record rc and seconds
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name (limit ${limit}s)"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - start)), \"timed_out\": $([ $rc = 124 ] && echo true || echo false)}" >> "$STEPS_JSON"
    tail -n 3 "$OUT/$name.log"
    return 0
}

"$PY" - > "$OUT/machine.json" <<'EOF'
import json, os, torch
print(json.dumps({
    "torch": torch.__version__, "cuda": torch.version.cuda, "gpus": torch.cuda.device_count(),
    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "cpus": os.cpu_count(),
}))
EOF

step cuda_tests 180 "$PY" -m pytest -q -p no:xdist "${TEST_SELECT[@]}" --junitxml="$OUT/cuda_tests.xml"
step reddiff_cost 100 "$PY" benchmarks/reddiff_cost.py --device "$DEVICE" "${QUICK[@]}" "${NO_MEMORY[@]}"
step vs_deepinv 120 "$PY" benchmarks/vs_deepinv_diffusion.py --device "$DEVICE" --quick
step ranks 90 "$PY" scripts/compare_ranks.py --device "$DEVICE" --out "$OUT" $([ "$DRY" = 1 ] && echo --tiny)

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


summary = {"steps": [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]}
for name in ("machine", "ranks"):
    summary[name] = read(out / f"{name}.json")
for path in sorted(out.glob("reddiff_cost-*.json")):
    times = read(path).get("time", {})
    summary["reddiff_cost"] = times
    if {"default-64-batch1", "default-64-batch8"} <= set(times):
        one, eight = times["default-64-batch1"]["reddiff"], times["default-64-batch8"]["reddiff"]
        summary["throughput_batch8_over_batch1"] = 8 * one / eight
for path in sorted(out.glob("vs_deepinv_diffusion*.json")):
    rows = read(path).get("rows", [])
    summary["ours_over_deepinv"] = [{k: r.get(k) for k in ("method", "task", "batch", "ratio_time", "ratio_time_wall")} for r in rows]
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary["steps"], indent=1))
EOF
