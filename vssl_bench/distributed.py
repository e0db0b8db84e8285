"""Data-parallel training under ``torchrun``: process group, rank helpers, collectives.

Outside ``torchrun`` (no ``WORLD_SIZE`` in the environment) every helper is the identity
and nothing is imported from ``torch.distributed`` at run time, so the single-process path
is unchanged bit for bit.

Under ``torchrun --nproc_per_node=N -m vssl_bench.cli run ...`` (torchrun sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``), :func:`init_from_env`
opens the process group once: NCCL on CUDA, gloo on CPU (PyTorch's recommendation,
``torch.distributed`` docs, "Which backend to use?"). A second, gloo, group with a long
timeout carries the CPU coordination (:func:`barrier`, :func:`broadcast_object`) so the
ranks can wait while rank 0 alone evaluates, which can take longer than NCCL's watchdog.

Design (see docs/scaling.md): ``cfg.batch_size`` is the *global* batch; each rank takes a
contiguous ``batch_size // world`` slice of every global batch; BatchNorm statistics are
global (:func:`convert_sync_batchnorm`) and InfoNCE negatives are gathered from every rank
with gradients (:func:`gather_with_grad`), so a run on N processes computes the loss of
the 1-process run with the same global batch.

References:
    [1] Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel
        Training", VLDB 2020 (DDP: gradient all-reduce, averaged over ranks).
    [2] Chen et al., SimCLR, ICML 2020, §2.2 ("Global BN": BN mean/variance aggregated
        over all devices, because per-device BN lets the model cheat the contrastive task
        by leaking information through the local batch statistics) and the negatives of
        every device; He et al., MoCo, CVPR 2020, §3.3 ("Shuffling BN", same leak).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import warnings
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel as DDP

from vssl_bench.config import ConfigError

# Rank 0 may evaluate alone for a long time (real datasets: tens of minutes) while the
# others wait at a barrier on the gloo group; its timeout must cover that.
COORDINATION_TIMEOUT = datetime.timedelta(hours=12)

_CPU_GROUP = None  # gloo group for barrier / object broadcast (None: not distributed)


def env_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def quiet_other_ranks() -> None:
    """Under torchrun, send the stdout of ranks > 0 (``RANK``) to /dev/null: one console,
    not N copies of it (errors still go to stderr), as DINO's ``setup_for_distributed``
    does. Callable before the process group opens; idempotent."""
    global _QUIET
    if env_world_size() > 1 and int(os.environ.get("RANK", "0")) != 0 and not _QUIET:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        _QUIET = True


_QUIET = False


def is_initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world_size() -> int:
    return torch.distributed.get_world_size() if is_initialized() else 1


def rank() -> int:
    return torch.distributed.get_rank() if is_initialized() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on rank 0 (and in a single process): the only rank that writes files."""
    return rank() == 0


def init_from_env(device: str = "auto", quiet_others: bool = True) -> bool:
    """Open the process group from torchrun's environment variables; idempotent.

    ``device`` is the job's ``cfg.device``: NCCL when it resolves to CUDA (each rank
    then uses ``cuda:LOCAL_RANK``), gloo otherwise. Returns True when distributed.
    ``quiet_others``: :func:`quiet_other_ranks`.
    """
    global _CPU_GROUP
    if env_world_size() <= 1:
        return False
    if is_initialized():
        return True
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank())
    torch.distributed.init_process_group(
        backend="nccl" if use_cuda else "gloo", device_id=torch.device("cuda", local_rank()) if use_cuda else None
    )
    _CPU_GROUP = torch.distributed.new_group(backend="gloo", timeout=COORDINATION_TIMEOUT)
    if quiet_others:
        quiet_other_ranks()
    return True


def destroy() -> None:
    global _CPU_GROUP
    if is_initialized():
        torch.distributed.destroy_process_group()
    _CPU_GROUP = None


def shutdown() -> None:
    """End of a torchrun command on every rank: wait for the others, then close the
    process group. Without it the group's threads are torn down at interpreter exit, which
    aborts a rank now and then ("terminate called without an active exception", exit -6).
    Only on the normal path: a rank that raises leaves the others to torchrun."""
    if is_initialized():
        barrier()
        destroy()


