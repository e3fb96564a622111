"""Refuse a spawned launch from a script whose training call has no ``if __name__ == "__main__":`` guard.

With the "spawn" (or "forkserver") start method (``strategy="ddp_spawn"``), every new process
imports the main script again, as ``__mp_main__``. A training call at the script's top level then
runs again in each child and fails there, during start-up. The parent is still writing the pickled
run (model, data …) into the child's pipe, and once that is larger than the pipe's buffer it waits
for a reader that is gone: the launch hangs instead of failing. So fastest checks before spawning,
and a re-imported script refuses to start a second run.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
from types import FrameType

from pytorch_lightning.strategies.launchers import _MultiProcessingLauncher

from fastest.errors import FastestRuntimeError

_MAIN_NAMES = ("__main__", "__mp_main__")


def check_main_guard(launcher: object) -> None:
    """Raise before a spawned launch when the main script calls ``fit``/``test`` outside its main guard.

    Args:
        launcher: The Trainer's ``strategy.launcher``; only "spawn" and "forkserver" launches are checked.

    Raises:
        FastestRuntimeError: The call runs at the top level of the script (or of the script being
            imported again in a spawned process), so every spawned process would run it again.
    """
    method = getattr(launcher, "_start_method", "fork")
    if not isinstance(launcher, _MultiProcessingLauncher) or method == "fork":
        return
    frame = _main_script_frame(sys._getframe(1))
    if frame is None:
        return
    path, line = frame.f_code.co_filename, frame.f_lineno
    source = "".join(linecache.getlines(path))
    if not source or is_guarded(source, line):
        return
    call = linecache.getline(path, line).strip()
    raise FastestRuntimeError(
        f"{path}, line {line}: `{call}` runs whenever the script is imported, and this run starts its "
        f"processes with the {method!r} start method (e.g. strategy='ddp_spawn'), which imports the script again "
        "in each process: every process would start the training again, and the launch would fail or hang. "
        "Put the training call under a main guard:\n\n"
        '    if __name__ == "__main__":\n'
        f"        {call}\n\n"
        "or use strategy='ddp', which starts its processes without importing the script as a module."
    )


def _main_script_frame(frame: FrameType | None) -> FrameType | None:
    """The frame running the top level of a main script that spawned processes import again, if any.

    That is the script itself (``python train.py`` or ``python -m package.train``; not a notebook,
    ``python -c`` or a package's ``__main__.py``) or its import in a spawned process.
    """
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in _MAIN_NAMES:
            break
        frame = frame.f_back
    if frame is None:
        return None
    if frame.f_globals["__name__"] == "__mp_main__":
        return frame  # a spawned process is importing the main script
    spec = frame.f_globals.get("__spec__")
    if spec is not None and spec.name.rpartition(".")[2] == "__main__":
        return None  # multiprocessing does not import a package's __main__.py again
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    script = frame.f_code.co_filename
    if not main_file or not os.path.isfile(script) or not os.path.samefile(main_file, script):
        return None
    return frame


def is_guarded(source: str, line: int) -> bool:
    """True when ``line`` of ``source`` runs only in the main process: under ``if __name__ == "__main__":``.

    >>> is_guarded("import fastest\\nif __name__ == '__main__':\\n    est.fit()\\n", 3)
    True
    >>> is_guarded("import fastest\\nest.fit()\\n", 2)
    False
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # not the source that runs: do not refuse on a guess
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            branch = _main_branch(node)
            if branch and branch[0].lineno <= line <= (branch[-1].end_lineno or line):
                return True
    return False


def _main_branch(node: ast.If) -> list[ast.stmt]:
    """The statements only the main process runs: the body of ``if __name__ == "__main__":`` (either
    operand order), the ``else`` of ``if __name__ != "__main__":``; none for any other test."""
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq))):
        return []
    operands = [test.left, test.comparators[0]]
    if not (any(isinstance(o, ast.Name) and o.id == "__name__" for o in operands)
            and any(isinstance(o, ast.Constant) and o.value == "__main__" for o in operands)):
        return []
    return node.body if isinstance(test.ops[0], ast.Eq) else node.orelse
