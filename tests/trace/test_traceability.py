"""Traceability: the digits app's HTML report, read by a parser and by a real headless browser."""

from __future__ import annotations

import base64
import copy
import importlib.util
import os
import pickle
import re
import shutil
import struct
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import fastest as fe
from fastest._recorded import Recorded, constructor_arguments
from fastest.dataset import NumpyDataset
from fastest.errors import FastestRuntimeError, FastestValueError
from fastest.op.numpyop.univariate import ExpandDims, Minmax
from fastest.op.op import Op
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.trace.dataflow import FlowNode, flow_graph, flow_svg, layered_svg, to_dot
from fastest.trace.io import Traceability
from fastest.trace.trace import Trace
from tests.conftest import quiet_estimator

APP = Path(__file__).resolve().parents[2] / "apphub/image_classification/digits/digits.py"
SECTIONS = ["summary", "curves", "dataflow", "parameters", "models", "system", "log"]
CHROMIUM = "/usr/bin/chromium"


class Page(HTMLParser):
    """Every element's tag and attributes, the ids, and the text inside each section and <pre>."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.ids: set[str] = set()
        self.section_text: dict[str, str] = {}
        self._section: str | None = None
        self.svg_text: list[str] = []
        self._in_svg = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "section":
            self._section = attributes.get("id")
            self.section_text[self._section] = ""
        self._in_svg += tag == "svg"

    def handle_endtag(self, tag):
        self._in_svg -= tag == "svg"

    def handle_data(self, data):
        if self._section is not None:
            self.section_text[self._section] += data
        if self._in_svg:
            self.svg_text.append(data)

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def toy_estimator(toy_data, model, traces, **kwargs):
    train, _ = toy_data
    network = fe.Network(ops=[ModelOp(model=model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"), UpdateOp(model=model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=train, batch_size=8, ops=[Minmax("x", "x")], num_process=0)
    return quiet_estimator(pipeline, network, traces=traces, **kwargs)


def load_app():
    spec = importlib.util.spec_from_file_location("digits_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    """The digits app (3 training and 2 eval steps) with a Traceability trace: the estimator, report and HTML."""
    folder = tmp_path_factory.mktemp("digits")
    app_estimator = load_app().get_estimator(epochs=1, train_steps_per_epoch=3, save_dir=str(folder / "models"),
                                             log_steps=1)
    report = Traceability(str(folder / "report"), extra_objects=[{"note": "digits baseline", "minmax": Minmax("x", "x")}])
    estimator = fe.Estimator(pipeline=app_estimator.pipeline, network=app_estimator.network, epochs=1,
                             train_steps_per_epoch=3, eval_steps_per_epoch=2, log_steps=1, progress_bar=False,
                             accelerator="cpu", traces=[*app_estimator.user_traces, report])
    stdout = sys.stdout
    which = shutil.which
    with pytest.MonkeyPatch.context() as patch:  # fastest's own layout, whether or not graphviz is installed
        patch.setattr(shutil, "which", lambda name, *args, **kwargs: None if name == "dot" else which(name, *args,
                                                                                                       **kwargs))
        summary = estimator.fit("Digits Report")
    assert sys.stdout is stdout  # the console capture is undone
    return estimator, summary, report, Path(report.report_path).read_text(encoding="utf-8")


def test_report_files_and_every_section(digits_report):
    _, _, report, text = digits_report
    assert report.report_path == os.path.join(report.save_dir, "digits_report.html")
    assert sorted(os.listdir(report.resource_dir)) == ["digits_report.txt", "digits_report_logs.png"]
    assert not [f for f in os.listdir(report.save_dir) if f.endswith(".tmp")]
    page = Page(text)
    assert [s["id"] for s in page.all("section")] == SECTIONS
    assert {a["href"] for a in page.all("a") if a.get("href", "").startswith("#") and "obj" not in a["href"]} == {
        f"#{s}" for s in SECTIONS}  # the table of contents
    assert page.all("title") and "Digits Report" in text


def test_curves_are_an_embedded_png_equal_to_the_saved_file(digits_report):
    _, _, report, text = digits_report
    (image,) = Page(text).all("img", **{"class": "curves"})
    assert image["src"].startswith("data:image/png;base64,")
    data = base64.b64decode(image["src"].split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width > 300 and height > 200
    assert data == (Path(report.resource_dir) / "digits_report_logs.png").read_bytes()


def test_data_flow_svg_names_the_ops_and_links_to_their_tables(digits_report):
    page = Page(digits_report[3])
    svgs = page.all("svg")
    assert len(svgs) == 2  # train and eval, epoch 1
    words = " ".join(page.svg_text)
    for name in ("NumpyDataset, 1437 samples", "ExpandDims", "Minmax", "Batch (batch_size=32)", "ModelOp (lenet)",
                 "CrossEntropy", "UpdateOp (lenet)", "Accuracy", "BestModelSaver (lenet)", "x → y_pred"):
        assert name in words
    links = [a["href"] for a in page.all("a") if a.get("href", "").startswith("#obj-")]
    assert links and all(link[1:] in page.ids for link in links)  # every cross-link has its target


def test_parameter_tables_hold_the_constructor_arguments(digits_report):
    estimator, _, report, text = digits_report
    parameters = Page(text).section_text["parameters"]
    for expected in ("ExpandDims", "axis", "Minmax", "new_max", "CrossEntropy", "from_logits", "CSVLogger",
                     "digits_logs.csv", "save_best_mode", "'max'", "lr_fn", "cosine_decay", "epochs", "batch_size"):
        assert expected in parameters
    extra = re.search(r"&#x27;note&#x27;: &#x27;digits baseline&#x27;, &#x27;minmax&#x27;: <a href=\"#(obj-\d+)\">"
                      r"Minmax</a>", text)
    assert extra and f'<h4 id="{extra.group(1)}">Minmax' in text  # an extra object, and the op inside it
    model_op = next(op for op in estimator.network.ops if isinstance(op, ModelOp))
    model_anchor = re.search(r'<h3 id="(obj-\d+)">lenet', text).group(1)
    op_table = text[text.index(">ModelOp <small>"):]
    assert f'href="#{model_anchor}">lenet (LeNet)</a>' in op_table[: op_table.index("</table>")]
    assert model_op.model.model_name == "lenet"


def test_model_summary_counts_every_parameter(digits_report):
    estimator, _, _, text = digits_report
    model = estimator.network.models[0]
    total = sum(p.numel() for p in model.parameters())
    models = Page(text).section_text["models"]
    assert f"{total:,}" in models and "conv1" in models and "Conv2d" in models and "Adam(" in models
    layer_counts = [int(n.replace(",", "")) for n in re.findall(r'<td class="num">(?:<b>)?([\d,]+)', text)]
    assert sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False)) == total
    assert total in layer_counts


def test_summary_system_and_log_sections(digits_report):
    estimator, summary, report, text = digits_report
    page = Page(text)
    accuracy = summary.history["eval"]["accuracy"]
    assert f"{accuracy[max(accuracy)]:.6g}" in page.section_text["summary"]
    assert "1 of 1" in page.section_text["summary"]
    system = page.section_text["system"]
    import torch

    assert torch.__version__ in system and np.__version__ in system and "PyTorch Lightning" in system
    assert f"Seed{estimator.system.seed}" in system.replace("\n", "")
    log = page.section_text["log"].removeprefix("Console log")
    assert "FastEstimator-Train: step: 1;" in log and "FastEstimator-Eval: step: 3; epoch: 1;" in log
    finish, restored = log.rstrip().splitlines()[-2:]  # the report runs after every other trace's on_end
    assert finish.startswith("FastEstimator-Finish: step: 3;") and " total_time(sec):" in finish
    assert restored.startswith("FastEstimator-BestModelSaver: restored lenet from")
    assert log.strip() == (Path(report.resource_dir) / "digits_report.txt").read_text().strip()


def test_nothing_is_fetched_from_outside_the_file(digits_report):
    text = digits_report[3]
    page = Page(text)
    for tag, attributes in page.elements:
        for name in ("src", "href", "xlink:href", "action"):
            value = attributes.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, name, value[:80])
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text) and "@import" not in text


def test_fit_without_an_experiment_name_says_how_to_name_it(tmp_path, toy_data, tiny_model):
    estimator = toy_estimator(toy_data, tiny_model, [Traceability(str(tmp_path / "report"))], train_steps_per_epoch=1)
    stdout = sys.stdout
    with pytest.raises(FastestRuntimeError, match=r'no name\. Pass one, e\.g\. estimator\.fit\("digits baseline"\)'):
        estimator.fit()
    assert sys.stdout is stdout and not (tmp_path / "report").exists()


def test_test_after_fit_rewrites_the_report_with_the_test_flow_and_log(tmp_path, toy_data, tiny_model):
    train, evals = toy_data
    network = fe.Network(ops=[ModelOp(model=tiny_model, inputs="x", outputs="y_pred"),
                              CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                              UpdateOp(model=tiny_model, loss_name="ce")])
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, test_data=evals, batch_size=16, num_process=0)
    report = Traceability(str(tmp_path / "report"))
    estimator = quiet_estimator(pipeline, network, traces=[report], log_steps=2)
    estimator.fit("Toy")
    first = Page(Path(report.report_path).read_text())
    estimator.test()
    text = Path(report.report_path).read_text()
    page = Page(text)
    assert re.findall(r"<h3>(Train|Eval|Test)</h3>", text) == ["Train", "Eval", "Test"] and len(page.all("svg")) == 3
    fit_log = first.section_text["log"].removeprefix("Console log").strip()
    log = page.section_text["log"].removeprefix("Console log")
    assert log.startswith(fit_log) and "FastEstimator-Test: step: 4; epoch: 1; ce:" in log[len(fit_log):]
    assert "fastest-Test" not in fit_log


def test_an_unwritable_save_path_fails_before_training(tmp_path, toy_data, tiny_model):
    (tmp_path / "blocker").write_text("a file where the report folder would go")
    steps = []

    class CountSteps(Trace):
        def on_batch_end(self, data):
            steps.append(self.system.global_step)

    estimator = toy_estimator(toy_data, tiny_model, [CountSteps(), Traceability(str(tmp_path / "blocker" / "report"))])
    with pytest.raises(FastestValueError, match=r"Traceability save_dir: the folder .* cannot be created because "
                                                r".*blocker' is a file"):
        estimator.fit("toy")
    assert steps == []
    two = toy_estimator(toy_data, tiny_model, [Traceability(str(tmp_path / "same")), Traceability(str(tmp_path / "same"))])
    with pytest.raises(FastestValueError, match="Traceability and Traceability both write"):
        two.fit("toy")


def test_constructor_arguments_are_recorded_once_at_construction():
    op = ExpandDims(inputs="x", outputs="x", axis=0)
    assert constructor_arguments(op) == ({"inputs": "x", "outputs": "x", "mode": None, "ds_id": None, "axis": 0}, True)
    for clone in (copy.copy(op), pickle.loads(pickle.dumps(op))):  # copies: the attributes that mirror arguments
        arguments, exact = constructor_arguments(clone)
        assert not exact and arguments["axis"] == 0 and arguments["inputs"] == ["x"]
    data = {"x": np.zeros((4, 2))}
    assert constructor_arguments(NumpyDataset(data)) == ({"data": data}, True)


def test_no_object_is_built_during_training_steps(monkeypatch, toy_data, tiny_model):
    built = []
    original = Recorded.__new__

    def counting(cls, *args, **kwargs):
        built.append(cls.__name__)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Recorded, "__new__", staticmethod(counting))
    seen = {}

    class Watch(Trace):
        def on_batch_end(self, data):
            seen[self.system.global_step] = len(built)

    toy_estimator(toy_data, tiny_model, [Watch(mode="train")], epochs=2).fit()
    assert sorted(seen) == list(range(1, 17))
    assert len({seen[s] for s in range(1, 9)}) == 1 and len({seen[s] for s in range(9, 17)}) == 1


def test_flow_graph_follows_keys_and_deletes():
    class Delete(Op):
        deletes = True

    graph = flow_graph("t", FlowNode("data", "Dataset", writes=["x", "y"]), [
        ("Pipeline", [Op("x", "x"), Delete("y"), Op("x", "y")]), ("Network", [Op(["x", "y"], "z")])], lambda o: "Op")
    assert graph.edges == [(0, 1, "x"), (0, 2, "y"), (1, 3, "x"), (1, 4, "x"), (3, 4, "y")]
    svg = layered_svg(graph, "t")
    assert svg.count("marker-end=") == len(graph.edges)  # one arrow into a reader per edge
    assert svg.count("<rect") == len(graph.nodes) + 3  # a box per node and per group
    dot = to_dot(graph)
    assert 'n1 -> n3 [label="x"];' in dot and dot.count("subgraph cluster_") == 3


def test_graphviz_dot_is_used_when_installed_and_a_broken_one_is_ignored(tmp_path, monkeypatch):
    graph = flow_graph("t", FlowNode("data", "Dataset", writes=["x"]), [("Pipeline", [Op("x", "y")])], lambda o: "Op")
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nprintf '<?xml version=\"1.0\"?>\\n<!DOCTYPE svg PUBLIC "
                    "\"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\\n"
                    "<!-- Generated by graphviz -->\\n<svg><g id=\"graph0\"></g></svg>\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake))
    assert flow_svg(graph, "a") == '<svg><g id="graph0"></g></svg>'
    fake.write_text("#!/bin/sh\nexit 1\n")
    assert flow_svg(graph, "a") == layered_svg(graph, "a")
    monkeypatch.undo()
    if shutil.which("dot") is not None:  # a real graphviz, when the machine has one
        svg = flow_svg(graph, "a")
        page = Page(svg)
        assert svg.startswith("<svg") and "<!DOCTYPE" not in svg and "<?xml" not in svg
        assert {"Dataset", "Pipeline", "data", "writes x", "Op", "x → y", "x"} <= {t.strip() for t in page.svg_text}


def browser_or_skip():
    """Playwright's sync API, or a skip naming what is missing (a failure when FASTEST_REQUIRE_BROWSER is set)."""
    missing = None
    if not os.path.exists(CHROMIUM):
        missing = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            missing = "playwright is not installed (pip install 'playwright>=1.40')"
    if missing is not None:
        if os.environ.get("FASTEST_REQUIRE_BROWSER"):
            pytest.fail(f"{missing}, and FASTEST_REQUIRE_BROWSER is set")
        pytest.skip(missing)
    return sync_api


