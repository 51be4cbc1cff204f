"""Darcy finite volumes: exact stencil bookkeeping, SPD, and the MMS convergence order."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from click.testing import CliRunner

from conftest import needs_petsc
from pdegen.cli import main
from pdegen.families.darcy import Darcy, assemble_diffusion
from pdegen.grid import Grid


def reference_assembly(a, hx, hy, g):
    """Cell-by-cell loop version of the 2-D scheme (independent of the vectorised code)."""
    nx, ny = a.shape
    n = nx * ny
    A = np.zeros((n, n))
    b = np.ones(n)
    idx = lambda i, j: i * ny + j  # noqa: E731
    for i in range(nx):
        for j in range(ny):
            p = idx(i, j)
            for (di, dj, h) in ((1, 0, hx), (-1, 0, hx), (0, 1, hy), (0, -1, hy)):
                ii, jj = i + di, j + dj
                if 0 <= ii < nx and 0 <= jj < ny:
                    t = 2 * a[i, j] * a[ii, jj] / (a[i, j] + a[ii, jj]) / h**2
                    A[p, idx(ii, jj)] -= t
                    A[p, p] += t
                else:
                    t = 2 * a[i, j] / h**2
                    A[p, p] += t
                    b[p] += t * g
    return A, b


def test_matches_cell_by_cell_reference():
    rng = np.random.default_rng(0)
    grid = Grid((5, 4), ((0.0, 2.0), (-1.0, 1.0)))
    a = np.exp(rng.standard_normal(grid.shape))
    A, b = assemble_diffusion(grid, a, 1.0, boundary=0.3)
    A_ref, b_ref = reference_assembly(a, *grid.spacing, 0.3)
    assert np.allclose(A.toarray(), A_ref, rtol=1e-14, atol=0)
    assert np.allclose(b, b_ref, rtol=1e-14)


def test_symmetric_positive_definite():
    rng = np.random.default_rng(1)
    grid = Grid((12, 9), ((0, 1), (0, 1)))
    A, _ = assemble_diffusion(grid, np.exp(rng.standard_normal(grid.shape)), 1.0)
    dense = A.toarray()
    assert np.array_equal(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0


def mms_error(n, ndim):
    """Max error at cell centres for u = prod sin(pi x_i) + 0 boundary, a smooth and varying."""
    grid = Grid((n,) * ndim, ((0.0, 1.0),) * ndim)
    X = grid.mesh()
    s = [np.sin(np.pi * x) for x in X]
    c = [np.cos(np.pi * x) for x in X]
    u = np.prod(s, axis=0)
    # a = 1 + 0.5 sin(2 pi x0) cos(2 pi x_last)
    a = 1 + 0.5 * np.sin(2 * np.pi * X[0]) * np.cos(2 * np.pi * X[-1])
    grad_a = [np.zeros_like(u) for _ in range(ndim)]
    grad_a[0] += np.pi * np.cos(2 * np.pi * X[0]) * np.cos(2 * np.pi * X[-1])
    grad_a[-1] += -np.pi * np.sin(2 * np.pi * X[0]) * np.sin(2 * np.pi * X[-1])
    grad_u = [np.pi * c[i] * np.prod([s[j] for j in range(ndim) if j != i], axis=0) for i in range(ndim)]
    f = -sum(ga * gu for ga, gu in zip(grad_a, grad_u)) + ndim * np.pi**2 * a * u
    system = Darcy().assemble(grid, {"coefficient": a, "forcing": f}, {"value": 0.0})
    x = spla.spsolve(system.A.tocsc(), system.b)
    return np.abs(x - u.ravel()).max()


@pytest.mark.parametrize("ndim,sizes", [(2, (16, 32, 64, 128)), (1, (32, 64, 128, 256)), (3, (8, 16, 32))])
def test_manufactured_solution_second_order(ndim, sizes):
    errors = [mms_error(n, ndim) for n in sizes]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.2)), (errors, orders)


@needs_petsc
def test_flow_recipe_stores_the_exact_pressure_drop_through_multigrid(tmp_path):
    """recipes/darcy_flow.yaml (u = 1 at x = 0, u = 0 at x = 1, no flow through the y faces)
    with a constant permeability, solved by CG + multigrid at 96² (three halvings): the
    stored pressure is 1 - x to float32 precision, and the plan hands the hierarchy the two
    Neumann faces."""
    from pdegen.store import open_dataset
    recipe = Path(__file__).parents[1] / "recipes" / "darcy_flow.yaml"
    out = tmp_path / "flow.zarr"
    result = CliRunner().invoke(main, ["build", str(recipe), "--samples", "2", "--set", "grid.shape=[96,96]",
                                       "--set", "parameters.coefficient={dist: constant, value: 2.0}",
                                       "--set", "solver.method=cg", "--set", "solver.preconditioner=mg",
                                       "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with open_dataset(out) as ds:
        u, plan = ds["outputs/solution"][:], ds.attrs["plan"]
        assert ds["stats/converged"][:].all()
    x = (np.arange(96) + 0.5) / 96
    assert np.abs(u - (1.0 - x)[None, :, None]).max() <= 1e-6
    assert plan["preconditioner"] == "mg" and plan["multigrid_neumann"] == [[1, 0], [1, 1]], plan


@pytest.mark.parametrize("periodic", [(), (0,), (1,), (0, 1)])
def test_slab_rows_are_the_whole_systems_rows(periodic):
    """Each rank assembles only its slab of rows (with ghost layers, from the other end of a
    periodic axis 0): for every slab of a split into 1, 2, 3 and 9 slabs, exactly the rows of
    the whole system, including a slab too wide for wrapped ghosts (cut from the whole)."""
    grid = Grid((10, 7), ((0, 2), (0, 1)))
    rng = np.random.default_rng(2)
    values = {"coefficient": np.exp(rng.standard_normal(grid.shape)), "forcing": rng.standard_normal(grid.shape)}
    names = ("x", "y")
    boundary = {"kind": "dirichlet", "value": 0.5,
                "faces": {f"{names[a]}_{side}": {"kind": "periodic"} for a in periodic for side in ("low", "high")}}
    recipe = {"boundary": boundary, "grid": {"shape": list(grid.shape)}}  # (rows do not need a Dirichlet face)
    darcy = Darcy()
    whole = darcy.system(grid, values, recipe)
    stride = grid.shape[1]
    for parts in (1, 2, 3, 9):
        edges = [grid.shape[0] * k // parts for k in range(parts + 1)]
        for first, last in zip(edges, edges[1:]):
            rows = darcy.system_rows(grid, values, recipe, first, last)
            expected = whole.A[first * stride:last * stride]
            # (to rounding: a diagonal sums its faces in another order on a slab)
            assert abs(rows.A - expected).max() <= 1e-13 * abs(expected).max(), (parts, first, last)
            assert rows.A.has_sorted_indices and rows.A.nnz == expected.nnz
            assert np.allclose(rows.b, whole.b[first * stride:last * stride], rtol=1e-13, atol=0.0)
