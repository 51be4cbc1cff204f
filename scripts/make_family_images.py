"""Build a few samples of every recipe at 64x64 (32³ in 3-D, 1-D recipes and those in
OWN_GRID at their own size) and write one picture per recipe to docs/img/<recipe>.png with
`pdegen plot`. Rerun after changing a family.

Usage: python scripts/make_family_images.py
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OWN_GRID = {"diffusion_reaction_pdebench"}  # white noise: on another grid it is other data

with tempfile.TemporaryDirectory() as tmp:
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        shape = "[32,32,32]" if "3d" in recipe.stem else "[64,64]"
        own = len(yaml.safe_load(recipe.read_text())["grid"]["shape"]) == 1 or recipe.stem in OWN_GRID
        store = Path(tmp) / f"{recipe.stem}.zarr"
        subprocess.run([sys.executable, "-m", "pdegen.cli", "build", str(recipe), "--samples", "2",
                        *([] if own else ["--set", f"grid.shape={shape}"]), "--out", str(store), "-q"], check=True)
        subprocess.run([sys.executable, "-m", "pdegen.cli", "plot", str(store), "--sample", "0", "--out",
                        str(ROOT / "docs" / "img" / f"{recipe.stem}.png")], check=True)
