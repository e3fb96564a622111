import numpy as np
import pytest
import torch

from fastest.errors import FastestValueError
from fastest.op.op import run_op
from fastest.op.tensorop import Argmax, Average, Gather, Normalize, Permute, Reshape, Resize3D, UnHadamard


def test_util_ops_are_exported_next_to_tensorop():
    import fastest.op.tensorop as tensorop

    assert {"Argmax", "Average", "Gather", "Normalize", "Permute", "Reshape", "Resize3D", "UnHadamard"} <= set(
        tensorop.__all__)
    assert tensorop.util.Argmax is Argmax  # the lazy submodule access still works


def test_argmax_axis_counts_the_whole_tensor_like_fastestimator():
    probs = torch.tensor([[[0.1, 0.9], [0.7, 0.3], [0.2, 0.0]], [[0.5, 0.6], [0.1, 0.2], [0.9, 0.1]]])  # (2, 3, 2)
    assert torch.equal(Argmax(inputs="p", outputs="i").forward(probs, {}), torch.tensor([[1, 0], [0, 0], [1, 1]]))
    assert torch.equal(Argmax(inputs="p", outputs="i", axis=1).forward(probs, {}), torch.tensor([[1, 0], [2, 0]]))
    assert torch.equal(Argmax(inputs="p", outputs="i", axis=-1).forward(probs, {}), probs.argmax(dim=-1))
    assert Argmax(inputs="x", outputs="x").forward([torch.tensor([1.0, 2.0, 4.0])], {}) == [torch.tensor(2)]
    store = {"a": torch.tensor([[0.2, 0.8]]), "b": torch.tensor([[3.0, 1.0]])}
    run_op(Argmax(inputs=["a", "b"], outputs=["ia", "ib"], axis=-1), store, {})
    assert store["ia"].tolist() == [1] and store["ib"].tolist() == [0]
    store = {"p": probs}  # a single key still reads and writes through lists in a Network
    run_op(Argmax(inputs="p", outputs="label", axis=-1), store, {})
    assert torch.equal(store["label"], probs.argmax(dim=-1))
    with pytest.raises(FastestValueError, match="Argmax writes one output per input"):
        Argmax(inputs=["a", "b"], outputs="i")


def test_average():
    op = Average(inputs=["a", "b", "c"], outputs="avg")
    assert op.forward([torch.tensor(1.0), torch.tensor(2.0), torch.tensor(6.0)], {}).item() == 3.0
    per_sample = op.forward([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([5.0, 0.0])], {})
    assert torch.equal(per_sample, torch.tensor([3.0, 2.0]))
    with pytest.raises(FastestValueError, match="writes one"):
        Average(inputs=["a", "b"], outputs=["x", "y"])


def test_gather():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.0, 0.4, 0.6]])
    labels = torch.tensor([[2], [0], [1]])
    store = {"y_pred": scores, "y": labels}
    run_op(Gather(inputs="y_pred", outputs="score", indices="y"), store, {})
    assert torch.equal(store["score"], torch.tensor([0.2, 0.5, 0.4]))
    run_op(Gather(inputs="y_pred", outputs="best"), store, {})
    assert torch.equal(store["best"], torch.tensor([0.7, 0.5, 0.6]))
    other = scores.flip(1)
    op = Gather(inputs=["a", "b"], outputs=["ga", "gb"], indices=["ia", "ib"])
    ga, gb = op.forward([torch.tensor([0, 1, 2]), torch.tensor([2, 2, 2]), scores, other], {})
    assert torch.equal(ga, torch.tensor([0.1, 0.3, 0.6])) and torch.equal(gb, torch.tensor([0.1, 0.5, 0.0]))
    (empty,) = Gather(inputs="y_pred", outputs="s", indices="y").forward([torch.tensor([]), scores], {})
    assert torch.equal(empty, scores.max(dim=1).values)  # no indices: the row maxima
    with pytest.raises(FastestValueError, match="no index key, one, or one per input"):
        Gather(inputs=["a", "b", "c"], outputs=["x", "y", "z"], indices=["i", "j"])


def test_normalize():
    x = torch.arange(24, dtype=torch.uint8).reshape(2, 3, 2, 2) * 10
    op = Normalize(inputs="x", outputs="x", mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.1), max_pixel_value=100)
    out = op.forward(x, {})
    expected = (x.float() - torch.tensor([10.0, 20.0, 30.0]).reshape(1, 3, 1, 1)) / torch.tensor(
        [50.0, 25.0, 10.0]).reshape(1, 3, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, expected)
    default = Normalize(inputs="x", outputs="x").forward(torch.full((1, 3, 1, 1), 255.0), {})
    imagenet = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(default.flatten(), imagenet)
    with pytest.raises(FastestValueError, match="3 per-channel values need a channels-first tensor with 3"):
        op.forward(torch.zeros(2, 8, 8, 3), {})
    with pytest.raises(FastestValueError, match="std may not be 0"):
        Normalize(inputs="x", outputs="x", mean=0.0, std=0.0)


