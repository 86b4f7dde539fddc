"""The spec: construction, the textbook's shorthand, scaling, files, and every invalid input."""

from __future__ import annotations

import json

import pytest

from d2lvgg import Block, Conv, PresetError, SpecError, VGGSpec, dumps_spec, load_spec, preset, preset_names, save_spec
from d2lvgg.model.ir import lower_features
from d2lvgg.model.specfile import resolve_spec

CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def test_textbook_conv_arch_is_accepted_verbatim_with_the_chapter_defaults():
    spec = VGGSpec(conv_arch=CONV_ARCH)
    assert spec.conv_arch == CONV_ARCH
    assert spec.head == (4096, 4096)
    assert (spec.in_channels, spec.input_size, spec.num_classes) == (1, 224, 10)
    assert spec.dropout == 0.5 and spec.conv_bias and not spec.batch_norm and not spec.lrn
    assert spec.num_convs == 8 and spec.depth == 11


def test_lists_are_normalised_to_tuples_so_specs_are_hashable_and_equal():
    spec = VGGSpec(conv_arch=[[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]], head=[4096, 4096])
    assert spec == VGGSpec(conv_arch=CONV_ARCH)
    assert hash(spec) == hash(VGGSpec(conv_arch=CONV_ARCH))


def test_spec_is_immutable():
    spec = VGGSpec(conv_arch=CONV_ARCH)
    with pytest.raises(AttributeError):
        spec.input_size = 96  # type: ignore[misc]


