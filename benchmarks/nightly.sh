#!/usr/bin/env bash
# The nightly leaderboard (.github/workflows/nightly.yml), resumable across nights.
#
# The committed full suite (every method x 3 seeds x every evaluation, at the converged
# budget) is several hours of CPU: more than one night's job limit on a hosted runner may
# allow. So a night runs the suite until its deadline (BUDGET_MIN), is cut there like a
# Ctrl-C (every finished job is kept, a running one resumes from its checkpoint next
# time), writes the report from what is finished, and the workflow commits the rows and the
# run folders' small files (no checkpoints): the next night skips every finished job and
# goes on. Once the suite is complete, a night whose code differs from the code that
# computed the rows starts it over (run folders removed; results.csv kept, so the
# leaderboard is never empty: each job's new row replaces its old one as it lands).
#
#   BUDGET_MIN=300 JOBS=4 bash benchmarks/nightly.sh
set -uo pipefail
SUITE=${SUITE:-full}
OUT=${OUT:-results}
JOBS=${JOBS:-$(nproc)}
BUDGET_MIN=${BUDGET_MIN:-300}
DEADLINE_S=${DEADLINE_S:-$((BUDGET_MIN * 60))}
V=.venv/bin/vssl-bench

last=$($V status --suite "$SUITE" --out "$OUT" | tail -1)
echo "before: $last"
if [[ $last != *pending* && $last != *running* && $last != *failed* && -f $OUT/results.csv ]]; then
  rows=$(.venv/bin/python - "$OUT/results.csv" <<'EOF'
import collections, csv, sys
c = collections.Counter(r["commit"].removesuffix("-dirty") for r in csv.DictReader(open(sys.argv[1])))
print(c.most_common(1)[0][0] if c else "")
EOF
)
  if [[ -z $rows ]] || ! git cat-file -e "$rows^{commit}" 2>/dev/null \
      || ! git diff --quiet "$rows" HEAD -- vssl_bench pyproject.toml "benchmarks/$SUITE.yaml" benchmarks/tuned.yaml; then
    echo "suite complete, computed by ${rows:-unknown} and the code has changed since: starting it over"
    rm -rf "$OUT/runs"
  else
    echo "suite complete and the code unchanged since $rows: nothing to run"
  fi
fi

# the deadline arrives as SIGINT: the run stops as after Ctrl-C (exit 130), resumable
timeout --signal=INT --kill-after=120 "$DEADLINE_S" \
  $V run --suite "$SUITE" --out "$OUT" --jobs "$JOBS"
code=$?
echo "run exit code $code ($([[ $code == 130 || $code == 124 ]] && echo 'cut at the deadline: the next night resumes' || echo 'finished'))"
$V report --results "$OUT" > /dev/null
$V status --suite "$SUITE" --out "$OUT" | tail -1
