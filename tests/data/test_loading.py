"""Fashion-MNIST from files: IDX decoding, checksums, the search for the files, loading, the real release."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from idx_files import (
    N_TEST,
    N_TRAIN,
    NAMES,
    REAL_DIR,
    REAL_MD5,
    idx_bytes,
    md5,
    synthetic_arrays,
    write_idx,
)

from d2lvgg.data import checksum, idx, release
from d2lvgg.data import fashion_mnist as data
from d2lvgg.data import locate as finding
from d2lvgg.errors import DataError

# ------------------------------------------------------------------ read_idx


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    images = synthetic_arrays()[NAMES[0]]
    labels = synthetic_arrays()[NAMES[1]]
    ipath = write_idx(tmp_path / "images", images, gz=gz)
    lpath = write_idx(tmp_path / "labels", labels, gz=gz)
    assert ipath.read_bytes()[:2] == (b"\x1f\x8b" if gz else b"\x00\x00")
    got = idx.read_idx(ipath, kind="images")
    assert got.dtype == np.uint8 and got.shape == (N_TRAIN, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(idx.read_idx(lpath, kind="labels"), labels)


def test_wrong_magic_names_file_and_fix(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 3, 3)), gz=True)
    with pytest.raises(DataError) as err:
        idx.read_idx(path, kind="labels")
    msg = str(err.value)
    assert str(path) in msg and "not an IDX label file" in msg
    assert "delete" in msg and "re-download" in msg and release.URLS[0] in msg

    junk = tmp_path / "junk"
    junk.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(DataError, match="magic number 0x47494638"):
        idx.read_idx(junk, kind="images")


def test_wrong_dimension_count(tmp_path):
    path = write_idx(tmp_path / "two-dims", np.zeros((4, 28), dtype=np.uint8))  # magic 0x802
    with pytest.raises(DataError, match="2 dimension") as err:
        idx.read_idx(path, kind="images")
    assert str(path) in str(err.value) and "delete" in str(err.value)


@pytest.mark.parametrize("cut", [1, 28 * 28 + 5])
def test_truncated_payload(tmp_path, cut):
    path = write_idx(tmp_path / "t.gz", np.zeros((5, 28, 28), dtype=np.uint8), cut=cut)
    with pytest.raises(DataError, match="truncated") as err:
        idx.read_idx(path, kind="images")
    assert str(path) in str(err.value) and "re-download" in str(err.value)


def test_truncated_header_and_trailing_bytes(tmp_path):
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((5, 28, 28)))[:10])
    with pytest.raises(DataError, match="header"):
        idx.read_idx(short, kind="images")
    long = tmp_path / "long"
    long.write_bytes(idx_bytes(np.zeros(5)) + b"\x00")
    with pytest.raises(DataError, match="longer than its header"):
        idx.read_idx(long, kind="labels")


def test_broken_gzip_stream(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-20])
    with pytest.raises(DataError, match="not a valid gzip") as err:
        idx.read_idx(path, kind="images")
    assert str(path) in str(err.value) and "delete" in str(err.value)


# ------------------------------------------------------------------ load_fashion_mnist


def test_load_synthetic(syn_dir, synthetic):
    ds = data.load_fashion_mnist(syn_dir, download=False)
    arrays = synthetic_arrays()
    assert ds.source == syn_dir.resolve()
    assert ds.train_images.shape == (N_TRAIN, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64 and ds.test_labels.dtype == np.int64
    np.testing.assert_array_equal(ds.test_images, arrays[NAMES[2]])
    np.testing.assert_array_equal(ds.test_labels, arrays[NAMES[3]])
    assert not ds.train_images.flags.writeable and not ds.train_labels.flags.writeable


def test_load_is_cached_and_notices_changed_files(syn_dir, synthetic, monkeypatch):
    first = data.load_fashion_mnist(syn_dir, download=False)
    assert data.load_fashion_mnist(syn_dir, download=False) is first
    labels = np.zeros(N_TEST, dtype=np.uint8)
    raw = idx_bytes(labels)
    write_idx(syn_dir / f"{NAMES[3]}.gz", raw + b"")  # rewritten: new size or mtime
    monkeypatch.setitem(checksum.MD5, NAMES[3], md5(raw))
    second = data.load_fashion_mnist(syn_dir, download=False)
    assert second is not first
    np.testing.assert_array_equal(second.test_labels, labels)


def test_raw_files_are_accepted(tmp_path, synthetic):
    for name, raw in synthetic.items():
        write_idx(tmp_path / "raw" / name, raw)
    ds = data.load_fashion_mnist(tmp_path / "raw", download=False)
    assert len(ds.train_images) == N_TRAIN


def test_count_mismatch_names_both_files(syn_dir, synthetic, monkeypatch):
    raw = idx_bytes(np.zeros(N_TRAIN - 1, dtype=np.uint8))
    write_idx(syn_dir / f"{NAMES[1]}.gz", raw)
    monkeypatch.setitem(checksum.MD5, NAMES[1], md5(raw))
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist(syn_dir, download=False)
    msg = str(err.value)
    assert f"{NAMES[0]}.gz" in msg and f"{NAMES[1]}.gz" in msg
    assert f"{N_TRAIN} images" in msg and f"{N_TRAIN - 1} labels" in msg


def test_checksum_mismatch(syn_dir, synthetic, monkeypatch):
    monkeypatch.setitem(checksum.MD5, NAMES[2], "0" * 32)
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist(syn_dir, download=False)
    msg = str(err.value)
    assert f"{NAMES[2]}.gz" in msg and "checksum" in msg
    assert "0" * 32 in msg and md5(synthetic[NAMES[2]]) in msg
    assert "delete" in msg and "re-download" in msg
    ds = data.load_fashion_mnist(syn_dir, download=False, verify=False)  # opt-out still decodes
    assert len(ds.test_images) == N_TEST


def test_label_out_of_range(syn_dir, synthetic, monkeypatch):
    raw = idx_bytes(np.full(N_TEST, 10, dtype=np.uint8))
    write_idx(syn_dir / f"{NAMES[3]}.gz", raw)
    with pytest.raises(DataError, match="label 10"):
        data.load_fashion_mnist(syn_dir, download=False, verify=False)


# ------------------------------------------------------------------ locate


def fake_set(folder: Path, *, gz: bool = True, names=NAMES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / (f"{name}.gz" if gz else name)).write_bytes(b"")
    return folder


def test_locate_search_order(tmp_path, monkeypatch):
    explicit = fake_set(tmp_path / "explicit")
    env = fake_set(tmp_path / "env", gz=False)
    system = fake_set(tmp_path / "system")
    cache = fake_set(tmp_path / "cache")
    monkeypatch.setenv(release.ENV_VAR, str(env))
    monkeypatch.setattr(finding, "SYSTEM_DIR", system)
    kw = {"download": False, "cache_dir": cache}
    assert finding.locate(explicit, **kw) == explicit
    assert finding.locate(str(explicit), **kw) == explicit
    assert finding.locate(**kw) == env
    monkeypatch.delenv(release.ENV_VAR)
    assert finding.locate(**kw) == system
    monkeypatch.setattr(finding, "SYSTEM_DIR", tmp_path / "nowhere")
    assert finding.locate(**kw) == cache
    fake_set(finding.default_cache_dir())
    assert finding.locate(download=False) == finding.default_cache_dir()


def test_incomplete_system_dir_falls_through(tmp_path, monkeypatch):
    monkeypatch.setattr(finding, "SYSTEM_DIR", fake_set(tmp_path / "system", names=NAMES[:3]))
    cache = fake_set(tmp_path / "cache")
    assert finding.locate(download=False, cache_dir=cache) == cache


def test_explicit_dir_missing_files_is_strict(tmp_path, monkeypatch):
    partial = fake_set(tmp_path / "partial", names=NAMES[:1])
    fake_set(partial, gz=False, names=NAMES[1:2])
    monkeypatch.setattr(finding, "SYSTEM_DIR", fake_set(tmp_path / "system"))  # would be complete
    with pytest.raises(DataError) as err:
        finding.locate(partial)
    msg = str(err.value)
    assert str(partial) in msg and NAMES[2] in msg and NAMES[3] in msg
    assert NAMES[0] not in msg.split("by hand")[0] and NAMES[1] not in msg.split("by hand")[0]

    monkeypatch.setenv(release.ENV_VAR, str(partial))
    with pytest.raises(DataError, match=release.ENV_VAR):
        finding.locate()


def test_nothing_found_without_download(tmp_path):
    with pytest.raises(DataError) as err:
        finding.locate(download=False, cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert all(f"{name}.gz" in msg for name in NAMES)
    assert all(url in msg for url in release.URLS)
    assert "by hand" in msg and str(tmp_path / "cache") in msg


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert finding.default_cache_dir() == tmp_path / "d2lvgg" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert finding.default_cache_dir() == Path.home() / ".cache" / "d2lvgg" / "fashion-mnist"


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def real() -> data.FashionMNIST:
    if not all((REAL_DIR / f"{n}.gz").is_file() or (REAL_DIR / n).is_file() for n in NAMES):
        pytest.skip(f"real Fashion-MNIST not installed at {REAL_DIR} (Debian package dataset-fashion-mnist)")
    return data.load_fashion_mnist(REAL_DIR, download=False, verify=True)


def test_real_data(real):
    assert checksum.MD5 == REAL_MD5
    assert real.train_images.shape == (60_000, 28, 28) and real.train_images.dtype == np.uint8
    assert real.test_images.shape == (10_000, 28, 28) and real.test_images.dtype == np.uint8
    assert real.train_labels.shape == (60_000,) and real.test_labels.shape == (10_000,)
    np.testing.assert_array_equal(np.bincount(real.train_labels, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(real.test_labels, minlength=10), [1000] * 10)
    assert real.train_labels[:8].tolist() == [9, 0, 0, 3, 0, 2, 7, 2]
    assert len(data.CLASS_NAMES) == 10 and data.CLASS_NAMES[9] == "ankle boot"


def test_real_checksums():
    for name in NAMES:
        path = REAL_DIR / f"{name}.gz"
        if not path.is_file():
            pytest.skip(f"real Fashion-MNIST not installed at {REAL_DIR}")
        assert md5(gzip.decompress(path.read_bytes())) == REAL_MD5[name]
