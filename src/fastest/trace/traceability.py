"""Traceability: everything needed to reproduce a run, in one self-contained HTML file.

FastEstimator writes this report in LaTeX and compiles it to PDF; fastest writes HTML that any
browser opens offline: CSS inline, the training curves as an embedded PNG, the data flow as inline
SVG, no script and no network access.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import time
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from fastest._recorded import Recorded, constructor_arguments
from fastest.errors import FastestRuntimeError, FastestTypeError
from fastest.op.op import DsIdFilter
from fastest.schedule import Scheduler, all_values, get_current_items
from fastest.summary.console import ConsoleCopy, console_text
from fastest.summary.summary import Summary
from fastest.trace.dataflow import FlowNode, flow_graph, flow_svg
from fastest.trace.essential import EvalEssential, Logger, TrainEssential, to_number
from fastest.trace.report import (
    esc,
    model_section,
    number_text,
    optimizer_text,
    page,
    png_uri,
    report_folder,
    report_name,
    stamp,
    system_section,
    table,
    write_bytes,
    write_text,
)
from fastest.trace.trace import Data, Trace, sort_traces

_INTERNAL = (TrainEssential, EvalEssential, Logger)  # fastest's own traces: not the user's experiment
_MAX_ITEMS, _MAX_TEXT = 20, 300


class Traceability(Trace):
    """Write a report of the run when ``fit`` (and ``test``) ends: ``<save_path>/<experiment>.html``.

    The report holds the experiment's summary (start, end, duration, final metrics), the training
    curves, the data flow of every mode and signature epoch (dataset → pipeline ops → network ops →
    traces, joined by their keys; drawn by graphviz's ``dot`` when installed, else by fastest), a
    table of the constructor arguments of every dataset, op, trace and scheduler (arguments that are
    themselves such objects link to their tables), a layer table of every model, the system
    configuration (versions of every imported package, CPU, GPUs, seed, determinism) and the console
    output of the run. The curves (``resources/<experiment>_logs.png``) and the console output
    (``resources/<experiment>.txt``) are also saved on their own. Every file is written atomically.

    ``fit`` must get an experiment name (``estimator.fit("my experiment")``): it names the report.

    Args:
        save_path: Folder of the report (created when it is written; a name with an extension such as
            ``"report.html"`` means the folder ``report``, as in FastEstimator).
        extra_objects: Objects outside the Estimator to document as well (e.g. the pre-processing
            Pipeline's ops, or a config object): one object or a list.

    >>> report = Traceability("reports/digits")
    >>> os.path.basename(report.save_dir), sorted(report.mode)
    ('digits', ['eval', 'test', 'train'])
    """

    runs_last = True  # after the Logger's final line and BestModelSaver's reload, as in FastEstimator

    def __init__(self, save_path: str | os.PathLike[str], extra_objects: Any = None) -> None:
        if not isinstance(save_path, (str, os.PathLike)):
            raise FastestTypeError(f"Traceability: save_path must be a folder path, received {save_path!r}. Give the "
                                   "folder to write the report in, e.g. Traceability('reports').")
        super().__init__(inputs="*", mode="!infer")
        self.save_dir = report_folder(save_path)
        self.resource_dir = os.path.join(self.save_dir, "resources")
        self.extra_objects = list(extra_objects) if isinstance(extra_objects, (list, tuple)) else (
            [] if extra_objects is None else [extra_objects])
        self.report_name: str | None = None
        self.report_path: str | None = None
        self.log_text = ""
        self._tee: ConsoleCopy | None = None
        self._started = time.time()

    def written_files(self) -> list[str]:
        return [os.path.join(self.save_dir, "*.html"), os.path.join(self.resource_dir, "*")]

    def on_begin(self, data: Data) -> None:
        name = self.system.summary.name
        if not name:
            call = "test" if self.system.mode == "test" else "fit"
            raise FastestRuntimeError(
                f"Traceability: the report is named after the experiment, but {call} received no name. Pass one, "
                f"e.g. estimator.{call}(\"digits baseline\").")
        self.report_name = report_name(name)
        if self.system.mode != "test" or not self.log_text:  # a fit starts a new log and clock; a test adds to it
            self.log_text, self._started = "", time.time()
        if self.system.is_chief:
            self._release_stdout()  # a run that crashed before on_end left its tee in place
            # at most 20 MB, in case a run that crashed before on_end never gives stdout back
            self._tee = ConsoleCopy.install(limit=20_000_000)

    def on_end(self, data: Data) -> None:
        if not self.system.is_chief:
            return
        self.log_text += self._release_stdout()
        name = str(self.report_name)
        summary = _with_final_logs(self.system.summary, self.system.mode, data)
        curves = _curves_png(summary)
        text = self.html(summary, curves)  # everything is ready before the first file is written
        if curves is not None:
            write_bytes(os.path.join(self.resource_dir, f"{name}_logs.png"), curves)
        write_text(os.path.join(self.resource_dir, f"{name}.txt"), self.log_text)
        self.report_path = os.path.join(self.save_dir, f"{name}.html")
        write_text(self.report_path, text)
        self.system.write(f"FastEstimator-Traceability: report written to {self.report_path}")

    def html(self, summary: Summary, curves: bytes | None) -> str:
        """The report's HTML for ``summary`` (with the curves PNG, if any)."""
        catalog = _Catalog()
        flow = self._data_flow(catalog)
        models = self._models(catalog)
        parameters = self._parameters(catalog)
        image = (f'<img class="curves" alt="training curves" src="{png_uri(curves)}">' if curves is not None
                 else '<p class="note">No scalar value was logged, so there is nothing to plot.</p>')
        sections = [("summary", "Summary", self._summary(summary)), ("curves", "Training curves", image),
                    ("dataflow", "Data flow", flow), ("parameters", "Parameters", parameters),
                    ("models", "Models", models),
                    ("system", "System configuration", system_section(self.system.seed)),
                    ("log", "Console log", f'<pre class="log">{esc(self.log_text)}</pre>' if self.log_text
                     else '<p class="note">Nothing was printed during the run.</p>')]
        import fastest

        return page(str(summary.name), f"Traceability report · fastest {fastest.__version__} · {stamp(time.time())}",
                    sections)

    def _release_stdout(self) -> str:
        """Give ``sys.stdout`` back; returns what was printed since ``on_begin``."""
        tee, self._tee = self._tee, None
        if tee is None:
            return ""
        tee.uninstall()
        return console_text(tee.take())

    # ----- sections --------------------------------------------------------------------------------------------
    def _summary(self, summary: Summary) -> str:
        end = time.time()
        system = self.system
        stopped = system.interrupted or ("a trace stopped training" if system.stop_training else "")
        rows = [("Experiment", esc(summary.name)), ("Started", stamp(self._started)), ("Ended", stamp(end)),
                ("Duration", f"{end - self._started:.1f} s"),
                ("Epochs", f"{system.epoch_idx} of {system.total_epochs}"),
                ("Training steps", str(system.global_step)),
                ("Stopped early", esc(stopped or "no"))]
        finals = [(esc(mode), esc(key), str(max(values)), esc(number_text(values[max(values)])))
                  for mode, keys in summary.history.items() for key, values in sorted(keys.items())
                  if values and np.ndim(values[max(values)]) == 0]
        return (table([], rows) + "<h3>Final values</h3>"
                + (table(["mode", "key", "step", "value"], finals, numeric=(2, 3)) if finals
                   else '<p class="note">Nothing was logged.</p>'))

    def _data_flow(self, catalog: _Catalog) -> str:
        pipeline, network, system = self.system.pipeline, self.system.network, self.system
        if pipeline is None:
            return '<p class="note">The run has no Pipeline to draw.</p>'
        from torch.utils.data import DataLoader

        from fastest.preflight import peek_keys, run_signature_epochs

        traces = [t for t in system.traces if not isinstance(t, _INTERNAL)]
        parts = []
        for mode in ("train", "eval", "test"):
            if mode not in pipeline.data:
                continue
            parts.append(f"<h3>{mode.capitalize()}</h3>")
            last = max(system.epoch_idx, 1)
            for epoch in run_signature_epochs(pipeline, network, traces, mode, last):
                for ds_id in pipeline.get_ds_ids(epoch, mode):
                    source = pipeline.get_source(mode, epoch, ds_id)
                    try:
                        keys = list(peek_keys(source))
                    except Exception:
                        keys = []
                    unit = "batches" if isinstance(source, DataLoader) else "samples"
                    size = f", {len(source)} {unit}" if hasattr(source, "__len__") else ""
                    node = FlowNode(f"{type(source).__name__}{size}", "Dataset", writes=keys,
                                    link=catalog.link(source))
                    sample_ops, batch, batch_ops = pipeline.get_ops(mode, epoch, ds_id)
                    stages = [("Pipeline", [*sample_ops, batch, *batch_ops]),
                              ("Network", get_current_items(network.ops, mode, epoch, ds_id)),
                              ("Traces", sort_traces(get_current_items(traces, mode, epoch, ds_id)))]
                    given = {id(v) for item in pipeline.ops for v in all_values(item)}
                    for _, items in stages:  # a Batch the Pipeline made from batch_size is not the user's object
                        for item in items:
                            if item is not batch or id(batch) in given:
                                catalog.link(item)
                    title = f"{mode}, epoch {epoch}" + (f", dataset {ds_id!r}" if ds_id else "")
                    graph = flow_graph(title, node, stages, _label, catalog.anchors)
                    parts.append(f"<h4>Epoch {epoch}" + (f" · dataset {esc(ds_id)}" if ds_id else "") + "</h4>"
                                 f'<div class="figure">{flow_svg(graph, f"{mode}-{epoch}-{len(parts)}")}</div>')
        return "".join(parts)

    def _models(self, catalog: _Catalog) -> str:
        parts = [model_section(model, catalog.link(model)[1:]) for model in self.system.network.models]
        return "".join(parts) or '<p class="note">The Network has no model.</p>'

    def _parameters(self, catalog: _Catalog) -> str:
        system = self.system
        pipeline = system.pipeline
        batch_size = catalog.value(pipeline.batch_size) if pipeline is not None else "–"
        settings = [("epochs", str(system.total_epochs)),
                    ("train_steps_per_epoch", esc(system.train_steps_per_epoch)),
                    ("eval_steps_per_epoch", esc(system.eval_steps_per_epoch)), ("log_steps", esc(system.log_steps)),
                    ("batch_size", batch_size),
                    ("num_process", esc(pipeline.num_process if pipeline is not None else "–")),
                    ("processes (world size)", str(system.world_size))]
        if pipeline is not None:
            for sources in pipeline.data.values():
                for source in sources.values():
                    catalog.link(source)
            for op in pipeline.ops:
                catalog.link(op)
        for item in [*system.network.ops, *getattr(system.network, "slicers", []), *system.traces,
                     *self.extra_objects]:
            if not isinstance(item, _INTERNAL):
                catalog.link(item)
        groups: dict[str, list[str]] = {}
        done = 0
        while done < len(catalog.objects):  # tables may find more objects in their arguments
            obj = catalog.objects[done]
            done += 1
            if not isinstance(obj, nn.Module):
                groups.setdefault(_group(obj), []).append(catalog.object_table(obj))
            elif all(obj is not model for model in system.network.models):  # the Network's are in "Models"
                groups.setdefault("Other objects", []).append(model_section(obj, catalog.link(obj)[1:]))
        order = ["Datasets", "Pipeline ops", "Network ops", "Traces", "Schedulers", "Other objects"]
        body = "".join(f"<h3>{group}</h3>{''.join(groups[group])}" for group in order if group in groups)
        return "<h3>Run settings</h3>" + table(["setting", "value"], settings) + body


class _Catalog:
    """The documented objects, each with an anchor (``#obj-N``) that tables and pictures link to."""

    def __init__(self) -> None:
        self.anchors: dict[int, str] = {}
        self.objects: list[Any] = []

    def link(self, obj: Any) -> str:
        """The anchor of ``obj`` (added to the catalog if new)."""
        key = id(obj)
        if key not in self.anchors:
            self.anchors[key] = f"#obj-{len(self.objects) + 1}"
            self.objects.append(obj)
        return self.anchors[key]

    def value(self, value: Any, depth: int = 0, link: bool = True) -> str:
        """HTML for an argument's value: documented objects as links (with ``link``), containers item by item."""
        if link and (id(value) in self.anchors or isinstance(value, (Recorded, Scheduler)) or (
                isinstance(value, nn.Module) and hasattr(value, "model_name"))):
            name = type(value).__name__
            if isinstance(value, nn.Module):
                name = f"{value.model_name} ({name})"
            return f'<a href="{self.link(value)}">{esc(name)}</a>'
        if value is None or isinstance(value, (bool, int, float, str, bytes, np.generic)):
            return esc(_cut(repr(value.item() if isinstance(value, np.generic) else value)))
        if isinstance(value, (np.ndarray, torch.Tensor)):
            array = np.asarray(to_number(value)) if isinstance(value, torch.Tensor) else value
            shown = f" = {esc(np.array2string(array, threshold=10))}" if 0 < array.size <= 10 else ""
            return f"{type(value).__name__} {esc(value.dtype)} {esc(tuple(value.shape))}{shown}"
        if isinstance(value, DsIdFilter):
            return "all" if not value.ids else ("not " if value.negated else "") + esc(sorted(value.ids))
        if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
            cells = [self.value(v, depth + 1) for v in items[:_MAX_ITEMS]]
            more = [f"… {len(items) - _MAX_ITEMS} more"] if len(items) > _MAX_ITEMS else []
            ends = "()" if isinstance(value, tuple) else "{}" if isinstance(value, (set, frozenset)) else "[]"
            return ends[0] + ", ".join(cells + more) + ends[1]
        if depth < 3 and isinstance(value, Mapping):
            pairs = [f"{esc(repr(k))}: {self.value(v, depth + 1)}" for k, v in list(value.items())[:_MAX_ITEMS]]
            more = [f"… {len(value) - _MAX_ITEMS} more"] if len(value) > _MAX_ITEMS else []
            return "{" + ", ".join(pairs + more) + "}"
        if isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
            try:
                return f"<pre>{esc(_cut(inspect.cleandoc(inspect.getsource(value))))}</pre>"
            except (OSError, TypeError):
                return f"<code>{esc(getattr(value, '__qualname__', repr(value)))}</code>"
        if isinstance(value, type):
            return f"<code>{esc(value.__module__)}.{esc(value.__qualname__)}</code>"
        if isinstance(value, torch.optim.Optimizer):
            return esc(optimizer_text(value))
        return esc(_cut(repr(value)))

    def object_table(self, obj: Any) -> str:
        """One object's section: its constructor arguments (and what a dataset holds)."""
        arguments, exact = constructor_arguments(obj)
        if isinstance(obj, Scheduler):
            arguments = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
        rows = [(esc(name), self.value(value)) for name, value in arguments.items()]
        if not rows and not isinstance(obj, (Recorded, Scheduler)):  # e.g. a dict of settings in extra_objects
            rows, exact = [("(value)", self.value(obj, link=False))], True
        rows += [(esc(name), esc(value)) for name, value in _dataset_rows(obj)]
        note = "" if exact or isinstance(obj, Scheduler) else (
            '<p class="note">Not recorded at construction (a copy, or built without arguments): the values are '
            "the object's attributes of the same names.</p>")
        anchor = self.link(obj)[1:]
        return (f'<h4 id="{anchor}">{esc(type(obj).__name__)} <small>{anchor}</small></h4>{note}'
                + table(["argument", "value"], rows))


def _with_final_logs(summary: Summary, mode: str, data: Data) -> Summary:
    """A copy of the run's Summary plus the values logged at ``on_end`` (the Logger records them after this trace)."""
    copy = Summary(summary.name)
    for run_mode, keys in summary.history.items():
        for key, values in keys.items():
            copy.history[run_mode][key] = dict(values)
    step = max([s for keys in summary.history.values() for values in keys.values() for s in values], default=0)
    for key, value in data.read_logs().items():
        copy.history[mode][key][step] = to_number(value)
    return copy


def _curves_png(summary: Summary) -> bytes | None:
    """The training curves as PNG bytes, or None when no scalar was logged."""
    from fastest.errors import FastestValueError
    from fastest.summary.logs import visualize_logs

    try:
        figure: Any = visualize_logs(summary)
    except FastestValueError:
        return None
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _dataset_rows(obj: Any) -> list[tuple[str, str]]:
    """What a dataset holds: its size, and per key the dtype and shape (counts of the classes, for labels)."""
    from torch.utils.data import Dataset

    if not isinstance(obj, Dataset):
        return []
    rows = [("(samples)", str(len(obj)))] if hasattr(obj, "__len__") else []
    summarize = getattr(obj, "summary", None)
    if callable(summarize) and isinstance(getattr(obj, "data", None), Mapping):  # in memory: cheap to summarize
        with contextlib.suppress(Exception):
            rows += [(f"(key {key})", str(summary)) for key, summary in summarize().keys.items()]
    return rows


def _group(obj: Any) -> str:
    from torch.utils.data import DataLoader, Dataset

    from fastest.op.numpyop.numpyop import NumpyOp
    from fastest.op.tensorop.tensorop import TensorOp

    for kind, name in ((Dataset, "Datasets"), (DataLoader, "Datasets"), (NumpyOp, "Pipeline ops"),
                       (TensorOp, "Network ops"), (Trace, "Traces"), (Scheduler, "Schedulers")):
        if isinstance(obj, kind):
            return name
    return "Other objects"


def _label(item: Any) -> str:
    """A node's name: the class, with the model it uses or the batch size it makes."""
    name = type(item).__name__
    model = getattr(item, "model", None)
    if isinstance(model, nn.Module) and hasattr(model, "model_name"):
        return f"{name} ({model.model_name})"
    if name == "Batch":
        return f"Batch (batch_size={getattr(item, 'batch_size', None)})"
    return name


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