def test_scaled_reproduces_small_conv_arch_and_keeps_the_head():
    small = VGGSpec(conv_arch=CONV_ARCH).scaled(4)
    assert small.conv_arch == ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))
    assert small.conv_arch == tuple((n, c // 4) for n, c in CONV_ARCH)
    assert small.head == (4096, 4096)
    assert small == preset("d2l_vgg11_small")


def test_scaled_head_divides_the_dense_widths_too():
    assert VGGSpec(conv_arch=CONV_ARCH).scaled(16, head=True).head == (256, 256)


def test_scaled_explicit_blocks_divide_every_convolution():
    alex = preset("alexnet").scaled(2)
    assert [c.out_channels for b in alex.blocks for c in b.convs] == [48, 128, 192, 192, 128]


def test_kernel_sizes_give_configuration_c_its_1x1_convolutions():
    spec = preset("vgg16_1x1")
    kernels = [[c.kernel_size for c in b.convs] for b in spec.blocks]
    assert kernels == [[3, 3], [3, 3], [3, 3, 1], [3, 3, 1], [3, 3, 1]]
    assert spec.blocks[2].convs[2].resolved_padding == 0


def test_every_preset_named_by_the_issue_exists():
    names = set(preset_names())
    for base in ("vgg11", "vgg11_lrn", "vgg13", "vgg16_1x1", "vgg16", "vgg19"):
        assert {base, f"{base}_bn"} <= names
    assert {"d2l_vgg11", "d2l_vgg11_small", "alexnet"} <= names
    assert preset("vgg16_bn").batch_norm and not preset("vgg16").batch_norm
    assert preset("vgg11_lrn").lrn


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_every_preset_round_trips_exactly_through_files(tmp_path, name, fmt):
    spec = preset(name)
    path = save_spec(spec, tmp_path / f"spec.{fmt}")
    loaded = load_spec(path)
    assert loaded == spec
    assert loaded.name == name
    assert dumps_spec(loaded, fmt) == path.read_text()


def test_save_spec_never_overwrites_unless_asked(tmp_path):
    path = save_spec(preset("vgg11"), tmp_path / "a.json")
    with pytest.raises(SpecError, match="already exists"):
        save_spec(preset("vgg16"), path)
    assert load_spec(path) == preset("vgg11")
    save_spec(preset("vgg16"), path, overwrite=True)
    assert load_spec(path) == preset("vgg16")


def test_hand_written_toml_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("conv_arch = [[1, 16], [1, 32], [2, 64], [2, 128], [2, 128]]\nhead = [256, 256]\ninput_size = 96\n")
    spec = load_spec(path)
    assert spec.name == "mine" and spec.head == (256, 256) and spec.input_size == 96


def test_resolve_spec_takes_names_files_and_overrides(tmp_path):
    path = save_spec(preset("d2l_vgg11"), tmp_path / "v.json")
    assert resolve_spec(str(path)) == preset("d2l_vgg11")
    spec = resolve_spec("d2l_vgg11", ratio=16, head=(256, 256), input_size=32)
    assert spec.conv_arch == ((1, 4), (1, 8), (2, 16), (2, 32), (2, 32))
    assert (spec.head, spec.input_size) == ((256, 256), 32)


# --- the error matrix: each message names the field and the offending value -------------------

INVALID_SPECS = [
    ({"conv_arch": ()}, "conv_arch is empty"),
    ({"conv_arch": ((1, 64, 3),)}, r"conv_arch\[0\] must be a \(num_convs, out_channels\) pair, got \(1, 64, 3\)"),
    ({"conv_arch": ((1,),)}, r"conv_arch\[0\] must be a \(num_convs, out_channels\) pair"),
    ({"conv_arch": ((0, 64),)}, r"conv_arch\[0\] num_convs must be at least 1, got 0"),
    ({"conv_arch": ((1, -8),)}, r"conv_arch\[0\] out_channels must be at least 1, got -8"),
    ({"conv_arch": ((1.5, 64),)}, r"conv_arch\[0\] num_convs must be a whole number, got 1.5"),
    ({"conv_arch": ((1, "64"),)}, r"conv_arch\[0\] out_channels must be a whole number, got '64'"),
    ({"conv_arch": ((True, 64),)}, r"num_convs must be a whole number, got True"),
    ({"conv_arch": "vgg"}, "conv_arch must be a sequence"),
    ({"conv_arch": CONV_ARCH, "dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"conv_arch": CONV_ARCH, "dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
    ({"conv_arch": CONV_ARCH, "dropout": "half"}, "dropout must be a number"),
    ({"conv_arch": CONV_ARCH, "head": (4096, 0)}, r"head\[1\] must be at least 1, got 0"),
    ({"conv_arch": CONV_ARCH, "in_channels": 0}, "in_channels must be at least 1, got 0"),
    ({"conv_arch": CONV_ARCH, "num_classes": 2.5}, "num_classes must be a whole number, got 2.5"),
    ({"conv_arch": CONV_ARCH, "batch_norm": "yes"}, "batch_norm must be true or false, got 'yes'"),
    ({"conv_arch": CONV_ARCH, "kernel_sizes": ((3,),)}, "kernel_sizes must list one entry per block"),
    ({"conv_arch": ((2, 8),), "kernel_sizes": ((3,),)}, r"kernel_sizes\[0\] must give 2 kernel size"),
    ({"conv_arch": CONV_ARCH, "input_size": 16}, "input_size 16 is too small.*use input_size >= 32"),
    ({"conv_arch": ({"convs": [], "pool_size": 2},)}, "a block needs at least one convolution"),
    ({"conv_arch": ({"convs": [{"out_channels": 8}], "pool": 2},)}, r"conv_arch\[0\] has unknown key\(s\) pool"),
]


@pytest.mark.parametrize(("fields", "message"), INVALID_SPECS)
def test_invalid_specs_raise_spec_error_naming_field_and_value(fields, message):
    with pytest.raises(SpecError, match=message):
        VGGSpec(**fields)


def test_too_small_input_names_smallest_working_size_for_other_architectures():
    with pytest.raises(SpecError, match="use input_size >= 65"):
        preset("alexnet").with_options(input_size=64)
    assert preset("alexnet").with_options(input_size=65).input_size == 65


def test_ratio_that_leaves_no_channels_is_refused():
    with pytest.raises(SpecError, match="ratio 128 leaves 64 channels at zero"):
        VGGSpec(conv_arch=CONV_ARCH).scaled(128)


def test_explicit_conv_rejects_bad_values():
    with pytest.raises(SpecError, match="conv stride must be at least 1, got 0"):
        Block((Conv(8, stride=0),))


def test_unknown_preset_suggests_close_names():
    with pytest.raises(PresetError, match=r"unknown architecture 'vgg61'.*did you mean .*vgg16"):
        preset("vgg61")
    with pytest.raises(PresetError, match="d2lvgg presets"):
        preset("xyz")


@pytest.mark.parametrize(
    ("suffix", "text", "message"),
    [
        (".json", "{not json", "is not valid JSON"),
        (".toml", "conv_arch = [[1, 64]", "is not valid TOML"),
        (".json", json.dumps({"conv_arch": [[1, 64]], "colour": "red"}), r"unknown spec field\(s\): colour"),
        (".toml", "head = [10]\n", "a spec needs conv_arch"),
        (".json", json.dumps([[1, 64]]), "a spec must be a table/object"),
        (".json", json.dumps({"conv_arch": [[1, 64]], "input_size": "big"}), "input_size must be a whole number"),
        (".yaml", "conv_arch: []", "must end in .json or .toml"),
    ],
)
def test_malformed_spec_files_name_the_file_and_the_problem(tmp_path, suffix, text, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "nope.toml")


def _survives(spec: VGGSpec, size: int) -> bool:
    """Brute force: lower the network at ``size`` and look for a vanished feature map."""
    features, _ = lower_features(spec, (spec.in_channels, size, size))
    shape = (spec.in_channels, size, size)
    for block in features.children:
        for layer in block.children:
            shape = layer.output_shape(shape)
            if min(shape) < 1:
                return False
    return True


@pytest.mark.parametrize("name", preset_names())
def test_the_smallest_input_size_is_computed_without_lowering_and_is_exact(name):
    spec = preset(name)
    smallest = spec.smallest_input_size
    assert _survives(spec, smallest) and not _survives(spec, smallest - 1)
    spec.with_options(input_size=smallest)  # valid
    with pytest.raises(SpecError, match=f"use input_size >= {smallest}"):
        spec.with_options(input_size=smallest - 1)


def test_a_deep_spec_names_its_smallest_size_even_past_4096():
    spec = VGGSpec(conv_arch=((1, 8),) * 13, head=(16,), input_size=8192)
    assert spec.smallest_input_size == 8192
    with pytest.raises(SpecError, match="vanishes in block 13 of 13; use input_size >= 8192"):
        spec.with_options(input_size=8191)
