"""Training on pdegen stores with PyTorch (optional: ``pip install "pdegen[train]"``).

Never imported by the generation path. ``PDEDataset`` reads a Zarr or HDF5 store lazily
(one handle per DataLoader worker), ``Normalizer`` applies the store's statistics, and
``train`` fits a Fourier neural operator (neuraloperator's FNO).
"""

from .dataset import PDEDataset, make_loader
from .normalize import Normalizer

__all__ = ["Normalizer", "PDEDataset", "make_loader"]
