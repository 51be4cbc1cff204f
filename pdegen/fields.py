"""Random fields and scalar parameter distributions.

Gaussian random fields follow the FNO/SKR ``GaussianRF`` convention: covariance
(-Δ + τ²)^(-α) on the unit torus, square-root eigenvalues

    sqrt_eig(k) = N · √2 · σ · (4π²|k|² + τ²)^(-α/2),   sqrt_eig(0) = 0,

with N the number of grid points, σ defaulting to τ^(α - d/2), and the field the real
part of the inverse FFT of ``sqrt_eig · (ξ + iη)``, ξ, η standard normal. The factor N
cancels the 1/N of the inverse FFT, so the field's pointwise variance,
2σ² Σ_{k≠0} (4π²|k|² + τ²)^(-α), does not depend on the grid size (std ≈ 0.2 at
α = 2.5, τ = 7 in 2-D).

White noise (``white``) draws each cell's value independently, N(mean, std²): PDEBench's
initial states. Unlike a GRF's, its statistics depend on the grid (its finest scale is
the cell), so the same recipe on another grid draws other data.

Every sample draws from its own generator, ``sample_rng(seed, i)``: the child
``SeedSequence(seed).spawn(...)[i]``, so sample ``i`` is the same whatever the number
of ranks or the solve order.

Example
-------
>>> rng = sample_rng(2024, 0)
>>> g = gaussian_random_field((64, 64), alpha=2.5, tau=7.0, rng=rng)
>>> g.shape
(64, 64)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .schema import Key

# Keys accepted by each distribution (validated by pdegen.recipe).
FIELD_DISTRIBUTIONS = {
    "grf": {
        "alpha": Key("number", 2.5, low=0.0, low_open=True, doc="smoothness exponent of (-Δ+τ²)^(-α)"),
        "tau": Key("number", 7.0, low=0.0, low_open=True, doc="inverse length scale"),
        "sigma": Key("number", None, nullable=True, low=0.0, low_open=True, doc="amplitude; default τ^(α-d/2)"),
        "mean": Key("number", 0.0, doc="added to the field before the transform"),
        "transform": Key("str", "none", choices=("none", "exp", "threshold")),
        "high": Key("number", 12.0, doc="threshold: value where the field is >= level"),
        "low": Key("number", 3.0, doc="threshold: value where the field is < level"),
        "level": Key("number", 0.0, doc="threshold: cut level"),
    },
    "white": {
        "mean": Key("number", 0.0, doc="the value every cell scatters about"),
        "std": Key("number", 1.0, low=0.0, low_open=True, doc="standard deviation of each cell's value"),
    },
}
SCALAR_DISTRIBUTIONS = {
    "constant": {"value": Key("number", doc="the value")},
    "uniform": {"low": Key("number", doc="lower bound"), "high": Key("number", doc="upper bound")},
    "normal": {"mean": Key("number", 0.0), "std": Key("number", 1.0, low=0.0)},
    "loguniform": {"low": Key("number", low=0.0, low_open=True, doc="lower bound > 0"),
                   "high": Key("number", low=0.0, low_open=True, doc="upper bound > 0")},
}
# Boundary data: a random Fourier series along the boundary (2-D: the perimeter,
# parametrised by arc length s in [0, 1) so that it is continuous at the corners).
BOUNDARY_DISTRIBUTIONS = {
    "fourier": {
        "modes": Key("int", 4, low=1, high=64, doc="number of Fourier modes K"),
        "decay": Key("number", 2.0, low=0.0, doc="coefficient k decays like k^-decay"),
        "amplitude": Key("number", 1.0, low=0.0),
        "mean": Key("number", 0.0, doc="constant added to the series"),
    },
}
DISTRIBUTIONS = {**FIELD_DISTRIBUTIONS, **SCALAR_DISTRIBUTIONS, **BOUNDARY_DISTRIBUTIONS}


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """Generator of sample ``index``: ``SeedSequence(seed).spawn(index + 1)[index]``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def split_rng(seed: int, first: int = 0) -> np.random.Generator:
    """Generator for dataset-level draws (the train/val/test split), independent of samples;
    ``first`` > 0: that of the samples a store was extended with from sample ``first`` on."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5B1175] + ([first] if first else [])))


def _grf_symbol(shape: tuple[int, ...], alpha: float, tau: float) -> np.ndarray:
    """(4π²|k|² + τ²) on the FFT wavenumber grid of ``shape`` (integer wavenumbers)."""
    k2 = sum(np.meshgrid(*[np.fft.fftfreq(n, d=1.0 / n) ** 2 for n in shape], indexing="ij"))
    return 4.0 * np.pi**2 * k2 + tau**2


def default_sigma(alpha: float, tau: float, ndim: int) -> float:
    return tau ** (alpha - ndim / 2.0)


def gaussian_random_field(shape, alpha: float, tau: float, rng: np.random.Generator,
                          sigma: float | None = None) -> np.ndarray:
    """One GRF sample on a grid of ``shape`` (any dimension), FNO normalisation."""
    shape = tuple(int(n) for n in shape)
    if sigma is None:
        sigma = default_sigma(alpha, tau, len(shape))
    sqrt_eig = _sqrt_eigenvalues(shape, float(alpha), float(tau), float(sigma))
    xi = rng.standard_normal((2, *shape))
    # Re(ifftn(sqrt_eig * (xi[0] + 1j xi[1]))), bit for bit, without complex temporaries.
    spectrum = np.empty(shape, dtype=np.complex128)
    np.multiply(sqrt_eig, xi[0], out=spectrum.real)
    np.multiply(sqrt_eig, xi[1], out=spectrum.imag)
    return np.fft.ifftn(spectrum).real


@lru_cache(maxsize=16)
def _sqrt_eigenvalues(shape: tuple[int, ...], alpha: float, tau: float, sigma: float) -> np.ndarray:
    """The sampler's spectral amplitudes, computed once per grid and distribution
    (recomputing them took about a tenth of each 128² draw)."""
    sqrt_eig = np.prod(shape) * np.sqrt(2.0) * sigma * _grf_symbol(shape, alpha, tau) ** (-alpha / 2.0)
    sqrt_eig.flat[0] = 0.0
    sqrt_eig.flags.writeable = False
    return sqrt_eig


def grf_pointwise_variance(shape, alpha: float, tau: float, sigma: float | None = None) -> float:
    """Exact pointwise variance of :func:`gaussian_random_field` on ``shape``."""
    shape = tuple(int(n) for n in shape)
    if sigma is None:
        sigma = default_sigma(alpha, tau, len(shape))
    power = _grf_symbol(shape, alpha, tau) ** (-alpha)
    power.flat[0] = 0.0
    return float(2.0 * sigma**2 * power.sum())


def grf_power_spectrum(shape, alpha: float, tau: float, sigma: float | None = None) -> np.ndarray:
    """Expected |fftn(field)|² per wavenumber: sqrt_eig(k)², the spectrum the sampler targets.

    fftn(Re(ifftn(c)))_k = (c_k + conj(c_-k)) / 2 and E|c_k|² = 2 sqrt_eig(k)², so the
    expectation is sqrt_eig(k)² for every k (self-conjugate wavenumbers included).
    """
    shape = tuple(int(n) for n in shape)
    if sigma is None:
        sigma = default_sigma(alpha, tau, len(shape))
    power = float(np.prod(shape)) ** 2 * 2.0 * sigma**2 * _grf_symbol(shape, alpha, tau) ** (-alpha)
    power.flat[0] = 0.0
    return power


def is_field(spec: dict) -> bool:
    return spec["dist"] in FIELD_DISTRIBUTIONS


def is_random(spec: dict) -> bool:
    return spec["dist"] != "constant"


def typical_value(spec: dict) -> float:
    """A parameter's typical size, for rules that need only its order: the median of its
    draws (pointwise for fields; exp of a zero-mean GRF: 1), and for a thresholded field,
    whose median jumps between its two values, their geometric mean."""
    dist = spec["dist"]
    if dist == "constant":
        return float(spec["value"])
    if dist in ("uniform", "loguniform"):
        return float(np.sqrt(spec["low"] * spec["high"]) if dist == "loguniform" else (spec["low"] + spec["high"]) / 2)
    if dist in ("normal", "white"):
        return float(spec["mean"])
    if dist == "grf":
        if spec["transform"] == "threshold":
            return float(np.sqrt(spec["high"] * spec["low"]))
        return float(np.exp(spec["mean"]) if spec["transform"] == "exp" else spec["mean"])
    raise ValueError(f"no typical value for distribution {dist!r}")


def magnitude_bound(spec: dict, shape: tuple[int, ...] = (), deviations: float = 5.0) -> float:
    """The largest |value| a parameter draws, for stability rules: exact for bounded
    distributions, ``deviations`` standard deviations from the mean for Gaussian ones (a
    GRF's pointwise one on ``shape``; exp: of the field before it; white noise: at least
    the √(2 ln 2n) deviations the largest of its n cells reaches, n the cells of ``shape``)."""
    dist = spec["dist"]
    if dist == "constant":
        return abs(float(spec["value"]))
    if dist in ("uniform", "loguniform"):
        return max(abs(float(spec["low"])), abs(float(spec["high"])))
    if dist == "normal":
        return abs(float(spec["mean"])) + deviations * float(spec["std"])
    if dist == "white":
        largest = np.sqrt(2.0 * np.log(2.0 * max(int(np.prod(shape)), 1)))
        return abs(float(spec["mean"])) + max(deviations, largest) * float(spec["std"])
    if dist == "grf":
        if spec["transform"] == "threshold":
            return max(abs(float(spec["high"])), abs(float(spec["low"])))
        spread = deviations * np.sqrt(grf_pointwise_variance(shape, spec["alpha"], spec["tau"], spec["sigma"]))
        return float(np.exp(spec["mean"] + spread) if spec["transform"] == "exp" else abs(spec["mean"]) + spread)
    raise ValueError(f"no bound for distribution {dist!r}")


def vector_length(spec: dict) -> int | None:
    """Length of a vector-valued draw ([mean, a_1..a_K, b_1..b_K]), None otherwise."""
    return 2 * spec["modes"] + 1 if spec["dist"] == "fourier" else None


def fourier_series(coefficients: np.ndarray, s: np.ndarray) -> np.ndarray:
    """g(s) = c_0 + Σ_k a_k cos(2πks) + b_k sin(2πks), coefficients = [c_0, a_1..a_K, b_1..b_K]."""
    K = (coefficients.size - 1) // 2
    k = np.arange(1, K + 1)
    phase = 2.0 * np.pi * np.multiply.outer(np.asarray(s), k)
    return coefficients[0] + np.cos(phase) @ coefficients[1:K + 1] + np.sin(phase) @ coefficients[K + 1:]


def sample_parameter(spec: dict, shape: tuple[int, ...], rng: np.random.Generator):
    """Draw one value of a validated parameter spec: an array for fields, a float otherwise."""
    dist = spec["dist"]
    if dist == "constant":
        return float(spec["value"])
    if dist == "uniform":
        return float(rng.uniform(spec["low"], spec["high"]))
    if dist == "normal":
        return float(rng.normal(spec["mean"], spec["std"]))
    if dist == "loguniform":
        return float(np.exp(rng.uniform(np.log(spec["low"]), np.log(spec["high"]))))
    if dist == "fourier":
        k = np.arange(1, spec["modes"] + 1, dtype=np.float64)
        scale = spec["amplitude"] * k ** (-spec["decay"])
        return np.concatenate([[spec["mean"]], rng.standard_normal(2 * spec["modes"]) * np.concatenate([scale, scale])])
    if dist == "grf":
        g = spec["mean"] + gaussian_random_field(shape, spec["alpha"], spec["tau"], rng, spec["sigma"])
        if spec["transform"] == "exp":
            return np.exp(g)
        if spec["transform"] == "threshold":
            return np.where(g >= spec["level"], spec["high"], spec["low"])
        return g
    if dist == "white":
        return spec["mean"] + spec["std"] * rng.standard_normal(shape)
    raise ValueError(f"unknown distribution {dist!r}; allowed: {', '.join(DISTRIBUTIONS)}")


def low_mode_index(shape: tuple[int, ...], modes: int) -> tuple:
    """Index of the lowest |k| <= modes wavenumbers of an FFT array (last axis: k >= 0)."""
    index = [np.r_[0:min(modes, n // 2), n - min(modes, n // 2):n] for n in shape[:-1]]
    index.append(np.arange(min(modes, shape[-1] // 2 + 1)))
    return np.ix_(*index)


def parameter_features(spec: dict, shape: tuple[int, ...], rng: np.random.Generator, modes: int = 6) -> np.ndarray:
    """Similarity features of one parameter draw, consuming ``rng`` exactly as
    :func:`sample_parameter` does: for a GRF, its lowest Fourier modes taken straight from
    the spectral coefficients (before any transform; no FFT, no exp), for scalars and
    vectors the values themselves, for white noise its lowest Fourier modes (one FFT of
    the drawn field). Used to order samples cheaply."""
    if spec["dist"] == "white":
        modes_of_field = np.fft.rfftn(sample_parameter(spec, shape, rng))[low_mode_index(tuple(shape), modes)]
        return np.concatenate([modes_of_field.real.ravel(), modes_of_field.imag.ravel()]) / np.sqrt(np.prod(shape))
    if spec["dist"] != "grf":
        return np.atleast_1d(np.asarray(sample_parameter(spec, shape, rng), dtype=np.float64))
    sigma = spec["sigma"] if spec["sigma"] is not None else default_sigma(spec["alpha"], spec["tau"], len(shape))
    xi = rng.standard_normal((2, *shape))
    index, amplitude = _low_mode_amplitudes(tuple(shape), spec["alpha"], spec["tau"], modes)
    coefficients = sigma * amplitude * (xi[0][index] + 1j * xi[1][index])
    return np.concatenate([coefficients.real.ravel(), coefficients.imag.ravel()])


@lru_cache(maxsize=32)
def _low_mode_amplitudes(shape: tuple, alpha: float, tau: float, modes: int):
    """(index, √2 (4π²|k|² + τ²)^(-α/2)) on the low modes; the zero mode gets 0."""
    index = low_mode_index(shape, modes)
    ks = [np.fft.fftfreq(n, d=1.0 / n)[i.ravel()] for n, i in zip(shape, index)]
    k2 = sum(np.meshgrid(*[k**2 for k in ks], indexing="ij"))
    amplitude = np.sqrt(2.0) * (4.0 * np.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    amplitude.flat[0] = 0.0
    return index, amplitude


def check_distribution(spec: dict) -> str | None:
    """Cross-key checks a distribution needs; returns a message or None."""
    if spec["dist"] in ("uniform", "loguniform") and not spec["low"] < spec["high"]:
        return f"needs low < high, got low={spec['low']}, high={spec['high']}"
    if spec["dist"] == "grf" and spec["transform"] == "threshold" and spec["high"] == spec["low"]:
        return f"threshold needs high != low, got {spec['high']} for both"
    return None
