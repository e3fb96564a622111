import numpy as np
import pytest
import torch

from fastest import backend
from fastest.errors import FastestValueError

GRID = np.arange(12).reshape(3, 4)


def kinds(array):
    return [array, torch.from_numpy(array.copy())]


def as_numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def test_concat_squeeze_expand_reshape_keep_the_kind():
    for value in kinds(GRID):
        joined = backend.concat([value, value], axis=1)
        assert type(joined) is type(value) and joined.shape == (3, 8)
        assert backend.expand_dims(value).shape == (3, 1, 4)  # axis 1 by default
        assert backend.expand_dims(value, axis=0).shape == (1, 3, 4)
        assert backend.squeeze(backend.expand_dims(value, axis=-1)).shape == (3, 4)
        assert tuple(backend.squeeze(value[:1], axis=0).shape) == (4,)
        assert as_numpy(backend.reshape(value, [2, -1])).tolist() == GRID.reshape(2, 6).tolist()
    assert backend.concat([]) is None


def test_permute_transpose_flip_roll_match_numpy():
    cube = np.arange(24).reshape(2, 3, 4)
    for value in kinds(cube):
        assert as_numpy(backend.permute(value, [2, 0, 1])).tolist() == cube.transpose(2, 0, 1).tolist()
        assert as_numpy(backend.transpose(value)).tolist() == cube.T.tolist()
        assert as_numpy(backend.flip(value, axis=[0, 2])).tolist() == cube[::-1, :, ::-1].tolist()
        assert as_numpy(backend.flip(value, axis=1)).tolist() == cube[:, ::-1].tolist()
        assert as_numpy(backend.roll(value, shift=1, axis=2)).tolist() == np.roll(cube, 1, axis=2).tolist()
        assert as_numpy(backend.roll(value, shift=[1, -1], axis=[0, 1])).tolist() == \
            np.roll(cube, [1, -1], axis=[0, 1]).tolist()


def test_gather_rows_with_indices_of_either_kind():
    rows = np.array([[0, 1], [2, 3], [4, 5]])
    for value in kinds(rows):
        for indices in (np.array([2, 0, 2]), torch.tensor([[2], [0], [2]])):
            result = backend.gather(value, indices)
            assert type(result) is type(value)
            assert as_numpy(result).tolist() == [[4, 5], [0, 1], [4, 5]]


def test_gather_from_batch_picks_one_entry_per_sample():
    batch = np.arange(12).reshape(3, 2, 2)
    for value in kinds(batch):
        result = backend.gather_from_batch(value, np.array([[1], [0], [1]]))
        assert type(result) is type(value)
        assert as_numpy(result).tolist() == [[2, 3], [4, 5], [10, 11]]
    assert backend.gather_from_batch(torch.tensor(GRID), torch.tensor([3, 0, 1])).tolist() == [3, 4, 9]


def test_get_shape_and_image_dims():
    assert backend.get_shape(np.zeros((2, 5))) == (2, 5)
    assert backend.get_shape(torch.zeros(2, 5)) == (2, 5)
    assert backend.get_image_dims(np.zeros((8, 6, 3))) == (3, 8, 6)  # numpy: channels last
    assert backend.get_image_dims(np.zeros((4, 8, 6, 3))) == (3, 8, 6)
    assert backend.get_image_dims(torch.zeros(4, 3, 8, 6)) == (3, 8, 6)  # torch: channels first
    with pytest.raises(FastestValueError, match=r"3-D image or a 4-D batch, received 2 dimensions \(shape \(8, 6\)\)"):
        backend.get_image_dims(np.zeros((8, 6)))


def test_resize_3d_nearest_and_area():
    volume = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    nearest = backend.resize_3d(volume, (4, 4, 4))
    assert nearest.shape == (1, 1, 4, 4, 4)
    assert nearest[0, 0, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert torch.equal(nearest[0, 0, ::2, ::2, ::2], volume[0, 0])
    area = backend.resize_3d(torch.arange(64.0).reshape(1, 1, 4, 4, 4), (2, 2, 2), "area")
    assert area[0, 0, 0, 0, 0].item() == pytest.approx(np.mean([0, 1, 4, 5, 16, 17, 20, 21]))
    with pytest.raises(FastestValueError, match="resize_mode must be one of"):
        backend.resize_3d(volume, (4, 4, 4), "bicubic")
