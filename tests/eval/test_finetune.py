"""Fine-tuning (tiny): learns an easy task, works on a copy, cleans up after itself."""

import pytest
import torch
from brightness_data import make_brightness_folder, tiny_cfg

from vssl_bench.data.datasets import build_dataset
from vssl_bench.eval import finetune_eval
from vssl_bench.rundir import RunDir
from vssl_bench.runner import build_method


@pytest.fixture(scope="module")
def brightness_folder(tmp_path_factory):
    return make_brightness_folder(tmp_path_factory.mktemp("brightness"))


def test_finetune_learns_an_easy_task_on_a_copy(brightness_folder, tmp_path):
    cfg = tiny_cfg(method="random", dataset="folder", data_root=str(brightness_folder), eval_clips=3)
    train, test = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    method.eval()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    r = finetune_eval(method, train, test, cfg, torch.device("cpu"), run_dir=RunDir(tmp_path), steps=15, lr=3e-3)
    # dark vs bright: from scratch, 15 steps of the fixed recipe are plenty
    assert r["finetune_top1"] == 1.0 and r["finetune_video_top1"] == 1.0 and r["steps"] == 15
    # the job's own model (BatchNorm statistics included) is untouched, still in eval mode
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())
    assert not method.training
    assert list(tmp_path.iterdir()) == []  # the resumable fine-tuning checkpoint is removed once done


def test_finetune_rejects_an_empty_budget(brightness_folder):
    cfg = tiny_cfg(method="random", dataset="folder", data_root=str(brightness_folder))
    with pytest.raises(ValueError, match="finetune steps"):
        finetune_eval(None, None, None, cfg, torch.device("cpu"), steps=0)
