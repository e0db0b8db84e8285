"""The command line: parse, call, print. The rules live in the modules it calls
(``suite`` resolves the options into jobs, ``launch`` runs them, ``report`` summarises).

Every user mistake (unknown method / dataset / backbone / suite / config key, bad value,
missing data root) ends in one line ``error: ...`` naming the valid choices, exit code 2.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import inspect
import logging
import math
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

try:  # typer < 0.20 depends on click; newer typer vendors it as typer._click
    from click.exceptions import Abort as ClickAbort
    from click.exceptions import UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from typer._click.exceptions import UsageError

    ClickAbort = typer.Abort

from vssl_bench import distributed, tblog
from vssl_bench.config import Config, ConfigError, apply_overrides, choice_error, parse_set_options
from vssl_bench.data.check import CACHE_NAME, check_dataset
from vssl_bench.data.datasets import DATASETS, build_dataset
from vssl_bench.data.prepare import MANIFEST, prepare_dataset
from vssl_bench.eval import EVALUATIONS
from vssl_bench.eval.base import Evaluation
from vssl_bench.launch import (
    DRAIN_SIGNAL,
    NOT_STARTED,
    draining,
    request_drain,
    run_matrix,
    slurm_cluster,
    slurm_options,
    submit_slurm,
)
from vssl_bench.methods import METHODS
from vssl_bench.models.backbones import BACKBONES
from vssl_bench.results import read_rows, results_path
from vssl_bench.rundir import RunDir
from vssl_bench.runner import checkpoint_skipped, job_status, pending_evaluations
from vssl_bench.stats import (
    DEFAULT_METRIC,
    QUESTIONS,
    SEED_NOISE_TITLE,
    answer_all,
    budget_axis,
    budget_markdown,
    collapse_warning,
    own_task_text,
    seed_noise_markdown,
)
from vssl_bench.suite import available_suites, load_suite, suite_from_options
from vssl_bench.tune import (
    cautions,
    default_point,
    grid_centres,
    grid_table,
    own_task,
    point_score,
    point_text,
    select,
    table_markdown,
    tuning_jobs,
    write_selection,
)
from vssl_bench.utils import Watchdog, atomic_write_text

DRAINED = 128 + getattr(signal, DRAIN_SIGNAL, 10)  # exit code of a drained run that left jobs (138 on Linux)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="vssl-bench: self-supervised video learning methods compared on one backbone, "
    "one dataset and one budget, with honest numbers.",
)
data_app = typer.Typer(no_args_is_help=True, help="Generate the embedded dataset; check and prepare real ones.")
app.add_typer(data_app, name="data")
# Piped or logged (CI, `make run | tee`), rich would squeeze tables to 80 columns and
# truncate every header; a wide console keeps them readable ($COLUMNS still wins).
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 180
console = Console(width=_WIDTH)
err = Console(stderr=True, width=None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 180)

# The options that decide a matrix, shared by `run` and `status` (the jobs' names follow from them).
SuiteOpt = Annotated[Optional[str], typer.Option("--suite", "-s", help="Suite name or YAML path (default: quick).")]
MethodsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--methods",
        "-m",
        help="Comma-separated method slugs (see `list`); random and supervised are added as references.",
    ),
]
SeedsOpt = Annotated[Optional[str], typer.Option("--seeds", help="Comma-separated seeds, e.g. 0,1,2.")]
DatasetOpt = Annotated[Optional[str], typer.Option("--dataset", help="Dataset (see `list`).")]
BackboneOpt = Annotated[Optional[str], typer.Option("--backbone", help="Backbone (see `list`).")]
StepsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--steps", help="Budget in optimiser steps, the same for every method; several (150,600) make a budget axis."
    ),
]
EpochsOpt = Annotated[Optional[float], typer.Option("--epochs", help="Budget in epochs (overrides the suite's steps).")]
SetsOpt = Annotated[
    list[str],
    typer.Option(
        "--set",
        help="Override a config field, a method or an evaluation "
        "parameter: key=value, method.param=value, evaluation.param=value. "
        "Repeatable.",
    ),
]
NoRefsOpt = Annotated[bool, typer.Option("--no-references", help="Do not add random/supervised to --methods.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto | cpu | cuda")]
DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Dataset folder (embedded data: its cache).")]


@app.command()
def run(
    methods: MethodsOpt = None,
    suite: SuiteOpt = None,
    seeds: SeedsOpt = None,
    dataset: DatasetOpt = None,
    backbone: BackboneOpt = None,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    device: DeviceOpt = None,
    data_root: DataRootOpt = None,
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results folder (runs/, results.csv, leaderboard)."),
    sets: SetsOpt = [],  # noqa: B006 - typer's default for a repeatable option
    no_references: NoRefsOpt = False,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run jobs recorded as failed again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the job matrix and exit."),
    n_jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        help="Jobs run at a time on this machine, each in its own process "
        "(cores shared evenly, one GPU each round robin).",
    ),
    launcher: str = typer.Option(
        "local",
        "--launcher",
        help="local | slurm (one SLURM job per matrix job, through submitit; needs the `slurm` extra).",
    ),
    partition: Optional[str] = typer.Option(
        None, "--partition", help="slurm: partition (default: the suite's slurm: mapping, else the cluster's default)."
    ),
    time_min: Optional[int] = typer.Option(None, "--time", help="slurm: time limit per job in minutes (default 720)."),
    gpus_per_job: Optional[int] = typer.Option(
        None, "--gpus-per-job", help="slurm: GPUs per job (default 1; 0 with --device cpu)."
    ),
    cpus_per_job: Optional[int] = typer.Option(None, "--cpus-per-job", help="slurm: CPUs per job (default 8)."),
) -> None:
    """Pretrain every method x budget x seed of the matrix, evaluate each checkpoint, record the results.

    Finished jobs are skipped; a killed job resumes from its last checkpoint. Exit code 1
    while a job of the matrix is failed (in this run or, skipped, earlier). SIGUSR1 to this
    process (kill -USR1 PID) drains it: the running jobs finish, no new one starts, and it
    exits 138 if it left jobs; the same command runs them.
    """
    if launcher not in ("local", "slurm"):
        raise choice_error("launcher", launcher, ["local", "slurm"])
    if n_jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {n_jobs}")
    if n_jobs > 1 and launcher == "slurm":
        raise ConfigError("--jobs is for --launcher local (SLURM runs the submitted jobs side by side itself)")
    s = suite_from_options(
        suite, methods, seeds, dataset, backbone, steps, epochs, device, data_root, sets, not no_references
    )
    jobs = s.jobs()
    _preflight(jobs)
    slurm = None
    if launcher == "slurm":  # checked before any work: options, then sbatch (one-line error, exit 2)
        slurm = (
            slurm_options(
                s.slurm, partition=partition, time=time_min, gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job
            ),
            slurm_cluster(),
        )
    distributed.quiet_other_ranks()  # under torchrun: one console from the first line on (rank 0's)
    budget = s.budget_text()
    console.print(
        f"[bold]suite[/] {s.name}: {_matrix_text(s, len(jobs))} on {s.base.dataset} / {s.base.backbone}, "
        f"budget {budget} x batch {s.base.batch_size}; results in {out}/"
    )
    if dry_run:
        for cfg in jobs:
            console.print(f"  {job_status(cfg, out):8s} {cfg.job_name()}")
        return
    train, _ = _prepare_data(s.base)
    if len(train) < s.base.batch_size:  # every job would fail one by one after `random`'s
        raise ConfigError(
            f"batch_size {s.base.batch_size} is larger than the training split of {s.base.dataset} "
            f"({len(train)} videos); lower it with --set batch_size=N"
        )
    out.mkdir(parents=True, exist_ok=True)

    def on_done(o, secs):
        _outcome_line(o)

    if slurm is not None:
        _submit_slurm(jobs, out, retry_failed, lambda o: on_done(o, 0.0), *slurm)
        return
    # one process: a watchdog stops it if the job stops making progress (--jobs N: the parent watches)
    watch = Watchdog(s.base.job_stall_s) if n_jobs == 1 else contextlib.nullcontext()
    with _progress() as progress, watch, _drain_on_signal():
        outcomes = run_matrix(jobs, out, progress, retry_failed, on_done, n_jobs)
    distributed.shutdown()  # under torchrun: every rank is done with the matrix; no-op otherwise
    text, code = run_summary([o.status for o in outcomes], out)
    console.print(text)
    if code:
        raise typer.Exit(code)


@app.command()
def tune(
    methods: MethodsOpt = None,
    suite: SuiteOpt = None,
    seeds: SeedsOpt = None,
    dataset: DatasetOpt = None,
    backbone: BackboneOpt = None,
    steps: StepsOpt = None,
    device: DeviceOpt = None,
    data_root: DataRootOpt = None,
    out: Path = typer.Option(Path("results/tune"), "--out", "-o", help="Folder of the tuning jobs."),
    write: Path = typer.Option(
        Path("benchmarks/tuned.yaml"), "--write", help="Where the selection goes (a suite names it with `tuned:`)."
    ),
    sets: SetsOpt = [],  # noqa: B006 - typer's default for a repeatable option
    no_references: NoRefsOpt = False,
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="Jobs run at a time on this machine."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run tuning jobs recorded as failed again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the grid and exit."),
) -> None:
    """The same small grid for every method (learning rate x 3, one parameter of its own x 2),
    selected on a validation split carved from the training videos, never the test set.

    Writes the selection (--write) and the grid's table (OUT/grid.md). Resumable like `run`,
    drained like it by SIGUSR1 (an unfinished grid writes no selection).
    """
    if n_jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {n_jobs}")
    s = suite_from_options(  # without the suite's tuned selection: the grid starts from the shared recipe
        suite, methods, seeds, dataset, backbone, steps, None, device, data_root, sets, not no_references, tuned=False
    )
    if len(s.budgets) > 1:  # one grid, one budget: which one is the user's choice, not the first by default
        raise ConfigError(
            f"tune runs at one budget, got {', '.join(map(str, s.budgets))} steps: "
            f"pass --steps N (the short budget to tune at)"
        )
    points = tuning_jobs(s)
    _preflight([pt.cfg for pt in points])
    steps_ = points[0].cfg.steps if points else 0
    console.print(
        f"[bold]tune[/] {s.name}: {len(s.methods)} methods, {len(points)} jobs ({len(s.seeds)} seed(s), "
        f"{steps_} steps, evaluated on {s.base.val_fraction:.0%} of each class's training videos); "
        f"jobs in {out}/"
    )
    if dry_run:  # the grid with each finished point's validation scores: a grid of days can be read as it fills
        n_done = 0
        statuses = [job_status(pt.cfg, out) for pt in points]
        complete, chosen = _chosen_so_far(points, statuses, out, s, retry_failed)
        for pt, status in zip(points, statuses):
            point = point_text(pt.overrides) or "(nothing to tune)"
            line = f"  {status:8s} {pt.method:<12} seed {pt.cfg.seed}  {point}"
            if status == "done" and (m := RunDir.of(out, pt.cfg).read_metrics()):
                n_done += 1
                score, own = point_score(m), own_task([m])
                line += f"  val linear {_pct(m.get('linear_top1'))}  kNN {_pct(m.get('knn_top1'))}  score {_pct(score)}"
                if own["own_kind"]:
                    text = own_task_text(own["own_kind"], own["own_task"], own["own_floor"])
                    verdict = "learned" if own["learned"] else "not learned"
                    if own["own_kind"] == "accuracy" and not own["learned"]:  # why 70 (>66) is not learned
                        verdict += f" (its interval's lower end: {100 * own['own_bound']:.1f})"
                    line += f"  own task {text}: {verdict}"  # this seed; grid.md reads a point's seeds together
                if chosen.get(pt.method) == pt.overrides:
                    line += "  <- selected"
            console.print(line, highlight=False)
        n_methods = len({pt.method for pt in points if pt.overrides})
        console.print(
            f"{n_done} of {len(points)} jobs done; {len(complete)} of {n_methods} methods' grids complete, "
            f"{len(chosen)} with a choice, marked '<- selected' (as the selection will name it); the "
            "selection is written when all have finished (the same command without --dry-run runs the rest)",
            highlight=False,
        )
        if left := _time_left([pt.cfg for pt in points], statuses, out, n_jobs, retry_failed):
            console.print(left, highlight=False)
        return
    _prepare_data(s.base)
    out.mkdir(parents=True, exist_ok=True)
    watch = Watchdog(s.base.job_stall_s) if n_jobs == 1 else contextlib.nullcontext()
    with _progress() as progress, watch, _drain_on_signal():
        point_of = {pt.cfg.job_name(): point_text(pt.overrides) for pt in points}

        def on_done(o, secs):  # a line per job, as `run` prints: a long grid can be followed in its log
            if o.status != "skipped-done":
                _outcome_line(o, f"  grid point: {point_of.get(o.name) or 'nothing to tune'}; validation split")

        outcomes = run_matrix([pt.cfg for pt in points], out, progress, retry_failed, on_done, n_jobs)
    if left := sum(o.status == NOT_STARTED for o in outcomes):  # an unfinished grid selects nothing
        console.print(
            f"{left} tuning job(s) not started ({DRAIN_SIGNAL}); no selection written. "
            "The same command runs them and then selects."
        )
        raise typer.Exit(DRAINED)
    table = grid_table(points, out)
    centres = grid_centres(s)
    best = select(table, s.base, n_seeds=len(s.seeds), centres=centres)
    n_val = len(build_dataset(points[0].cfg)[1]) if points else None  # the validation videos (lists only)
    notes = cautions(table, best, n_val, defaults={m: default_point(m, s.base, centres) for m in best})
    atomic_write_text(out / "grid.md", table_markdown(table, best, notes))
    console.print(table_markdown(table, best, notes), highlight=False)
    failed = [pt for pt, o in zip(points, outcomes) if o.status in ("failed", "skipped-failed")]
    command = "vssl-bench tune " + shlex.join(sys.argv[2:])
    write_selection(
        best, write, command, steps_, s.seeds, s.base, failed=[(p.method, p.overrides) for p in failed], notes=notes
    )
    console.print(
        f"selection written to {write} (name it in a suite with `tuned: {write.name}`); grid in {out / 'grid.md'}"
    )
    if failed:  # a point that failed on a seed (e.g. a diverging rate) competed with none of its seeds
        console.print(
            f"[red]{len(failed)} tuning job(s) failed[/] (listed under `failed:` in {write}); their grid points "
            f"could not be selected. Why: `failure_reason` in {out / 'results.csv'} (each job's "
            "metrics.json); --retry-failed runs them again."
        )
        raise typer.Exit(1)


def _chosen_so_far(
    points: list, statuses: list[str], out: Path, s, retry_failed: bool = False
) -> tuple[set[str], dict[str, dict]]:
    """The methods whose every grid point finished on every seed (done, or failed and not to
    be retried), and method -> its selected overrides among them: what the selection will
    name for them, read while the rest of the grid runs (a complete grid where no point
    finished on every seed has none). A method with nothing to tune (``random``) is left out."""
    finished: dict[str, bool] = {}
    for pt, status in zip(points, statuses):
        finished[pt.method] = finished.get(pt.method, True) and _is_final(status, retry_failed)
    complete = {m for m, f in finished.items() if f and any(pt.overrides for pt in points if pt.method == m)}
    table = grid_table([pt for pt in points if pt.method in complete], out)
    best = select(table, s.base, n_seeds=len(s.seeds), centres=grid_centres(s))
    return complete, {m: b["overrides"] for m, b in best.items()}


def _is_final(status: str, retry_failed: bool) -> bool:
    """Whether a job with this ``status`` needs no more training: done (an evaluation switched
    on since may still run on its checkpoint), or failed while failed jobs are not retried
    (``--retry-failed`` runs them again)."""
    return status == "done" or (status == "failed" and not retry_failed)


def _outcome_line(o, suffix: str = "") -> None:
    """One line per job as it ends (``run`` and ``tune``): what a log of a long run shows.
    ``suffix``: after the numbers (``tune``: the grid point, and that they are validation ones)."""
    m = o.metrics or {}
    if o.status == "done":
        console.print(
            f"[green]done[/]    {m['method']:<11} seed {m['seed']}  linear {100 * m['linear_top1']:5.1f}  "
            f"kNN {100 * m['knn_top1']:5.1f}  R@1 {100 * m['retrieval_r1']:5.1f}  "
            f"{_own_task_short(m)}  ({m['pretrain_seconds']:.0f} s train, {m['eval_seconds']:.0f} s eval){suffix}"
        )
        if warn := collapse_warning(m):
            console.print(f"[yellow]warning[/] {warn}")
    elif o.status == "skipped-done":
        console.print(f"[dim]skip[/]    {o.name} (finished earlier)")
    elif o.status == "skipped-failed":
        console.print(f"[yellow]skip[/]    {o.name} failed earlier ({o.reason}); --retry-failed to run it again")
    elif o.status == "locked":
        console.print(f"[yellow]busy[/]    {o.name}: {o.reason}")
    else:
        console.print(f"[red]FAILED[/]  {o.name}: {o.reason}")


def _own_task_short(m: dict) -> str:
    """A finished job's own task in its log line: held-out accuracy, or for a reconstruction
    task its held-out loss as a share of the training-free predictor's (under 1: learned)."""
    loss, base = m.get("pretext_loss_heldout"), m.get("pretext_baseline_loss")
    if m.get("pretext_accuracy") is None and isinstance(loss, (int, float)) and isinstance(base, (int, float)) and base:
        return f"pretext loss {loss / base:5.2f}x baseline"
    return f"pretext acc {_pct(m.get('pretext_accuracy'))}"


