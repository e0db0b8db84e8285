"""Helpers of test_fork_safety.py that DataLoader workers import (not a test module).

``python fork_hazard.py MODE VIDEO`` reproduces the decord fork hazard: a reader alive in
the parent (kept in a reference cycle, garbage collection off, as a reader left over from
an earlier pass would be) while a DataLoader starts its workers, and workers that collect
garbage (what ``torch.manual_seed`` -> ``traceback.format_stack`` did in the reported hang).
A reader freed in a forked worker waits forever for a decoder thread the child lacks.

MODE: ``ours`` (the package's loader: forkserver workers), ``fork`` (a plain DataLoader
with the default fork context: the before-fork collection frees the reader in the parent)
or ``unguarded`` (plain fork with that collection switched off: the hazard itself, it hangs).
"""

from __future__ import annotations

import gc
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset


class CollectingDataset(Dataset):
    """Four items; each worker collects garbage before answering."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        gc.collect()
        return torch.tensor(i)


class StuckRead(Dataset):
    """Item 1 opens ``path`` through the package's reader and never returns (a decoder stuck
    on a file), after the open hook named it; the others answer at once."""

    def __init__(self, path: str):
        self.path = path

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        if i == 1:
            from vssl_bench.data import video

            if video._READ_HOOK is not None:
                video._READ_HOOK(self.path)
            time.sleep(3600)
        return torch.tensor(i)


def main(mode: str, path: str) -> None:
    from vssl_bench.data import video

    gc.disable()
    cycle: dict = {}
    cycle["self"] = cycle
    cycle["reader"] = video.open_video(path)  # alive in the parent when the workers start
    del cycle
    assert video.live_readers() == 1
    if mode == "unguarded":
        video._collect_before_fork = lambda: None
    if mode == "ours":
        from vssl_bench.data.loader import data_loader

        dl = data_loader(CollectingDataset(), batch_size=2, num_workers=2, timeout_s=60)
    else:
        dl = DataLoader(CollectingDataset(), batch_size=2, num_workers=2)
    print("batches", [b.tolist() for b in dl], flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
