"""The bad-input matrix, end to end: every case is one line on stderr and a non-zero exit."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from d2lvgg import BackendError, preset
from d2lvgg.backends import REGISTRY, get_backend
from d2lvgg.backends.base import Declaration
from d2lvgg.data import checksum
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main
from d2lvgg.training.rundir import RunDir
from d2lvgg.training.weights import save_weights

TRAIN = ["train", "--device", "cpu", "--epochs", "1", "--train-limit", "128", "--test-limit", "128"]


def one_line_error(capsys, argv: list[str], pattern: str, code: int = 2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert re.search(pattern, captured.err), captured.err
    return captured.err


SPEC_FILES = [
    ("bad.json", '{"conv_arch": [[1, 64]', "is not valid JSON"),
    ("bad.toml", "conv_arch = [[1, 64]", "is not valid TOML"),
    ("bad.json", '{"conv_arch": [[1, 64]], "layers": 3}', r"unknown spec field\(s\): layers"),
    ("bad.toml", 'conv_arch = [[1, 64]]\nhead = "wide"\n', "head must be a sequence of dense-layer widths"),
    ("bad.json", '{"conv_arch": [[1, 64]], "dropout": 2}', r"dropout must be in \[0, 1\), got 2"),
    ("bad.toml", "conv_arch = [[1, 64], [0, 8]]\n", r"conv_arch\[1\] num_convs must be at least 1, got 0"),
]


UNREADABLE_SPEC_FILES = [
    ("binary.json", bytes(range(256)), r"is not UTF-8 text \(invalid start byte at byte 128\)"),
    ("latin1.toml", 'name = "caf\xe9"\nconv_arch = [[1, 64]]\n'.encode("latin-1"), "is not UTF-8 text"),
    ("utf16.json", '{"conv_arch": [[1, 64]]}'.encode("utf-16"), "is not UTF-8 text"),
]


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [(name, text.encode(), pattern) for name, text, pattern in SPEC_FILES] + UNREADABLE_SPEC_FILES,
)
@pytest.mark.parametrize("command", ["summary", "train"])
def test_bad_spec_files(tmp_path, capsys, name, content, pattern, command):
    path = tmp_path / name
    path.write_bytes(content)
    argv = (
        ["summary", str(path)] if command == "summary" else [*TRAIN, "--arch", str(path), "--out", str(tmp_path / "r")]
    )
    err = one_line_error(capsys, argv, pattern)
    assert str(path) in err
    assert not (tmp_path / "r").exists()


def test_a_missing_backend_names_the_pip_extra(monkeypatch):
    declaration = types.ModuleType("fake_paddle_declaration")
    declaration.DECLARATION = Declaration("PaddlePaddle", "paddle_not_installed_here", "paddle", "cpu", "cpu")
    monkeypatch.setitem(sys.modules, declaration.__name__, declaration)
    monkeypatch.setitem(REGISTRY, "paddle", declaration.__name__)
    with pytest.raises(BackendError, match=r"needs paddle_not_installed_here, .*pip install 'd2lvgg\[paddle\]'"):
        get_backend("paddle")


def test_an_unknown_backend_lists_the_known_ones(capsys, tmp_path):
    one_line_error(
        capsys, [*TRAIN, "--backend", "mxnet", "--out", str(tmp_path / "r")], "choose one of torch, mindspore"
    )


needs_data = pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")


def _damaged_copy(tmp_path, name: str, damage) -> tuple[str, str]:
    """A copy of the real files with one damaged; returns the folder and the damaged bytes' MD5."""
    folder = tmp_path / "data"
    shutil.copytree(SYSTEM_DIR, folder)
    path = folder / f"{name}.gz"
    raw = damage(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(raw))
    return str(folder), hashlib.md5(raw).hexdigest()


