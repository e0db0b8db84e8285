"""The method registry: slug -> class. Adding a method = one file + one line here.

The parametrised tests (tests/methods/test_smoke.py) cover every entry automatically.
"""

from __future__ import annotations

import dataclasses

from vssl_bench.config import Config, choice_error, register_key_part
from vssl_bench.methods.aot import ArrowOfTime
from vssl_bench.methods.base import FAMILIES, Method, params_from_dict
from vssl_bench.methods.contrastive import Contrastive
from vssl_bench.methods.gan import GAN
from vssl_bench.methods.mae import MAE
from vssl_bench.methods.mme import MME
from vssl_bench.methods.nce import NCE
from vssl_bench.methods.nce_motion import NCEMotion
from vssl_bench.methods.nce_st import NCESpatioTemporal
from vssl_bench.methods.nce_static import NCEStatic
from vssl_bench.methods.nce_temporal import NCETemporal
from vssl_bench.methods.nextframe import NextFrame
from vssl_bench.methods.oddoneout import OddOneOut
from vssl_bench.methods.reference import RandomInit, Supervised
from vssl_bench.methods.rotation import Rotation
from vssl_bench.methods.shuffle import ShuffleLearn
from vssl_bench.methods.sort import Sort
from vssl_bench.methods.speed import Speed
from vssl_bench.methods.triplet import Triplet
from vssl_bench.methods.vcop import VCOP
from vssl_bench.methods.xmodal import XModal

METHODS: dict[str, type[Method]] = {
    # --- references --------------------------------------------------------------------
    "random": RandomInit,
    "supervised": Supervised,
    # --- pretext -----------------------------------------------------------------------
    "shuffle": ShuffleLearn,
    "sort": Sort,
    "vcop": VCOP,
    "oddoneout": OddOneOut,
    "speed": Speed,
    "aot": ArrowOfTime,
    "rotation": Rotation,
    # --- generative --------------------------------------------------------------------
    "nextframe": NextFrame,
    "mae": MAE,
    "mme": MME,
    "gan": GAN,
    # --- contrastive -------------------------------------------------------------------
    "contrastive": Contrastive,
    "triplet": Triplet,
    "nce": NCE,
    "nce-temporal": NCETemporal,
    "nce-st": NCESpatioTemporal,
    "nce-static": NCEStatic,
    "nce-motion": NCEMotion,
    "xmodal": XModal,
}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise choice_error("method", name, list(METHODS))
    return METHODS[name]


def _measure_version(cfg: Config) -> dict:
    """A method's ``measure_version`` joins its job keys when > 0: jobs finished under the
    method's old measure run again instead of being skipped (every other key unchanged)."""
    version = getattr(METHODS.get(cfg.method), "measure_version", 0)
    return {"measure_version": version} if version else {}


register_key_part("methods", _measure_version)


def resolve_params(name: str, raw: dict | None) -> dict:
    """Validated, complete parameter dict of a method (defaults filled in)."""
    return dataclasses.asdict(params_from_dict(get_method(name), raw or {}))


__all__ = ["FAMILIES", "METHODS", "Method", "get_method", "resolve_params"]
