#!/usr/bin/env bash
# The nightly leaderboard (.github/workflows/nightly.yml), resumable across nights.
#
# The committed full suite (benchmarks/full.yaml: every method x 3 seeds x every
# evaluation, at the converged budget with the tuned selection) is hours
# of CPU: more than one night's job limit on a hosted runner may
# allow. So a night runs the suite until its deadline (BUDGET_MIN), is cut there like a
# Ctrl-C (every finished job is kept, a running one keeps its checkpoint), writes the report
# from what is finished, and the workflow commits the rows and the run folders' small files
# (no checkpoints) and carries the cut jobs' folders to the next night through the Actions
# cache: the next night skips every finished job, resumes the cut ones from their
# checkpoints and goes on (failed jobs are tried again; a cut job whose folder the cache
# lost starts from step 0). Once every job has finished, a night where any
# done job was computed by other code than HEAD's (benchmarks/nightly_state.py: the code that
# computes rows, not the report's or the command line's printing) starts the
# suite over (run folders removed; results.csv kept, so the leaderboard is never empty:
# each job's new row replaces its old one as it lands). Exit code: 0 when finished or cut
# at the deadline, the run's code when a job failed (the workflow still commits the rest).
#
#   BUDGET_MIN=300 JOBS=4 bash benchmarks/nightly.sh
set -uo pipefail
SUITE=${SUITE:-full}
OUT=${OUT:-results}
JOBS=${JOBS:-$(nproc)}
BUDGET_MIN=${BUDGET_MIN:-300}
DEADLINE_S=${DEADLINE_S:-$((BUDGET_MIN * 60))}
V=.venv/bin/vssl-bench

state=$(.venv/bin/python benchmarks/nightly_state.py "$SUITE" "$OUT") || { echo "cannot read the state of $OUT"; exit 1; }
echo "before: $state"
case $state in
  stale*) echo "suite complete, computed by other code: starting it over"; rm -rf "$OUT/runs" ;;
  current*) echo "suite complete and computed by this code: nothing to run (failed jobs are retried)" ;;
esac

# the deadline arrives as SIGINT: the run stops as after Ctrl-C (exit 130), resumable
timeout --signal=INT --kill-after=120 "$DEADLINE_S" \
  $V run --suite "$SUITE" --out "$OUT" --jobs "$JOBS" --retry-failed
code=$?
case $code in
  0) what="finished" ;;
  124 | 130 | 137) what="cut at the deadline: the next night resumes" ;;
  *) what="failed: a job of the suite failed or the run stopped; see above" ;;
esac
echo "run exit code $code ($what)"
if [[ -f $OUT/results.csv ]]; then
  $V report --results "$OUT" > /dev/null || { echo "report failed"; exit 1; }
else
  echo "no job finished yet: no report"
fi
echo "after: $(.venv/bin/python benchmarks/nightly_state.py "$SUITE" "$OUT")"
case $code in 0 | 124 | 130 | 137) exit 0 ;; *) exit "$code" ;; esac
