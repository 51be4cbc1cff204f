"""pdegen: synthetic PDE datasets for neural operators, fast, with Krylov recycling."""

__version__ = "0.1.0"
