"""What the HTML reports share (:class:`~fastest.trace.traceability.Traceability`,
:class:`~fastest.trace.test_report.TestReport`): the page, tables, file names, atomic writes, and the
descriptions of the system and of a model.

A page is one self-contained file: CSS inline, pictures inline (SVG elements, PNG as ``data:`` URIs),
no script, nothing fetched when it opens.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import os
import platform
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest.backend import atomic_open
from fastest.schedule import all_values

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 0;
       background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 40px; }
h3 { margin-top: 28px; } h4 { margin: 18px 0 6px; }
.meta { color: #555; margin: 0 0 16px; }
nav ol { columns: 2; padding-left: 20px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f3; } tr:nth-child(even) td { background: #fafafc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre, code { font: 12px/1.4 Menlo, Consolas, monospace; }
pre { background: #f5f5f7; padding: 10px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
td pre { margin: 0; padding: 2px 4px; }
img.curves { max-width: 100%; border: 1px solid #eee; }
.figure { overflow-x: auto; margin: 8px 0 20px; }
.note { color: #666; font-style: italic; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
svg.flow text { font: 12px Helvetica, Arial, sans-serif; fill: #1d1d1f; }
svg.flow text.keys { font-size: 11px; fill: #444; } svg.flow text.key { font-size: 10px; fill: #333; }
svg.flow text.group { font-size: 11px; font-weight: 600; fill: #555; }
svg.flow a:hover rect { stroke: #0b57d0; stroke-width: 2; }
"""

_MAX_LAYERS = 400  # rows of a model's layer table


def esc(value: Any) -> str:
    """``value`` as HTML text."""
    return html.escape(str(value), quote=True)


def report_name(experiment: str) -> str:
    """The file name stem of a report: the experiment name in lower case, letters, digits and '_' only.

    >>> report_name("Sample MNIST  report!")
    'sample_mnist_report'
    """
    name = "".join("_" if c == " " else c for c in experiment if c.isalnum() or c in " _").strip("_ ").lower()
    return re.sub("_{2,}", "_", name) or "report"


