"""Dataset stores (format v1): the layout, writers for Zarr and HDF5, and the reader."""

from .layout import FORMAT_VERSION, SOLVER_LABELS, SPLIT_LABELS, ArraySpec, dataset_layout
from .reader import Dataset, open_dataset

__all__ = ["FORMAT_VERSION", "SOLVER_LABELS", "SPLIT_LABELS", "ArraySpec", "Dataset",
           "dataset_layout", "open_dataset"]
