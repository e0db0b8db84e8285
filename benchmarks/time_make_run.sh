#!/usr/bin/env bash
# Times `make run` as a new user meets it: a fresh clone, an empty data cache.
#   bash benchmarks/time_make_run.sh [WORKDIR]
# Prints the wall time of the whole `make run` and of its steps (install, data, suite, report).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/vssl-make-run}"
rm -rf "$work" && git clone -q "$repo" "$work/clone" && cd "$work/clone"
export VSSL_BENCH_DATA="$work/cache"
t0=$(date +%s)
make install >/dev/null
t1=$(date +%s)
.venv/bin/vssl-bench data generate
t2=$(date +%s)
.venv/bin/vssl-bench run --suite benchmarks/quick.yaml --out results/quick
t3=$(date +%s)
.venv/bin/vssl-bench report --results results/quick
t4=$(date +%s)
echo "install $((t1 - t0)) s | data $((t2 - t1)) s | suite $((t3 - t2)) s | report $((t4 - t3)) s | make run total $((t4 - t0)) s"
