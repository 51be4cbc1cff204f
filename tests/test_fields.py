"""Statistical checks of the random fields against their analytic law."""

import numpy as np
import pytest

from pdegen.fields import (gaussian_random_field, grf_power_spectrum, grf_pointwise_variance,
                           sample_parameter, sample_rng)

SHAPE = (64, 64)


def draws(n, alpha=2.5, tau=7.0, shape=SHAPE, seed=1):
    return np.stack([gaussian_random_field(shape, alpha, tau, sample_rng(seed, i)) for i in range(n)])


def test_pointwise_variance_matches_analytic_and_default_amplitude():
    fields = draws(400)
    empirical = fields.var(axis=0).mean()  # zero-mean field: E[g²] per point
    analytic = grf_pointwise_variance(SHAPE, 2.5, 7.0)
    assert abs(empirical / analytic - 1) < 0.05
    assert 0.15 < np.sqrt(analytic) < 0.3  # FNO convention: std about 0.2-0.26 at alpha 2.5, tau 7
    # A wrong alpha or tau would be far outside that 5% band.
    assert abs(grf_pointwise_variance(SHAPE, 2.0, 7.0) / analytic - 1) > 0.3
    assert abs(grf_pointwise_variance(SHAPE, 2.5, 5.0) / analytic - 1) > 0.25


def test_amplitude_does_not_depend_on_grid_size():
    coarse, fine = grf_pointwise_variance((32, 32), 2.5, 7.0), grf_pointwise_variance((256, 256), 2.5, 7.0)
    assert abs(fine / coarse - 1) < 0.02
    empirical_fine = draws(60, shape=(256, 256)).var(axis=0).mean()
    assert abs(empirical_fine / fine - 1) < 0.1


def test_spectrum_matches_analytic_shell_by_shell():
    fields = draws(300)
    power = (np.abs(np.fft.fft2(fields)) ** 2).mean(axis=0)
    expected = grf_power_spectrum(SHAPE, 2.5, 7.0)
    k = np.sqrt(sum(np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) ** 2 for n in SHAPE], indexing="ij")))
    ratios = []
    for shell in range(1, 9):
        ring = (k >= shell - 0.5) & (k < shell + 0.5)
        ratios.append(power[ring].mean() / expected[ring].mean())
    assert np.all(np.abs(np.array(ratios) - 1) < 0.12), ratios
    assert power[0, 0] < 1e-20  # zero mean mode
    # The decay between shell 2 and shell 8 identifies alpha: a wrong alpha misses it.
    ring = lambda s: (k >= s - 0.5) & (k < s + 0.5)  # noqa: E731
    slope = power[ring(2)].mean() / power[ring(8)].mean()
    for alpha, tol in ((2.5, 0.15), (2.0, None), (3.0, None)):
        e = grf_power_spectrum(SHAPE, alpha, 7.0)
        target = e[ring(2)].mean() / e[ring(8)].mean()
        if tol:
            assert abs(slope / target - 1) < tol
        else:
            assert abs(slope / target - 1) > 0.3


def test_samples_are_reproducible_and_independent_of_draw_order():
    spec = {"dist": "grf", "alpha": 2.5, "tau": 7.0, "sigma": None, "mean": 0.0, "transform": "exp",
            "high": 12.0, "low": 3.0, "level": 0.0}
    forward = [sample_parameter(spec, (16, 16), sample_rng(3, i)) for i in range(5)]
    backward = [sample_parameter(spec, (16, 16), sample_rng(3, i)) for i in reversed(range(5))][::-1]
    for a, b in zip(forward, backward):
        assert np.array_equal(a, b)
    assert not np.array_equal(forward[0], forward[1])
    # Same as numpy's spawn(): the documented contract.
    child = np.random.SeedSequence(3).spawn(5)[4]
    g = np.random.default_rng(child)
    assert np.array_equal(gaussian_random_field((16, 16), 2.5, 7.0, g),
                          gaussian_random_field((16, 16), 2.5, 7.0, sample_rng(3, 4)))


