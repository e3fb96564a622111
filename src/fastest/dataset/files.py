"""Datasets of file paths; nothing is read but the listing (pair them with ``ReadImage``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastest.dataset.csv_dataset import CSVDataset  # noqa: F401 (its former home)
from fastest.dataset.dataset import DatasetSummary, KeySummary, NumpyDataset, object_array, summarize
from fastest.errors import FastestKeyError, FastestRuntimeError, FastestValueError


def list_files(root_dir: str, file_extension: str | None = None, recursive_search: bool = True) -> list[str]:
    """Sorted paths of the files under ``root_dir`` (hidden files and folders skipped).

    Args:
        root_dir: The folder to list.
        file_extension: Keep only files whose names end with this (e.g. ``".png"``).
        recursive_search: Also list the files in sub-folders.
    """
    if not os.path.isdir(root_dir):
        raise FastestValueError(f"{root_dir!r} is not a directory.")
    root = os.path.normpath(root_dir)
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive_search else []
        paths += [os.path.join(folder, name) for name in files
                  if not name.startswith(".") and name.endswith(file_extension or "")]
    return sorted(paths)


class DirDataset(NumpyDataset):
    """The files under a folder, as samples ``{data_key: path}`` (sorted paths; hidden files skipped).

    Args:
        root_dir: The folder.
        data_key: Key of the path in each sample.
        file_extension: Keep only files whose names end with this (e.g. ``".png"``).
        recursive_search: Also list files in sub-folders.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("b.png", "a.png", "notes.txt"): _ = open(os.path.join(root, name), "w").write("")
    >>> [os.path.basename(s["x"]) for s in DirDataset(root, file_extension=".png")]
    ['a.png', 'b.png']
    """

    def __init__(self, root_dir: str, data_key: str = "x", file_extension: str | None = None,
                 recursive_search: bool = True) -> None:
        paths = list_files(root_dir, file_extension, recursive_search)
        if not paths:
            raise FastestValueError(f"DirDataset found no files{_ending(file_extension)} in {root_dir!r}.")
        super().__init__({data_key: object_array(paths)})
        self.root_dir = os.path.normpath(root_dir)


def _ending(file_extension: str | None) -> str:
    return f" ending with {file_extension!r}" if file_extension else ""


class LabeledDirDataset(NumpyDataset):
    """Files in class folders, ``root_dir/<class>/file``, as samples ``{data_key: path, label_key: label}``.

    Every folder that directly holds (matching) files is a class, named by its path relative to
    ``root_dir`` with ``/`` separators: ``root_dir/Greek/alpha/1.png`` belongs to class ``"Greek/alpha"``
    (Omniglot's layout), and files directly in ``root_dir`` to class ``""``, as in FastEstimator. Classes
    map to ``0..n-1`` in sorted name order unless ``label_mapping`` is given; ``mapping`` holds the mapping
    used. Samples are ordered by class, then path, so seeded splits are reproducible. Hidden files and
    folders are skipped.

    Args:
        root_dir: The folder holding the class folders.
        data_key: Key of the path in each sample.
        label_key: Key of the label in each sample.
        label_mapping: ``{class folder: label}``; must cover every class folder.
        file_extension: Keep only files whose names end with this.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for folder in ("dog", "cat"): os.makedirs(os.path.join(root, folder))
    >>> for path in ("dog/1.png", "cat/2.png", "cat/3.png"): _ = open(os.path.join(root, path), "w").write("")
    >>> ds = LabeledDirDataset(root)
    >>> ds.mapping, [(os.path.basename(s["x"]), int(s["y"])) for s in ds]
    ({'cat': 0, 'dog': 1}, [('2.png', 0), ('3.png', 0), ('1.png', 1)])
    """

    def __init__(self, root_dir: str, data_key: str = "x", label_key: str = "y",
                 label_mapping: Mapping[str, Any] | None = None, file_extension: str | None = None) -> None:
        if not os.path.isdir(root_dir):
            raise FastestValueError(f"{type(self).__name__}: {root_dir!r} is not a directory.")
        root = os.path.normpath(root_dir)
        files: dict[str, list[str]] = {}
        for path in list_files(root, file_extension):
            folder = os.path.relpath(os.path.dirname(path), root)
            files.setdefault("" if folder == "." else folder.replace(os.sep, "/"), []).append(path)
        if not files:
            raise FastestValueError(
                f"{type(self).__name__} found no files{_ending(file_extension)} in {root_dir!r}; expected "
                "root_dir/<class>/<file>."
            )
        files = dict(sorted(files.items()))
        self.mapping = dict(label_mapping) if label_mapping is not None else {name: i for i, name in enumerate(files)}
        missing = [name for name in files if name not in self.mapping]
        if missing:
            raise FastestKeyError(f"{type(self).__name__} label_mapping lacks the class folder(s) {missing}.")
        paths = [path for name in files for path in files[name]]
        labels = [self.mapping[name] for name in files for _ in files[name]]
        super().__init__({data_key: object_array(paths), label_key: np.asarray(labels)})
        self.data_key = data_key
        self.label_key = label_key

    def summary(self) -> DatasetSummary:
        summary = super().summary()
        summary.class_key, summary.class_key_mapping = self.label_key, self.mapping
        return summary


class SiameseDirDataset(LabeledDirDataset):
    """Pairs of files from class folders, labelled 1 when both come from the same class and 0 otherwise.

    Sample ``i`` pairs file ``i`` (``data_key_left``) with a random file (``data_key_right``): with
    probability ``percent_matching_data`` another file of its class, otherwise a file of another random
    class (numpy's global generator). An epoch visits every file once on the left. ``split()`` splits by
    class (its fractions and indices count classes, in ``sorted(mapping)`` label order), as in FE.

    Args:
        root_dir: The folder holding the class folders (every folder that holds files is a class).
        data_key_left: Key of the first file of the pair.
        data_key_right: Key of the second file.
        label_key: Key of the 1/0 label.
        percent_matching_data: Share of matching pairs.
        label_mapping: ``{class folder: label}``; default sorted folder order.
        file_extension: Keep only files whose names end with this.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for folder in ("a", "b"): os.makedirs(os.path.join(root, folder))
    >>> for path in ("a/1", "a/2", "b/3", "b/4"): _ = open(os.path.join(root, path), "w").write("")
    >>> pair = SiameseDirDataset(root, percent_matching_data=1.0)[0]
    >>> os.path.basename(pair["x_a"]), os.path.basename(pair["x_b"]), pair["y"]
    ('1', '2', 1)
    """

    def __init__(self, root_dir: str, data_key_left: str = "x_a", data_key_right: str = "x_b",
                 label_key: str = "y", percent_matching_data: float = 0.5,
                 label_mapping: Mapping[str, Any] | None = None, file_extension: str | None = None) -> None:
        if not 0 <= percent_matching_data <= 1:
            raise FastestValueError(
                f"SiameseDirDataset percent_matching_data must be in [0, 1], received {percent_matching_data!r}."
            )
        super().__init__(root_dir, data_key_left, label_key, label_mapping, file_extension)
        self.data_key_left = data_key_left
        self.data_key_right = data_key_right
        self.percent_matching_data = percent_matching_data
        self._index_classes()

    def _index_classes(self) -> None:
        labels = self.data[self.label_key]
        self.class_members = {label: np.flatnonzero(labels == label) for label in np.unique(labels).tolist()}

    def _keep(self, indices: np.ndarray) -> None:
        super()._keep(indices)
        self._index_classes()

    def _column(self, key: str) -> Any:
        if key == self.data_key_left:
            return self.data[key]
        return [self[i][key] for i in range(len(self))]  # drawn pairs: the right file and the 1/0 label

    def _split_units(self) -> list[np.ndarray]:
        return list(self.class_members.values())

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        index = int(index) + (len(self) if index < 0 else 0)
        paths, label = self.data[self.data_key_left], self.data[self.label_key][index].item()
        if np.random.uniform() < self.percent_matching_data:
            others = self.class_members[label][self.class_members[label] != index]
            if not len(others):
                raise FastestRuntimeError(f"SiameseDirDataset: class {label!r} has one file, so it has no matching "
                                          "pair; add files or lower percent_matching_data to 0.")
            right, match = np.random.choice(others), 1
        else:
            classes = [c for c in self.class_members if c != label]
            if not classes:
                raise FastestRuntimeError("SiameseDirDataset has a single class, so no pair can differ; add classes "
                                          "or set percent_matching_data=1.")
            right, match = np.random.choice(self.class_members[classes[np.random.randint(len(classes))]]), 0
        return {self.data_key_left: paths[index], self.data_key_right: paths[right], self.label_key: match}

    def one_shot_trial(self, n: int) -> tuple[list[str], list[str]]:
        """``n`` pairs for a one-shot test: pair 0 matches (two files of one class), pairs 1.. do not.

        Returns ``(left, right)``: ``left`` repeats one file ``n`` times; ``right[0]`` is another file of its
        class and ``right[k]`` a file of another class each.
        """
        classes = list(self.class_members)
        if not 2 <= n <= len(classes):
            raise FastestValueError(f"one_shot_trial(n) needs 2 <= n <= {len(classes)} (the classes), received {n}.")
        paths = self.data[self.data_key_left]
        chosen = [classes[k] for k in np.random.choice(len(classes), size=n, replace=False)]
        if len(self.class_members[chosen[0]]) < 2:
            raise FastestRuntimeError(f"one_shot_trial: class {chosen[0]!r} has one file; it needs two.")
        first, second = np.random.choice(self.class_members[chosen[0]], size=2, replace=False)
        right = [paths[second]] + [paths[np.random.choice(self.class_members[c])] for c in chosen[1:]]
        return [paths[first]] * n, right

    def summary(self) -> DatasetSummary:
        left = summarize(self.data[self.data_key_left])
        return DatasetSummary(len(self), {self.data_key_left: left, self.data_key_right: left,
                                          self.label_key: KeySummary("int", (), num_unique_values=2)})
