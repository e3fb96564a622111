import os

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

import fastest as fe
from fastest.backend import EPSILON
from fastest.dataset import NumpyDataset
from fastest.errors import FastestValueError
from fastest.op.tensorop.loss import CrossEntropy
from fastest.op.tensorop.model import ModelOp, UpdateOp
from fastest.testing import Epoch, make_system, run_epochs
from fastest.trace.io import ImageSaver, TensorBoard
from fastest.trace.trace import Trace
from fastest.trace.xai import EigenCAM, GradCAM, InstanceTracker, LabelTracker, Saliency, UMap
from fastest.xai.cam import eigencam, gradcam
from fastest.xai.saliency import integrated_gradients, saliency, smoothgrad
from fastest.xai.umap import umap_embedding
from tests.conftest import quiet_estimator
from tests.xai.conftest import quadrant_images

FIGURES = ["saliency", "gradcam", "eigencam", "umap", "ce_by_y", "ce_by_idx"]



class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv(x)), 4)
        return torch.softmax(self.fc2(torch.relu(self.fc1(x.flatten(1)))), dim=-1)


class Catch(Trace):
    """Keeps what earlier traces wrote at each epoch end."""

    def __init__(self, keys):
        super().__init__(inputs=keys)
        self.seen = []

    def on_epoch_end(self, data):
        self.seen.append({key: data[key] for key in self.inputs if key in data})


def batches(model, count=2, size=3, seed=0):
    x, y = quadrant_images(count * size, seed=seed)
    with torch.no_grad():
        pred = model(x)
    return [{"x": x[i:i + size], "y": y[i:i + size], "y_pred": pred[i:i + size]} for i in range(0, len(x), size)]


def test_saliency_trace_attributes_the_gathered_samples_like_the_functions():
    torch.manual_seed(0)
    model = fe.build(SmallCNN, optimizer_fn=None)
    data = batches(model)
    trace = Saliency(model, model_inputs="x", model_outputs="y_pred", class_key="y", label_mapping={"h": 0, "v": 1},
                     samples=4, smoothing=3, integrating=(12, 2))
    catch = Catch(["saliency"])
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    run_epochs([trace, catch], [Epoch(data)])
    assert torch.equal(torch.random.get_rng_state(), state)  # the noise does not draw from the global generator
    x = torch.cat([b["x"] for b in data])[:4]  # 3 from the first batch, 1 from the second
    assert sorted(trace.attributions) == ["Integrated", "Saliency", "SmInt", "Smoothed"]
    np.testing.assert_allclose(trace.attributions["Saliency"], saliency(model, x), atol=1e-7)
    np.testing.assert_allclose(trace.attributions["Integrated"], integrated_gradients(model, x, steps=12), atol=1e-7)
    np.testing.assert_allclose(trace.attributions["Smoothed"], smoothgrad(model, x, samples=3, seed=1), atol=1e-7)
    assert all(value.shape == (4, 1, 16, 16) for value in trace.attributions.values())
    figure = catch.seen[0]["saliency"]
    assert isinstance(figure, Figure) and len(figure.axes) == 4 * 5
    assert figure.axes[0].get_ylabel().startswith("label: ") and "pred: " in figure.axes[0].get_ylabel()


def test_sample_choice_first_batch_fixed_samples_and_columns():
    torch.manual_seed(0)
    model = fe.build(SmallCNN, optimizer_fn=None)
    data = batches(model)
    first = Saliency(model, "x", "y_pred", smoothing=0, integrating=0)
    run_epochs(first, [Epoch(data)])
    assert list(first.attributions) == ["Saliency"] and len(first.attributions["Saliency"]) == 3
    fixed_x = quadrant_images(2, seed=5)[0]
    fixed = GradCAM(model, "x", layer="conv", samples={"x": fixed_x})
    assert fixed.inputs == []  # nothing is read from the batches
    run_epochs(fixed, [Epoch(data, mode="test")])
    np.testing.assert_allclose(fixed.attributions["GradCAM"], gradcam(model, fixed_x, "conv"), atol=1e-7)
    eigen = EigenCAM(model, "x", layer="conv", n_components=2, samples=2)
    run_epochs(eigen, [Epoch(data)])
    np.testing.assert_allclose(eigen.attributions["component"], eigencam(model, data[0]["x"][:2], "conv", 2), atol=1e-6)
    assert sorted(eigen.mode) == ["eval", "infer", "test"] and sorted(first.mode) == ["eval", "test"]