def _matrix_text(s, n_jobs: int) -> str:
    """How the job count adds up: methods that do not train (``random``) have one job per
    seed, not one per budget."""
    still = [m for m in s.methods if not METHODS[m].trains]
    trained = len(s.methods) - len(still)
    text = f"{trained} methods x {len(s.budgets) or 1} budget(s) x {len(s.seeds)} seeds"
    if still:
        text += f" + {', '.join(still)} once per seed (untrained)"
    return f"{text} = {n_jobs} jobs"


def _preflight(jobs: list[Config]) -> None:
    """What would fail every job one by one, refused once before any work (exit 2)."""
    if any(cfg.tensorboard == "on" for cfg in jobs) and not tblog.available():
        raise ConfigError(
            "tensorboard=on needs the tensorboard package: pip install -e '.[tensorboard]' "
            "(or --set tensorboard=auto to write events only where it is installed)"
        )


def run_summary(statuses: list[str], out: Path) -> tuple[str, int]:
    """The last line of ``run`` and its exit code: 1 while any job of the matrix is failed,
    whether it failed now or earlier (skipped: its failure is on record, the suite is still
    incomplete); else :data:`DRAINED` when a drain left jobs not started; busy jobs (run by
    another process) are counted in the line but not against the exit code."""
    n = {s: statuses.count(s) for s in ("done", "failed", "skipped-done", "skipped-failed", "locked", NOT_STARTED)}
    earlier = n["skipped-failed"]
    text = (
        f"{n['done']} run, {n['skipped-done'] + earlier} skipped, {n['failed']} failed"
        + (
            f" ({earlier} skipped job{'s' * (earlier > 1)} failed earlier; --retry-failed runs "
            f"{'them' if earlier > 1 else 'it'} again)"
            if earlier
            else ""
        )
        + (f", {n['locked']} busy (run by another process)" if n["locked"] else "")
        + (f", {n[NOT_STARTED]} not started ({DRAIN_SIGNAL}: the same command runs them)" if n[NOT_STARTED] else "")
        + f". `vssl-bench report --results {out}` for the comparison."
    )
    code = 1 if n["failed"] or earlier else DRAINED if n[NOT_STARTED] else 0
    return text, code


