#!/usr/bin/env bash
# Continue training the natural-image prior on a GPU for a fixed time, in one call of the device
# tool, and hand back its training state and EMA network under $OUT.
#
# The run resumes the training state in STATE (default training/natural_prior) when there is one;
# otherwise it starts from the shipped natural prior's network (SHIPPED, below) with a fresh
# optimiser and a 500-step warm-up, unless INIT or CONFIG says otherwise. It trains at a larger
# batch than the CPU affords (a GPU idles at batch 16), is stopped by SIGTERM after MINUTES (the
# trainer saves its state on the signal), and leaves in $OUT:
#   state.pt.part-00, -01, ...  the training state, split below the device tool's 16 MiB file limit
#   ema.pt                 the EMA network (the float16 export that ships as natural_prior.pt)
#   train.log              the trainer's log
#   validation.txt         one-step denoising of the validation photographs, shipped EMA against new
# A run that fails (anything but the time limit ending it) stops here with its log and returns no
# state. Back on the development machine (STATE, below, for another network):
#   cp FILES_AT/ema.pt reddiff_imaging/data/assets/natural_prior.pt   (when it validates better)
#   cat FILES_AT/state.pt.part-* > training/natural_prior/state.pt   (only to resume it exactly; the
#   state is 24 MB, so it is not committed: the shipped network is where the next loan starts)
#
# The GPU machine has torch, scikit-image and the rest but not PyWavelets, whose two photographs
# (aero, ascent) are in the training set: carry its wheel for that machine's CPython 3.12 in .whl
# (git-ignored); it is unpacked only when PyWavelets is missing:
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 -d .whl PyWavelets==1.8.0
# and run (device tool): command "MINUTES=7 bash scripts/gpu_train.sh", carry [".whl"], timeout 600.
#
# Usage: OUT=folder [MINUTES=7] [BATCH=256] [LR=1e-4] [PYTHON=python3] [STATE=dir CONFIG=json | INIT=pt [DEEPEN=1]] bash scripts/gpu_train.sh [--dry-run]
#   STATE, CONFIG  another training folder and network (a UNetConfig JSON string or file), e.g. a
#              wider network started from scratch: STATE=training/natural_prior_48
#              CONFIG='{"in_channels": 3, "base_channels": 48, "channel_mults": [1, 2, 2, 2],
#              "num_res_blocks": 1, "attention_resolutions": [], "num_groups": 8, "time_embed_dim": 128}'
#              (its first 500 steps warm the learning rate up).
#   INIT, DEEPEN  a folder without a state starts from the network of the checkpoint INIT (default:
#              the shipped natural prior); DEEPEN=1 first adds one residual block per level, keeping what it
#              computes (models.deepened), e.g. the shipped prior made deeper:
#              STATE=training/natural_prior_deep INIT=reddiff_imaging/data/assets/natural_prior.pt DEEPEN=1
#   --dry-run  on the CPU, for 20 seconds at batch 4, in a temporary folder (with a copy of the
#              state, if any): checks the script's steps here (PYTHON=.venv/bin/python: the python
#              that has torch); STATE is left untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-gpu-train-results}"
mkdir -p "$OUT"
STATE="${STATE:-training/natural_prior}"
SHIPPED=reddiff_imaging/data/assets/natural_prior.pt
if [ "${1:-}" = "--dry-run" ]; then
    DEVICE=cpu LIMIT=20s BATCH=4
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    if [ -f "$STATE/state.pt" ]; then cp "$STATE/state.pt" "$WORK/"; fi
else
    DEVICE=cuda LIMIT="${MINUTES:-7}m" BATCH="${BATCH:-256}"
    WORK="$STATE"
fi
if ! "$PY" -c "import pywt" 2> /dev/null; then  # a wheel is a zip of what goes into site-packages
    compgen -G ".whl/*.whl" > /dev/null || { echo "PyWavelets is missing: carry its wheel in .whl (see the header)"; exit 1; }
    mkdir -p /tmp/site
    for wheel in .whl/*.whl; do "$PY" -m zipfile -e "$wheel" /tmp/site; done
    export PYTHONPATH="/tmp/site"
    "$PY" -c "import pywt" || { echo "PyWavelets is missing: carry its wheel in .whl (see the header)"; exit 1; }
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ -f "$WORK/state.pt" ]; then
    NETWORK=()  # a resumed run keeps its stored network
elif [ -n "${CONFIG:-}" ]; then
    NETWORK=(--config "$CONFIG")
else
    NETWORK=(--init "${INIT:-$SHIPPED}")
    if [ "${DEEPEN:-}" = 1 ]; then NETWORK+=(--deepen); fi
fi

# --steps is an upper bound: the time limit ends the run (timeout's status 124)
set +e
timeout --signal=TERM --kill-after=60 "$LIMIT" "$PY" -m reddiff_imaging train-prior \
    --out "$WORK" --data photos --rgb --size 64 --steps 100000000 --batch-size "$BATCH" \
    --lr "${LR:-1e-4}" --warmup-steps 500 --checkpoint-every 1000 --log-every 200 \
    --device "$DEVICE" --half-export ${NETWORK[@]+"${NETWORK[@]}"} 2>&1 | tee "$OUT/train.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 124 ] && [ "$status" != 0 ]; then
    echo "training failed (status $status): no state returned; see $OUT/train.log"
    exit 1
fi

if [ ! -f "$WORK/ema.pt" ]; then
    echo "no training step finished before the time limit: no state returned; see $OUT/train.log"
    exit 1
fi
split --bytes=15M --numeric-suffixes "$WORK/state.pt" "$OUT/state.pt.part-"
cp "$WORK/ema.pt" "$OUT/ema.pt"
# the new EMA against the shipped one, on the validation photographs only
"$PY" scripts/validation_denoise.py "$SHIPPED" "$WORK/ema.pt" --device "$DEVICE" \
    2>&1 | tee "$OUT/validation.txt" || true
ls -l "$OUT"
