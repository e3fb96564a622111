"""Fixtures for tests written against FastEstimator's ``fastestimator.test.unittest_util``.

FastEstimator 1.7 programs and tests import ``is_equal``, the tiny fixed-weight models, mock
distributions, a sample ``System`` and ``TraceRun`` from there; ``fastest.test.unittest_util`` resolves
to this module. fastest's own trace kit is :mod:`fastest.testing`.

>>> import torch
>>> is_equal({"a": [torch.tensor([1.0]), 2]}, {"a": [torch.tensor([1.0]), 2]})
True
>>> OneLayerTorchModel()(torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -0.5]])).flatten().tolist()
[6.0, -2.5]
"""

from __future__ import annotations

import io
from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from fastest.errors import FastestValueError

if TYPE_CHECKING:
    from fastest.trace.system import System
    from fastest.trace.trace import Data, Trace

__all__ = [
    "MockBetaDistribution",
    "MockUniformDistribution",
    "MultiLayerTorchModel",
    "OneLayerTorchModel",
    "TraceRun",
    "check_img_similar",
    "fig_to_rgb_array",
    "img_to_rgb_array",
    "is_equal",
    "multi_layer_tf_model",
    "one_layer_tf_model",
    "sample_system_object",
    "sample_system_object_torch",
]


