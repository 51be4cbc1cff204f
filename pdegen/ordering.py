"""Solve orders: which system follows which, and how the order is cut between groups.

``similarity_features`` describes a sample by the low-frequency Fourier modes of its
operator fields plus its scalar parameters; ``greedy_order`` is SKR's nearest-neighbour
tour (start at sample 0, always go to the nearest unvisited sample). ``segments`` cuts an
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


def tour_length(features: np.ndarray, order: np.ndarray) -> float:
    steps = np.diff(np.asarray(features)[order], axis=0)
    return float(np.sqrt((steps**2).sum(axis=1)).sum())


def segments(n: int, groups: int, chunk: int) -> list[tuple[int, int]]:
    """Cut positions [0, n) into ``groups`` contiguous ranges of whole chunks, balanced
    to within one chunk. Groups beyond the number of chunks get empty ranges."""
    chunks = -(-n // chunk)
    bounds = [min(n, (chunks * g // groups) * chunk) for g in range(groups + 1)]
    return [(bounds[g], bounds[g + 1]) for g in range(groups)]
