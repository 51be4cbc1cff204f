"""Solve orders: which system follows which, and how the order is cut between groups.

``similarity_features`` describes a sample by the low-frequency Fourier modes of fields
already in hand plus its scalar values (``pdegen build`` uses the cheaper
``pdegen.build.sample_features``, which reads the same modes off the GRF's spectral
coefficients without building the fields); ``greedy_order`` is SKR's nearest-neighbour
tour (start at sample 0, always go to the nearest unvisited sample), exact and O(N²);
``kdtree_order`` is its scalable approximation for large N. ``segments`` cuts an
order into contiguous, chunk-aligned, balanced pieces, one per process group.
"""

from __future__ import annotations

import numpy as np


def similarity_features(values: dict, modes: int = 6) -> np.ndarray:
    """Feature vector of one sample: low Fourier modes of fields (real and imaginary
    parts, scaled like the Frobenius norm per point) and scalar values."""
    parts = []
    for name in sorted(values):
        value = values[name]
        if np.ndim(value) == 0:
            parts.append(np.array([float(value)]))
            continue
        low = np.fft.rfftn(value) / value.size
        for axis in range(value.ndim - 1):
            size = low.shape[axis]
            keep = min(modes, size // 2)
            low = np.take(low, np.r_[0:keep, size - keep:size], axis=axis)
        low = low[..., :modes]
        parts.append(np.concatenate([low.real.ravel(), low.imag.ravel()]))
    return np.concatenate(parts) if parts else np.zeros(1)


def greedy_order(features: np.ndarray, start: int = 0) -> np.ndarray:
    """SKR's greedy nearest-neighbour order (O(N²) time, O(N) memory)."""
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    order = np.empty(n, dtype=np.int64)
    visited = np.zeros(n, dtype=bool)
    current = start
    norms = np.einsum("ij,ij->i", features, features)
    for position in range(n):
        order[position] = current
        visited[current] = True
        if position == n - 1:
            break
        d2 = norms - 2.0 * features @ features[current] + norms[current]
        d2[visited] = np.inf
        current = int(np.argmin(d2))
    return order


def kdtree_order(features: np.ndarray, dims: int = 8, neighbours: int = 8, eps: float = 1.0,
                 start: int = 0) -> np.ndarray:
    """Greedy nearest-neighbour order for large N: features projected on their ``dims``
    leading principal components, nearest unvisited neighbour found among the
    ``neighbours`` nearest in a KD-tree; when all of those are visited, the tree is
    rebuilt on the unvisited points (a few dozen times for N = 10⁵).

    The tree queries are approximate (``eps``: each returned neighbour is within
    1 + eps times the distance of the true one, scipy's ``cKDTree.query``): in 8
    dimensions an exact query visits most leaves, and eps = 1 made the order 2x faster
    with the same tour length (0.580 of a random tour for 100,000 GRF samples, exact
    and approximate). O(N log N) in practice; timings in docs/benchmarks.md (`ordering`).
    """
    from scipy.spatial import cKDTree
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    centred = features - features.mean(axis=0)
    if centred.shape[1] > dims:
        _, vectors = np.linalg.eigh(centred.T @ centred)
        centred = centred @ vectors[:, ::-1][:, :dims]
    order = np.empty(n, dtype=np.int64)
    visited = np.zeros(n, dtype=bool)
    remaining = np.arange(n)
    tree = cKDTree(centred)
    current = start
    k = min(neighbours, n)
    for position in range(n):
        order[position] = current
        visited[current] = True
        if position == n - 1:
            break
        _, local = tree.query(centred[current], k=min(k, remaining.size), eps=eps)
        candidates = remaining[np.atleast_1d(local)]
        free = candidates[~visited[candidates]]
        if free.size == 0:
            remaining = np.flatnonzero(~visited)
            tree = cKDTree(centred[remaining])
            _, local = tree.query(centred[current], k=1, eps=eps)
            free = remaining[np.atleast_1d(local)]
        current = int(free[0])
    return order


def tour_length(features: np.ndarray, order: np.ndarray) -> float:
    steps = np.diff(np.asarray(features)[order], axis=0)
    return float(np.sqrt((steps**2).sum(axis=1)).sum())


def segments(n: int, groups: int, chunk: int, start: int = 0) -> list[tuple[int, int]]:
    """Cut positions [start, n) into ``groups`` contiguous ranges of whole chunks (cut at
    multiples of ``chunk``; the first piece from ``start`` to the next multiple), balanced
    to within one chunk. Groups beyond the number of chunks get empty ranges."""
    cuts = [start, *range((start // chunk + 1) * chunk, n, chunk), n] if start < n else [start, start]
    pieces = len(cuts) - 1
    return [(cuts[pieces * g // groups], cuts[pieces * (g + 1) // groups]) for g in range(groups)]
