"""Every docstring example in solvers/ and pdegen/ runs and shows what it claims: they are
the documentation people copy first (pyamg's rule: each algorithm with a runnable example)."""

import doctest
import importlib

import pytest
from conftest import ROOT, have_petsc

# Found by reading the sources, so a new example is picked up without registering it.
SOURCES = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
           for package in ("solvers", "pdegen") for path in sorted((ROOT / package).rglob("*.py"))
           if ">>>" in path.read_text()}


def test_examples_are_found():
    assert {"solvers.gcrodr", "solvers.multigrid", "pdegen.fields"} <= set(SOURCES), sorted(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_docstring_examples_run(name):
    if "petsc" in SOURCES[name].read_text().lower() and not have_petsc():
        pytest.skip("petsc4py is not installed")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if result.attempted == 0:
        pytest.skip(f"{name}'s examples are all marked +SKIP (they need files that are not there)")
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
