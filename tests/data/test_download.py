"""Fashion-MNIST downloaded into the cache: mirrors, retries, damaged transfers, damaged cached files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from idx_files import (
    N_TEST,
    NAMES,
    idx_bytes,
    no_sleep,
    no_temp_files,
    synthetic_arrays,
    write_idx,
)

from d2lvgg.data import download as fetching
from d2lvgg.data import fashion_mnist as data
from d2lvgg.data import locate as finding
from d2lvgg.data import release
from d2lvgg.errors import DataError

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