def _submit_slurm(jobs: list[Config], out: Path, retry_failed: bool, on_skip, opts: dict, cluster: str) -> None:
    """``run --launcher slurm``: submit the unfinished jobs, print their SLURM job ids."""
    subs = submit_slurm(jobs, out, opts, cluster, retry_failed, on_skip)
    for sub in subs:
        console.print(f"[cyan]submitted[/] {sub.cfg.job_name()} as job {sub.job_id}", highlight=False)
    console.print(
        f"{len(subs)} submitted, {len(jobs) - len(subs)} not submitted (finished, failed or running); "
        f"logs in {out / 'slurm'}/; `vssl-bench status --out {out}` to follow them.",
        highlight=False,
    )


def _pct(v) -> str:
    return "  –  " if v is None or v != v else f"{100 * v:5.1f}"  # None or NaN: not measured


def _progress():
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def _prepare_data(cfg: Config):
    """The (train, test) lists of the suite's dataset, generated first if embedded."""
    if DATASETS[cfg.dataset].embedded:
        with console.status(f"preparing embedded dataset {cfg.dataset} (cached after the first time)"):
            train, test = build_dataset(cfg)
        console.print(
            f"[bold]data[/] {cfg.dataset}: {len(train)} train / {len(test)} test videos, "
            f"{len(train.classes)} classes, at {train.root}"
        )
        return train, test
    return build_dataset(cfg)


