"""fastest.testing_fixtures: FastEstimator's unittest_util names, at fastest.test.unittest_util too."""

import numpy as np
import pytest
import torch

import fastest as fe
from fastest.testing_fixtures import (
    MockBetaDistribution,
    MockUniformDistribution,
    MultiLayerTorchModel,
    OneLayerTorchModel,
    TraceRun,
    check_img_similar,
    fig_to_rgb_array,
    img_to_rgb_array,
    is_equal,
    one_layer_tf_model,
    sample_system_object,
)
from fastest.trace.trace import Trace


def test_fastestimator_path_serves_this_module():
    from fastest.test.unittest_util import is_equal as same

    assert same is is_equal


def test_is_equal_compares_nested_values_types_and_dtypes():
    assert is_equal({"a": [np.array([1, 2]), (torch.tensor([0.5]), {3})]}, {"a": [np.array([1, 2]), (torch.tensor([0.5]), {3})]})
    assert not is_equal({"a": 1}, {"b": 1}) and not is_equal([1, 2], [1, 2, 3]) and not is_equal((1,), [1])
    assert not is_equal(np.array([1, 2]), np.array([1, 3])) and not is_equal(torch.ones(2), torch.ones(3))
    assert is_equal(torch.ones(2), torch.ones(2, dtype=torch.float64))
    assert not is_equal(torch.ones(2), torch.ones(2, dtype=torch.float64), assert_dtype=True)
    assert not is_equal(np.ones(2, np.float32), np.ones(2), assert_dtype=True)
    assert is_equal(1, 1.0, assert_type=False) and not is_equal(1, 1.0)


def test_fixed_weight_models():
    x = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -0.5]])
    assert OneLayerTorchModel()(x).flatten().tolist() == [6.0, -2.5]
    assert MultiLayerTorchModel()(torch.tensor([[1.0, 0.0, 0.0, 1.0]])).item() == 5.0 + 2 * 8.0
    assert isinstance(one_layer_tf_model(), OneLayerTorchModel)  # fastest is PyTorch-only
    model = fe.build(model_fn=MultiLayerTorchModel, optimizer_fn="adam")
    assert type(model.optimizer).__name__ == "Adam"


def test_mock_distributions_are_constant():
    assert MockBetaDistribution("torch").sample().tolist() == [0.5]
    assert MockUniformDistribution().sample().tolist() == [0.25]
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        MockBetaDistribution("jax")


def test_sample_system_has_a_pipeline_and_network():
    system = sample_system_object()
    assert (system.mode, system.total_epochs, system.global_step) == ("train", 10, 0)
    assert len(system.pipeline.data["train"][""]) == 3 and system.network is not None


def test_trace_run_drives_every_event():
    class Record(Trace):
        def on_begin(self, data):
            self.events = ["begin"]

        def on_batch_begin(self, data):
            self.events.append(("batch_begin", float(data["y"].sum())))

        def on_batch_end(self, data):
            self.events.append(("batch_end", float(data["y"].sum() + data["pred"].sum())))

        def on_epoch_end(self, data):
            data.write_with_log("n", len(self.events))

    run = TraceRun(Record(inputs=["y", "pred"]), {"y": torch.ones(3)}, {"pred": torch.full((3,), 2.0)})
    run.run_trace()
    assert run.trace.events == ["begin", ("batch_begin", 3.0), ("batch_end", 9.0)]
    assert run.data_on_epoch_end.read_logs() == {"n": 3}


def test_image_helpers(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[:, :3] = 255
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert np.array_equal(img_to_rgb_array(str(tmp_path / "a.png")), pixels)
    noisy = pixels.copy()
    noisy[0, 0] = [250, 0, 0]
    assert check_img_similar(pixels, noisy, ntol=0.1) and not check_img_similar(pixels, noisy, ntol=0.01)
    assert not check_img_similar(pixels, pixels[:2])
    figure = Figure(figsize=(1, 0.5), dpi=40)
    figure.patch.set_facecolor("red")
    array = fig_to_rgb_array(figure)
    assert array.shape == (20, 40, 3) and array[5, 5].tolist() == [255, 0, 0]
