"""Task runner: `nox -s demo`, `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s benchmarks`.

Each session installs fastest with its extras into its own virtual environment (reused on later runs).
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]


@nox.session
def demo(session: nox.Session) -> None:
    """Train LeNet on the offline digits data; writes outputs/digits (best model, curves PNG)."""
    session.install("-e", ".")
    session.run("python", "apphub/image_classification/digits/digits.py", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, doctests and notebooks included."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff; its TID251 rule forbids importing Lightning outside src/fastest/lightning/."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "apphub", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over src/fastest."""
    session.install("-e", ".", "mypy>=1.11")
    session.run("mypy")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Every benchmark: framework overhead, pipeline throughput, training throughput, attribution timing."""
    session.install("-e", ".")
    for script in ("overhead.py", "pipeline_throughput.py", "gpu_throughput.py", "xai_timing.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)
