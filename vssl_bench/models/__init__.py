"""Backbones and heads."""

from vssl_bench.models.backbones import BACKBONES, Backbone, build_backbone  # noqa: F401
