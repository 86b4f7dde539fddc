"""Weights from torchvision, timm and MindCV: their layouts, every refusal, and the same logits as the source.

torchvision's and timm's modules cannot be imported beside the pinned PyTorch, so their layouts and
logits were recorded from the real modules (``fixtures/interop/make_fixtures.py``); MindCV is built here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.interop.make_fixtures import sample_images, seeded_state

from d2lvgg import RunError, SpecError, preset
from d2lvgg.backends import REGISTRY, get_backend, plain_options
from d2lvgg.interop.convert import VARIANTS, export_weights, import_weights
from d2lvgg.interop.files import read_tensors, write_safetensors
from d2lvgg.interop.layouts import SOURCES, layout
from d2lvgg.model import ir
from d2lvgg.tools.cli import main
from d2lvgg.training.finetune import starting_weights
from d2lvgg.training.weights import load_weights, save_weights, weights_metadata

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
LAYOUTS = json.loads((FIXTURES / "layouts.json").read_text())
LOGITS = np.load(FIXTURES / "logits.npz")
BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]
RTOL = 1e-4  # max |logit difference| / max |logit|, as the parity checks hold backends to
SMALL = preset("d2l_vgg11").scaled(16).with_options(head=(64, 64), in_channels=3, input_size=32)


def _layout_of(library: str, spec) -> dict[str, list[int]]:
    return {stored: list(shape) for stored, shape in layout(ir.lower(spec), SOURCES[library]).values()}


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def _logits(backend: str, spec, arrays: dict, images: np.ndarray) -> np.ndarray:
    runner = get_backend(backend).make_runner(ir.lower(spec), device="cpu", seed=0, options=plain_options(backend))
    runner.load_state(arrays)
    return runner.predict(images)


@pytest.mark.parametrize("library", ["torchvision", "timm"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_mapping_names_every_tensor_of_the_real_library_with_its_shape(library, variant):
    recorded = {n: s for n, s in LAYOUTS[library][variant].items() if not n.endswith("num_batches_tracked")}
    assert _layout_of(library, preset(variant)) == recorded


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory) -> Path:
    """torchvision's vgg11_bn state, drawn as the recorded logits' weights were, as safetensors."""
    path = tmp_path_factory.mktemp("torchvision") / "vgg11_bn.safetensors"
    write_safetensors(seeded_state(LAYOUTS["torchvision"]["vgg11_bn"]), path)
    return path


@pytest.fixture(scope="module")
def torchvision_imported(torchvision_file):
    return import_weights(torchvision_file, "torchvision", "vgg11_bn")


@pytest.mark.parametrize("backend", BACKENDS)
def test_torchvision_vgg11_bn_gives_the_real_modules_logits_in_every_backend(torchvision_imported, backend):
    got = _logits(backend, torchvision_imported.spec, torchvision_imported.arrays, sample_images(224))
    assert _relative(got, LOGITS["torchvision/vgg11_bn/224"]) <= RTOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_32_px_the_folded_adaptive_pool_gives_torchvisions_logits(tmp_path, torchvision_imported, backend):
    imported = tmp_path / "w.npz"
    save_weights(torchvision_imported.arrays, imported, torchvision_imported.metadata)
    spec = torchvision_imported.spec.with_options(input_size=32)
    network = ir.lower(spec)
    arrays, notes = starting_weights(imported, network, {})
    assert notes == [
        "dense layer 6: the source pooled the 1x1 map to 7x7 before it; "
        "that pooling is folded into its weights (25088 -> 512 inputs)"
    ]
    assert _relative(_logits(backend, spec, arrays, sample_images(32)), LOGITS["torchvision/vgg11_bn/32"]) <= RTOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_timm_vgg11_gives_the_real_modules_logits(tmp_path, backend):
    path = tmp_path / "timm.safetensors"
    write_safetensors(seeded_state(LAYOUTS["timm"]["vgg11"]), path)
    imported = import_weights(path, "timm", "vgg11")
    assert imported.arrays["6.weight"].shape == (4096, 512 * 7 * 7)  # pre_logits.fc1, a 7x7 convolution there
    assert (
        _relative(_logits(backend, imported.spec, imported.arrays, sample_images(224)), LOGITS["timm/vgg11/224"])
        <= RTOL
    )


def test_exporting_for_torchvision_writes_its_exact_state_dict_and_reimports_unchanged(tmp_path, torchvision_imported):
    state = export_weights(torchvision_imported.arrays, torchvision_imported.spec, "torchvision")
    assert {n: list(a.shape) for n, a in state.items()} == LAYOUTS["torchvision"]["vgg11_bn"]
    assert state["features.1.num_batches_tracked"].dtype == np.int64
    path = write_safetensors(state, tmp_path / "out.safetensors")
    again = import_weights(path, "torchvision", "vgg11_bn")
    assert all(np.array_equal(again.arrays[n], a) for n, a in torchvision_imported.arrays.items())


def test_a_file_of_another_variant_is_refused_with_the_variant_it_fits(torchvision_file):
    with pytest.raises(
        RunError, match=r"lacks features\.3\.weight .*looks like torchvision's vgg11_bn: pass --arch vgg11_bn"
    ):
        import_weights(torchvision_file, "torchvision", "vgg11")


def _small_file(tmp_path: Path, library: str = "torchvision", **changes) -> Path:
    state = {n: np.zeros(s, np.float32) for n, s in _layout_of(library, SMALL).items()}
    for name, value in changes.items():
        if value is None:
            del state[name]
        else:
            state[name] = value
    return write_safetensors(state, tmp_path / "small.safetensors")


def test_a_missing_an_extra_and_a_misshapen_tensor_are_each_named(tmp_path):
    with pytest.raises(RunError, match=r"lacks features\.0\.bias"):
        import_weights(_small_file(tmp_path, **{"features.0.bias": None}), "torchvision", SMALL)
    with pytest.raises(RunError, match=r"holds features\.99\.weight, which"):
        import_weights(_small_file(tmp_path, **{"features.99.weight": np.zeros(3, np.float32)}), "torchvision", SMALL)
    with pytest.raises(RunError, match=r"classifier\.6\.weight has shape \(9, 64\), torchvision stores \(10, 64\)"):
        import_weights(
            _small_file(tmp_path, **{"classifier.6.weight": np.zeros((9, 64), np.float32)}), "torchvision", SMALL
        )


def test_a_data_parallel_prefix_is_dropped_and_step_counters_ignored(tmp_path):
    state = {f"module.{n}": np.ones(s, np.float32) for n, s in _layout_of("torchvision", SMALL).items()}
    state["module.features.1.num_batches_tracked"] = np.zeros((), np.int64)
    imported = import_weights(write_safetensors(state, tmp_path / "dp.safetensors"), "torchvision", SMALL)
    assert set(imported.arrays) == set(ir.tensor_shapes(ir.lower(SMALL)))


def test_a_refused_framework_file_is_named_before_any_framework_loads(tmp_path):
    pickle = tmp_path / "vgg.pdparams"
    pickle.write_bytes(b"\x80\x04")
    code = (
        "import sys\nfrom d2lvgg import RunError\nfrom d2lvgg.interop.files import read_tensors\n"
        f"try:\n    read_tensors({str(pickle)!r})\nexcept RunError as error:\n    print(error)\n"
        "print(sorted(name for name in ('paddle', 'mindspore') if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    refusal, loaded = done.stdout.splitlines()
    assert "pickles, which d2lvgg does not open" in refusal and loaded == "[]"
    for suffix, why in ((".keras", "Keras model files"), (".msgpack", "Flax checkpoints")):  # the other refusals
        refused = tmp_path / f"vgg{suffix}"
        refused.write_bytes(b"\x00")
        with pytest.raises(RunError, match=f"{refused}: d2lvgg does not read {why}"):
            read_tensors(refused)


def test_unreadable_files_are_refused_before_anything_is_written(tmp_path, capsys):
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"\x89HDF")
    with pytest.raises(RunError, match=r"reads weights from \.safetensors, \.npz, or a framework's own \(\.pt, "):
        read_tensors(odd)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a header")
    with pytest.raises(RunError, match="not a readable safetensors file"):
        read_tensors(broken)
    assert (
        main(
            [
                "weights",
                "import",
                str(tmp_path / "absent.safetensors"),
                "--from",
                "timm",
                "--arch",
                "vgg11",
                "--out",
                str(tmp_path / "w.npz"),
            ]
        )
        == 2
    )
    assert "no weights file at" in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()


def test_the_import_command_writes_weights_that_record_their_source_and_keeps_existing_files(tmp_path, capsys):
    source = _small_file(tmp_path)
    spec_file = tmp_path / "small.json"
    spec_file.write_text(json.dumps(SMALL.to_dict()))
    out = tmp_path / "w.npz"
    assert (
        main(["weights", "import", str(source), "--from", "torchvision", "--arch", str(spec_file), "--out", str(out)])
        == 0
    )
    assert weights_metadata(out)["source"] == "torchvision"
    assert set(load_weights(out)) == set(ir.tensor_shapes(ir.lower(SMALL)))
    before = out.read_bytes()
    assert (
        main(["weights", "import", str(source), "--from", "torchvision", "--arch", str(spec_file), "--out", str(out)])
        == 2
    )
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_only_a_torchvision_shaped_network_is_exported_for_torchvision():
    spec = preset("d2l_vgg11_small")
    arrays = {n: np.zeros(s, np.float32) for n, s in ir.tensor_shapes(ir.lower(spec)).items()}
    with pytest.raises(SpecError, match="needs 3-channel images .it has 1.; and a 512x7x7 map") as refused:
        export_weights(arrays, spec, "torchvision")
    assert "bias" not in str(refused.value)  # only what fails is named
    mindcv_like = preset("vgg11").with_options(conv_bias=False)  # MindCV's VGG: no convolution bias
    arrays = {n: np.zeros(s, np.float32) for n, s in ir.tensor_shapes(ir.lower(mindcv_like)).items()}
    with pytest.raises(SpecError, match=r"which needs convolutions with a bias \(it has none, as MindCV's VGG\)$"):
        export_weights(arrays, mindcv_like, "torchvision")


@pytest.mark.torch
def test_a_pytorch_file_is_read_without_unpickling_code(tmp_path):
    import torch

    state = {n: torch.zeros(s) for n, s in _layout_of("torchvision", SMALL).items()}
    torch.save(state, tmp_path / "plain.pth")
    assert set(import_weights(tmp_path / "plain.pth", "torchvision", SMALL).arrays) == set(
        ir.tensor_shapes(ir.lower(SMALL))
    )
    torch.save({"state_dict": state, "optimizer": Path("anything")}, tmp_path / "pickled.pth")
    with pytest.raises(RunError, match="Python objects besides tensors"):
        read_tensors(tmp_path / "pickled.pth")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(RunError, match="not a readable PyTorch file"):
        read_tensors(tmp_path / "notes.pt")
    torch.save({n: t.to(torch.bfloat16) for n, t in state.items()}, tmp_path / "half.pth")
    assert all(a.dtype == np.float32 for a in read_tensors(tmp_path / "half.pth").values())


@pytest.mark.mindspore
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_mapping_names_every_tensor_of_mindcvs_own_network(variant):
    from mindcv.models.vgg import VGG

    network = VGG(variant.removesuffix("_bn"), batch_norm=variant.endswith("_bn"))
    built = {param.name: list(param.shape) for param in network.get_parameters()}
    assert _layout_of("mindcv", preset(variant).with_options(conv_bias=False)) == built


@pytest.mark.mindspore
def test_a_mindcv_checkpoint_imports_into_the_bias_free_form_and_gives_mindcvs_logits(tmp_path):
    import mindspore as ms
    from mindcv.models.vgg import VGG

    network = VGG("vgg11", batch_norm=True)
    params = list(network.get_parameters())
    state = seeded_state({p.name: list(p.shape) for p in params})
    for param in params:
        param.set_data(ms.Tensor(state[param.name]))
    network.set_train(False)
    images = sample_images(224)
    want = network(ms.Tensor(images)).asnumpy()
    training_state = {"global_step": 10, "learning_rate": 0.1}  # what a checkpoint saved while training also holds
    ms.save_checkpoint(network, str(tmp_path / "mindcv.ckpt"), append_dict=training_state)

    imported = import_weights(tmp_path / "mindcv.ckpt", "mindcv", "vgg11_bn")
    assert imported.notes == ("mindcv's convolutions have no bias: the weights fit vgg11_bn with conv_bias = false",)
    assert not imported.spec.conv_bias and imported.arrays["0.1.running_var"].shape == (64,)
    assert _relative(_logits("mindspore", imported.spec, imported.arrays, images), want) <= RTOL


@pytest.mark.mindspore
def test_mindspores_refusal_of_a_checkpoint_larger_than_free_memory_says_what_happened(tmp_path, monkeypatch):
    import mindspore as ms
    from mindspore.train import serialization

    path = tmp_path / "mindcv.ckpt"
    ms.save_checkpoint(ms.nn.Dense(4, 2), str(path))
    monkeypatch.setattr(serialization, "_get_available_memory", lambda: 16)  # MindSpore sees 16 bytes free
    with pytest.raises(RunError) as refused:
        import_weights(path, "mindcv", "vgg11_bn")
    message = str(refused.value)
    assert "\n" not in message and "counts only the" in message and "the file is fine" in message
    assert "not a readable" not in message
