"""Regenerate the name table in COMPATIBILITY.md from a FastEstimator 1.7 checkout.

Usage: ``python tools/fe_names.py <path to a fastestimator git repository>``. It lists every public
class and function that FastEstimator 1.7 (tag v1.7.0) defines in a module with a PyTorch meaning,
checks whether it imports from the same path with ``fastestimator`` replaced by ``fastest``, and
rewrites the table between the markers in COMPATIBILITY.md. Names whose behaviour differs on purpose
are listed in ``DEVIATIONS`` (the reason is the matching row of the table above it); names that only
mean something with TensorFlow are in ``NOT_APPLICABLE``.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- fe-names:begin -->", "<!-- fe-names:end -->"

#: name → the COMPATIBILITY.md row (its "Area" text) that explains the difference.
DEVIATIONS: dict[str, str] = {
    "CalibrationError": "`CalibrationError`",
    "RestoreWizard": "`RestoreWizard` save moment",
    "Traceability": "Traceability / TestReport output",
    "TestReport": "Traceability / TestReport output",
    "visualize_search": "`visualize_search`",
    "GoldenSection": "`GoldenSection(best_mode=...)`",
    "parse_log_dir": "`fastest logs` / `parse_log_dir` / `parse_log_files`",
    "parse_log_files": "`fastest logs` / `parse_log_dir` / `parse_log_files`",
    "visualize_logs": "`visualize_logs(..., verbose)`",
    "MeanUnslicer": "`MeanUnslicer` of integer values",
    "BatchDataset": "`BatchDataset` / `InterleaveDataset` draws",
    "InterleaveDataset": "`BatchDataset` / `InterleaveDataset` draws",
    "RemoveIf": "`RemoveIf` replacement samples",
}

#: name → why it has no PyTorch meaning.
NOT_APPLICABLE: dict[str, str] = {}


def fe_modules(repo: str) -> list[str]:
    files = subprocess.run(
        ["git", "-C", repo, "ls-tree", "-r", "--name-only", "v1.7.0", "fastestimator"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return sorted(f for f in files if f.endswith(".py") and "tensorflow" not in f)


def public_names(repo: str, path: str) -> list[str]:
    source = subprocess.run(["git", "-C", repo, "show", f"v1.7.0:{path}"], capture_output=True, text=True,
                            check=True).stdout
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
            names.append(node.name)
    return names


def status(module: str, name: str) -> str:
    try:
        getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return "missing"
    except Exception as error:  # noqa: BLE001 - a module that fails to import is reported, not fatal
        return f"missing ({type(error).__name__})"
    if name in DEVIATIONS:
        return f"deviation: {DEVIATIONS[name]}"
    return "same"


def main(repo: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    rows = []
    for path in fe_modules(repo):
        module = path[:-3].replace("/__init__", "").replace("/", ".").replace("fastestimator", "fastest", 1)
        if module.startswith("fastest.test."):
            continue
        for name in public_names(repo, path):
            verdict = f"n/a: {NOT_APPLICABLE[name]}" if name in NOT_APPLICABLE else status(module, name)
            rows.append(f"| `{module}` | `{name}` | {verdict} |")
    counts: dict[str, int] = {}
    for row in rows:
        key = row.rsplit("|", 2)[1].strip().split(":")[0].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    table = "\n".join(
        [BEGIN, f"{len(rows)} names: {summary}.", "", "| FastEstimator 1.7 path (`fastestimator` → `fastest`) | name | "
         "in fastest |", "|---|---|---|", *rows, END]
    )
    doc = ROOT / "COMPATIBILITY.md"
    text = doc.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Every FastEstimator 1.7 public name\n\n" + table + "\n"
    doc.write_text(text)
    print(summary)


if __name__ == "__main__":
    main(sys.argv[1])