def test_transforms():
    base = {"dist": "grf", "alpha": 2.5, "tau": 7.0, "sigma": None, "mean": 0.0,
            "high": 12.0, "low": 3.0, "level": 0.0}
    g = sample_parameter({**base, "transform": "none"}, (32, 32), sample_rng(0, 0))
    a = sample_parameter({**base, "transform": "exp"}, (32, 32), sample_rng(0, 0))
    t = sample_parameter({**base, "transform": "threshold"}, (32, 32), sample_rng(0, 0))
    assert np.allclose(a, np.exp(g))
    assert set(np.unique(t)) == {3.0, 12.0}
    assert np.array_equal(t == 12.0, g >= 0)


@pytest.mark.parametrize("spec,mean,var", [
    ({"dist": "uniform", "low": 1.0, "high": 3.0}, 2.0, 4 / 12),
    ({"dist": "normal", "mean": -1.0, "std": 2.0}, -1.0, 4.0),
    ({"dist": "loguniform", "low": 1.0, "high": np.e**2}, (np.e**2 - 1) / 2, None),
    ({"dist": "constant", "value": 5.0}, 5.0, 0.0),
])
def test_scalar_distributions(spec, mean, var):
    values = np.array([sample_parameter(spec, (4,), sample_rng(11, i)) for i in range(4000)])
    assert abs(values.mean() - mean) < 0.06 * max(1.0, abs(mean))
    if var is not None:
        assert abs(values.var() - var) < 0.08 * max(var, 0.05)
    if spec["dist"] == "loguniform":
        logs = np.log(values)
        assert abs(logs.mean() - 1.0) < 0.03 and logs.min() >= 0 and logs.max() <= 2


def test_sampler_is_the_documented_formula_bit_for_bit():
    """The seed -> field contract: Re(ifftn(sqrt_eig (xi_0 + i xi_1))) with xi drawn as one
    (2, *shape) standard normal array; stores built by earlier versions hold exactly these."""
    from pdegen.fields import _sqrt_eigenvalues, default_sigma
    for shape in ((64, 48), (12, 10, 8)):
        sqrt_eig = _sqrt_eigenvalues(shape, 2.5, 7.0, default_sigma(2.5, 7.0, len(shape)))
        for seed in range(5):
            xi = np.random.default_rng(seed).standard_normal((2, *shape))
            expected = np.fft.ifftn(sqrt_eig * (xi[0] + 1j * xi[1])).real
            got = gaussian_random_field(shape, 2.5, 7.0, np.random.default_rng(seed))
            assert np.array_equal(got, expected)


def test_typical_value_is_the_median_of_the_draws():
    """What the planner sizes a coefficient by: the median of many draws (pointwise for a
    field) where it is known in closed form; a thresholded field's geometric mean."""
    from pdegen.fields import typical_value
    rng = np.random.default_rng(0)
    specs = [{"dist": "grf", "alpha": 2.5, "tau": 7.0, "sigma": None, "mean": -1.0, "transform": "exp"},
             {"dist": "loguniform", "low": 1.0, "high": 100.0}, {"dist": "uniform", "low": 1.0, "high": 3.0},
             {"dist": "constant", "value": 2.0}]
    for spec in specs:
        shape = (32, 32) if spec["dist"] == "grf" else ()
        count = 100 if shape else 20000
        draws = np.concatenate([np.ravel(sample_parameter(spec, shape, rng)) for _ in range(count)])
        assert abs(np.median(draws) / typical_value(spec) - 1) < 0.05, spec
    threshold = {"dist": "grf", "transform": "threshold", "high": 12.0, "low": 3.0, "mean": 0.0}
    assert typical_value(threshold) == 6.0  # the geometric mean of the two values


