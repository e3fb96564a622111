"""ReadMat: load arrays from a MATLAB ``.mat`` file into several keys."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np  # noqa: F401  (used by the docstring example)

from fastest.errors import FastestKeyError, FastestValueError
from fastest.op.numpyop.numpyop import NumpyOp


class ReadMat(NumpyOp):
    """Read a ``.mat`` file (``scipy.io.loadmat``) whose path is under ``inputs`` and write some of its arrays.

    Args:
        inputs: Key of the file path (relative to ``parent_path``).
        outputs: Keys to write; by default also the names of the arrays to read.
        mat_keys: Names of the arrays in the file, when they differ from ``outputs`` (one per output).
        mode: Modes to run in.
        ds_id: Dataset ids to run for.
        parent_path: Folder prepended to every path.

    >>> import tempfile, scipy.io
    >>> folder = tempfile.mkdtemp()
    >>> scipy.io.savemat(os.path.join(folder, "a.mat"), {"img": np.eye(2), "lbl": np.array([3])})
    >>> ReadMat("path", ["image", "label"], mat_keys=["img", "lbl"], parent_path=folder).forward("a.mat", {})[1]
    array([[3]])
    """

    def __init__(self, inputs: str, outputs: str | Iterable[str], mat_keys: str | Iterable[str] | None = None,
                 mode: str | Iterable[str] | None = None, ds_id: str | Iterable[str] | None = None,
                 parent_path: str = "") -> None:
        super().__init__(inputs=inputs, outputs=outputs, mode=mode, ds_id=ds_id)
        self.parent_path = parent_path
        self.mat_keys = list(self.outputs) if mat_keys is None else ([mat_keys] if isinstance(mat_keys, str)
                                                                     else list(mat_keys))
        if len(self.mat_keys) != len(self.outputs):
            raise FastestValueError(f"ReadMat: mat_keys {self.mat_keys} and outputs {self.outputs} must have the same "
                                    "length (one array per output key).")
        self.out_list = True

    def forward(self, data: Any, state: Mapping[str, Any]) -> list[Any]:
        from scipy.io import loadmat

        path = data[0] if isinstance(data, (list, tuple)) else data
        contents = loadmat(os.path.normpath(os.path.join(self.parent_path, path)))
        missing = [key for key in self.mat_keys if key not in contents]
        if missing:
            names = sorted(k for k in contents if not k.startswith("__"))
            raise FastestKeyError(f"ReadMat: {path} has no {missing}; it holds {names}.")
        return [contents[key] for key in self.mat_keys]
