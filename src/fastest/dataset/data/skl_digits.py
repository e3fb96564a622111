"""scikit-learn's 8×8 handwritten digits (1,797 images shipped with scikit-learn; offline), as one set."""

from __future__ import annotations

from fastest.dataset.dataset import NumpyDataset
from fastest.errors import FastestValueError


def load_data(image_key: str = "x", label_key: str = "y") -> NumpyDataset:
    """Return all 1,797 digits, unsplit, with scikit-learn's own dtypes.

    Args:
        image_key: Key of the images: float64, ``(8, 8)``, values 0..16.
        label_key: Key of the labels: int64 digits 0..9.

    Returns:
        A NumpyDataset with those two keys.

    Raises:
        FastestValueError: The two keys are equal.

    >>> data = load_data(image_key="image", label_key="label")
    >>> len(data), data[0]["image"].shape, data[0]["image"].dtype, int(data[0]["label"])
    (1797, (8, 8), dtype('float64'), 0)
    """
    if image_key == label_key:
        raise FastestValueError(f"skl_digits.load_data got image_key and label_key both {image_key!r}; the "
                                f"labels would overwrite the images. Give them different names, e.g. 'x' "
                                f"and 'y'.")
    from sklearn.datasets import load_digits

    digits = load_digits()
    return NumpyDataset({image_key: digits.images, label_key: digits.target})
