"""Losses, one per file: tensors in, scalar out."""

from vssl_bench.losses.contrastive import contrastive_loss
from vssl_bench.losses.info_nce import info_nce
from vssl_bench.losses.nt_xent import nt_xent
from vssl_bench.losses.triplet import triplet_loss

__all__ = ["contrastive_loss", "info_nce", "nt_xent", "triplet_loss"]
