"""List FastEstimator 1.7 names that fastest serves but that no test under ``tests/`` mentions.

Usage: ``python tools/fe_names_tested.py``. It reads the name table between the ``fe-names`` markers of
COMPATIBILITY.md (written by ``tools/fe_names.py``), keeps the names whose verdict is ``same`` or
``deviation``, and looks for each as a whole word in the Python files under ``tests/``. It prints the
names no test mentions, with their FastEstimator path, and exits with 1 if there are any.
"""

from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- fe-names:begin -->", "<!-- fe-names:end -->"
ROW = re.compile(r"^\| `(?P<module>[^`]+)` \| `(?P<name>[^`]+)` \| (?P<verdict>[^|]+?) \|$")


def served_names(compatibility: pathlib.Path) -> dict[str, list[str]]:
    """Return name → FastEstimator paths for every "same" or "deviation" row of the table."""
    text = compatibility.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{compatibility}: no table between {BEGIN} and {END}; run tools/fe_names.py first")
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    names: dict[str, list[str]] = {}
    for line in table.splitlines():
        match = ROW.match(line.strip())
        if match and match["verdict"].split(":")[0].strip() in {"same", "deviation"}:
            names.setdefault(match["name"], []).append(match["module"])
    return names


def untested(names: dict[str, list[str]], tests: pathlib.Path) -> list[str]:
    """Return the names that appear as a whole word in no ``*.py`` file under ``tests``."""
    corpus = "\n".join(path.read_text(encoding="utf-8") for path in sorted(tests.rglob("*.py")))
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", corpus))
    return sorted(name for name in names if name not in words)


def main() -> int:
    names = served_names(ROOT / "COMPATIBILITY.md")
    missing = untested(names, ROOT / "tests")
    for name in missing:
        print(f"{name}  ({', '.join(names[name])})")
    print(f"{len(names)} served names, {len(missing)} not mentioned in tests/", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