def test_only_the_chief_computes():
    torch.manual_seed(0)
    model = fe.build(SmallCNN, optimizer_fn=None)
    trace, catch = Saliency(model, "x", "y_pred", smoothing=0, integrating=0), Catch(["saliency"])
    run_epochs([trace, catch], [Epoch(batches(model))], system=make_system(traces=[trace, catch], global_rank=1))
    assert catch.seen == [{}] and trace.attributions == {}


def test_trackers_report_per_class_and_per_sample_values():
    y = torch.tensor([0, 1, 1, 2, 0, 1])
    first = [{"y": y[:3], "idx": torch.arange(3), "ce": torch.tensor([0.1, 0.2, 0.6])},
             {"y": y[3:], "idx": torch.arange(3, 6), "ce": torch.tensor([0.9, 0.3, 0.4])}]
    second = [{**batch, "ce": batch["ce"] / 2} for batch in first]
    labels = LabelTracker(label="y", metric="ce", label_mapping={"zero": 0, "one": 1}, bounds=["std", "range"])
    instances = InstanceTracker(index="idx", metric="ce", n_max_to_keep=2, n_min_to_keep=1, list_to_keep=[4])
    catch = Catch(["ce_by_y", "ce_by_idx"])
    run_epochs([labels, instances, catch], [Epoch(first), Epoch(second, mode="train"), Epoch(second)])
    assert sorted(labels.history) == ["one", "zero"]  # class 2 is not in the mapping
    assert labels.history["zero"] == {0: pytest.approx({"mean": 0.2, "std": 0.1, "min": 0.1, "max": 0.3, "count": 2}),
                                      2: pytest.approx({"mean": 0.1, "std": 0.05, "min": 0.05, "max": 0.15, "count": 2})}
    assert labels.history["one"][2] == pytest.approx({"mean": 0.2, "std": np.std([0.1, 0.3, 0.2]), "min": 0.1,
                                                      "max": 0.3, "count": 3})
    assert (instances.hardest, instances.easiest) == ([3, 2], [0])
    assert instances.history[3] == pytest.approx({0: 0.9, 2: 0.45})
    assert all(isinstance(seen.get(key), Figure) for seen in catch.seen[::2] for key in ("ce_by_y", "ce_by_idx"))
    lines = catch.seen[-1]["ce_by_idx"].axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["hard 3", "hard 2", "easy 0", "id 4"]


def test_trace_arguments_are_checked():
    model = fe.build(SmallCNN, optimizer_fn=None)
    with pytest.raises(FastestValueError, match=r"must hold the model input 'x'.*received keys \['image'\]"):
        Saliency(model, "x", "y_pred", samples={"image": np.zeros((1, 1, 16, 16))})
    with pytest.raises(FastestValueError, match="Saliency: samples must be an int >= 1, received 0"):
        Saliency(model, "x", "y_pred", samples=0)
    with pytest.raises(FastestValueError, match="no layer named 'con'.*Did you mean 'conv'"):
        GradCAM(model, "x", layer="con")
    with pytest.raises(FastestValueError, match="bounds must be 'std', 'range', None or a list of them"):
        LabelTracker(label="y", metric="ce", bounds="iqr")
    tracker = InstanceTracker(index="idx", metric="ce")
    with pytest.raises(FastestValueError, match=r"'ce' must hold one value per sample \(2\).*average_loss=False"):
        run_epochs(tracker, [Epoch([{"idx": torch.arange(2), "ce": torch.tensor(0.5)}])])


