"""FastEstimator 1.7's module paths, served from the fastest modules that hold their names.

FastEstimator keeps one class per file (``fastestimator.op.numpyop.univariate.expand_dims``);
fastest groups code by topic (``fastest.op.numpyop.univariate.basic``). So that FastEstimator
scripts run after renaming ``fastestimator`` to ``fastest``, every FastEstimator 1.7 module path
with a PyTorch meaning is listed in :data:`FE_MODULES`, and a finder on ``sys.meta_path`` serves
it:

- a path fastest has as a real module or package imports as itself; when FastEstimator has
  sub-paths below it (``fastest.trace.io`` → ``fastest.trace.io.model_saver``) it also gets an empty
  ``__path__`` (so they can import) and a module ``__getattr__`` (so ``fe.trace.io.model_saver`` works);
- any other path becomes an alias module holding the names of its *home*: the module named in
  :data:`HOMES`, else the nearest real module above it
  (``fastest.trace.io.best_model_saver`` → ``fastest.trace.io``).

TensorFlow-only paths (``fastest.architecture.tensorflow`` …) raise an error saying what to use.

>>> from fastest.op.numpyop.univariate.expand_dims import ExpandDims
>>> from fastest.op.numpyop.univariate import ExpandDims as Same
>>> ExpandDims is Same
True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: FastEstimator 1.7's module paths (below ``fastestimator.``) that have a PyTorch meaning.
FE_MODULES: frozenset[str] = frozenset(
    ["architecture", "architecture.pytorch", "architecture.pytorch.attention_unet", "architecture.pytorch.lenet", "architecture.pytorch.resnet9", "architecture.pytorch.unet", "architecture.pytorch.wideresnet", "backend", "backend._abs", "backend._argmax", "backend._binary_crossentropy", "backend._cast", "backend._categorical_crossentropy", "backend._check_nan", "backend._clip_by_value", "backend._concat", "backend._convert_tensor_precision", "backend._dice_score", "backend._exp", "backend._expand_dims", "backend._feed_forward", "backend._flip", "backend._focal_loss", "backend._gather", "backend._gather_from_batch", "backend._get_gradient", "backend._get_image_dims", "backend._get_lr", "backend._get_shape", "backend._hinge", "backend._huber", "backend._iwd", "backend._l1_loss", "backend._l2_regularization", "backend._lambertw", "backend._load_model", "backend._matmul", "backend._maximum", "backend._mean_squared_error", "backend._ones_like", "backend._percentile", "backend._permute", "backend._pow", "backend._random_normal_like", "backend._random_uniform_like", "backend._reduce_max", "backend._reduce_mean", "backend._reduce_min", "backend._reduce_std", "backend._reduce_sum", "backend._reshape", "backend._resize3d", "backend._roll", "backend._save_model", "backend._set_lr", "backend._sign", "backend._smooth_l1_loss", "backend._sparse_categorical_crossentropy", "backend._squeeze", "backend._tensor_normalize", "backend._tensor_pow", "backend._tensor_round", "backend._tensor_sqrt", "backend._to_shape", "backend._to_tensor", "backend._to_type", "backend._transpose", "backend._update_model", "backend._watch", "backend._where", "backend._zeros_like", "backend._zscore", "cli", "cli.history", "cli.logs", "cli.main", "cli.plot", "cli.run", "cli.train", "dataset", "dataset.batch_dataset", "dataset.combined_dataset", "dataset.csv_dataset", "dataset.data", "dataset.data.breast_cancer", "dataset.data.cifair10", "dataset.data.cifair100", "dataset.data.cifar10", "dataset.data.cifar100", "dataset.data.cub200", "dataset.data.em_3d", "dataset.data.food101", "dataset.data.horse2zebra", "dataset.data.imdb_review", "dataset.data.medmnist", "dataset.data.mendeley", "dataset.data.mitmovie_ner", "dataset.data.mnist", "dataset.data.montgomery", "dataset.data.mscoco", "dataset.data.nih_chestxray", "dataset.data.omniglot", "dataset.data.pascal_voc", "dataset.data.penn_treebank", "dataset.data.shakespeare", "dataset.data.skl_digits", "dataset.data.svhn", "dataset.data.svhn_cropped", "dataset.data.tednmt", "dataset.data.tiny_imagenet", "dataset.data.unnatural_instructions", "dataset.data.usps", "dataset.data.wikitext_103", "dataset.dataloader", "dataset.dataset", "dataset.dir_dataset", "dataset.extend_dataset", "dataset.generator_dataset", "dataset.interleave_dataset", "dataset.labeled_dir_dataset", "dataset.numpy_dataset", "dataset.op_dataset", "dataset.pickle_dataset", "dataset.siamese_dir_dataset", "estimator", "layers", "layers.pytorch", "layers.pytorch.cropping_2d", "layers.pytorch.hadamard", "network", "op", "op.numpyop", "op.numpyop.meta", "op.numpyop.meta.fuse", "op.numpyop.meta.one_of", "op.numpyop.meta.repeat", "op.numpyop.meta.sometimes", "op.numpyop.multivariate", "op.numpyop.multivariate.affine", "op.numpyop.multivariate.bbox_safe_random_crop", "op.numpyop.multivariate.center_crop", "op.numpyop.multivariate.crop", "op.numpyop.multivariate.crop_and_pad", "op.numpyop.multivariate.crop_non_empty_mask_if_exists", "op.numpyop.multivariate.elastic_transform", "op.numpyop.multivariate.flip", "op.numpyop.multivariate.grid_distortion", "op.numpyop.multivariate.horizontal_flip", "op.numpyop.multivariate.longest_max_size", "op.numpyop.multivariate.mask_dropout", "op.numpyop.multivariate.multivariate", "op.numpyop.multivariate.optical_distortion", "op.numpyop.multivariate.pad_if_needed", "op.numpyop.multivariate.random_crop", "op.numpyop.multivariate.random_crop_from_borders", "op.numpyop.multivariate.random_crop_near_bbox", "op.numpyop.multivariate.random_grid_shuffle", "op.numpyop.multivariate.random_resized_crop", "op.numpyop.multivariate.random_rotate_90", "op.numpyop.multivariate.random_scale", "op.numpyop.multivariate.random_sized_bbox_safe_crop", "op.numpyop.multivariate.random_sized_crop", "op.numpyop.multivariate.read_mat", "op.numpyop.multivariate.resize", "op.numpyop.multivariate.rotate", "op.numpyop.multivariate.shift_scale_rotate", "op.numpyop.multivariate.smallest_max_size", "op.numpyop.multivariate.transpose", "op.numpyop.multivariate.vertical_flip", "op.numpyop.numpyop", "op.numpyop.univariate", "op.numpyop.univariate.autocontrast", "op.numpyop.univariate.binarize", "op.numpyop.univariate.blur", "op.numpyop.univariate.brightness", "op.numpyop.univariate.calibate", "op.numpyop.univariate.channel_dropout", "op.numpyop.univariate.channel_shuffle", "op.numpyop.univariate.channel_transpose", "op.numpyop.univariate.clahe", "op.numpyop.univariate.coarse_dropout", "op.numpyop.univariate.color", "op.numpyop.univariate.color_jitter", "op.numpyop.univariate.contrast", "op.numpyop.univariate.defocus", "op.numpyop.univariate.downscale", "op.numpyop.univariate.equalize", "op.numpyop.univariate.expand_dims", "op.numpyop.univariate.fda", "op.numpyop.univariate.from_float", "op.numpyop.univariate.gaussian_blur", "op.numpyop.univariate.gaussian_noise", "op.numpyop.univariate.hadamard", "op.numpyop.univariate.histogram_matching", "op.numpyop.univariate.hue_saturation_value", "op.numpyop.univariate.image_compression", "op.numpyop.univariate.invert_img", "op.numpyop.univariate.iso_noise", "op.numpyop.univariate.median_blur", "op.numpyop.univariate.minmax", "op.numpyop.univariate.motion_blur", "op.numpyop.univariate.multiplicative_noise", "op.numpyop.univariate.normalize", "op.numpyop.univariate.onehot", "op.numpyop.univariate.pad_sequence", "op.numpyop.univariate.pixel_distribution_adaptation", "op.numpyop.univariate.posterize", "op.numpyop.univariate.random_brightness_contrast", "op.numpyop.univariate.random_fog", "op.numpyop.univariate.random_gamma", "op.numpyop.univariate.random_rain", "op.numpyop.univariate.random_shadow", "op.numpyop.univariate.random_shapes", "op.numpyop.univariate.random_snow", "op.numpyop.univariate.random_sun_flare", "op.numpyop.univariate.read_image", "op.numpyop.univariate.reshape", "op.numpyop.univariate.rgb_shift", "op.numpyop.univariate.rua", "op.numpyop.univariate.sharpness", "op.numpyop.univariate.shear_x", "op.numpyop.univariate.shear_y", "op.numpyop.univariate.solarize", "op.numpyop.univariate.to_array", "op.numpyop.univariate.to_float", "op.numpyop.univariate.to_gray", "op.numpyop.univariate.to_sepia", "op.numpyop.univariate.tokenize", "op.numpyop.univariate.translate_x", "op.numpyop.univariate.translate_y", "op.numpyop.univariate.univariate", "op.numpyop.univariate.word_to_id", "op.numpyop.univariate.zoom_blur", "op.op", "op.tensorop", "op.tensorop.argmax", "op.tensorop.augmentation", "op.tensorop.augmentation.cutmix_batch", "op.tensorop.augmentation.mixup_batch", "op.tensorop.average", "op.tensorop.gather", "op.tensorop.gradient", "op.tensorop.gradient.fgsm", "op.tensorop.gradient.gradient", "op.tensorop.gradient.watch", "op.tensorop.loss", "op.tensorop.loss.cross_entropy", "op.tensorop.loss.dice_loss", "op.tensorop.loss.focal_loss", "op.tensorop.loss.hinge", "op.tensorop.loss.l1_loss", "op.tensorop.loss.l2_regularization", "op.tensorop.loss.loss", "op.tensorop.loss.mean_squared_error", "op.tensorop.loss.super_loss", "op.tensorop.meta", "op.tensorop.meta.fuse", "op.tensorop.meta.one_of", "op.tensorop.meta.repeat", "op.tensorop.meta.sometimes", "op.tensorop.model", "op.tensorop.model.model", "op.tensorop.model.update", "op.tensorop.normalize", "op.tensorop.permute", "op.tensorop.reshape", "op.tensorop.resize3d", "op.tensorop.tensorop", "op.tensorop.un_hadamard", "pipeline", "schedule", "schedule.lr_schedule", "schedule.schedule", "search", "search.golden_section", "search.grid_search", "search.search", "search.visualize", "search.visualize.cartesian", "search.visualize.heatmap", "search.visualize.parallel_coordinate_plot", "search.visualize.vis_util", "search.visualize.visualize", "slicer", "slicer.axis_slicer", "slicer.mean_unslicer", "slicer.slicer", "slicer.sliding_slicer", "summary", "summary.history", "summary.logs", "summary.logs.log_parse", "summary.logs.log_plot", "summary.summary", "summary.system", "test", "test.unittest_util", "trace", "trace.adapt", "trace.adapt.early_stopping", "trace.adapt.lr_scheduler", "trace.adapt.pbm_calibrator", "trace.adapt.reduce_lr_on_plateau", "trace.adapt.terminate_on_nan", "trace.io", "trace.io.batch_display", "trace.io.best_model_saver", "trace.io.csv_logger", "trace.io.grid_display", "trace.io.image_saver", "trace.io.image_viewer", "trace.io.model_saver", "trace.io.restore_wizard", "trace.io.tensorboard", "trace.io.test_report", "trace.io.traceability", "trace.meta", "trace.meta._per_ds", "trace.metric", "trace.metric.accuracy", "trace.metric.auc", "trace.metric.bleu_score", "trace.metric.calibration_error", "trace.metric.confusion_matrix", "trace.metric.dice", "trace.metric.f1_score", "trace.metric.mcc", "trace.metric.mean_average_precision", "trace.metric.precision", "trace.metric.recall", "trace.trace", "trace.xai", "trace.xai.eigen_cam", "trace.xai.grad_cam", "trace.xai.instance_tracker", "trace.xai.label_tracker", "trace.xai.saliency", "types", "util", "util.base_util", "util.cli_util", "util.data", "util.img_data", "util.traceability_util", "util.util", "util.wget_util", "xai", "xai.saliency"]
)

#: Paths whose names live somewhere other than the nearest real module above them.
HOMES: dict[str, str] = {
    "architecture.pytorch": "fastest.architecture",
    "architecture.pytorch.attention_unet": "fastest.architecture.attention_unet",  # its own decoder block
    "architecture.pytorch.unet": "fastest.architecture.unet",
    "layers.pytorch": "fastest.layers",
    "test": "fastest.testing_fixtures",
    "test.unittest_util": "fastest.testing_fixtures",
    "summary.system": "fastest.trace.system",
    "dataset.op_dataset": "fastest.pipeline_loader",
    "dataset.dataloader": "fastest.pipeline_loader",
    "trace.io.batch_display": "fastest.trace.display_traces",  # FE's BatchDisplay / GridDisplay traces, whose names
    "trace.io.grid_display": "fastest.trace.display_traces",  # clash with the figures of fastest.util
}

_TENSORFLOW_ONLY = ("tensorflow", "keras")


def _fe_path(fullname: str) -> str | None:
    """``fastest.a.b`` → ``a.b`` for the names this finder knows about, else None."""
    if not fullname.startswith("fastest."):
        return None
    return fullname[len("fastest."):]


def _has_fe_children(path: str) -> bool:
    prefix = path + "."
    return any(name.startswith(prefix) for name in FE_MODULES)


def home_of(path: str) -> str:
    """The fastest module whose names the FE module path ``path`` serves.

    >>> home_of("trace.io.best_model_saver")
    'fastest.trace.io'
    >>> home_of("architecture.pytorch.lenet")
    'fastest.architecture'
    """
    parts = path.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in HOMES:
            return HOMES[candidate]
        if candidate != path and _is_real(f"fastest.{candidate}"):
            return f"fastest.{candidate}"
        parts.pop()
    return "fastest"


def _is_real(fullname: str) -> bool:
    """True if ``fullname`` is a module or package in fastest's source tree (not an alias)."""
    module = sys.modules.get(fullname)
    if module is not None:
        return "__fe_alias_of__" not in vars(module)
    parent, _, leaf = fullname.rpartition(".")
    parent_module = importlib.import_module(parent)
    search = getattr(parent_module, "__path__", None)
    if not search:
        return False
    return importlib.machinery.PathFinder.find_spec(fullname, list(search)) is not None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, home: str) -> None:
        self.home = home

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        home = importlib.import_module(self.home)
        names = {k: v for k, v in vars(home).items() if not (k.startswith("__") and k.endswith("__"))}
        module.__dict__.update(names)
        module.__fe_alias_of__ = self.home  # type: ignore[attr-defined]
        module.__doc__ = f"FastEstimator's path {module.__name__}: the names of {self.home}."
        if hasattr(home, "__all__"):
            module.__all__ = list(home.__all__)  # type: ignore[attr-defined]
        setattr(module, "__getattr__", _forward(module.__name__, home))  # noqa: B010 - a module-level __getattr__