# (file, damage, expected message, whether the checksum table is updated to let the damage through)
DATASET_DAMAGE = [
    (
        "t10k-labels-idx1-ubyte",
        lambda raw: raw[:8] + bytes([raw[8] ^ 1]) + raw[9:],
        "checksum mismatch for .*t10k-labels",
        False,
    ),
    ("t10k-images-idx3-ubyte", lambda raw: raw[: len(raw) // 2], "t10k-images-idx3-ubyte.*truncated", True),
    ("t10k-labels-idx1-ubyte", lambda raw: b"\x00\x00\x0d\x01" + raw[4:], "t10k-labels-idx1-ubyte.*magic", True),
    (
        "t10k-labels-idx1-ubyte",
        lambda raw: raw[:4] + (9_000).to_bytes(4, "big") + raw[8:9_008],
        "10000.*9000|9000.*10000",
        True,
    ),
]


@needs_data
@pytest.mark.torch
@pytest.mark.parametrize(("name", "damage", "pattern", "let_through"), DATASET_DAMAGE)
def test_damaged_dataset_files(tmp_path, capsys, monkeypatch, name, damage, pattern, let_through):
    folder, digest = _damaged_copy(tmp_path, name, damage)
    if let_through:  # so the check behind the checksum is the one that speaks
        monkeypatch.setitem(checksum.MD5, name, digest)
    one_line_error(capsys, [*TRAIN, "--data-dir", folder, "--out", str(tmp_path / "r")], pattern)
    assert not (tmp_path / "r").exists()


@needs_data
@pytest.mark.torch
def test_a_data_dir_without_the_files_lists_them(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [*TRAIN, "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]
    err = one_line_error(capsys, argv, "train-images-idx3-ubyte")
    assert "apt-get install dataset-fashion-mnist" in err and "--data-dir" in err  # every way to get the data


@needs_data
@pytest.mark.torch
def test_an_absent_device_says_what_to_use(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so --device cuda is not absent")
    one_line_error(capsys, [*TRAIN, "--device", "cuda", "--out", str(tmp_path / "r")], "use --device cpu")


@needs_data
@pytest.mark.torch
def test_weights_of_another_architecture_are_refused_by_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*TRAIN, "--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    from d2lvgg.model.initializers import initial_weights
    from d2lvgg.model.ir import lower

    other = preset("d2l_vgg11").scaled(8).with_options(head=(64,), input_size=32)
    save_weights(initial_weights(lower(other), "xavier", 0), out / "weights.npz")
    one_line_error(capsys, ["evaluate", str(out)], r"tensor '0\.0\.weight' has shape \(8, 1, 3, 3\)")
    config = json.loads((out / "config.json").read_text())
    assert config["spec"]["head"] == [64]  # the run folder itself is untouched


SMALL = ["--arch", "d2l_vgg11", "--ratio", "16", "--head", "64", "--resize", "32"]
# Each valid alone, wrong for Fashion-MNIST's 1-channel images and 10 labels or the data pipeline.
MISFITS = [
    (["--in-channels", "3"], r"takes 3-channel images, but Fashion-MNIST's are greyscale .*--in-channels 1"),
    (["--classes", "5"], r"has 5 outputs, but Fashion-MNIST has 10 classes: pass --classes 10"),
    (["--resize", "0"], "input_size must be at least 1, got 0"),
    (["--resize", "16"], r"input_size 16 is too small.*use input_size >= 32"),
    (["--seed", "-1"], "seed must be a whole number >= 0"),
]


@pytest.mark.parametrize(("extra", "pattern"), MISFITS)
def test_misfits_are_refused_before_a_run_folder_is_made(tmp_path, capsys, extra, pattern):
    one_line_error(capsys, [*TRAIN, *SMALL, *extra, "--out", str(tmp_path / "r")], pattern)
    assert not (tmp_path / "r").exists()


def test_the_papers_imagenet_network_is_refused_with_the_flag_that_fits_it(tmp_path, capsys):
    one_line_error(capsys, [*TRAIN, "--arch", "vgg11", "--out", str(tmp_path / "r")], "pass --in-channels 1")
    assert not (tmp_path / "r").exists()


def test_a_refused_run_leaves_an_existing_run_folder_untouched(tmp_path, capsys):
    run = tmp_path / "earlier-run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    argv = [*TRAIN, *SMALL, "--classes", "5", "--out", str(run), "--overwrite"]
    one_line_error(capsys, argv, "Fashion-MNIST has 10 classes")
    assert [p.name for p in run.iterdir()] == ["config.json"] and (run / "config.json").read_text() == "{}"


def test_a_destination_under_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(capsys, [*TRAIN, *SMALL, "--out", str(tmp_path / "notes.txt" / "run")], r"notes\.txt is a file")
    one_line_error(capsys, ["draw", "d2l_vgg11", "--out", str(tmp_path / "notes.txt" / "net")], "Not a directory")
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no folder can be made")
@needs_data
@pytest.mark.torch
def test_a_folder_the_system_will_not_create_is_one_line(capsys):
    one_line_error(capsys, [*TRAIN, *SMALL, "--out", "/proc/d2lvgg-run"], "cannot create /proc/d2lvgg-run")


def test_a_sweep_checks_every_cell_before_training_any(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('[base]\nepochs = 1\nresize = 32\nratio = 16\n\n[axes]\narch = ["d2l_vgg11", "vgg11"]\n')
    one_line_error(capsys, ["sweep", str(grid), "--out", str(tmp_path / "s")], "vgg11_r16 takes 3-channel images")
    assert not (tmp_path / "s").exists()


VALUE_ERRORS = [
    (["--epochs", "0"], "epochs must be a whole number >= 1, got 0"),
    (["--batch-size", "-1"], "batch_size must be a whole number >= 1, got -1"),
    (["--batch-size", "100000", "--train-limit", "512"], "batch_size 100000 is larger than the 512 training examples"),
    (["--lr", "-1"], "lr must be a positive number, got -1.0"),
    (["--resize", "0"], "input_size"),
    (["--ratio", "0"], "ratio"),
    (["--nproc", "0"], "--nproc must be 2 or more, got 0"),
    (["--backend", "jax", "--nproc", "2"], "the jax backend has no data-parallel launcher: leave out --nproc"),
    (["--nodes", "2", "--out", "r"], "--nodes 2 needs --node-rank R (0 on the machine --master names, 1 to 1 on"),
    (["--nodes", "2", "--node-rank", "2", "--master", "h:1", "--out", "r"], "--node-rank must be 0 to 1 for --nodes 2"),
    (["--nodes", "2", "--node-rank", "1", "--master", "10.0.0.1"], "--master must be HOST:PORT, node 0's address"),
    (["--nodes", "2", "--node-rank", "1", "--master", "10.0.0.1:29500"], "--nodes 2 needs --out RUN_DIR"),
    (["--master", "10.0.0.1:29500"], "--node-rank and --master are for a run across machines: add --nodes N"),
    (["--nodes", "2", "--node-rank", "0", "--master", "h:1", "--nproc", "0", "--out", "r"], "--nproc must be 1 or"),
    (["--device", "tpu"], "unknown device 'tpu' for the torch backend: use auto, cpu, cuda, cuda:N or mps"),
    (["--backend", "mindspore", "--device", "cuda:1"], "unknown device 'cuda:1' for the mindspore backend"),
    (["--out", "{file}/run"], "is a file; choose another --out"),
]


@pytest.mark.parametrize(("option", "message"), VALUE_ERRORS)
def test_a_bad_value_is_refused_before_any_framework_loads(tmp_path, option, message):
    """In a fresh process: the one line comes without PyTorch, MindSpore or PaddlePaddle imported."""
    (tmp_path / "file").write_text("not a folder")
    argv = ["train", *(part.format(file=tmp_path / "file") for part in option)]
    script = (
        "import sys\nfrom d2lvgg.tools.cli import main\ncode = main(sys.argv[1:])\n"
        "loaded = sorted({'torch', 'mindspore', 'paddle'} & set(sys.modules))\n"
        "print('loaded:', ','.join(loaded))\nsys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert done.stdout == "loaded: \n"  # no framework, and no "no GPU or Ascend card here" notice


def test_a_run_folder_another_process_is_writing_is_refused_until_it_lets_go(tmp_path):
    out = tmp_path / "run"
    run = RunDir.create(out)  # this process writes it now
    claim = [sys.executable, "-c", f"from d2lvgg.training.rundir import RunDir; RunDir.create({str(out)!r})"]
    refused = subprocess.run(claim, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert f"RunError: another d2lvgg process is writing {out}: wait for it to end" in refused.stderr
    run.release()
    subprocess.run(claim, capture_output=True, text=True, check=True)  # free once the writer lets go
