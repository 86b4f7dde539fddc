"""Fashion-MNIST files for the data tests: the release's names and checksums, IDX encoding, small synthetic sets."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

REAL_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
REAL_MD5 = {  # typed in from the Fashion-MNIST release notes, independently of the module
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
N_TRAIN, N_TEST = 24, 12
EPS = 1e-6  # float32 rounding on top of the 1/255 bound


# ------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray, *, magic: int | None = None) -> bytes:
    """Encode a uint8 array in IDX format (big-endian header, raw payload)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x00000800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, payload: np.ndarray | bytes, *, gz: bool | None = None, cut: int = 0) -> Path:
    """Write IDX bytes (gzip'ed when the name ends in .gz), dropping ``cut`` trailing bytes."""
    raw = payload if isinstance(payload, bytes) else idx_bytes(payload)
    if cut:
        raw = raw[:-cut]
    gz = path.name.endswith(".gz") if gz is None else gz
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def synthetic_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        NAMES[0]: rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        NAMES[1]: rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        NAMES[2]: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        NAMES[3]: rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]


def no_sleep(_: float) -> None:
    """Retries back off instantly in tests."""