@pytest.mark.filterwarnings("ignore:Pipeline. dropping key")  # 'idx' is only read in eval
def test_traces_in_a_run_feed_image_saver_tensorboard_and_the_projector(tmp_path):
    torch.manual_seed(0)
    x, y = quadrant_images(96, seed=0)
    ids = np.arange(96)
    train = NumpyDataset({"x": x[:64].numpy(), "y": y[:64].numpy(), "idx": ids[:64]})
    evals = NumpyDataset({"x": x[64:].numpy(), "y": y[64:].numpy(), "idx": ids[64:]})
    pipeline = fe.Pipeline(train_data=train, eval_data=evals, batch_size=16, num_process=0)
    model = fe.build(SmallCNN, optimizer_fn=lambda p: torch.optim.Adam(p, lr=1e-2), model_name="cnn")
    network = fe.Network([
        ModelOp(model=model, inputs="x", outputs=["y_pred", "features"], intermediate_layers="fc1"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="loss"),
        CrossEntropy(inputs=("y_pred", "y"), outputs="ce", average_loss=False, mode="eval"),
        UpdateOp(model=model, loss_name="loss"),
    ])
    logs, images = str(tmp_path / "logs"), str(tmp_path / "images")
    labels = LabelTracker(label="y", metric="ce")
    umap = UMap(features="features", labels="y", images="x", log_dir=logs, n_neighbors=5)
    traces = [Saliency(model, "x", "y_pred", class_key="y", samples=2, smoothing=2, integrating=(4, 2)),
              GradCAM(model, "x", layer="conv", samples=2), EigenCAM(model, "x", layer="conv", samples=2), umap, labels,
              InstanceTracker(index="idx", metric="ce", n_max_to_keep=2, n_min_to_keep=2),
              ImageSaver(inputs=FIGURES, save_dir=images), TensorBoard(log_dir=logs, write_images=FIGURES,
                                                                       write_graph=False)]
    quiet_estimator(pipeline, network, epochs=1, traces=traces).fit()

    saved, eval_pngs = set(os.listdir(images)), {f"{key}_eval_epoch_1.png" for key in FIGURES}
    assert eval_pngs <= saved  # and the trackers' whole-run Summaries, drawn at the end
    assert all(name.removesuffix("_train_epoch_1.png") in FIGURES for name in saved - eval_pngs)
    for name in os.listdir(images):
        with open(os.path.join(images, name), "rb") as handle:
            assert handle.read(4) == b"\x89PNG"
    (run,) = os.listdir(logs)
    events = EventAccumulator(os.path.join(logs, run, "eval"), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == sorted(FIGURES)
    assert [event.step for event in events.Images("saliency")] == [4]
    for tag in ("features", "umap"):
        folder = os.path.join(logs, run, "eval", "00004", tag)
        assert sorted(os.listdir(folder)) == ["metadata.tsv", "sprite.png", "tensors.tsv"]
    assert np.loadtxt(os.path.join(logs, run, "eval", "00004", "features", "tensors.tsv")).shape == (32, 8)

    # the numbers behind the figures, computed directly with the final model on the eval set
    model.eval()
    with torch.no_grad():
        prediction = model(x[64:])
        store = []
        handle = model.fc1.register_forward_hook(lambda m, a, out: store.append(out))
        model(x[64:])
        handle.remove()
    ce = -torch.log(prediction.clamp(EPSILON, 1 - EPSILON)).gather(1, y[64:, None])[:, 0]
    for c in (0, 1):
        assert labels.history[str(c)][4]["mean"] == pytest.approx(ce[y[64:] == c].mean().item(), rel=1e-5)
    np.testing.assert_allclose(umap.embedding, umap_embedding(store[0], n_neighbors=5), atol=1e-5)
    assert umap.labels.tolist() == y[64:].tolist()