def barrier() -> None:
    """Every rank waits here (on the long-timeout gloo group); no-op in one process."""
    if is_initialized() and world_size() > 1:
        torch.distributed.barrier(group=_CPU_GROUP)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s picklable ``obj`` on every rank (the others pass anything, e.g. None)."""
    if not is_initialized() or world_size() == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src, group=_CPU_GROUP)
    return box[0]


def all_reduce_mean(t: Tensor) -> Tensor:
    """Mean of ``t`` over ranks (a new tensor, no gradient); ``t`` itself in one process."""
    if not is_initialized() or world_size() == 1:
        return t
    t = t.detach().clone()
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t / world_size()


def step_stats(out: dict[str, Tensor], skipped: Tensor) -> tuple[dict[str, Tensor], int]:
    """What the training loop logs for one step, agreed by every rank in one all-reduce.

    ``out`` is the method's loss dict (scalars), ``skipped`` the batch's (b,) count of
    unreadable videos replaced. Returns the rank-mean of each scalar (detached) and the
    total skipped over ranks. Every rank gets the same values, so a non-finite loss or too
    many decode failures on any rank stops every rank at the same step.
    """
    if not is_initialized() or world_size() == 1:
        return {k: v.detach() for k, v in out.items()}, int(skipped.sum())
    keys = list(out)
    vec = torch.stack(
        [out[k].detach().float() for k in keys] + [skipped.sum().float().to(out["loss"].device) * world_size()]
    )  # (K + 1,)
    vec = all_reduce_mean(vec)
    return {k: vec[i] for i, k in enumerate(keys)}, int(round(float(vec[-1])))


def gather_with_grad(x: Tensor) -> Tensor:
    """(b, ...) per rank -> (world * b, ...) concatenated in rank order, differentiable.

    ``torch.distributed.nn.functional.all_gather`` sums the gradients of every rank's
    copy back to the owner in the backward pass (reduce-scatter), so a loss that uses the
    negatives of other ranks trains their encoders too, as in one big batch (SimCLR [2]).
    Identity in one process.
    """
    if not is_initialized() or world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather  # under torchrun only (deprecation noise on import)

    with warnings.catch_warnings():  # deprecated for a private API; still the public autograd one
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated", category=FutureWarning)
        return torch.cat(all_gather(x.contiguous()), dim=0)  # (world * b, ...)


def all_reduce_sum_with_grad(t: Tensor) -> Tensor:
    """Sum of ``t`` over ranks, differentiable (the gradient of a rank's share is the sum of
    every rank's gradient of the total, as for ``gather_with_grad``); ``t`` in one process."""
    if not is_initialized() or world_size() == 1:
        return t
    from torch.distributed.nn.functional import all_reduce  # under torchrun only (deprecation noise on import)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return all_reduce(t)


# ------------------------------------------------------------------------ global BatchNorm
def combine_moments(mean: Tensor, var: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    """Pooled mean and biased variance of groups: (G, C) means, (G, C) biased variances,
    (G,) counts -> (C,), (C,). Chan et al.'s parallel formula (stable, unlike E[x^2] - E[x]^2)."""
    w = (count / count.sum()).unsqueeze(1)  # (G, 1)
    m = (w * mean).sum(0)  # (C,)
    v = (w * (var + (mean - m) ** 2)).sum(0)  # (C,)
    return m, v


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (every rank).

    ``nn.SyncBatchNorm`` is CUDA-only; this is its CPU/gloo counterpart (used when the
    job runs on CPU, e.g. the 2-process test): local per-channel mean and biased variance
    are gathered with gradients and pooled (:func:`combine_moments`); the running
    statistics take the unbiased global variance, as BatchNorm does. In eval mode or in
    one process it is exactly ``F.batch_norm``. Same parameters and buffers as BatchNorm,
    so checkpoints are interchangeable.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and is_initialized() and world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        n_local = x.numel() // c
        mean = xf.mean(dims)  # (C,)
        var = xf.var(dims, unbiased=False)  # (C,)
        stats = gather_with_grad(torch.cat([mean, var, mean.new_tensor([float(n_local)])]).unsqueeze(0))  # (G, 2C+1)
        counts = stats[:, 2 * c].detach()  # (G,)
        g_mean, g_var = combine_moments(stats[:, :c], stats[:, c : 2 * c], counts)  # (C,), (C,)
        n = float(counts.sum())
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - mom).add_(mom * g_mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - mom).add_(mom * (g_var * n / max(n - 1, 1)).to(self.running_var.dtype))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - g_mean.view(shape)) * torch.rsqrt(g_var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``module`` computes global-batch statistics: ``nn.SyncBatchNorm``
    on CUDA, :class:`GlobalBatchNorm` elsewhere. Parameters and buffers are kept (the same
    objects), so an optimiser built before or after sees the same tensors."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_global(module)


def local_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every global BatchNorm (``GlobalBatchNorm``, ``nn.SyncBatchNorm``)
    replaced, in place, by a plain ``BatchNorm3d`` holding the same weights and statistics:
    for a copy that one rank runs alone (its evaluation), whose BatchNorm in training mode
    would otherwise wait for the other ranks in a collective."""
    for name, child in list(module.named_children()):
        if isinstance(child, (GlobalBatchNorm, nn.SyncBatchNorm)):
            bn = nn.BatchNorm3d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            bn.train(child.training)
            setattr(module, name, bn.to(next(child.buffers()).device))
        else:
            local_batchnorm(child)
    return module


def _convert_global(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, _convert_global(child))
    return out


# ------------------------------------------------------------------------ DDP
class _LossModule(nn.Module):
    """DDP runs its hooks around ``forward``; a method's entry point is ``loss(batch)``."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method

    def forward(self, batch: dict) -> dict:
        return self.method.loss(batch)


def data_parallel(method: nn.Module, device: torch.device):
    """``loss(batch) -> dict`` of ``method`` wrapped in DistributedDataParallel [1].

    ``find_unused_parameters`` is the method's ``ddp_find_unused_parameters`` (default
    False): every registered method uses all its parameters at every step (GAN included:
    its discriminator sees detached copies, not fewer parameters; checked by
    ``tests/test_distributed.py``), and with True DDP walks the graph again at every step
    and warns about it on every rank of every job. A method that leaves a head out of some
    steps sets it True (else DDP stops at its next step and says so).
    DDP averages the gradients over ranks; with per-rank losses that are means over equal
    local batches, that is the gradient of the global-batch mean.
    """

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    unused = bool(getattr(method, "ddp_find_unused_parameters", False))
    return DDP(_LossModule(method), device_ids=ids, find_unused_parameters=unused)


def shard_batch_size(batch_size: int) -> int:
    """Per-rank batch: the global ``batch_size`` split evenly over ranks."""
    w = world_size()
    if batch_size % w:
        raise ConfigError(
            f"batch_size {batch_size} is the global batch and must divide evenly over {w} "
            f"processes; valid choices: multiples of {w}"
        )
    return batch_size // w


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. generates the embedded dataset into the shared
    cache), the other ranks after it has finished; a plain block in one process."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()