@app.command()
def report(
    results: Path = typer.Option(Path("results"), "--results", "-r", help="Results folder (or a results.csv)."),
    metric: Optional[str] = typer.Option(
        None,
        "--metric",
        help="Show only this metric (e.g. knn_top1) and answer the questions with it (default knn_top1).",
    ),
    fmt: str = typer.Option("table", "--format", help="table | markdown | csv"),
    write: bool = typer.Option(
        True,
        "--write/--no-write",
        help="Write leaderboard.md/.csv, report.html and figures/ (into the results folder, or --report-dir).",
    ),
    report_dir: Optional[Path] = typer.Option(
        None,
        "--report-dir",
        help="Write the report there instead of into the results folder (which --results names; "
        "`run`'s --out is a results folder, not this).",
    ),
) -> None:
    """Comparison tables, verdicts on the five questions, leaderboard, figures, report.html.

    Tables: mean ± std over seeds, grouped by family; verdicts: vssl_bench/stats.py."""
    # the report draws with matplotlib (heavy, and only the report needs it)
    from vssl_bench.report import METRICS, display_frame, leaderboard_markdown, load_results, summarize, write_report

    if fmt not in ("table", "markdown", "csv"):
        raise choice_error("format", fmt, ["table", "markdown", "csv"])
    if metric is not None and metric not in METRICS:
        raise choice_error("metric", metric, METRICS)
    try:
        df = load_results(results)
    except FileNotFoundError as e:
        raise ConfigError(f"{e}; run `vssl-bench run` first, or report a folder that has one (--results)") from None
    metrics = (
        [metric]
        if metric
        else ["linear_top1", "linear_video_top1", "knn_top1", "retrieval_r1", "retrieval_r5", "pretext_accuracy"]
    )
    summary = summarize(df)
    verdicts = answer_all(df, metric or DEFAULT_METRIC)
    out_dir = report_dir if report_dir is not None else results if results.is_dir() else results.parent
    if report_dir is not None and not write:
        console.print(f"[yellow]warning[/] --no-write: nothing is written to {report_dir}", highlight=False)
    paths = []
    if write and not summary.table.empty:  # before printing: a reader that stops early (`| head`) loses nothing
        cmd = "vssl-bench report " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            paths = write_report(
                df,
                summary,
                out_dir,
                metrics if metric else METRICS[:-1] + ["pretext_accuracy"],
                verdicts,
                metric or DEFAULT_METRIC,
                cmd.strip(),
            )
        except OSError as e:  # a file where a folder goes, no permission, a full disk: one line
            raise ConfigError(f"cannot write the report to {out_dir}: {e.strerror or e}") from None
    if fmt == "markdown":
        print(leaderboard_markdown(summary, metrics, verdicts=verdicts, df=df))
    elif fmt == "csv":
        print(summary.table.to_csv(index=False, float_format="%.4f"), end="")
    else:
        d = display_frame(summary, metrics) if not summary.table.empty else None
        if d is not None:
            for ds, g in d.groupby("dataset", sort=False):
                t = Table(title=f"{ds}: top-1 / recall %, mean ± std over seeds", show_lines=False)
                for c in g.columns:
                    if c != "dataset":
                        t.add_column(c, justify="left" if c in ("family", "method") else "right")
                prev = None
                for _, r in g.iterrows():
                    if prev is not None and r["family"] != prev:
                        t.add_section()
                    prev = r["family"]
                    t.add_row(
                        *[str(r[c]) for c in g.columns if c != "dataset"],
                        style="dim italic" if r.get("learned") == "no" else None,
                    )  # did not learn
                console.print(t)
        for n in summary.notes:
            console.print(f"[yellow]note[/] {escape(n)}")
        seed_md = seed_noise_markdown(df)
        if seed_md:
            console.print(f"\n[bold]{SEED_NOISE_TITLE}[/]")
            console.print(escape(seed_md), highlight=False)
        axes = budget_axis(df, verdict_metric=metric or DEFAULT_METRIC)
        if axes:  # has the answer settled? (the same text as the leaderboard's section)
            console.print("\n[bold]Budget axis[/]: does the answer change with the budget?")
            console.print(escape(budget_markdown(axes).rstrip()), highlight=False)
        colour = {"yes": "green", "no": "red", "no evidence": "yellow", "not enough data": "yellow"}
        for q, title in QUESTIONS.items():
            console.print(f"\n[bold]{q}. {escape(title)}[/]")
            for v in (v for v in verdicts if v.question == q):
                console.print(f"  [dim]{escape(v.setting)}[/] [{colour.get(v.answer, 'white')}]{escape(v.text)}[/]")
    if paths and fmt == "table":
        console.print("wrote " + ", ".join(str(p) for p in paths))


