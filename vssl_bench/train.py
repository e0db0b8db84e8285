"""The one training loop. Methods never touch optimisers, devices, logging or checkpoints.

- AdamW, linear warm-up then cosine decay to 0 (with a constant rate, training
  collapsed late in a trial run), gradient-norm clipping;
- a budget in **optimiser steps** (x batch size = clips seen), identical for every method
  of a suite; never in seconds (throughput varies +-10 % run to run);
- bf16 autocast on CUDA, channels-last-3d, cudnn autotuning (off when ``deterministic``),
  optional ``torch.compile`` (``compile``), persistent workers when ``num_workers > 0``;
- raw (uint8) views finished per batch on the device (:func:`to_device`); with no workers
  the next batch is built in a thread during the step on CUDA, between steps on CPU
  (:func:`use_prefetch_thread`);
- under torchrun, DDP over a sharded global batch with global BatchNorm; only rank 0
  writes (``vssl_bench.distributed``, docs/scaling.md);
- a checkpoint every ``checkpoint_every`` steps and at the end, written atomically, with
  the optimiser, schedule, RNG state and the position inside the epoch, so a killed job
  resumes exactly where it stopped (the data order is a pure function of seed and epoch);
- a non-finite loss stops the job with :class:`NonFiniteLoss` (recorded as failed);
- a rich progress bar with loss and clips/s; the curve goes to ``curve.csv``.
"""

from __future__ import annotations

import csv
import io
import math
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from vssl_bench import distributed
from vssl_bench.config import Config
from vssl_bench.data.batches import collate_finished, to_device  # noqa: F401 (to_device: the loop's, re-exported)
from vssl_bench.data.datasets import PretrainDataset, VideoList, warn_unreadable
from vssl_bench.data.loader import DataStall, data_loader
from vssl_bench.methods.base import Method
from vssl_bench.rundir import RunDir
from vssl_bench.tblog import EventLog
from vssl_bench.utils import atomic_torch_save, atomic_write_text, heartbeat, kill_point, slow_point, stall_point


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/inf loss; the job is recorded as failed."""


class TooManyDecodeFailures(RuntimeError):
    """More unreadable videos than ``max_decode_failures`` allows."""


class Prefetcher:
    """Iterates a DataLoader in a background thread, ``depth`` batches ahead.

    With ``num_workers=0`` and a GPU step (:func:`use_prefetch_thread`), the views of the
    next batch are built while the current step runs: torch ops release the GIL, so the
    two overlap. Exceptions in the thread are re-raised in the caller.
    """

    _END = object()

    def __init__(self, loader, depth: int = 2, prepare=None, timeout_s: float = 0.0):
        self.timeout_s = timeout_s  # > 0: no batch for this long is a DataStall (data.loader)
        self.q: "queue.Queue" = queue.Queue(maxsize=depth)
        self.prepare = prepare  # e.g. the channels-last conversion, done here rather than in the step
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(loader,), daemon=True)
        self.thread.start()

    def _run(self, loader) -> None:
        # One intra-op thread here (OpenMP's thread count is per calling thread): with the
        # default, a batch-sized op in this thread (collate, a large crop) opens a second
        # OpenMP team next to the training step's and the two oversubscribe the cores.
        torch.set_num_threads(1)
        try:
            for batch in loader:
                if self.prepare is not None:
                    batch = self.prepare(batch)
                while not self.stop.is_set():
                    try:
                        self.q.put(batch, timeout=0.1)
                        break
                    except Exception:  # queue.Full
                        continue
                if self.stop.is_set():
                    return
            self.q.put(self._END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self.q.put(e)

    def __iter__(self):
        while True:
            try:
                item = self.q.get(timeout=self.timeout_s if self.timeout_s > 0 else None)
            except queue.Empty:
                raise DataStall(
                    f"data loader stalled for {self.timeout_s:g} s (the prefetch thread built no batch); "
                    "run the same command again to resume"
                ) from None
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; one stuck in a read (a stalled decode) is abandoned after
        ``timeout_s`` (it is a daemon: it cannot keep the process alive)."""
        self.stop.set()
        deadline = time.monotonic() + timeout_s
        while self.thread.is_alive() and time.monotonic() < deadline:
            try:
                self.q.get_nowait()
            except queue.Empty:
                self.thread.join(timeout=0.05)