def _forward(name: str, home: ModuleType) -> Any:
    def __getattr__(attr: str) -> Any:
        if f"{_fe_path(name)}.{attr}" in FE_MODULES:
            return importlib.import_module(f"{name}.{attr}")
        try:
            return getattr(home, attr)
        except AttributeError:
            raise AttributeError(
                f"module {name!r} (FastEstimator's path, served from {home.__name__}) has no attribute {attr!r}"
            ) from None

    return __getattr__


class _WithFESubpaths(importlib.abc.Loader):
    """Loads a real module as usual, then lets its FastEstimator sub-paths resolve as attributes."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename … for inspect, doctest, coverage
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        own = vars(module).get("__getattr__")
        name = module.__name__

        def __getattr__(attr: str) -> Any:
            if f"{_fe_path(name)}.{attr}" in FE_MODULES:
                return importlib.import_module(f"{name}.{attr}")
            if own is not None:
                return own(attr)
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")

        setattr(module, "__getattr__", __getattr__)  # noqa: B010 - a module-level __getattr__


class FEPathFinder(importlib.abc.MetaPathFinder):
    """Serves FastEstimator 1.7's module paths under ``fastest`` (see the module docstring)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        fe = _fe_path(fullname)
        if fe is None:
            return None
        if any(part in _TENSORFLOW_ONLY for part in fe.split(".")):
            pytorch = fullname.replace("tensorflow", "pytorch")
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: fastest is PyTorch-only, so FastEstimator's TensorFlow modules have "
                f"no counterpart. Use the PyTorch version ({pytorch!r} where FastEstimator has one).",
                name=fullname,
            )
        if fe not in FE_MODULES:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is not None and fe not in HOMES:
            if _has_fe_children(fe) and real.loader is not None:
                if real.submodule_search_locations is None:
                    real.submodule_search_locations = []
                real.loader = _WithFESubpaths(real.loader)
            return real
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(home_of(fe)), is_package=True)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, FEPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, FEPathFinder())


install()
