"""The training loop reads one stream of batches across epochs (so that DataLoader workers
and the prefetch thread keep working over an epoch boundary): it must be the per-epoch
batches one after the other, give the same training with and without workers, and keep
``epoch`` / ``batch_in_epoch`` (checkpoints, resume) as the per-epoch loop did."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vssl_bench.train import EpochSampler


@pytest.mark.parametrize("world", [1, 3])
@pytest.mark.parametrize("epoch,start", [(0, 0), (2, 6)])
def test_spanning_sampler_is_the_epochs_full_batches_in_turn(world, epoch, start) -> None:
    n, B, seed = 21, 6, 5  # 3 full batches per epoch, 3 videos left over each epoch
    for rank in range(world):
        want = []
        e, s = epoch, start
        while len(want) < 8 * (B // world):  # 8 batches: past two epoch boundaries
            per_epoch = list(EpochSampler(n, seed, e, s, B, rank, world, with_epoch=True))
            full = (n - s) // B * (B // world)  # drop_last: full batches of this epoch only
            want += per_epoch[:full]
            e, s = e + 1, 0
        span = EpochSampler(n, seed, epoch, start, B, rank, world, with_epoch=True, n_batches=8)
        got = list(span)
        assert got == want[: 8 * (B // world)] and len(span) == len(got)
        assert {ep for ep, _ in got} == {epoch, epoch + 1, epoch + 2}  # 3+3+2 or 2+3+3 batches
    with pytest.raises(ValueError):
        EpochSampler(n, seed, 0, 0, B, n_batches=2)  # a stream needs the epoch with each index


def _pretrain(root, tmp_path, name, **kw):
    from conftest import smoke_config

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.methods import resolve_params
    from vssl_bench.runner import build_method
    from vssl_bench.train import pretrain

    cfg = smoke_config(
        root, method="nce", params=resolve_params("nce", {}), batch_size=40, steps=7, checkpoint_every=3, seed=1
    )
    cfg = dataclasses.replace(cfg, **kw)
    train, _ = build_dataset(cfg)  # 96 videos: 2 batches of 40 per epoch, 16 left over
    torch.manual_seed(0)
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    run_dir = tmp_path / name
    run_dir.mkdir(exist_ok=True)
    state = pretrain(method, train, cfg, run_dir, torch.device("cpu"))
    return state, method


def _stopped_at_3_then_resumed(root, tmp_path, monkeypatch, **kw):
    """``_pretrain`` stopped after step 3 (and its checkpoint), mid-epoch 1, then run again."""
    import vssl_bench.train as train_mod

    class Stop(Exception):
        pass

    def stop_at_3(stage, step=None):
        if stage == "train" and step == 3:
            raise Stop

    monkeypatch.setattr(train_mod, "kill_point", stop_at_3)
    with pytest.raises(Stop):
        _pretrain(root, tmp_path, "resumed", **kw)
    monkeypatch.undo()
    return _pretrain(root, tmp_path, "resumed", **kw)


@pytest.fixture
def one_thread():
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def test_stream_matches_with_and_without_workers_and_on_resume(
    smoke_data_root, tmp_path, monkeypatch, one_thread
) -> None:
    inline, m0 = _pretrain(smoke_data_root, tmp_path, "inline")
    workers, m2 = _pretrain(smoke_data_root, tmp_path, "workers", num_workers=2)
    resumed, m3 = _stopped_at_3_then_resumed(smoke_data_root, tmp_path, monkeypatch, num_workers=2)
    # 7 steps of 2 batches per epoch: epochs 0, 0, 1, 1, 2, 2, 3, and the state ends past epoch 3's 1st batch
    assert [row[1] for row in inline.curve] == [0, 0, 1, 1, 2, 2, 3]
    assert (inline.epoch, inline.batch_in_epoch, inline.step) == (3, 1, 7)
    for other, m in ((workers, m2), (resumed, m3)):
        assert [r[:3] for r in other.curve[-4:]] == [r[:3] for r in inline.curve[-4:]]  # step, epoch, loss
        assert (other.epoch, other.batch_in_epoch, other.step) == (3, 1, 7)
        for a, b in zip(m0.state_dict().values(), m.state_dict().values()):
            assert torch.equal(a, b)
    assert resumed.resumed == 1


def test_too_many_unreadable_videos_fail_with_a_message_that_names_the_rule(smoke_data_root, tmp_path) -> None:
    """Every unreadable draw is skipped and counted; past ``max_decode_failures`` of the
    job's reads the job stops, and the message says which share of how many reads it
    allows (it printed "limit 0" when the share of a small budget rounded down)."""
    from conftest import smoke_config

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.methods import resolve_params
    from vssl_bench.runner import build_method
    from vssl_bench.train import TooManyDecodeFailures, pretrain

    cfg = smoke_config(
        smoke_data_root,
        method="supervised",
        params=resolve_params("supervised", {}),
        batch_size=8,
        steps=2,
        cache_decoded_mb=0,
    )
    train, _ = build_dataset(cfg)
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("this is text")
    for i in range(0, len(train.entries), 2):  # every other video unreadable: ~half the draws fail
        train.entries[i] = dataclasses.replace(train.entries[i], path=str(bad))
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    with pytest.raises(TooManyDecodeFailures) as err:
        pretrain(method, train, cfg, tmp_path, torch.device("cpu"))
    msg = str(err.value)
    assert "max_decode_failures=0.05 of this job's 16 reads allows (0.8)" in msg and "limit 0" not in msg
    tolerant = dataclasses.replace(cfg, max_decode_failures=10.0)  # every failure tolerated: it trains
    state = pretrain(
        build_method(tolerant, len(train.classes), torch.device("cpu")),
        train,
        tolerant,
        tmp_path / "tolerant",
        torch.device("cpu"),
    )
    assert state.step == 2 and state.skipped > 0


@pytest.mark.parametrize("name,kw", [("vcop", {}), ("gan", {"clip_len": 8})])
def test_resume_matches_for_losses_drawing_from_torch_rng(
    name, kw, smoke_data_root, tmp_path, monkeypatch, one_thread
) -> None:
    """vcop's dropout and gan's noise draw from torch's global RNG, which the checkpoint
    saves. The loader's iterator drew its workers' base seed from that RNG too, once per
    pretrain call, so a resumed job (its iterator created after the RNG was restored)
    trained on other dropout masks / noise than the uninterrupted one."""
    from vssl_bench.methods import resolve_params

    kw = {"method": name, "params": resolve_params(name, {}), **kw}
    inline, m0 = _pretrain(smoke_data_root, tmp_path, "inline", **kw)
    resumed, m3 = _stopped_at_3_then_resumed(smoke_data_root, tmp_path, monkeypatch, **kw)
    assert resumed.resumed == 1 and resumed.step == inline.step == 7
    assert [r[:3] for r in resumed.curve[-4:]] == [r[:3] for r in inline.curve[-4:]]  # step, epoch, loss
    for a, b in zip(m0.state_dict().values(), m3.state_dict().values()):
        assert torch.equal(a, b)


def test_cpu_workers_hand_over_finished_batches(smoke_data_root) -> None:
    """On CPU with DataLoader workers, a batch is finished (uint8 -> normalised float,
    colour jitter, channels-last: ``to_device``) in the worker, not between two steps in
    the training process (nce with one worker on its own core: 0.87 -> 0.99 of a bare
    step's clips/s, benchmarks/loop_efficiency.py); the values are those of finishing it in
    the training process."""
    from conftest import smoke_config

    from vssl_bench.data import transforms
    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.methods import get_method, resolve_params
    from vssl_bench.methods.base import params_from_dict
    from vssl_bench.train import make_loader, to_device

    cfg = smoke_config(smoke_data_root, method="nce", params=resolve_params("nce", {}), batch_size=8, steps=2, seed=1)
    train, _ = build_dataset(cfg)
    cls, cpu = get_method("nce"), torch.device("cpu")
    p = params_from_dict(cls, cfg.params)
    inline = next(iter(make_loader(train, cls, p, cfg, 1, 0, 0, cpu, n_batches=1)))
    assert inline["view0"].dtype == torch.uint8  # in line: collated raw, finished by the loop
    workers = dataclasses.replace(cfg, num_workers=1)
    got = next(iter(make_loader(train, cls, p, workers, 1, 0, 0, cpu, n_batches=1)))
    want = to_device(inline, cpu, cfg.channels_last)
    for k in ("view0", "view1"):
        assert got[k].dtype == torch.float32 and got[k].is_contiguous(memory_format=torch.channels_last_3d)
        assert torch.equal(got[k], want[k])
    assert not any(k.endswith(transforms.COLOR_SUFFIX) for k in got)
