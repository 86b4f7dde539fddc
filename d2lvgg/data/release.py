"""The Fashion-MNIST release: its four files, where it is published and installed, and how to get it."""

from __future__ import annotations

from pathlib import Path

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # where Debian's dataset-fashion-mnist puts it
ENV_VAR = "D2LVGG_DATA"

#: Base URLs tried in order: the canonical bucket, then the GitHub mirror.
URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

#: Role -> file name (without ".gz"); each file may be stored raw or gzip'ed.
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TRAIN_EXAMPLES = 60_000  # images in the training set (and 10,000 in the test set)


def fix_hint(path: Path) -> str:
    """What to do about a damaged file: fetch it again, or place a good copy."""
    return (
        f"delete {path} and run again to re-download it, or place a good copy "
        f"of {path.name} from {URLS[0]} (mirror {URLS[1]}) there"
    )


def by_hand(folder: Path) -> str:
    """How to put the files into ``folder`` without d2lvgg's download."""
    names = ", ".join(f"{n}.gz" for n in FILES.values())
    urls = " or ".join(URLS)
    return (
        f"without network access, install Debian's package (sudo apt-get install dataset-fashion-mnist, "
        f"which puts them in {SYSTEM_DIR}); or, to place the files by hand, download {names} from {urls} into {folder} "
        f"(gzip'ed or not); or point ${ENV_VAR} or --data-dir at a folder holding them"
    )
