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
    image = torch.zeros(1, 3, 8, 10)
    box = CutMixBatch._get_patch_coordinates  # (x1, x2, y1, y2, width, height)
    # lam = 0.75: the box sides are half the image's; centred at (0.5, 0.5) of an 8 x 10 image (2.5 rounds to 2)
    assert tuple(int(v) for v in box(image, x=0.5, y=0.5, lam=torch.tensor(0.75))) == (2, 8, 2, 6, 10, 8)
    # clipped at the border
    assert tuple(int(v) for v in box(image, x=0.95, y=0.0, lam=torch.tensor(0.75))) == (7, 10, 0, 2, 10, 8)
    # a 32 x 32 image, lam 0.5, centre (0.25, 0.25): sides 32 / sqrt(2) = 22.6 around 8 → [0, 19)
    assert tuple(int(v) for v in box(torch.zeros(4, 3, 32, 32), torch.tensor([0.25]), torch.tensor([0.25]),
                                     torch.tensor([0.5]))) == (0, 19, 0, 19, 32, 32)


class _Always:
    """A distribution stand-in whose draws are a fixed value (FastEstimator's tests script draws this way)."""

    def __init__(self, value):
        self.value = value

    def sample(self, sample_shape=()):
        return torch.full(tuple(sample_shape), self.value)


def test_scripted_draws_through_the_beta_and_uniform_attributes():
    x = torch.cat([torch.ones(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)])
    y = torch.cat([torch.ones(1, 10), torch.zeros(1, 10)])
    cutmix = CutMixBatch(inputs=["x", "y"], outputs=["x", "y"])
    cutmix.beta, cutmix.uniform = _Always(0.5), _Always(0.25)
    x_mix, y_mix = cutmix.forward([x, y], {})
    assert torch.equal(x_mix[0, :, :19, :19], torch.zeros(3, 19, 19)) and x_mix[0].sum() == 3 * (1024 - 361)
    assert torch.allclose(y_mix[:, 0], torch.tensor([1 - 361 / 1024, 361 / 1024]))
    mixup = MixUpBatch(inputs=["x", "y"], outputs=["x", "y"], shared_beta=False)
    mixup.build("torch", "cpu")
    mixup.beta = _Always(0.3)  # folded to 0.7
    x_mix, y_mix = mixup.forward([x, y], {})
    assert torch.allclose(x_mix[:, 0, 0, 0], torch.tensor([0.7, 0.3])) and torch.allclose(y_mix[:, 0], x_mix[:, 0, 0, 0])


def test_cutmix_needs_images():
    with pytest.raises(FastestValueError, match=r"must be an image batch \(N, C, H, W\), received shape \(4, 3\)"):
        CutMixBatch(inputs=["x", "y"], outputs=["x", "y"]).forward([torch.rand(4, 3), torch.rand(4, 2)], {})
