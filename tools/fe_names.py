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
    "KeySummary": "`KeySummary`",
    "OpDataset": "`OpDataset`",
    "list_files": "`list_files`",
    "get_optimizer_name": "`get_optimizer_name` / `reverse_slicers` corners",
    "reverse_slicers": "`get_optimizer_name` / `reverse_slicers` corners",
    "Resize": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "LongestMaxSize": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "SmallestMaxSize": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "RandomScale": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "RandomResizedCrop": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "RandomSizedCrop": "`Resize` / `LongestMaxSize` / `SmallestMaxSize` / `RandomScale` / resized crops",
    "HistoryReader": "`HistoryReader.read_basic` / `read_sql`",
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
    "LeNet": "`LeNet` inputs below 18×18",
    "Cropping2D": "`Cropping2D` with a zero side",
    "WideResidualNetwork": "`WideResidualNetwork(dropout>0)`",
    "MixUpBatch": "`MixUpBatch` label mixing",
    "ModelOp": "`ModelOp` with `forward(self, *xs)`",
    "UpdateOp": "`UpdateOp`",
    "Onehot": "`Onehot` labels",
    "Affine": "`Affine(fit_output=True)`, `rotate_method=\"ellipse\"`, bicubic/area/lanczos warps",
    "FDA": "`FDA`",
    "OpticalDistortion": "`OpticalDistortion` / `GridDistortion` with zero distortion",
    "GridDistortion": "`OpticalDistortion` / `GridDistortion` with zero distortion",
    "BBoxSafeRandomCrop": "`BBoxSafeRandomCrop`, `RandomSizedBBoxSafeCrop`",
    "RandomSizedBBoxSafeCrop": "`BBoxSafeRandomCrop`, `RandomSizedBBoxSafeCrop`",
    "MaskDropout": "`MaskDropout(image_fill_value=\"inpaint\")`",
    "CLAHE": "`CLAHE`, `ISONoise`, weather ops on float images",
    "ISONoise": "`CLAHE`, `ISONoise`, weather ops on float images",
    "CropAndPad": "`CropAndPad(pad_mode=\"reflect\")`",
    "CSVDataset": "`CSVDataset`",
    "ImageDisplay": "Displays (`ImageDisplay`, `BatchDisplay`, `GridDisplay`)",
    "BatchDisplay": "Displays (`ImageDisplay`, `BatchDisplay`, `GridDisplay`) and their traces",
    "GridDisplay": "Displays (`ImageDisplay`, `BatchDisplay`, `GridDisplay`) and their traces",
    "traceable": "`traceable`, `trace_model`",
    "trace_model": "`traceable`, `trace_model`",
    "Suppressor": "`Suppressor`, `cpu_count`, `draw`",
    "cpu_count": "`Suppressor`, `cpu_count`, `draw`",
    "draw": "`Suppressor`, `cpu_count`, `draw`",
    "BleuScore": "`BleuScore`",
    "SaliencyNet": "`SaliencyNet` masks",
    "MeanAveragePrecision": "`MeanAveragePrecision` internals",
    "PBMCalibrator": "`PBMCalibrator`, `System.save_state` files",
    "System": "`System.load_state`",
    "ARC": "`ARC`",
    "ReduceLROnPlateau": "`ReduceLROnPlateau` message",
    "TFNetwork": "`TFNetwork`",
    "focal_loss": "`focal_loss(alpha=None)`, `label_smoothing`",
    "percentile": "`percentile` with a float percentile (torch)",
    "set_lr": "`set_lr(weight_decay=)` on torch models",
    "cast": "`cast` to an unsupported dtype",
    "load_model": "`load_model` of a missing file",
    "binary_crossentropy": "Backend cross entropies",
    "categorical_crossentropy": "Backend cross entropies",
    "sparse_categorical_crossentropy": "Backend cross entropies",
    "one_layer_tf_model": "`fastest.test.unittest_util` TensorFlow fixtures",
    "multi_layer_tf_model": "`fastest.test.unittest_util` TensorFlow fixtures",
    "Estimator": "An eval-only trace (`BestModelSaver` …) without eval data",
    "EarlyStop": "`EarlyStop`",
}

#: name → why it has no PyTorch meaning.
_TF = "TensorFlow only"
_LATEX = "part of FastEstimator's LaTeX report; fastest's Traceability report is HTML"
_ALBU = "wraps albumentations transforms; fastest's ops are written on numpy / torchvision"
_LOADER = "a private helper of FastEstimator's loader, not part of its API"
NOT_APPLICABLE: dict[str, str] = {
    "tf_focal_loss": _TF, "resize_tensorflow_tensor": _TF, "pickle_mirroredstrategy": _TF, "get_gpu_info": _TF,
    "get_model_parameters": "Keras model summaries; use `count_params`",
    **dict.fromkeys(["ContainerList", "PyContainer", "Verbatim", "Center", "AdjustBox", "Form", "TextField",
                     "TextFieldBox", "HrefFEID", "IterJoin", "WrapText", "FeSplitSummary", "FeSummaryTable",
                     "SummaryTable", "fe_summary", "DataOp"], _LATEX),
    "MultiVariateAlbumentation": _ALBU, "ImageOnlyAlbumentation": _ALBU, "OneOfMultiVar": _ALBU,
    **dict.fromkeys(["generate_tiles", "get_encode_label", "pad", "get_sentences_and_labels", "download_file"],
                    _LOADER),
    "download_file_from_google_drive": "fastest downloads each data set from its publisher (see the loader rows)",
    **dict.fromkeys(["PostProcessFunction", "FEDataLoader", "InfiniteSampler"],
                    "FastEstimator's DataLoader internals; fastest's Pipeline builds torch DataLoaders "
                    "(`fastest.pipeline_loader`)"),
    "forward_numpyop": "the Pipeline's internal dispatch; fastest's is `fastest.op.op.run_op`",
    "InMemoryDataset": "FastEstimator's internal base of in-memory datasets; use `NumpyDataset` or `FEDataset`",
    **dict.fromkeys(["history_basic", "clear_history", "settings", "search", "SaveAction"],
                    "command-line internals; the commands themselves are the same (see `fastestimator history` row)"),
    "SearchData": "an internal of FastEstimator's plotly search plots; fastest's are matplotlib",
    **dict.fromkeys(["get_formated_list", "get_formated_reference"], "private helpers of BleuScore"),
}


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