def report_folder(save_path: str | os.PathLike[str]) -> str:
    """The folder a report goes to: ``save_path`` without a file extension (``"out/report.html"`` → ``out/report``)."""
    path = os.path.abspath(os.fspath(save_path))
    return os.path.join(os.path.dirname(path), os.path.splitext(os.path.basename(path))[0] or "report")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; ``rows`` hold HTML (escape text with :func:`esc`), ``numeric`` columns align right.
    Without ``headers`` the first column is the row's heading (a key-value table)."""
    right = set(numeric)
    head = f"<thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in headers)}</tr></thead>" if headers else ""
    first = "td" if headers else "th"
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in right else
                                    f"<{first}>{c}</{first}>" if i == 0 else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A whole HTML document: a title, a table of contents, and ``(id, heading, html body)`` sections."""
    contents = "".join(f'<li><a href="#{esc(sid)}">{esc(heading)}</a></li>' for sid, heading, _ in sections)
    body = "".join(f'<section id="{esc(sid)}"><h2>{esc(heading)}</h2>{content}</section>'
                   for sid, heading, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>"
            f"<h1>{esc(title)}</h1><p class=\"meta\">{esc(subtitle)}</p>"
            f"<nav><h2>Contents</h2><ol>{contents}</ol></nav>{body}</main></body></html>\n")


def png_uri(data: bytes) -> str:
    """A ``data:`` URI holding a PNG image."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def write_text(path: str, text: str) -> None:
    """Write a file atomically (a temporary file renamed over ``path``): a crash never leaves half a file."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_bytes(path: str, data: bytes) -> None:
    """:func:`write_text` for bytes."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def stamp(seconds: float) -> str:
    """A local date and time, e.g. ``2025-01-31 14:05:09``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def system_rows(seed: int | None = None) -> list[tuple[str, str]]:
    """``(item, value)`` rows describing this machine and process: versions, CPU, GPUs, seed and determinism."""
    import fastest

    python = f"{platform.python_implementation()} {platform.python_version()}"
    rows = [("fastest", fastest.__version__), ("Python", python),
            ("torch", torch.__version__), ("PyTorch Lightning", _lightning_version()), ("OS", platform.platform()),
            ("CPU", f"{_cpu_name()} ({os.cpu_count()} threads; torch uses {torch.get_num_threads()})")]
    if torch.cuda.is_available():
        names = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            names.append(f"{index}: {props.name} ({props.total_memory / 2**30:.1f} GiB)")
        rows.append(("GPUs", "; ".join(names)))
        rows.append(("CUDA / cuDNN", f"{torch.version.cuda} / {torch.backends.cudnn.version()}"))
    else:
        rows.append(("GPUs", "none"))
    if seed is not None:
        rows.append(("Seed", str(seed)))
    rows += [("Deterministic algorithms", str(torch.are_deterministic_algorithms_enabled())),
             ("cuDNN deterministic / benchmark",
              f"{torch.backends.cudnn.deterministic} / {torch.backends.cudnn.benchmark}"),
             ("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "not set"))]
    return rows


def imported_packages() -> list[tuple[str, str]]:
    """``(name, version)`` of every imported top-level package outside the standard library: its
    ``__version__`` (or ``VERSION``), else the version of the installed distribution of the same name."""
    found = {}
    for name, module in list(sys.modules.items()):
        if "." in name or name.startswith("_") or name in sys.stdlib_module_names or module is None:
            continue
        version = getattr(module, "__version__", None) or getattr(module, "VERSION", None)
        if not isinstance(version, (str, tuple)):
            try:
                version = importlib.metadata.version(name)
            except (importlib.metadata.PackageNotFoundError, ValueError):
                continue
        found[name] = ".".join(map(str, version)) if isinstance(version, tuple) else version
    return sorted(found.items(), key=lambda item: item[0].lower())


def system_section(seed: int | None) -> str:
    """The system configuration as HTML: machine, versions, seed and determinism, and every imported package."""
    packages = [(esc(name), esc(version)) for name, version in imported_packages()]
    return (table([], [(esc(k), esc(v)) for k, v in system_rows(seed)]) + "<h3>Imported packages</h3>"
            + table(["package", "version"], packages))


def model_section(model: nn.Module, anchor: str) -> str:
    """A model's optimizer, parameter counts and one row per layer that owns parameters."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    optimizers = "; ".join(optimizer_text(o) for o in all_values(getattr(model, "optimizer", None)))
    size = sum(p.numel() * p.element_size() for p in params) / 2**20
    info = [("class", esc(f"{type(model).__module__}.{type(model).__qualname__}")),
            ("optimizer", esc(optimizers or "none (frozen)")),
            ("parameters", f"{total:,} ({trainable:,} trainable, {size:.2f} MiB)")]
    rows: list[tuple[str, ...]] = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if own and len(rows) < _MAX_LAYERS:
            shapes = ", ".join(f"{n} {tuple(p.shape)}" for n, p in module.named_parameters(recurse=False))
            count = sum(p.numel() for p in own)
            rows.append((esc(name or "(model)"), esc(type(module).__name__), esc(shapes), f"{count:,}",
                         "yes" if all(p.requires_grad for p in own) else "no"))
    rows.append(("<b>total</b>", "", "", f"<b>{total:,}</b>", f"{trainable:,} trainable"))
    return (f'<h3 id="{anchor}">{esc(getattr(model, "model_name", type(model).__name__))} '
            f'<small>({esc(type(model).__name__)})</small></h3>' + table([], info)
            + table(["layer", "type", "parameters", "count", "trainable"], rows, numeric=(3,)))


def optimizer_text(optimizer: Any) -> str:
    """An optimizer and its settings, e.g. ``Adam(lr=0.001, betas=(0.9, 0.999), …)``."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return type(optimizer).__name__
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    settings = ", ".join(f"{k}={number_text(v)}" for k, v in group.items()
                         if k != "params" and not isinstance(v, dict))
    return f"{type(optimizer).__name__}({settings})"


def number_text(value: Any) -> str:
    """A logged value for a table: floats with 6 significant digits."""
    value = value.item() if isinstance(value, (np.generic, torch.Tensor)) and np.size(value) == 1 else value
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _lightning_version() -> str:
    module = sys.modules.get("pytorch_lightning")
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    try:
        return importlib.metadata.version("pytorch-lightning")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
