"""Tests for d2lvgg.data's Fashion-MNIST modules: IDX decoding, checksums, locating, downloading, loading."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from d2lvgg.data import checksum, idx, release
from d2lvgg.data import download as fetching
from d2lvgg.data import fashion_mnist as data
from d2lvgg.data import locate as finding
from d2lvgg.errors import DataError

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


# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every test away from the real env var, system dir and user cache."""
    monkeypatch.delenv(release.ENV_VAR, raising=False)
    monkeypatch.setattr(finding, "SYSTEM_DIR", tmp_path / "no-system")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def synthetic(monkeypatch) -> dict[str, bytes]:
    """Small synthetic IDX contents (name -> raw bytes) with the MD5 table patched to match."""
    raws = {name: idx_bytes(arr) for name, arr in synthetic_arrays().items()}
    monkeypatch.setattr(checksum, "MD5", {name: md5(raw) for name, raw in raws.items()})
    return raws


@pytest.fixture
def syn_dir(tmp_path, synthetic) -> Path:
    folder = tmp_path / "syn"
    for name, raw in synthetic.items():
        write_idx(folder / f"{name}.gz", raw)
    return folder


class Server:
    """A local HTTP server: ``files`` maps URL paths to bodies, ``hits`` counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail_first: Counter[str] = Counter()  # path -> number of 503s before serving
        self.short: set[str] = set()  # paths whose transfer is cut off mid-way
        self.hits: Counter[str] = Counter()
        self.url = ""

    def publish(self, prefix: str, raws: dict[str, bytes]) -> str:
        for name, raw in raws.items():
            self.files[f"/{prefix}/{name}.gz"] = gzip.compress(raw)
        return f"{self.url}{prefix}/"


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            state.hits[self.path] += 1
            if state.fail_first[self.path] > 0:
                state.fail_first[self.path] -= 1
                self.send_error(503)
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in state.short else body)

        def log_message(self, *args):
            """Keep the test output quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url() -> str:
    """A localhost URL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def no_sleep(_: float) -> None:
    """Retries back off instantly in tests."""


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


# ------------------------------------------------------------------ download


def test_download_into_empty_cache(tmp_path, synthetic, server):
    base = server.publish("good", synthetic)
    cache = tmp_path / "new" / "cache"
    assert fetching.download(cache, base_urls=[base], sleep=no_sleep) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert set(server.hits.values()) == {1}
    ds = data.load_fashion_mnist(cache, download=False)
    np.testing.assert_array_equal(ds.train_images, synthetic_arrays()[NAMES[0]])

    fetching.download(cache, base_urls=[base], sleep=no_sleep)  # all good: nothing fetched again
    assert sum(server.hits.values()) == 4


def test_locate_downloads_into_cache(tmp_path, synthetic, server):
    base = server.publish("good", synthetic)
    assert finding.locate(base_urls=[base]) == finding.default_cache_dir()
    assert finding.locate(base_urls=[base]) == finding.default_cache_dir()
    assert sum(server.hits.values()) == 4


def test_falls_back_to_mirror(tmp_path, synthetic, server, refused_url):
    base = server.publish("good", synthetic)
    slept = []
    cache = fetching.download(
        tmp_path / "c", base_urls=[server.url + "missing/", refused_url, base], retries=2, sleep=slept.append
    )
    assert not finding.missing(cache) and no_temp_files(cache)
    for name in NAMES:
        assert server.hits[f"/missing/{name}.gz"] == 1  # 404 is final: no retry
        assert server.hits[f"/good/{name}.gz"] == 1
    assert slept == [0.5] * 4  # one backoff per file on the refused port
    assert max(slept) < 5


def test_retries_server_errors(tmp_path, synthetic, server):
    base = server.publish("good", synthetic)
    server.fail_first[f"/good/{NAMES[0]}.gz"] = 2
    fetching.download(tmp_path / "c", base_urls=[base], retries=3, sleep=no_sleep)
    assert server.hits[f"/good/{NAMES[0]}.gz"] == 3


@pytest.mark.parametrize("damage", ["checksum", "gzip", "short"])
def test_corrupt_download_leaves_nothing(tmp_path, synthetic, server, damage):
    bad = dict(synthetic)
    if damage == "checksum":
        bad[NAMES[3]] = idx_bytes(np.ones(N_TEST, dtype=np.uint8))
    base = server.publish("bad", bad)
    if damage == "gzip":
        server.files[f"/bad/{NAMES[3]}.gz"] = server.files[f"/bad/{NAMES[3]}.gz"][:-10]
    if damage == "short":
        server.short.add(f"/bad/{NAMES[3]}.gz")
    cache = tmp_path / "c"
    with pytest.raises(DataError) as err:
        fetching.download(cache, base_urls=[base], retries=2, sleep=no_sleep)
    msg = str(err.value)
    assert f"{NAMES[3]}.gz" in msg and "last error" in msg and "by hand" in msg
    assert finding.find(cache, NAMES[3]) is None and no_temp_files(cache)
    assert all(finding.find(cache, name) for name in NAMES[:3])
    if damage == "short":
        assert server.hits[f"/bad/{NAMES[3]}.gz"] == 2 and "closed after" in msg


def test_corrupt_cached_file_is_refetched(tmp_path, synthetic, server):
    base = server.publish("good", synthetic)
    cache = tmp_path / "c"
    for name, raw in synthetic.items():
        write_idx(cache / f"{name}.gz", raw)
    damaged = bytearray(synthetic[NAMES[1]])
    damaged[-1] ^= 1  # still a well-formed IDX file, but the wrong bytes
    write_idx(cache / NAMES[1], bytes(damaged), gz=False)  # raw copy is found first
    write_idx(cache / f"{NAMES[2]}.gz", synthetic[NAMES[2]], cut=7)
    fetching.download(cache, base_urls=[base], sleep=no_sleep)
    assert server.hits == Counter({f"/good/{NAMES[2]}.gz": 1})
    assert not (cache / NAMES[1]).exists()
    ds = data.load_fashion_mnist(cache, download=False)
    np.testing.assert_array_equal(ds.test_images, synthetic_arrays()[NAMES[2]])

    (cache / f"{NAMES[0]}.gz").write_bytes(b"garbage")
    fetching.download(cache, base_urls=[base], sleep=no_sleep)
    assert server.hits[f"/good/{NAMES[0]}.gz"] == 1
    assert fetching._is_good(cache / f"{NAMES[0]}.gz", NAMES[0])


def test_total_failure_message(tmp_path, refused_url):
    with pytest.raises(DataError) as err:
        fetching.download(tmp_path / "c", base_urls=[refused_url], retries=1, sleep=no_sleep, timeout=5)
    msg = str(err.value)
    assert f"{NAMES[0]}.gz" in msg and refused_url in msg and "last error" in msg
    assert "by hand" in msg and release.URLS[0] in msg


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


def damage_test_labels(folder: Path, synthetic: dict[str, bytes]) -> None:
    """A well-formed IDX label file with one wrong byte: only the checksum can tell."""
    damaged = bytearray(synthetic[NAMES[3]])
    damaged[-1] ^= 1
    write_idx(folder / f"{NAMES[3]}.gz", bytes(damaged))


def test_loading_from_the_cache_refetches_a_damaged_file(tmp_path, synthetic, server):
    base = server.publish("good", synthetic)
    cache = tmp_path / "c"
    for name, raw in synthetic.items():
        write_idx(cache / f"{name}.gz", raw)
    damage_test_labels(cache, synthetic)
    ds = data.load_fashion_mnist(cache_dir=cache, base_urls=[base])
    assert server.hits == Counter({f"/good/{NAMES[3]}.gz": 1})
    np.testing.assert_array_equal(ds.test_labels, synthetic_arrays()[NAMES[3]])
    assert no_temp_files(cache)


def test_a_damaged_file_outside_the_cache_is_reported_not_replaced(syn_dir, synthetic, server):
    base = server.publish("good", synthetic)
    damage_test_labels(syn_dir, synthetic)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load_fashion_mnist(syn_dir, base_urls=[base])
    assert server.hits == Counter()
