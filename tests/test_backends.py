"""Every installed backend against the static analysis: shapes of every layer, every tensor, totals."""

from __future__ import annotations

import pytest

from d2lvgg import preset, preset_names, summarize
from d2lvgg.backends import REGISTRY, get_backend
from d2lvgg.model.ir import lower, tensor_shapes

BACKENDS = [pytest.param(name, marks=getattr(pytest.mark, name)) for name in REGISTRY]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return get_backend(request.param)


def _check_against_static(backend, spec) -> None:
    net = backend.compile_network(lower(spec))
    summary = summarize(spec)
    shapes = backend.output_shapes(net, summary.input_shape)
    assert shapes == {layer.name: layer.output_shape for _, layer in summary.rows("layer")}
    assert backend.param_count(net) == summary.total_params
    state = backend.state_to_numpy(net)
    assert {name: a.shape for name, a in state.items()} == tensor_shapes(lower(spec))


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_matches_the_static_analysis(backend, name):
    _check_against_static(backend, preset(name))


@pytest.mark.parametrize("size", [224, 96])
def test_d2l_vgg11_matches_at_224_and_96(backend, size):
    _check_against_static(backend, preset("d2l_vgg11").with_options(input_size=size))


def test_reshaped_networks_match_too(backend):
    spec = preset("d2l_vgg11").scaled(16).with_options(head=(256, 256), input_size=32, conv_bias=False, batch_norm=True)
    _check_against_static(backend, spec)
