"""Task runner: `nox -s demo`, `nox -s tests`, `nox -s apphub`, `nox -s notebooks`, `nox -s lint`,
`nox -s typecheck`, `nox -s benchmarks`.

demo, tests, apphub, notebooks, typecheck and benchmarks share one environment, ``.nox/fastest`` (fastest installed
editable with its test and lint extras): PyTorch alone takes several GB, so one copy serves them all.
It is built on first use and rebuilt when ``pyproject.toml`` changes. lint has its own small
environment (ruff only).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

SHARED = Path(".nox") / "fastest"


def shared_env(session: nox.Session) -> Path:
    """The shared environment's ``bin`` folder, (re)built when pyproject.toml changed."""
    stamp = SHARED / "pyproject.sha256"
    wanted = hashlib.sha256(Path("pyproject.toml").read_bytes()).hexdigest()
    bin_dir = SHARED / ("Scripts" if sys.platform == "win32" else "bin")
    if not stamp.exists() or stamp.read_text() != wanted:
        # virtualenv (a dependency of nox, and what nox itself uses) seeds pip without ensurepip
        session.run(sys.executable, "-m", "virtualenv", "--clear", str(SHARED), external=True)
        session.run(str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-e", ".[test,lint]", external=True)
        stamp.write_text(wanted)
    return bin_dir


def run_shared(session: nox.Session, program: str, *args: str) -> None:
    """Run ``program`` of the shared environment, with that environment first on PATH."""
    bin_dir = shared_env(session).resolve()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(SHARED.resolve())}
    session.run(str(bin_dir / program), *args, external=True, env=env)


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """Train LeNet on the offline digits data; writes outputs/digits (best model, curves PNG)."""
    run_shared(session, "python", "apphub/image_classification/digits/digits.py", *session.posargs)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite, doctests and notebooks included."""
    run_shared(session, "pytest", *(session.posargs or ["-q"]))


@nox.session(venv_backend="none")
def apphub(session: nox.Session) -> None:
    """Every Application Hub program's smoke test (a few steps on tiny data of the real shapes); part of `tests`."""
    run_shared(session, "pytest", *(session.posargs or ["-q"]), "tests/apphub")


@nox.session(venv_backend="none")
def notebooks(session: nox.Session) -> None:
    """Execute every notebook in notebooks/ (nbclient); part of `tests`."""
    run_shared(session, "pytest", *(session.posargs or ["-q"]), "tests/notebooks")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff; its TID251 rule forbids importing Lightning outside src/fastest/lightning/."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "apphub", "benchmarks", "noxfile.py")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy over src/fastest."""
    run_shared(session, "mypy")


@nox.session(venv_backend="none")
def benchmarks(session: nox.Session) -> None:
    """Every benchmark: framework overhead, pipeline throughput, training throughput, attribution timing."""
    for script in ("overhead.py", "pipeline_throughput.py", "gpu_throughput.py", "xai_timing.py"):
        run_shared(session, "python", f"benchmarks/{script}", *session.posargs)
