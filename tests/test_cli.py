"""`d2lvgg presets`, `summary` and `spec` as a user runs them, and the framework-free promise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from d2lvgg import __version__, load_spec, preset
from d2lvgg.data.fashion_mnist import SYSTEM_DIR
from d2lvgg.tools.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_lists_every_name_with_its_parameter_count(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    assert "vgg16 " in out and "138,357,544 params" in out
    assert "d2l_vgg11_small" in out and "alexnet" in out


def test_summary_table_shows_the_textbook_rows_and_totals(capsys):
    code, out, _ = run(capsys, "summary", "d2l_vgg11")
    assert code == 0
    for shape in ("(1, 64, 112, 112)", "(1, 512, 7, 7)", "(1, 25088)", "(1, 10)"):
        assert shape in out
    assert "128,806,154" in out and "7.55 G" in out


def test_summary_json_has_the_documented_fields(capsys):
    code, out, _ = run(capsys, "summary", "d2l_vgg11", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["total_params"] == 128_806_154 and data["total_macs"] == 7_547_232_256
    assert len(data["layers"]) == 13
    assert set(data["layers"][0]) >= {"name", "type", "output_shape", "params", "macs"}
    assert data["layers"][5]["output_shape"] == [1, 25088]


def test_summary_options_reshape_the_network(capsys):
    code, out, _ = run(
        capsys, "summary", "d2l_vgg11", "--ratio", "4", "--input-size", "96", "--classes", "5", "--format", "json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["layers"][0]["output_shape"] == [1, 16, 48, 48]
    assert data["layers"][5]["output_shape"] == [1, 128 * 3 * 3]
    assert data["layers"][-1]["output_shape"] == [1, 5]


def test_summary_layer_depth_lists_every_layer(capsys):
    code, out, _ = run(capsys, "summary", "vgg16", "--depth", "layer", "--format", "json")
    assert code == 0
    types = [row["type"] for row in json.loads(out)["layers"]]
    assert types.count("Conv2d") == 13 and types.count("Linear") == 3


def test_several_models_print_side_by_side_with_a_comparison(capsys):
    code, out, _ = run(capsys, "summary", "d2l_vgg11", "alexnet", "--format", "markdown")
    assert code == 0
    assert "### d2l_vgg11" in out and "### alexnet" in out and "### Comparison" in out
    comparison = out.split("### Comparison")[1]
    assert "| alexnet | 1x224x224 | 46.76 M | 938.15 M |" in comparison

    code, out, _ = run(capsys, "summary", "d2l_vgg11", "alexnet", "--format", "json")
    data = json.loads(out)
    assert [m["name"] for m in data["models"]] == ["d2l_vgg11", "alexnet"]
    vgg, alex = data["comparison"]
    assert vgg["macs"] > 8 * alex["macs"] and vgg["activation_mb_per_image"] > 10 * alex["activation_mb_per_image"]


def test_spec_command_writes_a_file_that_loads_back(capsys, tmp_path):
    code, out, _ = run(capsys, "spec", "d2l_vgg11", "--ratio", "4")
    path = tmp_path / "small.toml"
    path.write_text(out)
    assert code == 0 and load_spec(path).conv_arch == preset("d2l_vgg11_small").conv_arch
    code, out, _ = run(capsys, "summary", str(path), "--format", "json")
    assert json.loads(out)["total_params"] == 43_093_322


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "vgg61"], "unknown architecture 'vgg61'"),
        (["summary", "d2l_vgg11", "--input-size", "8"], "use input_size >= 32"),
        (["summary", "d2l_vgg11", "--ratio", "0"], "ratio must be at least 1, got 0"),
        (["summary", "d2l_vgg11", "--classes", "0"], "num_classes must be at least 1, got 0"),
        (["summary", "missing.json"], "cannot read spec file missing.json"),
        (["spec", "d2l_vgg11", "--head", "256,0"], r"head\[1\] must be at least 1, got 0"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(capsys, argv, message):
    import re

    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert re.search(message, err)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_import_and_summary_load_no_framework():
    script = (
        "import sys, d2lvgg\n"
        "from d2lvgg.tools.cli import main\n"
        "main(['summary', 'd2l_vgg11', 'alexnet'])\n"
        "main(['presets'])\n"
        "loaded = sorted(m for m in ('torch', 'mindspore') if m in sys.modules)\n"
        "sys.exit(f'frameworks imported: {loaded}' if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "25088" in result.stdout


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "d2lvgg", "summary", "vgg11", "--format", "json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_params"] == 132_863_336


@pytest.mark.torch
@pytest.mark.skipif(not SYSTEM_DIR.is_dir(), reason=f"real Fashion-MNIST not installed at {SYSTEM_DIR}")
def test_train_without_arguments_picks_the_cpu_sized_run_on_a_cpu(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU, where the default is the book's full run")
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--train-limit", "256", "--test-limit", "256", "--out", str(out)]) == 0
    assert "for the book's full run at 224 px pass --recipe d2l-zh" in capsys.readouterr().out
    record = json.loads((out / "config.json").read_text())
    assert record["train"]["recipe"] == "d2l-cpu" and record["train"]["lr"] == 0.05
    assert record["train"]["batch_size"] == 128 and record["train"]["momentum"] == 0.0
    assert record["spec"]["name"] == "d2l_vgg11_cpu" and record["spec"]["input_size"] == 32


def test_an_explicit_architecture_keeps_the_books_recipe():
    from d2lvgg.tools.cli import build_parser
    from d2lvgg.tools.commands import _named_recipe

    args = build_parser().parse_args(["train", "--arch", "d2l_vgg11_small"])
    assert args.recipe == "auto" and _named_recipe(args) == "d2l-zh"
    assert _named_recipe(build_parser().parse_args(["train"])) is None  # the machine decides


def test_version_prints_the_package_version():
    done = subprocess.run([sys.executable, "-m", "d2lvgg", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"d2lvgg {__version__}"
