#!/usr/bin/env bash
# The learned path on a GPU, as one prepared run (issue 13 items 5-6 on CUDA): what a session lent a
# device machine runs, from the repository root, e.g. through the device tool with timeout_s 540 (the
# steps' own limits add up to 520 s):
#
#     bash bench/gpu_check.sh
#
# * memory_<device>.json: bench_memory.py, one in-between per size in a fresh process: seconds,
#   peak RSS and peak CUDA memory at 960x540, 1920x1080 and 3840x2160 (the 18x 4K target; the
#   default flow scale finds a 4K pair's flows at 1927x1083);
# * memory_<device>_exact.json: the largest size again with --flow-scale 1 (exact global attention
#   on the full 4K grid, the original's numbers);
# * model_<device>_<dtype>.json: bench_model.py at 960x540, AFI: one in-between, x4 (estimate
#   once + 3 synthesize) and per-stage times, in fp32 and under bf16 autocast (CUDA).
#
# Results go to $OUT when set (the device tool brings that folder back), else bench/results/gpu_check.
# No package is installed: the checkout is made importable as comfyui_animeinterp through a link.
# DEVICE=cpu SIZES=256x144 runs the same steps on a CPU in seconds (a smoke test of this script).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-bench/results/gpu_check}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-960x540,1920x1080,3840x2160}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT_DIR"
PKG=$(mktemp -d)
ln -s "$PWD" "$PKG/comfyui_animeinterp"
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0

"$PYTHON" - <<'PY' || exit 1
import torch
cuda = torch.cuda.is_available()
print("torch", torch.__version__, "| cuda", cuda, "|", torch.cuda.get_device_name(0) if cuda else "no GPU")
PY

step() {  # step NAME SECONDS COMMAND...: run one bench, its JSON to $OUT_DIR/NAME.json, log to NAME.log
    local name=$1 seconds=$2; shift 2
    echo "== $name"
    if ! timeout "$seconds" "$@" > "$OUT_DIR/$name.json" 2> "$OUT_DIR/$name.log"; then
        echo "   failed or timed out (see $name.log)"; tail -n 3 "$OUT_DIR/$name.log"; status=1
    fi
}

step "memory_$DEVICE" 220 "$PYTHON" bench/bench_memory.py --device "$DEVICE" --sizes "$SIZES" --paths learned --timeout 200
largest=${SIZES##*,}
step "memory_${DEVICE}_exact" 100 "$PYTHON" bench/bench_memory.py --device "$DEVICE" --sizes "$largest" --paths learned \
    --flow-scale 1 --timeout 90
height=${SIZES%%,*}; height=${height#*x}; width=${SIZES%%x*}
dtypes="fp32 bf16"
[[ $DEVICE == cpu ]] && dtypes=fp32  # bench_model's autocast is CUDA only
for dtype in $dtypes; do
    step "model_${DEVICE}_$dtype" 100 "$PYTHON" bench/bench_model.py --variant afi --device "$DEVICE" --dtype "$dtype" \
        --height "$height" --width "$width" --no-memory
done
rm -rf "$PKG"
exit $status
