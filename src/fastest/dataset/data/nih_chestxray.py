"""NIH ChestX-ray14 images (112,120 frontal chest X-rays, 1024×1024 PNGs), from the NIH Clinical Center."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fastest.dataset.download import DownloadError, Remote, data_folder, fetch, locked, unpack
from fastest.dataset.files import DirDataset

DATASET = "NIH_Chestxray"
_BOX = "https://nihcc.box.com/shared/static/"
_LINKS = (
    "vfk49d74nhbxq3nqjg0900w5nvkorp5c", "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1",
    "f1t00wrtdk94satdfb9olcolqx20z2jp", "0aowwzs5lhjrceb3qp67ahp0rd1l1etg",
    "v5e3goj22zr6h8tzualxfsqlqaygfbsn", "asi7ikud9jwnkrnkj99jnpfkjdes7l6l",
    "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n", "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j",
    "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj", "l6nilvfa9cg3s28tqv1qc1olm3gnz54p",
    "hhq8fkdgvcari67vfhs7ppg2w6ni4jze", "ioqwiy20ihqwyr8pf4c24eazhh281pbu",
)
# Stored under the names the NIH's Box folder gives them; the NIH publishes no checksums.
REMOTES: dict[str, Remote] = {
    f"images_{k:03d}": Remote(f"{_BOX}{link}.gz", filename=f"images_{k:03d}.tar.gz")
    for k, link in enumerate(_LINKS, start=1)
}


def _merge(archives: list[Path], target: Path) -> Path:
    """Unpack every archive's ``images`` folder into one folder ``target``, once; an interrupted run leaves no
    ``target``."""
    with locked(target):
        if target.is_dir():
            return target
        staging = target.with_name(f".{target.name}.extracting")
        shutil.rmtree(staging, ignore_errors=True)
        merged = staging / target.name
        try:
            merged.mkdir(parents=True)
            for k, archive in enumerate(archives):
                part = unpack(archive, staging / f"part{k}")
                if not (part / "images").is_dir():
                    raise DownloadError(
                        f"{archive.name} has no folder 'images'; delete {archive} and load again.")
                with os.scandir(part / "images") as entries:
                    for entry in entries:
                        os.replace(entry.path, merged / entry.name)
                shutil.rmtree(part)
            os.replace(merged, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def load_data(root_dir: str | None = None) -> DirDataset:
    """Load the NIH chest X-ray images, downloading their 12 archives (about 42 GB) into
    ``<root_dir>/NIH_Chestxray`` on first use.

    All the archives' PNGs are gathered in ``<root_dir>/NIH_Chestxray/images``; the archives are only read
    until that folder exists. No labels are returned (as in FastEstimator).

    Args:
        root_dir: The folder under which the ``NIH_Chestxray`` folder is kept (default: ``$FASTEST_DATA_DIR``
            or ``~/fastest_data``).

    Returns:
        A DirDataset of samples ``{"x": png path}``, sorted by file name.
    """
    remotes = REMOTES
    folder = data_folder(DATASET, root_dir)
    images = folder / "images"
    if not images.is_dir():
        archives = [fetch(remote, folder, DATASET) for remote in remotes.values()]
        _merge(archives, images)
    return DirDataset(str(images), file_extension=".png", recursive_search=False)
