#!/usr/bin/env bash
# One-shot check of the CUDA path on a GPU machine, in a few minutes:
#
#   bash benchmarks/gpu_check.sh OUTDIR            # PY=.venv/bin/python by default if present
#
# 1. environment (GPU, torch / decord / av versions, the CLI imports);
# 2. cudatests: every method's loss and backward on the GPU under bf16 autocast (the tests
#    marked for CUDA, skipped on a CPU machine); then the smoke suite (every reference row +
#    sort, mae, nce; bf16 autocast, evaluation on the GPU);
# 3. torchrun --nproc_per_node=1 (NCCL process group, DDP wrapper, SyncBatchNorm) on nce;
#    workers: the smoke suite with 4 DataLoader workers and 30 steps, i.e. 2.5 epochs of the
#    loader's stream across epochs (on a CPU the same as without workers, bit for bit);
# 4. benchmarks/throughput.py: clips/s, data wait and MFU of tiny3d and r3d_18 at 16x112x112;
# 5. the quick suite (make run's 15 jobs) on the GPU, 5 jobs at a time: its table beside
#    the CPU's (results/150-steps/) says whether bf16 on a GPU changes the numbers beyond seed noise.
#
# Each step has its own time limit and a failure does not stop the next one; OUTDIR gets
# log.txt (everything printed), quick_cuda.csv, smoke_cuda.csv and throughput.jsonl.
# Two more steps, not in the default list: allmethods (every method with every evaluation,
# seed 0, 6 jobs at a time: all_methods_cuda.csv) and compiled (throughput.py with 15
# workers, then with --compile). STEPS="env cudatests smoke ddp workers throughput quick"
# (the default) picks steps; the run folders go to $WORK. Results of one H200: docs/gpu_check_h200/, docs/scaling.md.
set -u
OUT=${1:-gpu-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
WORK=${WORK:-/tmp/vssl-gpu-check}
STEPS=${STEPS:-env cudatests smoke ddp workers throughput quick}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of the script itself
export PYTHONUNBUFFERED=1
export VSSL_BENCH_DATA=${VSSL_BENCH_DATA:-$WORK/data}
mkdir -p "$WORK"
LOG="$OUT/log.txt"

step() {  # step NAME SECONDS FUNCTION
  local name=$1 limit=$2 start rc
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name: $*" | tee -a "$LOG"
  start=$(date +%s)
  timeout "$limit" bash -c "$*" >>"$LOG" 2>&1  # the functions below are exported
  rc=$?
  echo "=== $name: rc=$rc in $(($(date +%s) - start)) s" | tee -a "$LOG"
}

env_info() {
  nvidia-smi -L || true
  "$PY" - <<'EOF'
import platform, torch, decord, numpy, pandas
try:  # PyAV only writes videos: a machine given the generated data needs none
    import av
    av_version = av.__version__
except ImportError:
    av_version = "absent"
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "decord", decord.__version__, "av", av_version, "numpy", numpy.__version__, "pandas", pandas.__version__)
print("cuda available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
  "$PY" -m vssl_bench.cli list | head -5
}

cudatests() {  # the tests that need a GPU (skipped elsewhere); -rs shows any that still skipped
  "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() or '$DEVICE' != 'cuda' else
  'no CUDA device: every CUDA test would skip, and pass')" &&
    "$PY" -m pytest -q -rs -p no:cacheprovider tests/methods/test_smoke.py -k cuda
}

smoke() {
  "$PY" -m vssl_bench.cli run --suite smoke --device "$DEVICE" --out "$WORK/smoke" &&
    "$PY" -m vssl_bench.cli report --results "$WORK/smoke" &&
    cp "$WORK/smoke/results.csv" "$OUT/smoke_cuda.csv"
}

ddp() {
  "$PY" -m torch.distributed.run --nproc_per_node=1 -m vssl_bench.cli run --suite smoke --methods nce \
    --device "$DEVICE" --out "$WORK/ddp1" && cut -c1-400 "$WORK/ddp1/results.csv"
}

workers() {
  "$PY" -m vssl_bench.cli run --suite smoke --device "$DEVICE" --set num_workers=4 --set steps=30 \
    --out "$WORK/workers" && cut -d, -f3,15,17,18 "$WORK/workers/results.csv"
}

throughput() {
  set -o pipefail  # the script's failure, not tee's success
  "$PY" benchmarks/throughput.py --device "$DEVICE" --workers 8 --json | tee "$OUT/throughput.jsonl"
}

quick() {
  "$PY" -m vssl_bench.cli run --suite quick --device "$DEVICE" --jobs 5 --out "$WORK/quick" &&
    "$PY" -m vssl_bench.cli report --results "$WORK/quick" &&
    cp "$WORK/quick/results.csv" "$OUT/quick_cuda.csv"
}

allmethods() {  # every registered method and every evaluation (finetune, shift, budgets, ...), seed 0
  "$PY" -m vssl_bench.cli run --suite all-methods --seeds 0 --device "$DEVICE" --jobs 6 --out "$WORK/all" &&
    "$PY" -m vssl_bench.cli report --results "$WORK/all" &&
    cp "$WORK/all/results.csv" "$OUT/all_methods_cuda.csv"
}

compiled() {  # more loader workers, then torch.compile
  set -o pipefail
  "$PY" benchmarks/throughput.py --device "$DEVICE" --workers 15 --json | tee "$OUT/throughput15.jsonl" &&
    "$PY" benchmarks/throughput.py --device "$DEVICE" --workers 15 --compile --json | tee "$OUT/throughput15_compile.jsonl"
}

export PY WORK OUT DEVICE
export -f env_info cudatests smoke ddp workers throughput quick allmethods compiled
step env 40 env_info
step cudatests 120 cudatests
step smoke 90 smoke
step ddp 60 ddp
step workers 90 workers
step throughput 120 throughput
step quick 180 quick
step allmethods 300 allmethods
step compiled 150 compiled
echo "=== done" | tee -a "$LOG"
