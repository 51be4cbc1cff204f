"""Orders: exact bookkeeping of permutations and segments, and tour quality."""

import numpy as np
import pytest

from pdegen.fields import gaussian_random_field, sample_rng
from pdegen.ordering import greedy_order, kdtree_order, segments, similarity_features, tour_length


def grf_features(n, shape=(32, 32)):
    return np.stack([similarity_features({"a": np.exp(gaussian_random_field(shape, 2.5, 7.0, sample_rng(5, i)))})
                     for i in range(n)])


def test_greedy_is_nearest_neighbour_by_definition():
    features = np.random.default_rng(0).standard_normal((60, 5))
    order = greedy_order(features)
    assert sorted(order) == list(range(60)) and order[0] == 0
    for position in range(59):
        current, following = order[position], order[position + 1]
        rest = order[position + 1:]
        distances = np.linalg.norm(features[rest] - features[current], axis=1)
        assert np.isclose(np.linalg.norm(features[following] - features[current]), distances.min())


@pytest.mark.parametrize("eps", [0.0, 1.0])  # exact and approximate (the default) tree queries
def test_kdtree_order_is_a_permutation_close_to_greedy(eps):
    features = grf_features(400)
    exact, fast = greedy_order(features), kdtree_order(features, eps=eps)
    assert sorted(fast) == list(range(400))
    random = tour_length(features, np.random.default_rng(1).permutation(400))
    # Measured: greedy 0.60 of a random tour (GRF features are high-dimensional, so even
    # nearest neighbours are far apart), the KD-tree order 1.03 of greedy.
    assert tour_length(features, exact) < 0.7 * random
    assert tour_length(features, fast) < 1.1 * tour_length(features, exact)


@pytest.mark.parametrize("n,groups,chunk", [(100, 3, 32), (10, 4, 4), (64, 1, 32), (1000, 7, 32), (5, 8, 2)])
def test_segments_are_contiguous_chunk_aligned_and_balanced(n, groups, chunk):
    parts = segments(n, groups, chunk)
    assert len(parts) == groups and parts[0][0] == 0 and parts[-1][1] == n
    for (a, b), (c, _) in zip(parts, parts[1:]):
        assert b == c  # contiguous, no gaps or overlaps
    for a, b in parts:
        assert a % chunk == 0 and (b % chunk == 0 or b == n)
    sizes = [-(-(b - a) // chunk) for a, b in parts]  # chunks per group
    assert max(sizes) - min(sizes) <= 1
