"""Nearest-neighbour video retrieval: Recall@k on frozen features.

Protocol of VCOP ``retrieve_clips.py`` (Xu et al., CVPR 2019) and TCLR
``nn_retrieval/complete_retrieval.py`` (Dave et al., CVIU 2022): the test split is the
query set, the train split the gallery; features are compared by cosine similarity; a
query is correct at ``k`` if ANY of its ``k`` nearest gallery items has the query's class.
Reported as R@1, R@5, R@10, R@20 (docs/protocols.md, "Video retrieval").

VCOP builds its query loader with ``drop_last=True`` and so silently skips the trailing
queries; here every query is counted (the denominator is ``N_query``).

Per-video features (the average over 10 uniformly spaced clips) are the caller's job
(feature extraction); this function only ranks the rows it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from vssl_bench.eval.knn import _check_banks, _check_ks, _chunk_rows


def retrieval_recall(
    gallery_features: Any,
    gallery_labels: Any,
    query_features: Any,
    query_labels: Any,
    ks: Iterable[int] = (1, 5, 10, 20),
) -> dict[int, float]:
    """Recall@k of cosine nearest-neighbour retrieval.

    Args:
        gallery_features: (N_gallery, D) float tensor or array (the train split).
        gallery_labels: (N_gallery,) integer class indices.
        query_features: (N_query, D) float tensor or array (the test split).
        query_labels: (N_query,) integer class indices.
        ks: the k of R@k; default {1, 5, 10, 20} as reported by VCOP and TCLR. A ``k``
            larger than ``N_gallery`` is clipped to ``N_gallery``; the returned dict
            keeps the requested value as its key.

    Returns:
        ``{k: fraction of queries with at least one same-class item among their k
        nearest gallery items}``.

    Queries are processed in chunks of rows so that the (chunk, N_gallery) similarity
    block stays bounded; a single ``topk`` of ``max(ks)`` serves every ``k``. Nothing is
    excluded from the gallery: if the query set and the gallery are the same rows, each
    query finds itself (pass disjoint splits, as the protocol does).
    """
    ks = _check_ks(ks)
    gallery, y_gallery, query, y_query = _check_banks(
        gallery_features, gallery_labels, query_features, query_labels, names=("gallery", "query")
    )

    dtype = torch.promote_types(gallery.dtype, query.dtype)
    device = gallery.device
    gallery = F.normalize(gallery.to(dtype), dim=1)  # (N_gallery, D)
    query = F.normalize(query.to(device=device, dtype=dtype), dim=1)  # (N_query, D)
    y_gallery = y_gallery.to(device)
    y_query = y_query.to(device)

    n_gallery = gallery.shape[0]
    k_clipped = {k: min(k, n_gallery) for k in ks}
    k_max = max(k_clipped.values())
    hits = {k: 0 for k in ks}
    rows = _chunk_rows(n_gallery)
    for start in range(0, query.shape[0], rows):
        sim = query[start : start + rows] @ gallery.T  # (b, N_gallery)
        top_idx = sim.topk(k_max, dim=1, largest=True, sorted=True).indices  # (b, k_max)
        match = y_gallery[top_idx] == y_query[start : start + rows, None]  # (b, k_max)
        # hit_at[:, j] is True if any of the j+1 nearest items matches
        hit_at = match.cumsum(dim=1) > 0  # (b, k_max)
        for k in ks:
            hits[k] += int(hit_at[:, k_clipped[k] - 1].sum())
    n_query = query.shape[0]
    return {k: hits[k] / n_query for k in ks}