class EpochSampler(Sampler):
    """Permutation of ``range(n)`` seeded by (seed, epoch), starting at ``start`` (resume).

    Data-parallel (``world > 1``): global batch i is ``perm[start + i*B : start + (i+1)*B]``
    (``B = batch_size``, the global batch) and rank r yields its contiguous slice
    ``[r*B/world, (r+1)*B/world)`` of each, full global batches only; so N ranks together
    see exactly the samples (and views, seeded per sample) of the 1-process run.
    ``with_epoch`` yields ``(epoch, index)`` pairs for :class:`EpochItems`.

    ``n_batches``: run on across epochs (``epoch`` from ``start``, then ``epoch + 1`` from
    0, ...), full batches of each epoch only, until that many (per-rank) batches are out:
    the batches of the per-epoch samplers one after the other, as one stream, so that a
    DataLoader keeps prefetching over epoch boundaries (it cannot across two iterators:
    each epoch began with an empty pipeline). Pairs with their epoch (``with_epoch``).
    """

    def __init__(
        self,
        n: int,
        seed: int,
        epoch: int,
        start: int = 0,
        batch_size: int = 0,
        rank: int = 0,
        world: int = 1,
        with_epoch: bool = False,
        n_batches: int | None = None,
    ):
        self.n, self.seed, self.epoch, self.start = n, seed, epoch, start
        self.batch_size, self.rank, self.world, self.with_epoch = batch_size, rank, world, with_epoch
        self.n_batches = n_batches
        if n_batches is not None and not (with_epoch and batch_size > 0 and n >= batch_size):
            raise ValueError("an epoch-spanning sampler needs with_epoch and 0 < batch_size <= n")

    def _epoch_indices(self, epoch: int, start: int) -> list[int]:
        perm = np.random.default_rng((self.seed, epoch, 7)).permutation(self.n)
        if self.world == 1:
            if self.n_batches is not None:  # full batches only, as drop_last would leave them
                return perm[start : start + (self.n - start) // self.batch_size * self.batch_size].tolist()
            return perm[start:].tolist()
        b = self.batch_size // self.world  # per-rank batch
        n_batches = (self.n - start) // self.batch_size
        glob = perm[start : start + n_batches * self.batch_size].reshape(n_batches, self.batch_size)
        return glob[:, self.rank * b : (self.rank + 1) * b].reshape(-1).tolist()  # (n_batches * b,)

    def _indices(self) -> list[int]:
        return self._epoch_indices(self.epoch, self.start)

    def _spanning(self):
        want = self.n_batches * (self.batch_size // self.world)
        epoch, start = self.epoch, self.start
        while want > 0:
            idx = self._epoch_indices(epoch, start)[:want]
            want -= len(idx)
            yield from ((epoch, i) for i in idx)
            epoch, start = epoch + 1, 0

    def __iter__(self):
        if self.n_batches is not None:
            return self._spanning()
        idx = self._indices()
        return iter([(self.epoch, i) for i in idx] if self.with_epoch else idx)

    def __len__(self) -> int:
        if self.n_batches is not None:
            return self.n_batches * (self.batch_size // self.world)
        if self.world == 1:
            return self.n - self.start
        return (self.n - self.start) // self.batch_size * (self.batch_size // self.world)


class EpochItems(torch.utils.data.Dataset):
    """``(epoch, index) -> dataset[index]`` at that epoch. Persistent DataLoader workers
    keep their own copy of the dataset (and its decoded-video cache) across epochs, so a
    ``set_epoch`` in the main process never reaches them: the epoch travels with the index."""

    def __init__(self, ds: PretrainDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        epoch, index = item
        self.ds.set_epoch(epoch)
        return self.ds[index]


def total_steps(cfg: Config, n_train: int) -> int:
    if cfg.epochs and cfg.epochs > 0:
        return max(1, math.ceil(cfg.epochs * n_train / cfg.batch_size))
    return int(cfg.steps)


def lr_at(step: int, total: int, cfg: Config) -> float:
    """Linear warm-up over ``warmup_frac`` of the budget, then cosine decay to 0."""
    warm = max(1, int(round(cfg.warmup_frac * total)))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def use_prefetch_thread(cfg: Config, device: torch.device) -> bool:
    """``prefetch``: build the next batch in a thread while the step runs? ``auto``: on CUDA
    (the CPU is free during the step), not on CPU, where the step's threads already use
    every core and a third thread slows it more than the overlap saves (2-core machine,
    ``benchmarks/loop_efficiency.py``: real/bare 0.71-0.81 threaded, 0.79-0.89 in line)."""
    if cfg.num_workers > 0:
        return False  # worker processes prefetch
    return cfg.prefetch == "thread" or (cfg.prefetch == "auto" and device.type == "cuda")


def make_loader(
    videos: VideoList,
    method_cls: type[Method],
    p,
    cfg: Config,
    seed: int,
    epoch: int,
    start: int,
    device: torch.device,
    n_batches: int | None = None,
) -> DataLoader:
    """The rank's share of the epoch (per-rank batch ``batch_size // world``, see
    :class:`EpochSampler`), or with ``n_batches`` that many batches from (``epoch``,
    ``start``) on, across epochs, in one stream (what :func:`pretrain` uses: one iterator for
    the whole budget, so workers keep prefetching over epoch boundaries). With workers
    they persist, keeping their decoded-video cache."""
    ds = PretrainDataset(videos, partial(method_cls.views, p=p, cfg=cfg), cfg, seed)
    ds.set_epoch(epoch)
    world, workers = distributed.world_size(), cfg.num_workers > 0
    pairs = workers or n_batches is not None  # the epoch travels with each index
    sampler = EpochSampler(
        len(ds), seed, epoch, start, cfg.batch_size, distributed.rank(), world, with_epoch=pairs, n_batches=n_batches
    )
    # Its own generator: a DataLoader iterator otherwise draws its workers' base seed from
    # torch's global RNG, which the losses that use it (vcop's dropout, gan's noise) share;
    # a resumed job creates its iterator after restoring that RNG and would draw differently.
    return data_loader(
        EpochItems(ds) if pairs else ds,
        batch_size=distributed.shard_batch_size(cfg.batch_size),
        num_workers=cfg.num_workers,
        timeout_s=cfg.loader_timeout_s,
        persistent=workers,
        sampler=sampler,
        drop_last=True,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),
        collate_fn=partial(collate_finished, channels_last=cfg.channels_last)
        if workers and device.type == "cpu"
        else None,
    )


def autocast(device: torch.device, cfg: Config):
    if device.type == "cuda" and cfg.amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    seconds: float = 0.0  # wall seconds spent in the loop, summed over resumes
    data_seconds: float = 0.0  # of which waiting for the loader
    clips_seen: int = 0  # videos consumed (a video counts once whatever its number of views)
    skipped: int = 0  # unreadable videos replaced by others
    resumed: int = 0  # how many times the job was resumed
    curve: list = field(default_factory=list)


CURVE_COLUMNS = ["step", "epoch", "loss", "lr", "clips_per_s", "extras"]
TB_NAMES = {"acc": "own_task_acc"}  # TensorBoard names of a loss's extras


def build_optimizer(method: Method, cfg: Config) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for _, prm in method.named_parameters():
        if prm.requires_grad:
            (decay if prm.dim() >= 2 else no_decay).append(prm)  # no decay on BN / bias (MAE recipe)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )


def pretrain(
    method: Method,
    train: VideoList,
    cfg: Config,
    run_dir: RunDir,
    device: torch.device,
    progress=None,
    hooks: tuple = (),
) -> TrainState:
    """Train ``method`` for the budget of ``cfg``; resumes from ``run_dir.checkpoint``.
    ``hooks``: ``hook(method, step, n_steps)`` after every optimiser step, on the main
    process (an evaluation that needs something saved while training: ``budgets``). A
    plain path (a script's folder) is taken as the run folder."""
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    state = TrainState()
    n_steps = total_steps(cfg, len(train))
    if not type(method).trains or n_steps == 0:
        return state
    if len(train) < cfg.batch_size:
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the training set ({len(train)} videos)")
    distributed.shard_batch_size(cfg.batch_size)  # ConfigError if the global batch does not split evenly
    if distributed.world_size() > 1:  # global-batch BN statistics (SimCLR's global BN; docs/scaling.md)
        distributed.convert_sync_batchnorm(method, device)
    if device.type == "cuda":  # autotuned conv algorithms: fast, not bit-reproducible
        torch.backends.cudnn.benchmark = not cfg.deterministic
    if cfg.compile:  # in place: parameter names (checkpoints) unchanged
        method.backbone.compile()
    opt = build_optimizer(method, cfg)
    if run_dir.checkpoint.exists():
        ck = torch.load(run_dir.checkpoint, map_location=device, weights_only=False)
        method.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"].cpu(), device)
        state = TrainState(**ck["state"])
        state.resumed += 1
    batches_per_epoch = len(train) // cfg.batch_size
    forward = distributed.data_parallel(method, device) if distributed.world_size() > 1 else method.loss
    method.train()
    task = (
        progress.add_task(f"{cfg.method} seed {cfg.seed}", total=n_steps, completed=state.step, info="")
        if progress is not None
        else None
    )
    max_skips = cfg.max_decode_failures * max(1, n_steps * cfg.batch_size)
    # On CPU the prefetch thread also converts each batch to channels-last (then a no-op in the step).
    prepare = partial(to_device, device=device, channels_last=cfg.channels_last) if device.type == "cpu" else None
    events = EventLog(run_dir.tensorboard, cfg, state.step) if distributed.is_main() else None
    try:
        while state.step < n_steps:  # one pass: the loader's stream runs across epochs to the end of the budget
            _roll_epoch(state, batches_per_epoch)
            loader = make_loader(
                train,
                type(method),
                method.p,
                cfg,
                cfg.seed,
                state.epoch,
                state.batch_in_epoch * cfg.batch_size,
                device,
                n_batches=n_steps - state.step,
            )
            batches = (
                Prefetcher(loader, prepare=prepare, timeout_s=cfg.loader_timeout_s)
                if use_prefetch_thread(cfg, device)
                else loader
            )
            t_last = time.perf_counter()
            try:
                _train_stream(
                    batches,
                    method,
                    opt,
                    state,
                    cfg,
                    n_steps,
                    device,
                    run_dir,
                    progress,
                    task,
                    max_skips,
                    t_last,
                    batches_per_epoch,
                    forward=forward,
                    hooks=hooks,
                    events=events,
                )
            finally:
                if isinstance(batches, Prefetcher):
                    batches.close()
    finally:
        if events is not None:
            events.close()
    _roll_epoch(state, batches_per_epoch)
    if distributed.is_main():
        write_curve(run_dir.curve, state.curve)
    return state


def _roll_epoch(state: TrainState, batches_per_epoch: int) -> None:
    """After an epoch's last batch, (epoch, batches_per_epoch) -> (epoch + 1, 0). Done
    before the next batch, so a checkpoint (or curve row) of an epoch's last step still
    names that epoch, as it always has."""
    if state.batch_in_epoch >= batches_per_epoch:
        state.epoch += 1
        state.batch_in_epoch = 0


def _train_stream(
    batches,
    method,
    opt,
    state: TrainState,
    cfg: Config,
    n_steps: int,
    device,
    run_dir: RunDir,
    progress,
    task,
    max_skips: float,
    t_last: float,
    batches_per_epoch: int,
    forward=None,
    hooks: tuple = (),
    events: EventLog | None = None,
) -> None:
    """Train on ``batches`` until they run out or the budget is spent.

    ``batches`` run across epochs (:func:`make_loader` with ``n_batches``); ``state.epoch`` /
    ``batch_in_epoch`` follow them (``batches_per_epoch``). ``forward(batch) -> dict`` is
    ``method.loss`` (default) or its DDP wrapper. What is logged (loss, extras, skipped
    videos, clips) is the agreed value over every rank.
    """
    world, job = distributed.world_size(), cfg.job_name()
    for batch in batches:
        _roll_epoch(state, batches_per_epoch)
        t_data = time.perf_counter()
        state.data_seconds += t_data - t_last
        lr = lr_at(state.step, n_steps, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        warn_unreadable(batch)
        batch = to_device(batch, device, cfg.channels_last)
        with autocast(device, cfg):
            out = (forward or method.loss)(batch)
        loss = out["loss"]
        logged, n_skipped = distributed.step_stats(out, batch["skipped"])  # rank means; detached `out` in one process
        if not torch.isfinite(logged["loss"]).item():
            raise NonFiniteLoss(f"non-finite loss {logged['loss'].item()} at step {state.step}")
        optimizer_step(method, opt, loss, cfg.grad_clip)
        state.step += 1
        state.batch_in_epoch += 1
        state.clips_seen += int(batch["label"].shape[0]) * world  # global batch
        state.skipped += n_skipped
        if state.skipped > max_skips:
            raise TooManyDecodeFailures(
                f"{state.skipped} unreadable videos skipped, more than max_decode_failures={cfg.max_decode_failures:g} "
                f"of this job's {n_steps * cfg.batch_size} reads allows ({max_skips:g}); check the dataset "
                f"(`vssl-bench data check`) or raise it with --set max_decode_failures=..."
            )
        t_now = time.perf_counter()
        state.seconds += t_now - t_last
        extras = {k: round(float(v), 5) for k, v in logged.items() if k != "loss"}
        cps = batch["label"].shape[0] * world / max(t_now - t_last, 1e-9)
        state.curve.append(
            [state.step, state.epoch, round(float(logged["loss"]), 6), round(lr, 8), round(cps, 2), extras]
        )
        if events is not None:
            events.add(
                state.step,
                {
                    "train/loss": float(logged["loss"]),
                    "train/lr": lr,
                    "train/clips_per_s": cps,
                    "train/data_wait_share": (t_data - t_last) / max(t_now - t_last, 1e-9),
                    **{f"train/{TB_NAMES.get(k, k)}": v for k, v in extras.items()},
                },
            )
        if task is not None:
            progress.update(
                task,
                completed=state.step,
                info=f"loss {float(logged['loss']):.4f}  {state.clips_seen / max(state.seconds, 1e-9):.0f} clips/s",
            )
        if distributed.is_main() and (state.step % cfg.checkpoint_every == 0 or state.step == n_steps):
            save_checkpoint(run_dir.checkpoint, method, opt, state, cfg)
            run_dir.write_progress(state.step, n_steps, state.seconds)  # after it: never ahead of the checkpoint
            if events is not None:
                events.flush()
        if distributed.is_main():
            for hook in hooks:
                hook(method, state.step, n_steps)
        heartbeat(f"training step {state.step}/{n_steps}")
        stall_point("train", f"{job}@{state.step}")  # test hook: a step that never returns
        slow_point()  # test hook: a step that takes as long on any machine
        kill_point("train", state.step)  # test hook: VSSL_BENCH_KILL_AT=train:K dies here after step K
        t_last = time.perf_counter()
        if state.step >= n_steps:
            return


def optimizer_step(method: Method, opt: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float) -> None:
    """Backward and update, gradients clipped to norm ``grad_clip`` (0: not clipped); the
    benchmarks time this same step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(method.parameters(), grad_clip)
    opt.step()


def save_checkpoint(path: Path, method: Method, opt, state: TrainState, cfg: Config) -> None:
    ck = {
        "model": method.state_dict(),
        "optimizer": opt.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "state": asdict(state),
        "config": cfg.to_dict(),
    }
    device = next(method.parameters()).device
    if device.type == "cuda":  # gan's noise on the GPU comes from the device's generator
        ck["cuda_rng"] = torch.cuda.get_rng_state(device)
    atomic_torch_save(ck, path)


def load_weights(method: Method, run_dir: RunDir, device: torch.device) -> int:
    """Load the final weights of a finished job (for re-evaluation); returns the step."""
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    ck = torch.load(run_dir.checkpoint, map_location=device, weights_only=False)
    method.load_state_dict(ck["model"])
    return int(ck["state"]["step"])


def write_curve(path: Path, curve: list) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CURVE_COLUMNS)
    for row in curve:
        w.writerow(row[:-1] + [";".join(f"{k}={v}" for k, v in row[-1].items())])
    atomic_write_text(path, buf.getvalue())


@torch.no_grad()
def heldout_pretext(
    method: Method, test: VideoList, cfg: Config, device: torch.device, gallery: int | None = None
) -> dict:
    """The method's own task on held-out (test-split) videos, model in eval mode: mean
    ``acc`` (-> ``pretext_accuracy``) and mean loss over ``pretext_eval_batches`` batches of
    the training batch size. A method whose task is posed within a batch over a larger
    gallery (its ``heldout_batch``, or ``gallery``: at most every held-out clip) is handed
    consecutive loader batches joined into galleries of that size (a multiple of the loader
    batch), as many as read the same clips, at least one: the same clips and views as one
    batch of that size, decoded and held in memory a training batch at a time."""
    if cfg.pretext_eval_batches <= 0:
        return {}
    method.eval()
    size = min(gallery or type(method).heldout_batch or cfg.batch_size, len(test))
    bs = min(cfg.batch_size, size)  # the loader's batch: the training batch, or a smaller gallery
    join = size // bs  # loader batches per gallery (1 unless a method asks for a larger gallery)
    n_galleries = max(1, cfg.pretext_eval_batches * min(cfg.batch_size, len(test)) // (join * bs))
    loader = data_loader(
        PretrainDataset(test, partial(type(method).views, p=method.p, cfg=cfg), cfg, cfg.seed + 10_000),
        batch_size=bs,
        sampler=EpochSampler(len(test), cfg.seed + 10_000, 0),
        drop_last=True,
        num_workers=cfg.num_workers,
        timeout_s=cfg.loader_timeout_s,
    )
    seen: dict[str, list[float]] = {}
    n = samples = 0
    parts: list[dict] = []
    for part in loader:
        warn_unreadable(part)
        parts.append(part)
        if len(parts) < join:
            continue
        batch = parts[0] if join == 1 else {k: torch.cat([q[k] for q in parts]) for k in parts[0]}
        parts = []
        batch = to_device(batch, device, cfg.channels_last)
        with autocast(device, cfg):
            out = method.loss(batch)
        for k in HELDOUT:
            if k in out:
                seen.setdefault(k, []).append(float(out[k]))
        n += 1
        samples += int(batch["label"].shape[0])
        if n >= n_galleries:
            break
    res = {col: (float(np.mean(seen[k])) if seen.get(k) else None) for k, col in HELDOUT.items()}
    res["pretext_samples"] = samples  # held-out videos behind those means (the gate's sample size)
    return res


# What a method's loss reports (methods/base.py) -> the held-out columns they become.
HELDOUT = {
    "loss": "pretext_loss_heldout",
    "acc": "pretext_accuracy",
    "chance": "pretext_chance",
    "baseline": "pretext_baseline",
    "chance_loss": "pretext_chance_loss",
    "baseline_loss": "pretext_baseline_loss",
    "spread": "pretext_spread",  # embedding methods: 0 = collapsed onto one point (contrastive_common)
}