def test_normalize_numpy_images_are_channels_last():
    image = np.arange(12, dtype=np.int64).reshape(1, 2, 2, 3)
    op = Normalize(inputs="x", outputs="x", mean=(0.0, 0.5, 1.0), std=(1.0, 0.5, 0.25), max_pixel_value=2)
    (out,) = op.forward([image], {})
    expected = (image - np.array([0.0, 1.0, 2.0])) / np.array([2.0, 1.0, 0.5])
    assert out.dtype == np.float32 and np.allclose(out, expected)


def test_resize3d_nearest_and_area():
    volume = torch.arange(1.0, 9.0).reshape(1, 1, 2, 2, 2)
    (big,) = Resize3D(inputs="v", outputs="v", output_shape=(4, 4, 4)).forward([volume], {})
    assert big.shape == (1, 1, 4, 4, 4)
    assert torch.equal(big[0, 0, ::2, ::2, ::2], volume[0, 0]) and torch.equal(big[0, 0, 1::2, 1::2, 1::2], volume[0, 0])
    small = Resize3D(inputs="v", outputs="v", output_shape=(1, 1, 1), resize_mode="area").forward(volume, {})
    assert small.item() == 4.5
    with pytest.raises(FastestValueError, match=r"resize_mode must be one of \('nearest', 'area'\), received 'bilinear'"):
        Resize3D(inputs="v", outputs="v", output_shape=(4, 4, 4), resize_mode="bilinear")
    with pytest.raises(FastestValueError, match=r"output_shape is \(H, W, D\).*received \(1, 8, 8, 8, 1\)"):
        Resize3D(inputs="v", outputs="v", output_shape=(1, 8, 8, 8, 1))
    with pytest.raises(FastestValueError, match="resizes torch tensors on the device, received ndarray"):
        Resize3D(inputs="v", outputs="v", output_shape=(4, 4, 4)).forward([np.zeros((1, 1, 2, 2, 2))], {})


def test_unhadamard_decodes_the_hadamard_op_codes():
    from fastest.op.numpyop.univariate import Hadamard

    encode = Hadamard(inputs="y", outputs="y", n_classes=10, code_length=16)
    labels = np.array([3, 0, 9, 7])
    codes = torch.from_numpy(np.stack([encode.forward(np.array(label), {}) for label in labels]))
    decode = UnHadamard(inputs="y", outputs="y", n_classes=10, code_length=16)
    (probs,) = decode.forward([codes], {})
    assert probs.shape == (4, 10) and torch.allclose(probs.sum(dim=1), torch.ones(4))
    assert probs.argmax(dim=1).tolist() == labels.tolist() and bool((probs.max(dim=1).values > 0.999).all())
    noisy = codes.clone()
    noisy[:, 1] *= -1  # one flipped bit: still the nearest code word
    assert decode.forward(noisy, {}).argmax(dim=1).tolist() == labels.tolist()
    assert UnHadamard(inputs="y", outputs="y", n_classes=5).code_length == 8
    with pytest.raises(FastestValueError, match="UnHadamard: code_length must be a positive power of 2"):
        UnHadamard(inputs="y", outputs="y", n_classes=10, code_length=12)


def test_permute_and_reshape():
    x = torch.arange(24).reshape(2, 2, 3, 2)
    assert torch.equal(Permute(inputs="x", outputs="x").forward(x, {}), x.permute(0, 3, 1, 2))
    assert torch.equal(Permute(inputs="x", outputs="x", permutation=(0, 2, 1)).forward(torch.zeros(2, 3, 4), {}),
                       torch.zeros(2, 4, 3))
    with pytest.raises(FastestValueError, match=r"permutation \(0, 3, 1, 2\) is for 4-D tensors, received shape \(2, 3\)"):
        Permute(inputs="x", outputs="x").forward(torch.zeros(2, 3), {})
    with pytest.raises(FastestValueError, match="must order the axes 0..n-1"):
        Permute(inputs="x", outputs="x", permutation=(0, 1, 1))
    assert torch.equal(Reshape(inputs="x", outputs="x", shape=(-1, 12)).forward(x, {}), x.reshape(2, 12))
    assert Reshape(inputs="x", outputs="x", shape=24).forward(x.permute(0, 3, 1, 2), {}).shape == (24,)
