"""What ``pdegen families`` prints: the registered PDE families, and one family's knobs
(its parameters, boundary and discretization keys with their defaults, its outputs and
the shipped recipes that use it), read from the family classes themselves so that the
listing cannot drift from what a recipe accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from .families import FAMILIES, get_family
from .fields import FIELD_DISTRIBUTIONS, SCALAR_DISTRIBUTIONS
from .schema import MISSING

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def shipped_recipes() -> dict[str, list[str]]:
    """Family name -> the recipe files in recipes/ that use it (none for an installed copy
    without the repository's recipes/ folder)."""
    out: dict[str, list[str]] = {}
    for path in sorted(RECIPES.glob("*.yaml")) if RECIPES.is_dir() else []:
        family = (yaml.safe_load(path.read_text()) or {}).get("family")
        out.setdefault(str(family), []).append(f"recipes/{path.name}")
    return out


def _kind(family) -> str:
    return "trajectories (N, T, *grid)" if family.time_dependent else "steady (N, *grid)"


def _flow(value) -> str:
    """A default as it would be written in a recipe (YAML flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000, sort_keys=False)
    return text.strip().removesuffix("\n...")


def list_families() -> str:
    recipes = shipped_recipes()
    lines = []
    for name, family in FAMILIES.items():
        outputs = ", ".join(f"outputs/{c}" for c in family.components)
        shipped = ", ".join(recipes.get(name, [])) or "none"
        lines += [f"{name}: {family.doc}", f"    {outputs}; recipes: {shipped}"]
    lines.append("`pdegen families NAME` lists a family's parameters and settings with their defaults; "
                 "docs/families.md has the equations, schemes and checks.")
    return "\n".join(lines)


def describe_family(name: str) -> str:
    """A family's knobs; KeyError (naming the registered families) for an unknown one."""
    family = get_family(name)
    lines = [f"{family.name}: {family.doc}", f"  {_kind(family)}; "
             f"{', '.join(f'outputs/{c}' for c in family.components)}; "
             f"{'/'.join(f'{d}-D' for d in family.dimensions)} grids"]
    lines.append(f"parameters (kind: default)  # a field takes {', '.join(FIELD_DISTRIBUTIONS)} or a scalar "
                 f"distribution ({', '.join(SCALAR_DISTRIBUTIONS)}), broadcast; keys: docs/recipes.md")
    for key, parameter in family.parameters.items():
        positive = ", > 0" if parameter.positive else ""
        lines.append(f"  {key} ({parameter.kind}{positive}): {_flow(parameter.default)}  # {parameter.doc}")
    for section, keys in (("boundary", family.boundary), ("discretization", family.discretization)):
        if not keys:
            continue
        lines.append(section)
        for key, spec in keys.items():
            default = ("required" if spec.default is MISSING else
                       _flow(spec.default() if callable(spec.default) else spec.default))
            allowed = f" (one of {', '.join(map(str, spec.choices))})" if spec.choices else ""
            doc = f"  # {spec.doc}" if spec.doc else ""
            lines.append(f"  {key}: {default}{allowed}{doc}")
    shipped = shipped_recipes().get(family.name)
    lines.append(f"recipes: {', '.join(shipped) if shipped else 'none shipped'}")
    return "\n".join(lines)
