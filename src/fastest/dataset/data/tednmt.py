"""TED talk translation pairs of Qi et al. (NAACL 2018), from phontron.com's ``qi18naacl-dataset.tar.gz``."""

from __future__ import annotations

from pathlib import Path

from fastest.dataset.dataset import NumpyDataset
from fastest.dataset.download import Remote, data_folder, fetch, unpack
from fastest.errors import FastestRuntimeError, FastestValueError, closest_match

DATASET = "tednmt"
REMOTES: dict[str, Remote] = {  # sha256 as listed by TensorFlow Datasets' ted_hrlr_translate
    "archive": Remote("http://www.phontron.com/data/qi18naacl-dataset.tar.gz",
                      sha256="216a86c3df4d4f522856fe9b920ff5be6b394d769cc88974ae8f9f5546953bbc"),
}
TRANSLATE_OPTIONS = ("az_to_en", "az_tr_to_en", "be_ru_to_en", "be_to_en", "es_to_pt", "fr_to_pt",
                     "gl_pt_to_en", "gl_to_en", "he_to_pt", "it_to_pt", "pt_to_en", "ru_to_en", "ru_to_pt",
                     "tr_to_en")


def load_data(root_dir: str | None = None,
              translate_option: str = "az_to_en") -> tuple[NumpyDataset, NumpyDataset, NumpyDataset]:
    """Load one language pair of the TED talk translation data.

    A two-language source such as ``az_tr`` trains on Azerbaijani and Turkish sentences together and is
    evaluated and tested on the first language (Azerbaijani) only. Blank lines are skipped.

    Args:
        root_dir: Folder under which ``tednmt/`` is created (default ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).
        translate_option: ``"<source>_to_<target>"``, one of ``"az_to_en"``, ``"az_tr_to_en"``,
            ``"be_ru_to_en"``, ``"be_to_en"``, ``"es_to_pt"``, ``"fr_to_pt"``, ``"gl_pt_to_en"``,
            ``"gl_to_en"``, ``"he_to_pt"``, ``"it_to_pt"``, ``"pt_to_en"``, ``"ru_to_en"``, ``"ru_to_pt"``,
            ``"tr_to_en"``.

    Returns:
        ``(train_data, eval_data, test_data)``: NumpyDatasets with ``source`` and ``target`` (str sentences).

    Raises:
        FastestValueError: ``translate_option`` is not one of the pairs above (checked before downloading).
    """
    if translate_option not in TRANSLATE_OPTIONS:
        match = closest_match(str(translate_option), TRANSLATE_OPTIONS)
        hint = f" Did you mean {match!r}?" if match else ""
        raise FastestValueError(
            f"tednmt.load_data got translate_option={translate_option!r}, which is not a pair of this data "
            f"set. Choose one of {', '.join(repr(o) for o in TRANSLATE_OPTIONS)}.{hint}")
    folder = data_folder(DATASET, root_dir)
    archive = fetch(REMOTES["archive"], folder, DATASET)
    pair_folder = unpack(archive, folder / "datasets", "datasets") / translate_option
    if not pair_folder.is_dir():
        raise FastestRuntimeError(f"{archive.name} has no folder datasets/{translate_option}. The archive "
                                  f"is not the expected one; delete {archive} and "
                                  f"{folder / 'qi18naacl-dataset'} and load again.")
    source, target = translate_option.split("_to_")
    train_source = source.replace("_", "-")  # e.g. az-tr.train
    single_source = source.split("_")[0]  # e.g. az.dev
    return (_pairs(pair_folder, train_source, target, "train"),
            _pairs(pair_folder, single_source, target, "dev"),
            _pairs(pair_folder, single_source, target, "test"))


def _pairs(folder: Path, source: str, target: str, split: str) -> NumpyDataset:
    sources = _sentences(folder / f"{source}.{split}")
    targets = _sentences(folder / f"{target}.{split}")
    if len(sources) != len(targets):
        raise FastestRuntimeError(
            f"{folder.name}/{source}.{split} has {len(sources)} sentences but {target}.{split} has "
            f"{len(targets)}; they must pair up. Delete {folder.parent.parent} to extract the archive "
            f"afresh.")
    return NumpyDataset({"source": sources, "target": targets})


def _sentences(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as lines:
        return [line.strip() for line in lines if line.strip()]
