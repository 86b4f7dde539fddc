"""ONNX export through each backend's own exporter, run again in ONNX Runtime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from d2lvgg import D2LVGGError, preset
from d2lvgg.backends import REGISTRY, declaration, get_backend, plain_options
from d2lvgg.interop.onnx import EXPORT_BATCH, export_onnx, run_onnx
from d2lvgg.model import ir
from d2lvgg.model.initializers import initial_weights
from d2lvgg.optional import require
from d2lvgg.tools.cli import main
from d2lvgg.training.weights import save_weights

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY if not declaration(name).no_onnx]
SPEC = preset("d2l_vgg11_lab").with_options(head=(64, 64))  # batch norm and dropout: both must export as inference


def _native(backend: str, arrays: dict, images: np.ndarray) -> np.ndarray:
    runner = get_backend(backend).make_runner(ir.lower(SPEC), device="cpu", seed=0, options=plain_options(backend))
    runner.load_state(arrays)
    return runner.predict(images)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_exported_file_gives_the_backends_logits_in_onnx_runtime_for_any_batch(tmp_path, backend):
    arrays = initial_weights(ir.lower(SPEC), "kaiming", 3)
    arrays["0.1.running_var"] = np.linspace(0.5, 2.0, 8, dtype=np.float32)  # statistics that matter at inference
    images = np.random.default_rng(0).random((5, 1, 32, 32), dtype=np.float32)
    dynamic = export_onnx(SPEC, arrays, backend, tmp_path / "vgg.onnx")
    assert dynamic, f"{backend}'s export fixed the batch at {EXPORT_BATCH}"
    got, want = run_onnx(tmp_path / "vgg.onnx", images), _native(backend, arrays, images)
    assert got.shape == (5, 10)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_export_command_writes_onnx_from_a_weights_file_and_keeps_existing_files(tmp_path, capsys, backend):
    weights = save_weights(initial_weights(ir.lower(SPEC), "xavier", 0), tmp_path / "w.npz", {"spec": SPEC.to_dict()})
    out = tmp_path / "vgg"  # no suffix: the file is still written where --out says
    assert main(["export", str(weights), "--backend", backend, "--out", str(out)]) == 0
    assert "input 'images' of 1x32x32, any batch size" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["export", str(weights), "--backend", backend, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_a_backend_without_an_exporter_is_refused_in_one_line_before_its_framework_loads(tmp_path, capsys):
    weights = save_weights(initial_weights(ir.lower(SPEC), "xavier", 0), tmp_path / "w.npz", {"spec": SPEC.to_dict()})
    assert main(["export", str(weights), "--backend", "jax", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JAX has no maintained ONNX exporter" in err and "--backend torch" in err, err
    assert "jax" not in sys.modules and not (tmp_path / "x.onnx").exists()


def test_a_weights_file_without_its_spec_needs_arch_and_an_arch_they_fit(tmp_path, capsys):
    weights = save_weights(initial_weights(ir.lower(SPEC), "xavier", 0), tmp_path / "w.npz")
    assert main(["export", str(weights), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "does not record its architecture" in capsys.readouterr().err
    assert main(["export", str(weights), "--arch", "d2l_vgg11_small", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "saved from another architecture" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_a_missing_optional_dependency_is_named_with_its_extra():
    with pytest.raises(D2LVGGError, match=r"ONNX export needs no_such_module_d2lvgg, .*pip install 'd2lvgg\[onnx\]'"):
        require("no_such_module_d2lvgg", "onnx", "ONNX export")


@pytest.mark.paddle
def test_export_from_paddle_without_paddle2onnx_is_refused_before_paddle_loads(tmp_path):
    weights = save_weights(initial_weights(ir.lower(SPEC), "kaiming", 3), tmp_path / "w.npz", {"spec": SPEC.to_dict()})
    script = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'paddle2onnx' else real(name, *a)\n"
        "from d2lvgg.tools.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('paddle loaded' if 'paddle' in sys.modules else 'paddle not loaded')\n"
        "sys.exit(code)\n"
    )
    argv = ["export", str(weights), "--backend", "paddle", "--out", str(tmp_path / "vgg.onnx")]
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(
        "ONNX export from PaddlePaddle needs paddle2onnx, which is not installed: pip install paddle2onnx"
    )
    assert done.stdout.strip() == "paddle not loaded"
    assert not (tmp_path / "vgg.onnx").exists()


@pytest.mark.torch
def test_the_torch_export_leaves_out_the_torchvision_notice(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        export_onnx(SPEC, initial_weights(ir.lower(SPEC), "kaiming", 3), "torch", tmp_path / "vgg.onnx")
    assert (tmp_path / "vgg.onnx").is_file()
    assert "torchvision is not installed" not in caplog.text
