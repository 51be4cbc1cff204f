"""Face-by-face boundary conditions (darcy, heat, allen_cahn, fisher_kpp, advection_diffusion,
transport; with convection a Neumann face is an outflow face: docs/recipes.md).

Each face of the box is Dirichlet (u = value) or Neumann (a ∂u/∂n = value, n the outward
normal: 0 is a wall nothing flows through), or the two faces of an axis are periodic (what
leaves through one comes in through the other; both or neither). Families with a flow
(advection_diffusion, transport) also take inflow faces (Danckwerts' condition: the fluid
entering brings u = value and diffusion adds no flux of its own; where it leaves, ∂u/∂n =
0), the usual inlet and outlet of a reactor or a channel, where a Dirichlet face would
force a boundary layer on the outflow. ``kind`` and ``value`` set every face; ``faces``
overrides single ones by name (``x_low``, ``x_high``, ``y_low``, ... up to the grid's
dimension), each ``{kind, value}`` with ``kind`` defaulting to the section's and ``value``
to 0. A pressure drop across x with no flow through the other faces:

    boundary: {kind: neumann, faces: {x_low: {kind: dirichlet, value: 1.0}, x_high: {kind: dirichlet}}}

and a channel periodic along x between walls held at 0: ``{kind: dirichlet, faces:
{x_low: {kind: periodic}, x_high: {kind: periodic}}}``.

Example
-------
>>> conditions({"kind": "dirichlet", "value": 0.0, "faces": {"y_high": {"kind": "neumann", "value": 0.0}}}, 2)[1, 1]
Boundary(kind='robin', value=0.0, beta=0.0)
"""

from __future__ import annotations

from ..grid import AXIS_NAMES
from ..schema import Key, did_you_mean, validate_mapping
from . import fv

KINDS = ("dirichlet", "neumann", "periodic")
FLOW_KINDS = (*KINDS, "inflow")  # for families with a velocity


def keys(kind: str = "dirichlet", kinds: tuple[str, ...] = KINDS) -> dict[str, Key]:
    """The ``boundary`` section's keys, every face ``kind`` by default, ``kinds`` allowed."""
    inflow = (", inflow (Danckwerts: the entering fluid brings u = value; where it leaves, du/dn = 0)"
              if "inflow" in kinds else "")
    return {
        "kind": Key("str", kind, choices=kinds,
                    doc="every face not named in faces: dirichlet (u = value), neumann (a du/dn = value)"
                        f"{inflow} or periodic (an axis's two faces together)"),
        "value": Key("number", 0.0, doc="u on a Dirichlet face, the outward flux density a du/dn on a Neumann one"
                                        + (", u of the fluid entering through an inflow one" if inflow else "")),
        "faces": Key("mapping", dict, doc="per-face {kind, value} by name: x_low, x_high, y_low, ..."),
    }


KEYS = keys()


# What people call the faces of a 2-D picture (pdegen plot draws x across, y up).
PICTURE_NAMES = {"left": "x_low", "right": "x_high", "bottom": "y_low", "top": "y_high"}


def face_names(ndim: int) -> list[str]:
    """Face names in (axis, side) order: x_low, x_high, y_low, ..."""
    return [f"{AXIS_NAMES[axis]}_{side}" for axis in range(ndim) for side in ("low", "high")]


def validate_faces(section: dict, ndim: int, problems: list[str], kinds: tuple[str, ...] = KINDS) -> None:
    """Check ``boundary.faces`` in place (names for ``ndim`` axes, each a {kind, value}
    with one of ``kinds``) and fill in every named face's defaults."""
    faces = section.get("faces")
    if not isinstance(faces, dict) or not 1 <= ndim <= len(AXIS_NAMES):  # a bad shape is reported by grid.shape
        return
    names = face_names(ndim)
    face_keys = {"kind": Key("str", section.get("kind", "dirichlet"), choices=kinds),
                 "value": Key("number", 0.0)}
    for name in list(faces):
        if name not in names:
            if name in PICTURE_NAMES and PICTURE_NAMES[name] in names:
                hint = f" (did you mean '{PICTURE_NAMES[name]}'?)"
            elif name in face_names(len(AXIS_NAMES)):  # z_low in 2-D: no typo
                hint = ""
            else:
                hint = did_you_mean(name, names)
            problems.append(f"boundary.faces.{name}: unknown face{hint}; a grid with "
                            f"{ndim} ax{'is' if ndim == 1 else 'es'} has faces {', '.join(names)}")
            continue
        faces[name] = validate_mapping(f"boundary.faces.{name}", faces[name], face_keys, problems)


def check_periodic(section: dict, shape: list[int], problems: list[str]) -> None:
    """A periodic face needs its axis's other face periodic too, and the axis 3 cells."""
    ndim = len(shape)
    if not 1 <= ndim <= len(AXIS_NAMES) or section.get("kind") not in FLOW_KINDS:
        return
    kinds, names = face_kinds(section, ndim), face_names(ndim)
    for axis in range(ndim):
        low, high = kinds[2 * axis] == "periodic", kinds[2 * axis + 1] == "periodic"
        if low != high:
            alone, other = (names[2 * axis], names[2 * axis + 1]) if low else (names[2 * axis + 1], names[2 * axis])
            problems.append(f"boundary.faces.{alone}: a periodic face needs the other face of its axis periodic too; "
                            f"make {other} periodic as well, or {alone} dirichlet or neumann")
        elif low and isinstance(shape[axis], int) and shape[axis] < 3:
            problems.append(f"grid.shape: the periodic axis {AXIS_NAMES[axis]} needs at least 3 cells, "
                            f"got {shape[axis]}")


def periodic_axes(section: dict, ndim: int) -> tuple[int, ...]:
    """The axes whose faces are periodic."""
    kinds = face_kinds(section, ndim)
    return tuple(axis for axis in range(ndim) if kinds[2 * axis] == "periodic")


def face_kinds(section: dict, ndim: int) -> list[str]:
    """The kind of every face, in (axis, side) order."""
    faces = section.get("faces") if isinstance(section.get("faces"), dict) else {}
    return [(faces.get(name) if isinstance(faces.get(name), dict) else {}).get("kind", section.get("kind", "dirichlet"))
            for name in face_names(ndim)]


def describe(section: dict) -> str:
    """One line for people: "neumann 0; x_low dirichlet 1, x_high dirichlet 0"."""
    def one(face: dict) -> str:
        kind = str(face.get("kind", "dirichlet"))
        return kind + (f" {face['value']:g}" if "value" in face and kind != "periodic" else "")
    named = ", ".join(f"{name} {one(face)}" for name, face in (section.get("faces") or {}).items())
    return one(section) + (f"; {named}" if named else "")


def conditions(section: dict, ndim: int) -> dict[tuple[int, int], fv.Boundary]:
    """The ``boundary`` section as :func:`fv.assemble` takes it, face by face (missing
    keys take their defaults: Dirichlet, value 0)."""
    faces = section.get("faces") or {}
    whole = {"kind": section.get("kind", "dirichlet"), "value": section.get("value", 0.0)}
    out = {}
    for index, name in enumerate(face_names(ndim)):
        face = {**whole, "value": 0.0, **faces[name]} if name in faces else whole
        kind = {"neumann": "robin"}.get(face["kind"], face["kind"])  # Neumann: Robin with β = 0
        out[divmod(index, 2)] = fv.Boundary(kind, face["value"], 0.0)
    return out
