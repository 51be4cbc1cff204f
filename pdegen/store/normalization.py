"""Per-field mean and standard deviation, accumulated chunk by chunk and merged with
Chan, Golub and LeVeque's pairwise update (numerically stable, order independent up to
rounding), so that no process ever holds more than one chunk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RunningMoments:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size:
            mean = values.mean()
            deviations = values - mean
            self.merge(RunningMoments(values.size, float(mean), float(deviations @ deviations)))

    def merge(self, other: "RunningMoments") -> None:
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta**2 * self.count * other.count / total
        self.count = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.count)) if self.count else float("nan")

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "count": self.count, "m2": self.m2}

    @classmethod
    def from_dict(cls, d: dict) -> "RunningMoments":
        return cls(int(d["count"]), float(d["mean"]), float(d["m2"]))