@app.command("list")
def list_(
    what: str = typer.Argument("all", help="all | methods | evaluations | datasets | backbones | suites"),
) -> None:
    """Methods (family, uses temporal order), evaluations, datasets, backbones and suites."""
    kinds = ("all", "methods", "evaluations", "datasets", "backbones", "suites")
    if what not in kinds:
        raise choice_error("list", what, kinds)
    if what in ("all", "methods"):
        t = Table(title="methods")
        for c in ("method", "family", "uses time", "what", "reference"):
            t.add_column(c)
        for name, cls in METHODS.items():
            t.add_row(name, cls.family, "yes" if cls.uses_time else "no", cls.summary, cls.reference)
        console.print(t)
    if what in ("all", "evaluations"):
        t = Table(title="evaluations (a suite's `evaluations:` block; --set <evaluation>.<param>=value)")
        for c in ("evaluation", "run", "parameters (defaults)", "what"):
            t.add_column(c)
        for name, cls in EVALUATIONS.items():
            params = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(cls.Params()).items())
            t.add_row(name, "every job" if cls.standard else "when switched on", params, cls.summary)
        console.print(t)
    if what in ("all", "datasets"):
        t = Table(title="datasets")
        t.add_column("dataset")
        t.add_column("description")
        for name, spec in DATASETS.items():
            t.add_row(name, spec.description)
        console.print(t)
    if what in ("all", "backbones"):
        t = Table(title="backbones")
        t.add_column("backbone")
        t.add_column("description")
        for name, (desc, _) in BACKBONES.items():
            t.add_row(name, desc)
        console.print(t)
    if what in ("all", "suites"):
        t = Table(title="suites (benchmarks/*.yaml)")
        t.add_column("suite")
        t.add_column("methods x seeds")
        t.add_column("description")
        for name, path in available_suites().items():
            try:
                s = load_suite(str(path))
                t.add_row(name, f"{len(s.methods)} x {len(s.seeds)}", s.description)
            except ConfigError as e:
                t.add_row(name, "?", f"invalid: {e}")
        console.print(t)