def is_equal(obj1: Any, obj2: Any, assert_type: bool = True, assert_dtype: bool = False) -> bool:
    """Whether two (nested) objects are equal: lists, tuples, sets, dicts, arrays, tensors, numbers.

    Args:
        obj1: First object.
        obj2: Second object.
        assert_type: Objects of different types are unequal.
        assert_dtype: Arrays and tensors of different dtypes are unequal.

    >>> is_equal([1, np.array([2, 3])], [1, np.array([2, 3])]), is_equal((1,), [1])
    (True, False)
    """
    if assert_type and type(obj1) is not type(obj2):
        return False
    if isinstance(obj1, (list, tuple, set)):
        if not isinstance(obj2, (list, tuple, set)) or len(obj1) != len(obj2):
            return False
        if isinstance(obj1, set):
            obj1, obj2 = sorted(obj1, key=repr), sorted(obj2, key=repr)
        return all(is_equal(a, b) for a, b in zip(obj1, obj2))
    if isinstance(obj1, dict):
        if not isinstance(obj2, dict) or obj1.keys() != obj2.keys():
            return False
        return all(is_equal(obj1[key], obj2[key]) for key in obj1)
    if isinstance(obj1, (np.ndarray, torch.Tensor)) or isinstance(obj2, (np.ndarray, torch.Tensor)):
        if assert_dtype and getattr(obj1, "dtype", None) != getattr(obj2, "dtype", None):
            return False
        if isinstance(obj1, torch.Tensor) and isinstance(obj2, torch.Tensor):
            return bool(torch.equal(obj1, obj2))
        return bool(np.array_equal(_as_numpy(obj1), _as_numpy(obj2)))
    return bool(obj1 == obj2)


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class OneLayerTorchModel(torch.nn.Module):
    """One bias-free linear layer, 3 inputs → 1 output, weights ``[1, 2, 3]``.

    >>> OneLayerTorchModel()(torch.ones(1, 3)).item()
    6.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 1, bias=False)
        self.fc1.weight.data = torch.tensor([[1.0, 2.0, 3.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(x)


class MultiLayerTorchModel(torch.nn.Module):
    """Two bias-free linear layers, 4 → 2 → 1, with fixed weights.

    >>> MultiLayerTorchModel()(torch.ones(1, 4)).item()
    40.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 2, bias=False)
        self.fc1.weight.data = torch.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 6.0]])
        self.fc2 = torch.nn.Linear(2, 1, bias=False)
        self.fc2.weight.data = torch.tensor([[1.0, 2.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


def one_layer_tf_model() -> torch.nn.Module:
    """FastEstimator's TensorFlow fixture; fastest is PyTorch-only, so this is :class:`OneLayerTorchModel`."""
    return OneLayerTorchModel()


def multi_layer_tf_model() -> torch.nn.Module:
    """FastEstimator's TensorFlow fixture; fastest is PyTorch-only, so this is :class:`MultiLayerTorchModel`."""
    return MultiLayerTorchModel()


class _ConstantDistribution:
    value: float

    def __init__(self, framework: str = "torch") -> None:
        if framework not in ("tf", "torch"):
            raise FastestValueError(
                f"{type(self).__name__}: unknown framework {framework!r}. Use 'torch' (or 'tf', which "
                "gives torch tensors too: fastest is PyTorch-only)."
            )
        self.framework = framework

    def sample(self, *shape: Any) -> torch.Tensor:
        return torch.tensor([self.value])


class MockBetaDistribution(_ConstantDistribution):
    """A stand-in for ``torch.distributions.Beta`` whose ``sample()`` is always ``tensor([0.5])``.

    >>> MockBetaDistribution("torch").sample()
    tensor([0.5000])
    """

    value = 0.5


class MockUniformDistribution(_ConstantDistribution):
    """A stand-in for ``torch.distributions.Uniform`` whose ``sample()`` is always ``tensor([0.25])``.

    >>> MockUniformDistribution("torch").sample()
    tensor([0.2500])
    """

    value = 0.25


def sample_system_object_torch() -> System:
    """A System over a LeNet Network and a 3-train / 1-eval / 1-test Pipeline of random 28×28×3 images.

    >>> system = sample_system_object_torch()
    >>> system.mode, system.total_epochs, system.pipeline.batch_size
    ('train', 10, 1)
    """
    import fastest as fe
    from fastest.architecture import LeNet
    from fastest.dataset import NumpyDataset
    from fastest.op.tensorop.model import ModelOp
    from fastest.trace.system import System

    train_data = NumpyDataset({"x": np.random.rand(3, 28, 28, 3), "y": np.random.randint(10, size=(3,))})
    eval_data = NumpyDataset({"x": np.random.rand(2, 28, 28, 3), "y": np.random.randint(10, size=(2,))})
    test_data = cast(NumpyDataset, eval_data.split(0.5))  # one fraction: one dataset
    model = fe.build(model_fn=LeNet, optimizer_fn="adam", model_name="torch")
    pipeline = fe.Pipeline(train_data=train_data, eval_data=eval_data, test_data=test_data, batch_size=1)
    network = fe.Network(ops=[ModelOp(model=model, inputs="x_out", outputs="y_pred")])
    system = System(network=network, traces=[], total_epochs=10)
    system.pipeline = pipeline
    system.mode = "train"
    return system


def sample_system_object() -> System:
    """FastEstimator's TensorFlow sample System; in fastest the same as :func:`sample_system_object_torch`."""
    return sample_system_object_torch()


def check_img_similar(img1: np.ndarray, img2: np.ndarray, ptol: int = 3, ntol: float = 0.01) -> bool:
    """Whether two images of the same shape differ by more than ``ptol`` in fewer than ``ntol`` of their values.

    >>> a = np.zeros((4, 4, 3), dtype=np.uint8)
    >>> b = a.copy(); b[0, 0, 0] = 255
    >>> check_img_similar(a, a), check_img_similar(a, b), check_img_similar(a, b, ntol=0.05)
    (True, False, True)
    """
    if img1.shape != img2.shape:
        return False
    diff = np.abs(img1.astype(np.float32) - img2.astype(np.float32))
    return bool(np.count_nonzero(diff > ptol) < img1.size * ntol)


def img_to_rgb_array(path: str) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array of shape (H, W, 3)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def fig_to_rgb_array(fig: Any) -> np.ndarray:
    """Render a figure to an RGB ``uint8`` array of shape (H, W, 3).

    Accepts a matplotlib Figure, any object with a ``.fig`` (fastest's displays) or a ``savefig``
    method, and a plotly Figure when plotly's image export (kaleido) is installed.

    >>> import matplotlib.figure
    >>> fig_to_rgb_array(matplotlib.figure.Figure(figsize=(2, 1), dpi=50)).shape
    (50, 100, 3)
    """
    from PIL import Image

    fig = getattr(fig, "fig", fig)
    buffer = io.BytesIO()
    if hasattr(fig, "savefig"):
        fig.savefig(buffer, format="png")
    elif hasattr(fig, "to_image"):
        buffer.write(fig.to_image(format="png"))
    else:
        raise FastestValueError(
            f"fig_to_rgb_array: received a {type(fig).__name__}; expected a matplotlib Figure, a fastest "
            "display (with `.fig`) or a plotly Figure."
        )
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


class TraceRun:
    """Run a trace through one of each event, without an Estimator, on one batch and its predictions.

    After :meth:`run_trace`, ``data_on_<event>`` holds the :class:`~fastest.trace.trace.Data` each event
    received (e.g. ``data_on_epoch_end`` has what the trace logged at the end of the epoch).

    Args:
        trace: The trace to run.
        batch: The batch from the Pipeline.
        prediction: The Network's output for it.

    >>> from fastest.trace.trace import Trace
    >>> class Total(Trace):
    ...     def on_batch_end(self, data): self.total = float(data["y"].sum() + data["pred"].sum())
    ...     def on_epoch_end(self, data): data.write_with_log("total", self.total)
    >>> run = TraceRun(Total(inputs=["y", "pred"]), {"y": torch.ones(2)}, {"pred": torch.ones(2)})
    >>> run.run_trace()
    >>> run.data_on_epoch_end["total"]
    4.0
    """

    def __init__(self, trace: Trace, batch: Mapping[str, Any], prediction: Mapping[str, Any]) -> None:
        self.trace = trace
        self.batch = batch
        self.prediction = prediction
        self.data_on_begin: Data | None = None
        self.data_on_end: Data | None = None
        self.data_on_epoch_begin: Data | None = None
        self.data_on_epoch_end: Data | None = None
        self.data_on_batch_begin: Data | None = None
        self.data_on_batch_end: Data | None = None

    def run_trace(self) -> None:
        """Attach a sample System and call the six events in order."""
        from fastest.trace.trace import Data

        self.trace.system = sample_system_object()
        self.data_on_begin = Data()
        self.trace.on_begin(self.data_on_begin)
        self.data_on_epoch_begin = Data()
        self.trace.on_epoch_begin(self.data_on_epoch_begin)
        self.data_on_batch_begin = Data(dict(self.batch))
        self.trace.on_batch_begin(self.data_on_batch_begin)
        self.data_on_batch_end = Data(ChainMap(dict(self.prediction), dict(self.batch)))  # type: ignore[arg-type]
        self.trace.on_batch_end(self.data_on_batch_end)
        self.data_on_epoch_end = Data()
        self.trace.on_epoch_end(self.data_on_epoch_end)
        self.data_on_end = Data()
        self.trace.on_end(self.data_on_end)
