"""Neutral weights: pickle-free files, named by the layer IR, checked against the architecture."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from d2lvgg import RunError, preset
from d2lvgg.model.initializers import initial_weights
from d2lvgg.model.ir import lower, tensor_shapes
from d2lvgg.training.rundir import RunDir
from d2lvgg.training.weights import check_compatible, load_weights, save_weights

SMALL = preset("d2l_vgg11").scaled(16).with_options(head=(32,), input_size=32)


def test_weights_round_trip_exactly_and_atomically(tmp_path):
    weights = initial_weights(lower(SMALL), "xavier", seed=0)
    path = save_weights(weights, tmp_path / "w.npz")
    loaded = load_weights(path)
    assert loaded.keys() == weights.keys()
    assert all(np.array_equal(loaded[k], weights[k]) and loaded[k].dtype == np.float32 for k in weights)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary file left behind


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_run_files_get_the_permissions_of_the_users_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        run = RunDir.create(tmp_path / "run")
        written = [
            run.write_json("config.json", {"a": 1}),
            save_weights(initial_weights(lower(SMALL), "xavier", seed=0), run.file("weights.npz")),
        ]
        run.append_rows("epochs.csv", [{"epoch": 1}])
        written.append(run.file("epochs.csv"))
    finally:
        os.umask(previous)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {p.name: mode for p in written}


def test_names_follow_the_layer_ir():
    names = list(tensor_shapes(lower(SMALL.with_options(batch_norm=True))))
    assert names[:6] == ["0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "0.1.running_mean", "0.1.running_var"]
    assert names[-2:] == ["9.weight", "9.bias"]


def test_weights_of_another_architecture_name_the_first_mismatching_tensor():
    weights = initial_weights(lower(SMALL), "xavier", seed=0)
    with pytest.raises(RunError, match=r"tensor '1\.0\.weight' has shape \(8, 4, 3, 3\), the network needs \(16, 4"):
        check_compatible(weights, lower(SMALL.with_options(conv_arch=((1, 4), (1, 16), (2, 16), (2, 32), (2, 32)))))
    with pytest.raises(RunError, match=r"lack tensor '0\.0\.bias'"):
        check_compatible(initial_weights(lower(SMALL.with_options(conv_bias=False)), "xavier", 0), lower(SMALL))
    with pytest.raises(RunError, match=r"hold tensor '0\.0\.bias' that the network does not have"):
        check_compatible(weights, lower(SMALL.with_options(conv_bias=False)))
    check_compatible(weights, lower(SMALL))


def test_pickled_truncated_or_missing_files_are_refused(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, evil=np.array([{"run": "code"}], dtype=object))
    with pytest.raises(RunError, match="is not a readable weights file"):
        load_weights(pickled)
    good = save_weights(initial_weights(lower(SMALL), "xavier", 0), tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(RunError, match="is not a readable weights file"):
        load_weights(truncated)
    with pytest.raises(RunError, match="no weights file at"):
        load_weights(tmp_path / "absent.npz")