@data_app.command("generate")
def data_generate(
    dataset: str = typer.Option("synthetic", "--dataset", help="synthetic | synthetic-biased"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Where to write it (default: user cache)."),
    size: int = typer.Option(32, "--size", help="Frame side in pixels."),
) -> None:
    """Generate (or find cached) the embedded synthetic dataset as H.264 MP4 files."""
    embedded = [n for n, s in DATASETS.items() if s.embedded]
    if dataset not in embedded:
        raise choice_error("embedded dataset", dataset, embedded)
    cfg = apply_overrides(
        Config(), {"dataset": dataset, "size": size, **({"data_root": str(data_root)} if data_root else {})}
    )
    _prepare_data(cfg)


@data_app.command("check")
def data_check(
    dataset: str = typer.Option(..., "--dataset", help="ucf101 | hmdb51 | kinetics | ssv2 | folder | ..."),
    data_root: Path = typer.Option(..., "--data-root", help="The dataset's folder (nothing is downloaded)."),
    split: int = typer.Option(1, "--split", help="Official split number (1-3) or folder split seed."),
    sets: list[str] = typer.Option([], "--set", help="Config override key=value (clip_len, frame_stride, ...)."),
    show: int = typer.Option(30, "--show", help="How many problems to list (all are counted)."),
) -> None:
    """Scan every video of a split: readable, frames, fps, resolution; exit 1 if unusable."""
    cfg = apply_overrides(
        Config(), {**parse_set_options(sets), "dataset": dataset, "data_root": str(data_root), "split": split}
    )
    with _progress() as prog:
        task = prog.add_task("checking videos", total=None, info="")
        rep = check_dataset(cfg, lambda i, n: prog.update(task, completed=i, total=n))
    sm = rep.summary()
    t = Table(title=f"{dataset} split {split} at {data_root}")
    for c in ("", "listed", "readable", "missing", "unreadable"):
        t.add_column(c)
    for s_ in ("train", "test"):
        t.add_row(s_, *(str(sm[f"{s_}_{k}"]) for k in ("listed", "ok", "missing", "unreadable")))
    console.print(t)
    console.print(
        f"{sm['classes']} classes; frames min/median/max {sm['frames_min']}/{sm['frames_median']:.0f}/"
        f"{sm['frames_max']}; {sm['short']} shorter than a clip ({sm['min_frames_for_a_clip']} frames); "
        f"{sm['hours']} h; resolutions {sm['resolutions']}; fps {sm['fps']}; "
        f"{rep.cached} answered from {CACHE_NAME}",
        highlight=False,
    )
    if rep.problems:
        console.print(f"[bold]{len(rep.problems)} problem(s)[/]")
        for line in rep.problems[:show]:
            console.print("  " + line, highlight=False, markup=False)
        if len(rep.problems) > show:
            console.print(f"  ... {len(rep.problems) - show} more (--show N)")
    for reason in rep.fatal:
        err.print(f"unusable: {reason}", highlight=False, markup=False)
    if not rep.usable:
        raise typer.Exit(1)
    console.print("[green]usable[/]")


@data_app.command("prepare")
def data_prepare(
    dataset: str = typer.Option(..., "--dataset", help="ucf101 | hmdb51 | kinetics | ssv2 | folder"),
    data_root: Path = typer.Option(..., "--data-root", help="The dataset's folder (read only)."),
    out: Path = typer.Option(..., "--out", help="Where the prepared copy goes: a drop-in --data-root."),
    short_side: int = typer.Option(128, "--short-side", help="Short side in pixels (the suites' resize: 128)."),
    workers: int = typer.Option(1, "--workers", help="Parallel encoding processes."),
    show: int = typer.Option(30, "--show", help="How many unreadable / failed videos to list (all are counted)."),
) -> None:
    """Re-encode every video of a dataset at a small short side (H.264) into a mirror tree.

    Resumable (run it again to finish or update); exit 1 only if nothing could be prepared.
    Every split's videos are prepared (ucf101 / hmdb51: splits 1-3)."""
    cfg = apply_overrides(Config(), {"dataset": dataset, "data_root": str(data_root)})
    with _progress() as prog:
        task = prog.add_task("preparing videos", total=None, info="")
        rep = prepare_dataset(
            cfg, out, short_side, workers, lambda i, n, rel: prog.update(task, completed=i, total=n, info=rel[-40:])
        )
    mb = 2**20
    console.print(
        f"{rep.total} videos named by the splits: {rep.encoded} encoded now "
        f"({rep.in_bytes / mb:.1f} MB -> {rep.out_bytes / mb:.1f} MB), {rep.up_to_date} already done, "
        f"{len(rep.unreadable)} unreadable (kept as they are), {len(rep.failed)} failed, "
        f"{len(rep.missing)} missing; {len(rep.copied)} split/annotation files in place; "
        f"{rep.seconds:.1f} s; manifest {out / MANIFEST}",
        highlight=False,
    )
    problems = (
        [f"unreadable {r}: {e}" for r, e in rep.unreadable]
        + [f"failed     {r}: {e}" for r, e in rep.failed]
        + [f"missing    {r}" for r in rep.missing]
        + [f"not copied {r} (archive or > 256 MB)" for r in rep.not_copied]
    )
    for line in problems[:show]:
        console.print("  " + line, highlight=False, markup=False)
    if len(problems) > show:
        console.print(f"  ... {len(problems) - show} more (--show N)")
    if not rep.ok:
        err.print("error: no video could be prepared", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]prepared[/]: use --data-root {out} --dataset {dataset}", highlight=False)


@app.command()
def status(
    suite: SuiteOpt = None,
    methods: MethodsOpt = None,
    seeds: SeedsOpt = None,
    dataset: DatasetOpt = None,
    backbone: BackboneOpt = None,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    sets: SetsOpt = [],  # noqa: B006 - typer's default for a repeatable option
    no_references: NoRefsOpt = False,
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Results folder."),
    times_from: Path | None = typer.Option(
        None,
        "--times-from",
        help="Another results folder whose finished jobs' measured times estimate the jobs none "
        "like which has finished here (same method and budget; another recipe or evaluations: a rough guide).",
    ),
) -> None:
    """Which jobs of a matrix are done, running, failed, partial or pending.

    failed: with the reason; partial: a checkpoint, no result yet (resumes on the next
    run). Give the options the `run` had: they decide the jobs' names. A tuning grid's
    state, with each finished point's scores: `tune` with its options and --dry-run."""
    s = suite_from_options(suite, methods, seeds, dataset, backbone, steps, epochs, None, None, sets, not no_references)
    reference = _measured_times(times_from) if times_from is not None else None
    t = Table(title=f"{s.name} in {out}/")
    for c in ("method", "steps", "seed", "status", "detail"):
        t.add_column(c, overflow="fold")
    counts: dict[str, int] = {}
    names = set()
    # rows without a finished job here (a clone of a repository that commits results.csv only)
    try:
        csv_done = {r.get("job_id") for r in read_rows(results_path(out)) if r.get("status") == "done"}
    except (OSError, UnicodeDecodeError, csv.Error) as e:  # status still answers from the run folders
        console.print(f"[yellow]warning[/] cannot read {results_path(out)}: {e}", highlight=False)
        csv_done = set()
    rows_only = 0
    cfgs, statuses = s.jobs(), []
    for cfg in cfgs:
        run_dir = RunDir.of(out, cfg)
        names.add(run_dir.name)
        st = job_status(cfg, out)
        statuses.append(st)
        counts[st] = counts.get(st, 0) + 1
        m = run_dir.read_metrics() or {}
        detail = {
            "failed": m.get("failure_reason", ""),
            "done": "linear {}  kNN {}  R@1 {}".format(
                *(_pct(m.get(k)).strip() for k in ("linear_top1", "knn_top1", "retrieval_r1"))
            ),
            "running": "; ".join(x for x in (run_dir.lock_holder(), _progress_text(run_dir, running=True)) if x),
            "partial": f"checkpoint{_progress_text(run_dir, running=False)}, no result: resumes on the next run",
            "pending": (
                "a done row in results.csv but no finished job here: `run` trains it again and replaces the row"
                if run_dir.name in csv_done
                else ""
            ),
        }.get(st, "")
        rows_only += st == "pending" and run_dir.name in csv_done
        if st == "done":  # what the next run still does to it, or cannot
            if todo := pending_evaluations(cfg, m):
                trains = METHODS[cfg.method].trains
                where = (
                    "untrained: nothing to load"
                    if not trains
                    else "on its checkpoint"
                    if run_dir.checkpoint.exists()
                    else "checkpoint gone: they will be recorded as skipped"
                )
                detail += f"; to evaluate: {', '.join(todo)} ({where})"
                # an evaluation that reads what training saved (budgets: weight snapshots) cannot
                # get it from a job trained without it on: its points are recorded as missing
                during = [n for n in todo if EVALUATIONS[n].train_hook is not Evaluation.train_hook]
                if trains and run_dir.checkpoint.exists() and during and not run_dir.snapshots():
                    detail += f"; {', '.join(during)} also needs what training saves (snapshots): recorded as missing"
            if gone := checkpoint_skipped(m):
                detail += f"; skipped for a missing checkpoint: {', '.join(gone)} (delete the job's folder to retrain)"
        t.add_row(cfg.method, str(cfg.steps), str(cfg.seed), st, detail)
    console.print(t)
    console.print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())), highlight=False)
    hint = "" if reference else " (`--times-from FOLDER` estimates them from another folder's finished jobs)"
    if left := _time_left(cfgs, statuses, out, reference=reference, hint=hint):
        console.print(left, highlight=False)
    if rows_only:
        console.print(
            f"{rows_only} pending job(s) have a done row in {results_path(out)} but no finished job here "
            "(committed rows without their run folders): `run` trains them again",
            highlight=False,
        )
    others = [d for d in (out / "runs").glob("*") if d.is_dir() and d.name not in names]
    if others:
        console.print(
            f"{len(others)} other run(s) in {out / 'runs'} are not in this matrix (other suite, "
            f"methods or --set options)",
            highlight=False,
        )


