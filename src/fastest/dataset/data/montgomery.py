"""Montgomery County chest X-rays (138 PNGs with left and right lung masks), from the NLM's Open-i site."""

from __future__ import annotations

from pathlib import Path

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, unpack, write_csv
from fastest.dataset.files import CSVDataset

DATASET = "Montgomery"
REMOTES: dict[str, Remote] = {
    # the NLM publishes no checksum for it
    "archive": Remote("https://openi.nlm.nih.gov/imgs/collections/NLM-MontgomeryCXRSet.zip"),
}
CSV_NAME = "montgomery.csv"
COLUMNS = ("image", "mask_left", "mask_right")




def rows(folder: Path) -> list[tuple[str, str, str]]:
    """One ``(image, mask_left, mask_right)`` row per X-ray in ``folder/MontgomerySet/CXR_png``, sorted.

    The paths are relative to ``folder`` (where the CSV is written), with ``/`` separators; a mask has the
    name of its X-ray.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "MontgomerySet" / "CXR_png").mkdir(parents=True)
    >>> _ = (folder / "MontgomerySet" / "CXR_png" / "MCUCXR_0001_0.png").write_bytes(b"")
    >>> rows(folder)[0][1]
    'MontgomerySet/ManualMask/leftMask/MCUCXR_0001_0.png'
    """
    names = sorted(path.name for path in (folder / "MontgomerySet" / "CXR_png").glob("*.png"))
    return [(f"MontgomerySet/CXR_png/{name}", f"MontgomerySet/ManualMask/leftMask/{name}",
             f"MontgomerySet/ManualMask/rightMask/{name}") for name in names]




def load_data(root_dir: str | None = None) -> CSVDataset:
    """Load the Montgomery chest X-rays, downloading them into ``<root_dir>/Montgomery`` on first use.

    The archive's ``MontgomerySet`` folder is kept as ``<root_dir>/Montgomery/MontgomerySet`` (the rest of
    the archive, macOS metadata, is dropped) and ``montgomery.csv`` beside it lists the files.

    Args:
        root_dir: The folder under which the ``Montgomery`` folder is kept (default: ``$FASTEST_DATA_DIR`` or
            ``~/fastest_data``).

    Returns:
        A CSVDataset with columns ``image``, ``mask_left`` and ``mask_right``: PNG paths relative to the
        CSV's folder, ``dataset.parent_path`` (pass that to ``ReadImage(parent_path=...)``).
    """
    folder = data_folder(DATASET, root_dir)
    csv_path = folder / CSV_NAME
    if not (folder / "MontgomerySet").is_dir():  # the archive is only needed until it has been extracted
        unpack(fetch(REMOTES["archive"], folder, DATASET), folder / "MontgomerySet", "MontgomerySet")
    if not csv_path.exists():
        found = rows(folder)
        if not found:
            raise DownloadError(f"No X-ray PNGs in {folder / 'MontgomerySet' / 'CXR_png'}; delete "
                                f"{folder / 'MontgomerySet'} and load again.")
        write_csv(csv_path, COLUMNS, found)
    return CSVDataset(str(csv_path))