def test_report_in_a_headless_browser(digits_report, tmp_path):
    """The page loads in Chromium without errors or requests, shows its curves and pictures; a screenshot is kept."""
    sync_api = browser_or_skip()
    report_path = Path(digits_report[2].report_path)
    problems, requests = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report_path.as_uri(), wait_until="load")
            curves = page.eval_on_selector("img.curves", "img => [img.complete, img.naturalWidth, img.naturalHeight]")
            pictures = page.eval_on_selector_all("svg", "all => all.map(s => s.getBoundingClientRect().height)")
            page.click("a[href='#models']")
            scrolled = page.evaluate("window.scrollY")
            screenshot = tmp_path / "traceability.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert curves[0] and curves[1] > 300 and curves[2] > 200
    assert len(pictures) == 2 and min(pictures) > 100
    assert scrolled > 0  # the contents link jumps to its section
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    if os.environ.get("FASTEST_TEST_ARTIFACTS"):
        os.makedirs(os.environ["FASTEST_TEST_ARTIFACTS"], exist_ok=True)
        shutil.copy(screenshot, os.path.join(os.environ["FASTEST_TEST_ARTIFACTS"], "traceability.png"))


def test_system_rows_describe_gpus_seed_and_determinism(monkeypatch):
    import torch

    from fastest.trace.report import system_rows

    class Properties:
        name, total_memory = "Fake GPU", 80 * 2**30

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties())
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    rows = dict(system_rows(seed=7))
    assert rows["GPUs"] == "0: Fake GPU (80.0 GiB); 1: Fake GPU (80.0 GiB)"
    assert rows["CUDA / cuDNN"].endswith(" / 91002") and rows["Seed"] == "7" and rows["PYTHONHASHSEED"] == "7"
    assert rows["Deterministic algorithms"] == str(torch.are_deterministic_algorithms_enabled())
    assert rows["torch"] == torch.__version__ and rows["PyTorch Lightning"][0].isdigit()
