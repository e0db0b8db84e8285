"""The method registry: slug -> class. Adding a method = one file + one line here.

The parametrised tests (tests/methods/test_smoke.py) cover every entry automatically.
"""

from __future__ import annotations

from vssl_bench.config import choice_error
from vssl_bench.methods.base import FAMILIES, Method, params_from_dict
from vssl_bench.methods.mae import MAE
from vssl_bench.methods.nce import NCE
from vssl_bench.methods.reference import RandomInit, Supervised
from vssl_bench.methods.sort import Sort

METHODS: dict[str, type[Method]] = {
    # --- references --------------------------------------------------------------------
    "random": RandomInit,
    "supervised": Supervised,
    # --- pretext -----------------------------------------------------------------------
    "sort": Sort,
    # --- generative --------------------------------------------------------------------
    "mae": MAE,
    # --- contrastive -------------------------------------------------------------------
    "nce": NCE,
}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise choice_error("method", name, list(METHODS))
    return METHODS[name]


def resolve_params(name: str, raw: dict | None) -> dict:
    """Validated, complete parameter dict of a method (defaults filled in)."""
    import dataclasses

    return dataclasses.asdict(params_from_dict(get_method(name), raw or {}))


__all__ = ["FAMILIES", "METHODS", "Method", "get_method", "resolve_params"]
