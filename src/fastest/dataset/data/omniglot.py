"""Omniglot (1,623 handwritten characters from 50 alphabets, 20 drawings each), from brendenlake/omniglot."""

from __future__ import annotations

from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.dataset.files import SiameseDirDataset

DATASET = "Omniglot"
_BASE = "https://github.com/brendenlake/omniglot/raw/master/python/"
REMOTES: dict[str, Remote] = {  # MD5s as torchvision's Omniglot checks them
    "train": Remote(_BASE + "images_background.zip", md5="68d2efa1b9178cc56df9314c21c6e718"),
    "eval": Remote(_BASE + "images_evaluation.zip", md5="6b91aef0f799c5bb55b94e3f2daec811"),
}


def load_data(root_dir: str | None = None) -> tuple[SiameseDirDataset, SiameseDirDataset]:
    """Load Omniglot as pairs of drawings, downloading it into ``<root_dir>/Omniglot`` on first use.

    The "background" set (30 alphabets, 964 characters) is for training and the "evaluation" set (20
    alphabets, 659 characters) for evaluation; the classes are the characters.

    Args:
        root_dir: The folder under which the ``Omniglot`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        ``(train_data, eval_data)``: :class:`SiameseDirDataset` of PNG paths whose classes are the characters
        (``"<alphabet>/<character>"`` folders). A sample is
        ``{"x_a": path, "x_b": path, "y": 1 or 0}``; ``x_a`` walks through every drawing once per epoch.
    """
    remotes = REMOTES
    folder = data_folder(DATASET, root_dir)
    splits = []
    for key, name in (("train", "images_background"), ("eval", "images_evaluation")):
        if not (folder / name).is_dir():  # the archive is only needed until it has been extracted
            unpack(fetch(remotes[key], folder, DATASET), folder / name, name)
        splits.append(SiameseDirDataset(str(folder / name)))
    return splits[0], splits[1]
