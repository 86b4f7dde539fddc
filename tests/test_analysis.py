"""The static analysis reproduces the chapter's and the paper's figures, framework-free."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d2lvgg import VGGSpec, preset, summarize

D2L_ROWS = [
    ("Block", (1, 64, 112, 112)),
    ("Block", (1, 128, 56, 56)),
    ("Block", (1, 256, 28, 28)),
    ("Block", (1, 512, 14, 14)),
    ("Block", (1, 512, 7, 7)),
    ("Flatten", (1, 25088)),
    ("Linear", (1, 4096)),
    ("ReLU", (1, 4096)),
    ("Dropout", (1, 4096)),
    ("Linear", (1, 4096)),
    ("ReLU", (1, 4096)),
    ("Dropout", (1, 4096)),
    ("Linear", (1, 10)),
]


def test_d2l_vgg11_prints_the_textbooks_13_rows_at_224():
    summary = summarize(preset("d2l_vgg11"))
    assert [(layer.type, layer.output_shape) for layer in summary.layers] == D2L_ROWS
    assert [layer.name for layer in summary.layers] == [str(i) for i in range(13)]


def test_eleven_weight_layers_hide_inside_eight_block_level_rows():
    summary = summarize(preset("d2l_vgg11"))
    weight_layers = [r for _, r in summary.rows("layer") if r.type in ("Conv2d", "Linear")]
    assert len(weight_layers) == 11
    assert sum(1 for r in summary.layers if r.type in ("Block", "Linear")) == 8


def test_block_rows_nest_the_layers_in_textbook_order():
    block = summarize(preset("d2l_vgg11")).layers[2]
    assert [c.type for c in block.children] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert [c.name for c in block.children] == ["2.0", "2.1", "2.2", "2.3", "2.4"]
    assert block.children[0].output_shape == (1, 256, 56, 56)


def test_96_pixel_input_shrinks_the_flatten_width_to_3x3():
    summary = summarize(preset("d2l_vgg11").with_options(input_size=96))
    assert summary.layers[4].output_shape == (1, 512, 3, 3)
    assert summary.layers[5].output_shape == (1, 4608)
    assert summary.layers[6].params == 4608 * 4096 + 4096


def test_alexnet_shapes_match_the_chapter():
    rows = summarize(preset("alexnet")).rows("layer")
    shapes = [r.output_shape[1:] for _, r in rows if r.type in ("Conv2d", "MaxPool2d", "Flatten")]
    expected = [(96, 54, 54), (96, 26, 26), (256, 26, 26), (256, 12, 12), (384, 12, 12), (384, 12, 12)]
    expected += [(256, 12, 12), (256, 5, 5), (6400,)]
    assert shapes == expected


@pytest.mark.parametrize(
    ("name", "params"),
    [("vgg11", 132_863_336), ("vgg13", 133_047_848), ("vgg16", 138_357_544), ("vgg19", 143_667_240)],
)
def test_paper_configurations_have_the_reference_parameter_counts(name, params):
    spec = preset(name)
    assert (spec.in_channels, spec.input_size, spec.num_classes, spec.head) == (3, 224, 1000, (4096, 4096))
    assert summarize(spec).total_params == params


def test_batch_norm_adds_a_scale_and_shift_per_conv_channel():
    plain, bn = summarize(preset("vgg11")), summarize(preset("vgg11_bn"))
    conv_channels = 64 + 128 + 2 * 256 + 4 * 512
    assert bn.total_params - plain.total_params == 2 * conv_channels


def test_vgg16_needs_about_15_5_giga_macs():
    macs = summarize(preset("vgg16")).total_macs
    assert macs == 15_470_264_320
    assert round(macs / 1e9, 1) == 15.5


def test_lrn_and_1x1_presets_change_what_they_should():
    lrn_block = summarize(preset("vgg11_lrn")).layers[0]
    assert [c.type for c in lrn_block.children] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    c, d = summarize(preset("vgg16_1x1")), summarize(preset("vgg16"))
    assert [r.output_shape for r in c.layers] == [r.output_shape for r in d.layers]
    assert c.total_params < d.total_params


def test_conv_bias_false_removes_one_bias_per_conv_channel():
    with_bias = summarize(preset("d2l_vgg11"))
    without = summarize(preset("d2l_vgg11").with_options(conv_bias=False))
    assert with_bias.total_params - without.total_params == 64 + 128 + 2 * 256 + 4 * 512


def test_totals_and_json_agree_with_the_rows():
    summary = summarize(preset("d2l_vgg11_small"))
    data = summary.to_dict(depth="layer")
    assert data["total_params"] == summary.total_params == 43_093_322
    top = [row for row in data["layers"] if row["level"] == 0]
    assert sum(row["params"] for row in top) == data["total_params"]
    assert sum(row["macs"] for row in top) == data["total_macs"]
    assert summary.activation_bytes == 4 * summary.total_activations


def _conv_pairs():
    return st.lists(st.tuples(st.integers(1, 3), st.integers(1, 64)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    arch=_conv_pairs(),
    head=st.lists(st.integers(1, 512), max_size=3),
    channels=st.integers(1, 4),
    classes=st.integers(1, 20),
    extra=st.integers(0, 40),
    batch_norm=st.booleans(),
    bias=st.booleans(),
)
def test_random_valid_specs_have_consistent_shapes_and_counts(arch, head, channels, classes, extra, batch_norm, bias):
    probe = VGGSpec(conv_arch=arch, head=head, in_channels=channels, num_classes=classes, input_size=4096)
    size = probe.smallest_input_size + extra
    assert size == 2 ** len(arch) + extra  # each 2x2/2 pool halves, so 2^blocks is the smallest input
    spec = probe.with_options(input_size=size, batch_norm=batch_norm, conv_bias=bias)
    summary = summarize(spec)

    side = size
    in_c = channels
    expected_params = 0
    for b, (convs, out_c) in enumerate(arch):
        block = summary.layers[b]
        side //= 2
        assert block.output_shape == (1, out_c, side, side)
        expected_params += (in_c * out_c * 9 + (out_c if bias else 0)) + (convs - 1) * (
            out_c * out_c * 9 + (out_c if bias else 0)
        )
        expected_params += 2 * out_c * convs if batch_norm else 0
        in_c = out_c
    width = in_c * side * side
    assert summary.layers[len(arch)].output_shape == (1, width)
    for hidden in [*head, classes]:
        expected_params += width * hidden + hidden
        width = hidden
    assert summary.layers[-1].output_shape == (1, classes)
    assert summary.total_params == expected_params
    assert summary.total_macs == sum(r.macs for _, r in summary.rows("layer") if r.type in ("Conv2d", "Linear"))
