"""Write a benchmark's results into its own section of docs/benchmarks.md.

Each script owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``;
rerunning a script replaces only its own section.
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every number here is written by a script in `benchmarks/` (named in each section);
rerun it to refresh its section. Timings are medians of repeats, compared as ratios
measured side by side in one run on the machine named in the section.
"""


def machine() -> str:
    import os
    text = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    petsc = petsc_build()
    return f"{text}, {petsc}" if petsc else text


def petsc_build() -> str | None:
    """PETSc's version and C optimisation flags, when the benchmark used PETSc: PyPI's
    petsc compiles with -g -O unless told otherwise, scripts/install-python.sh asks for
    -O3 (docs/benchmarks.md, petsc_optflags), and a timing should say which it ran on."""
    import os
    import sys
    if "petsc4py.PETSc" not in sys.modules:
        return None
    import petsc4py
    from petsc4py import PETSc
    version = ".".join(map(str, PETSc.Sys.getVersion()))
    config = petsc4py.get_config()
    loaded = loaded_libpetsc()  # LD_LIBRARY_PATH may have swapped in another build
    lib = os.path.dirname(loaded) if loaded else os.path.join(config["PETSC_DIR"], config.get("PETSC_ARCH") or "",
                                                              "lib")
    try:
        flags = petsc_cc_flags(Path(lib))
    except (OSError, AttributeError):  # no petscvariables, or no CC_FLAGS line in it
        flags = "flags unknown"
    return f"PETSc {version} ({flags})"


def loaded_libpetsc() -> str | None:
    """The path of the libpetsc this process has loaded (Linux; None elsewhere or before
    petsc4py is imported)."""
    try:
        with open("/proc/self/maps") as maps:
            return next((line.split()[-1] for line in maps if "/libpetsc.so" in line), None)
    except OSError:
        return None


def petsc_cc_flags(lib_dir: Path) -> str:
    """The optimisation and debugging flags a PETSc build compiled its C with (from the
    petscvariables beside its libpetsc in ``lib_dir``), e.g. "-O3" or PyPI's "-g -O"."""
    import re
    text = (lib_dir / "petsc" / "conf" / "petscvariables").read_text()
    flags = re.search(r"^CC_FLAGS\s*=(.*)$", text, re.M).group(1).split()
    return " ".join(f for f in flags if f.startswith(("-O", "-g", "-march")))


def write_section(name: str, body: str, command: str | None = None, petsc: bool = False) -> None:
    """Replace (or append) docs/benchmarks.md's section ``name``, stamped with the date,
    the machine and the command that wrote it (default ``python benchmarks/<name>.py``).
    ``petsc``: the timings ran PETSc in other processes (mpiexec, pdegen subprocesses, or
    the measuring runs of a ``--record``), so the stamp loads it here to name the build:
    the same environment loads the same libpetsc."""
    if petsc:
        import petsc4py.PETSc  # noqa: F401
    text = DOC.read_text() if DOC.exists() else HEADER
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    command = command or f"python benchmarks/{name}.py"
    stamp = f"_{datetime.date.today().isoformat()}, {machine()}, `{command}`_\n\n"
    block = f"{begin}\n{stamp}{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