def _duration(secs: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h``: a time left, in the unit it reads best in."""
    return f"{secs:.0f} s" if secs < 60 else f"{secs / 60:.0f} min" if secs < 5400 else f"{secs / 3600:.1f} h"


def _measured_times(folder: Path) -> tuple[str, dict[tuple[str, int], list[tuple[float, float]]]]:
    """``(folder, (method, budget) -> [(training s, evaluation s)])`` from the done rows of a
    results folder's ``results.csv`` (``status --times-from``); a method that does not train
    (``random``) at budget 0, whatever its row's; a missing or unreadable table is a one-line
    error."""
    path = results_path(folder)
    try:
        rows = read_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"--times-from: cannot read {path}: {e}") from None
    if not rows:
        raise ConfigError(f"--times-from: no results table at {path}")
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in rows:
        try:
            trained = int(float(r.get("steps") or "nan"))
            budget = int(float(r.get("budget_steps") or trained)) if trained else 0
            t = (float(r["pretrain_seconds"]), float(r.get("eval_seconds") or 0.0))
        except (KeyError, TypeError, ValueError):  # not done, or a record without measured times
            continue
        if r.get("status") == "done" and all(math.isfinite(x) for x in t):
            times.setdefault((r.get("method", ""), budget), []).append(t)
    return str(folder), times


def _time_left(
    cfgs: list[Config],
    statuses: list[str],
    out: Path,
    n_jobs: int | None = None,
    retry_failed: bool = False,
    reference: tuple[str, dict[tuple[str, int], list[tuple[float, float]]]] | None = None,
    hint: str = "",
) -> str:
    """One line: about how much job time the unfinished jobs of a matrix still need, from its
    finished jobs' measured times: the mean over the jobs that differ from it in the seed only
    (a grid point's, a method's at that budget), else over the method's jobs at that budget;
    a stopped or running job counted for the share of its steps still to train (its evaluation
    in full); the jobs with none of those finished are named, not guessed. With ``n_jobs``:
    the wall time at that many jobs at a time (the longest job bounds it from below). Setup
    and any evaluation the finished jobs did not run are not counted: it reads low. "" when
    every job is finished (done, or failed and not retried). ``reference``: another folder's
    measured times (:func:`_measured_times`), the last resort for a job none like which has
    finished here; the line says how many jobs it estimated. ``hint``: appended where some
    jobs have no estimate (``status`` names ``--times-from``)."""
    seedless = lambda c: dataclasses.replace(c, seed=0).job_key()  # noqa: E731  (the same job but for its seed)
    exact: dict[str, list[tuple[float, float]]] = {}
    broad: dict[tuple, list[tuple[float, float]]] = {}
    for cfg, st in zip(cfgs, statuses):
        m = RunDir.of(out, cfg).read_metrics() if st == "done" else None
        if m and m.get("pretrain_seconds") is not None:  # measured (a hand-made or old record may lack it)
            t = (float(m["pretrain_seconds"]), float(m.get("eval_seconds") or 0.0))
            exact.setdefault(seedless(cfg), []).append(t)
            broad.setdefault((cfg.method, cfg.steps), []).append(t)
    several_budgets = len({c.steps for c in cfgs}) > 1
    jobs_left: list[float] = []
    unknown: dict[str, int] = {}
    borrowed = 0
    for cfg, st in zip(cfgs, statuses):
        if _is_final(st, retry_failed):
            continue
        times = exact.get(seedless(cfg)) or broad.get((cfg.method, cfg.steps))
        budget = cfg.steps if METHODS[cfg.method].trains else 0  # what an untrained job costs is budget-free
        if not times and reference and (times := reference[1].get((cfg.method, budget))):
            borrowed += 1
        if not times:
            name = f"{cfg.method} at {cfg.steps} steps" if several_budgets else cfg.method
            unknown[name] = unknown.get(name, 0) + 1
            continue
        train = sum(t for t, _ in times) / len(times)
        evaluate = sum(e for _, e in times) / len(times)
        p = RunDir.of(out, cfg).read_progress() if st in ("partial", "running") else None
        if p and p["steps"] > 0:
            train *= max(0.0, 1.0 - p["step"] / p["steps"])
        jobs_left.append(train + evaluate)
    parts = []
    if jobs_left:
        left = sum(jobs_left)
        wall = ""
        if n_jobs:
            wall = f" (~{_duration(max(left / n_jobs, max(jobs_left)))} of wall time running {n_jobs} at a time)"
        where = (
            "here"
            if not borrowed
            else f"in {reference[0]} (same method and budget)"
            if borrowed == len(jobs_left)
            else f"here and, for {borrowed} of them, in {reference[0]}"
        )
        parts.append(
            f"about {_duration(left)} of job time left for {len(jobs_left)} job(s){wall}, from the finished "
            f"jobs' measured times {where}"
        )
    if unknown:
        which = ", ".join(unknown)
        parts.append(
            f"no estimate for {sum(unknown.values())} job(s) of {which}: none like them has finished yet{hint}"
        )
    return "; ".join(parts)


def _progress_text(run_dir: RunDir, running: bool) -> str:
    """Where a job's training stands, from its last checkpoint: ``step 1250/4800 (26 %), ~40
    min of training left`` while it runs (at its own pace so far), `` at step 1250/4800`` for
    a stopped one; ``training done, evaluating`` once every step is in; "" when unknown."""
    p = run_dir.read_progress()
    if not p or p["steps"] <= 0:
        return ""
    step, steps = p["step"], p["steps"]
    if not running:
        return f" at step {step}/{steps}"
    if step >= steps:
        return "training done, evaluating"
    text = f"step {step}/{steps} ({100 * step / steps:.0f} %)"
    if step > 0 and p["seconds"] > 0:
        left = (steps - step) * p["seconds"] / step
        text += f", ~{_duration(left)} of training left"
    return text


def _unwrap_help(*apps: typer.Typer) -> None:
    """Commands' help from their docstrings with each paragraph on one line: the help
    renderer keeps a docstring's line breaks, which wrapped mid-sentence ("partial (a" /
    "checkpoint, ...") in ``--help``; paragraphs stay paragraphs."""
    for a in apps:
        for cmd in a.registered_commands:
            doc = inspect.getdoc(cmd.callback) if cmd.help is None else None
            if doc:
                cmd.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


_unwrap_help(app, data_app)


INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as shells report it
STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # kill, timeout, a batch system, a closed terminal
_stopped_by: list[int] = []  # the stop signal received, if any


def _stop(signum: int, frame) -> None:
    """SIGTERM / SIGHUP unwind like Ctrl-C (the default would end the process on the spot):
    ``run`` stops its job processes on the way out (``launch.run_parallel``), a job run in
    this process keeps its last checkpoint, and the exit code is 128 + the signal. Once: a
    second signal does not cut that short (each job process gets at most 20 s)."""
    if _stopped_by:
        return
    _stopped_by.append(signum)
    raise KeyboardInterrupt


def _on_drain_signal(signum: int, frame) -> None:
    """SIGUSR1 while ``run`` / ``tune`` run jobs here: finish the jobs running now, start no
    new one (``launch.request_drain``); the run then ends with :data:`DRAINED` if it left
    jobs, and the same command runs them. A stop that cuts no job short."""
    if not draining():
        request_drain()
        try:  # os.write: a print here could re-enter a write the main thread is in the middle of
            os.write(2, f"{DRAIN_SIGNAL}: finishing the jobs running now, starting no new one\n".encode())
        except OSError:  # no stderr to say it on: the drain stands
            pass


@contextlib.contextmanager
def _drain_on_signal():
    """:func:`_on_drain_signal` for SIGUSR1 while the jobs of ``run`` / ``tune`` run on this
    machine, the previous disposition after; not where the signal is ignored (inherited),
    not on Windows, and not under ``torchrun``: every rank must run the same jobs, and a
    signal reaches one rank (there SIGUSR1 keeps its default: it ends the process)."""
    sig = getattr(signal, DRAIN_SIGNAL, None)
    if sig is None or distributed.env_world_size() > 1 or signal.getsignal(sig) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(sig, _on_drain_signal)
    try:
        yield
    finally:
        signal.signal(sig, previous)


def _install_stop_handlers() -> None:
    """:func:`_stop` for the stop signals this process has not been told to ignore: under
    ``nohup`` SIGHUP stays ignored, so closing the terminal does not stop the run."""
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)  # SIGHUP: not on Windows
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _stop)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    _install_stop_handlers()
    try:
        rv = app(standalone_mode=False)
        if rv == INTERRUPTED:  # typer turns Ctrl-C into a returned exit code 130
            raise KeyboardInterrupt
    except UsageError as e:
        err.print(f"error: {e.format_message()}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(2)
    except ConfigError as e:
        err.print(f"error: {e}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(2)
    except (ClickAbort, typer.Abort, KeyboardInterrupt):
        if _stopped_by:
            name = signal.Signals(_stopped_by[0]).name
            err.print(f"stopped by {name}: run the same command again to resume where it stopped")
            sys.exit(128 + _stopped_by[0])
        err.print("interrupted: run the same command again to resume where it stopped")
        sys.exit(INTERRUPTED)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