def test_magnitude_bound_holds_every_draw():
    """The stability rules' bound on |value|: bounded distributions reach it (to 1%) and
    never pass it; a Gaussian one is ``deviations`` standard deviations from the mean
    (exp: of the field before it): of 500 1-D GRF draws on 256 points, at most 1% pass 4
    of them (here 1, at 4.02), none passes 5, and most pass 1.5."""
    from pdegen.fields import magnitude_bound
    rng = np.random.default_rng(0)
    bounded = [{"dist": "constant", "value": -2.0}, {"dist": "uniform", "low": -3.0, "high": 1.0},
               {"dist": "loguniform", "low": 0.1, "high": 10.0},
               {"dist": "grf", "alpha": 2.5, "tau": 7.0, "sigma": None, "mean": 0.0, "transform": "threshold",
                "high": 1.0, "low": -4.0, "level": 0.0}]
    for spec in bounded:
        shape = (16, 16) if spec["dist"] == "grf" else ()
        largest = max(np.abs(sample_parameter(spec, shape, rng)).max() for _ in range(2000))
        assert 0.99 * magnitude_bound(spec, shape) <= largest <= magnitude_bound(spec, shape), spec
    spec = {"dist": "grf", "alpha": 2.0, "tau": 5.0, "sigma": 25.0, "mean": 0.5, "transform": "none"}
    std = np.sqrt(grf_pointwise_variance((256,), 2.0, 5.0, 25.0))
    assert magnitude_bound(spec, (256,), 4.0) == pytest.approx(0.5 + 4 * std)
    assert magnitude_bound({**spec, "transform": "exp"}, (256,), 4.0) == pytest.approx(np.exp(0.5 + 4 * std))
    assert magnitude_bound({"dist": "normal", "mean": -1.0, "std": 2.0}, (), 5.0) == 11.0
    largest = np.array([np.abs(sample_parameter({**spec, "mean": 0.0}, (256,), sample_rng(3, i))).max()
                        for i in range(500)]) / std
    assert np.mean(largest > 4) <= 0.01 and largest.max() <= 5 and np.median(largest) > 1.5, np.sort(largest)[-5:]


def test_white_noise_is_independent_normal_cells_and_its_features_its_low_modes():
    """``white``: mean + std * one standard normal draw of the grid's shape (bit for bit);
    cells uncorrelated with their neighbours; the ordering features are the field's lowest
    Fourier modes (scaled to unit variance) and consume the generator exactly as the draw."""
    from pdegen.fields import low_mode_index, parameter_features
    spec = {"dist": "white", "mean": 0.5, "std": 2.0}
    field = sample_parameter(spec, SHAPE, sample_rng(4, 0))
    assert np.array_equal(field, 0.5 + 2.0 * sample_rng(4, 0).standard_normal(SHAPE))
    z = (np.stack([sample_parameter(spec, SHAPE, sample_rng(4, i)) for i in range(50)]) - 0.5) / 2.0
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(z * np.roll(z, 1, axis=1))) < 0.01 and abs(np.mean(z * np.roll(z, 1, axis=2))) < 0.01
    rng, twin = sample_rng(4, 1), sample_rng(4, 1)
    features = parameter_features(spec, SHAPE, rng)
    modes = np.fft.rfftn(sample_parameter(spec, SHAPE, twin))[low_mode_index(SHAPE, 6)] / 64
    assert np.allclose(features, np.concatenate([modes.real.ravel(), modes.imag.ravel()]))
    assert rng.standard_normal() == twin.standard_normal()  # the same draws consumed
    unit = np.stack([parameter_features({**spec, "mean": 0.0, "std": 1.0}, SHAPE, sample_rng(4, i))
                     for i in range(200)])
    assert abs(unit[:, 1:].std() / np.sqrt(0.5) - 1) < 0.05  # complex modes: half the variance each part


def test_white_noise_bound_grows_with_the_number_of_cells():
    """White noise's bound is 5 deviations, or the √(2 ln 2n) its largest of n cells reaches
    where that is more: of 200 draws of 64², at most 1% pass it (here one, by 5.03
    deviations), and at 1024² it is √(2 ln 2²¹) = 5.39 deviations, above the largest of 3
    draws there (which pass 4.5)."""
    from pdegen.fields import magnitude_bound
    spec = {"dist": "white", "mean": -1.0, "std": 0.5}
    bound = magnitude_bound(spec, SHAPE)
    assert bound == 1.0 + 5 * 0.5
    largest = np.array([np.abs(sample_parameter(spec, SHAPE, sample_rng(6, i))).max() for i in range(200)])
    assert np.mean(largest > bound) <= 0.01 and largest.max() < bound + 0.1 * 0.5, np.sort(largest)[-3:]
    big = (1024, 1024)
    assert magnitude_bound(spec, big) == pytest.approx(1.0 + 0.5 * np.sqrt(2 * np.log(2 * 1024**2)))
    largest = max(np.abs(sample_parameter({**spec, "mean": 0.0, "std": 1.0}, big, sample_rng(6, i))).max()
                  for i in range(3))
    assert 4.5 < largest < magnitude_bound({**spec, "mean": 0.0, "std": 1.0}, big)
