"""The Fashion-MNIST files' checksums, and the check that a file's bytes match them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import DataError
from .release import fix_hint

#: MD5 of the *decompressed* bytes (gzip bytes differ between mirrors).
#: A module-level dict so tests can patch it for synthetic files.
MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


def md5_problem(data: bytes, name: str) -> str | None:
    """None if ``data`` has the expected MD5 for ``name``, else what differs."""
    actual = hashlib.md5(data).hexdigest()
    if actual == MD5[name]:
        return None
    return (
        f"MD5 of its decompressed contents is {actual}, expected {MD5[name]} "
        f"(damaged, or not the Fashion-MNIST release)"
    )


def check_md5(data: bytes, path: Path, name: str) -> None:
    """Raise ``DataError`` naming ``path`` and the fix when ``data`` is not the release's ``name``."""
    problem = md5_problem(data, name)
    if problem:
        raise DataError(f"checksum mismatch for {path}: {problem}; {fix_hint(path)}")
