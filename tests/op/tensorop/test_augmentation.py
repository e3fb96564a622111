import pytest
import torch

from fastest.errors import FastestTypeError, FastestValueError
from fastest.op.tensorop.augmentation import CutMixBatch, MixUpBatch


@pytest.fixture
def batch():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 8, 10)
    y = torch.nn.functional.one_hot(torch.arange(6) % 4, 4).float()
    return x, y


def test_mixup_shared_beta_mixes_with_the_rolled_batch(batch):
    x, y = batch
    op = MixUpBatch(inputs=["x", "y"], outputs=["x", "y", "lam"], alpha=0.4, shared_beta=True)
    assert op.mode == {"train"}
    torch.manual_seed(7)
    x_mix, y_mix, lam = op.forward([x, y], {})
    torch.manual_seed(7)
    draw = torch.distributions.Beta(torch.tensor(0.4), torch.tensor(0.4)).sample()
    assert lam.ndim == 0 and lam.item() == pytest.approx(max(draw.item(), 1 - draw.item()), abs=1e-7)
    assert lam >= 0.5
    assert torch.allclose(x_mix, lam * x + (1 - lam) * torch.roll(x, 1, 0), atol=1e-7)
    assert torch.allclose(x_mix[1], lam * x[1] + (1 - lam) * x[0], atol=1e-7)
    assert torch.allclose(y_mix, lam * y + (1 - lam) * torch.roll(y, 1, 0), atol=1e-7)
    assert torch.allclose(y_mix.sum(dim=1), torch.ones(6))


def test_mixup_one_lambda_per_sample(batch):
    x, y = batch
    torch.manual_seed(3)
    x_mix, y_mix, lam = MixUpBatch(inputs=["x", "y"], outputs=["x", "y", "lam"]).forward([x, y], {})
    assert lam.shape == (6,) and len(set(lam.tolist())) == 6 and bool((lam >= 0.5).all())
    for i in range(6):
        assert torch.allclose(x_mix[i], lam[i] * x[i] + (1 - lam[i]) * x[i - 1], atol=1e-7)
        assert torch.allclose(y_mix[i], lam[i] * y[i] + (1 - lam[i]) * y[i - 1], atol=1e-7)
    torch.manual_seed(3)  # the same seed gives the same draw; outputs without "lam" are just the mixes
    again = MixUpBatch(inputs=["x", "y"], outputs=["x", "y"]).forward([x, y], {})
    assert len(again) == 2 and torch.equal(again[0], x_mix)


def test_mixup_arguments(batch):
    x, _ = batch
    with pytest.raises(FastestValueError, match="alpha must be a number > 0, received 0"):
        MixUpBatch(inputs=["x", "y"], outputs=["x", "y"], alpha=0)
    with pytest.raises(FastestValueError, match="alpha must be a number > 0, received -1.0"):
        CutMixBatch(inputs=["x", "y"], outputs=["x", "y"], alpha=-1.0)
    with pytest.raises(FastestValueError, match="one output per input"):
        MixUpBatch(inputs=["x", "y"], outputs="x")
    with pytest.raises(FastestTypeError, match="key 'y', which holds torch.int64.*Onehot"):
        MixUpBatch(inputs=["x", "y"], outputs=["x", "y"]).forward([x, torch.arange(6)], {})


def test_cutmix_pastes_one_box_and_mixes_labels_by_area(batch):
    x, y = batch
    op = CutMixBatch(inputs=["x", "y"], outputs=["x", "y", "lam"], alpha=1.0)
    seen_boxes = 0
    for seed in range(20):
        torch.manual_seed(seed)
        x_mix, y_mix, lam = op.forward([x, y], {})
        rolled = torch.roll(x, 1, 0)
        from_neighbour = (x_mix == rolled).all(dim=(0, 1))  # (H, W): pixels taken from the neighbour
        assert torch.equal(x_mix[:, :, ~from_neighbour], x[:, :, ~from_neighbour])  # the rest is untouched
        rows, cols = from_neighbour.any(dim=1).nonzero(), from_neighbour.any(dim=0).nonzero()
        area = int(from_neighbour.sum())
        if area:
            seen_boxes += 1
            height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
            assert area == height * width  # a rectangle
        assert lam.item() == pytest.approx(1 - area / 80, abs=1e-6)
        assert torch.allclose(y_mix, lam * y + (1 - lam) * torch.roll(y, 1, 0), atol=1e-7)
    assert seen_boxes >= 15
    assert torch.equal(batch[0], x)  # the input batch is not modified in place


def test_cutmix_box_geometry():
    # lam = 0.75: the box sides are half the image's; centred at (0.5, 0.5) of an 8 x 10 image
    assert CutMixBatch.box(8, 10, torch.tensor(0.75), torch.tensor([0.5, 0.5])) == (2, 6, 2, 8)
    # clipped at the border
    assert CutMixBatch.box(8, 10, torch.tensor(0.75), torch.tensor([0.0, 0.95])) == (0, 2, 7, 10)


def test_cutmix_needs_images():
    with pytest.raises(FastestValueError, match=r"must be an image batch \(N, C, H, W\), received shape \(4, 3\)"):
        CutMixBatch(inputs=["x", "y"], outputs=["x", "y"]).forward([torch.rand(4, 3), torch.rand(4, 2)], {})
