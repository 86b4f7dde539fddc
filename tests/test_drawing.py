"""The network drawing: generated from the spec, with every block's layers and output shape."""

from __future__ import annotations

from d2lvgg import preset
from d2lvgg.model.specfile import resolve_spec
from d2lvgg.tools.cli import main
from d2lvgg.tools.drawing import draw_network


def _texts(spec) -> list[str]:
    fig = draw_network(spec)
    return [text.get_text() for text in fig.axes[0].texts] + [fig.axes[0].get_title()]


def test_the_textbook_vgg11_drawing_names_each_block_and_shape():
    texts = _texts(preset("d2l_vgg11"))
    for shape in ("1 x 224 x 224", "64 x 112 x 112", "128 x 56 x 56", "256 x 28 x 28", "512 x 14 x 14", "512 x 7 x 7"):
        assert shape in texts
    assert "block 3\n2 x conv 3x3, 256\nmax pool 2/2" in texts
    assert "25,088" in texts and "4,096" in texts and "10" in texts
    assert "d2l_vgg11: 11 weight layers, 128,806,154 parameters, 7.55 G MACs per image" in texts


def test_the_drawing_follows_the_spec_not_a_template():
    small = _texts(resolve_spec("d2l_vgg11", input_size=96, ratio=4))
    assert "128 x 3 x 3" in small and "1,152" in small  # 96 px: the textbook's exercise 3
    alexnet = _texts(preset("alexnet"))
    assert "block 1\nconv 11x11/4, 96\nmax pool 3/2" in alexnet and "6,400" in alexnet
    config_c = _texts(preset("vgg16_1x1"))
    assert "block 3\n2 x conv 3x3, 256\nconv 1x1, 256\nmax pool 2/2" in config_c
    assert "+ batch norm" in "\n".join(_texts(preset("vgg11_bn")))


def test_draw_writes_png_and_svg_and_keeps_existing_files(tmp_path, capsys):
    stem = tmp_path / "net"
    assert main(["draw", "d2l_vgg11_small", "--out", str(stem)]) == 0
    assert (tmp_path / "net.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "net.svg").read_bytes()[:500]
    assert "wrote" in capsys.readouterr().out
    before = (tmp_path / "net.png").read_bytes()
    assert main(["draw", "alexnet", "--out", str(stem)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "net.png").read_bytes() == before
    assert main(["draw", "alexnet", "--out", str(stem), "--overwrite"]) == 0
    assert (tmp_path / "net.png").read_bytes() != before


def test_draw_out_with_an_image_ending_names_the_files_themselves(tmp_path):
    assert main(["draw", "d2l_vgg11", "--out", str(tmp_path / "d2l.png")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d2l.png", "d2l.svg"]
