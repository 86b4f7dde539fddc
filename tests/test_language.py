"""Figures in Chinese on request: the book's words, a CJK font found, and no missing glyphs."""

from __future__ import annotations

import io
import warnings

import matplotlib
import pytest

from d2lvgg import ConfigError, language, preset
from d2lvgg.tools.cli import main
from d2lvgg.tools.drawing import draw_network
from d2lvgg.training import plot

HAS_CJK_FONT = language.cjk_font() is not None
needs_cjk_font = pytest.mark.skipif(not HAS_CJK_FONT, reason="no CJK font installed (apt-get install fonts-noto-cjk)")


@pytest.fixture(autouse=True)
def fresh_language(monkeypatch):
    """Each test starts with no language chosen and leaves matplotlib's fonts as they were."""
    monkeypatch.setattr(language, "_chosen", None)
    monkeypatch.delenv(language.ENVIRONMENT, raising=False)
    with matplotlib.rc_context():
        yield


def _drawn(make):
    """The figure ``make()`` returns, rendered, and matplotlib's missing-glyph warnings on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = make()
        figure.savefig(io.BytesIO(), format="png")
    return figure, [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_english_is_the_default_and_the_environment_can_ask_for_chinese(monkeypatch):
    assert language.word("test acc") == "test acc"
    if HAS_CJK_FONT:
        monkeypatch.setattr(language, "_chosen", None)
        monkeypatch.setenv(language.ENVIRONMENT, "zh")
        assert language.word("test acc") == "测试精度" and language.word("epoch") == "迭代周期"


def test_an_unknown_language_and_a_missing_font_are_one_line_errors(monkeypatch):
    with pytest.raises(ConfigError, match="unknown language 'fr': choose one of en, zh"):
        language.use("fr")
    monkeypatch.setattr(language, "CJK_FONTS", ("No Such Font",))
    with pytest.raises(
        ConfigError, match="pip install 'd2lvgg\\[zh\\]', or on Debian or Ubuntu apt-get install fonts-noto-cjk"
    ):
        language.use("zh")


@needs_cjk_font
def test_the_training_plot_and_the_network_drawing_render_chinese_without_missing_glyphs():
    language.use("zh")
    points = [{"x": 0.5, "train_loss": 2.0, "train_acc": 0.3}, {"x": 1.0, "train_loss": 1.0, "train_acc": 0.6}]
    curves, missing = _drawn(lambda: plot.draw(points, [{"epoch": 1, "test_acc": 0.7}], "训练曲线"))
    assert [t.get_text() for t in curves.axes[0].get_legend().get_texts()] == ["训练损失", "训练精度", "测试精度"]
    assert missing == []
    drawing, missing = _drawn(lambda: draw_network(preset("d2l_vgg11_lab")))
    assert "批量规范化" in " ".join(t.get_text() for t in drawing.axes[0].texts)
    assert missing == []


@pytest.mark.skipif(language.packaged_font() is None, reason="d2lvgg[zh] is not installed")
def test_without_a_system_cjk_font_the_zh_extras_font_has_every_word_d2lvgg_draws(monkeypatch):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    system = [font for font in font_manager.fontManager.ttflist if font.name not in language.CJK_FONTS]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", system)  # a machine without a CJK font
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda fontext="ttf": [])
    monkeypatch.setattr(language, "_collections", lambda: [])
    assert language.cjk_font() == "Noto Sans CJK JP"
    packaged = str(language.packaged_font())
    assert [font.fname for font in font_manager.fontManager.ttflist if font.name == "Noto Sans CJK JP"] == [packaged]
    font = FT2Font(packaged)
    missing = {char for words in language.CHINESE.values() for char in words if not font.get_char_index(ord(char))}
    assert missing == set()
    assert "SIL Open Font License" in (language.packaged_font().parent / "LICENSE").read_text()


def test_without_a_cjk_font_chinese_text_would_show_boxes():
    """The check above can fail: the default font lacks the glyphs and matplotlib says so."""
    _, missing = _drawn(lambda: plot.draw([{"x": 1.0, "train_loss": 1.0, "train_acc": 0.5}], [], "训练曲线"))
    assert missing


def test_a_bad_language_in_the_environment_stops_a_command_before_it_draws(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(language.ENVIRONMENT, "zh_CN")
    assert main(["draw", "d2l_vgg11", "--out", str(tmp_path / "net")]) == 2
    assert "D2LVGG_LANG='zh_CN' is not a language d2lvgg draws in: set it to en or zh" in capsys.readouterr().err
    assert not (tmp_path / "net.png").exists()


@needs_cjk_font
def test_the_draw_command_takes_lang(tmp_path, capsys):
    assert main(["draw", "d2l_vgg11", "--lang", "zh", "--out", str(tmp_path / "net")]) == 0
    assert (tmp_path / "net.png").stat().st_size > 0 and (tmp_path / "net.svg").read_text().count("<svg") == 1


@needs_cjk_font
def test_a_font_list_cached_without_the_cjk_font_is_completed_from_the_systems_font_files(monkeypatch):
    from matplotlib import font_manager

    manager = font_manager.fontManager
    monkeypatch.setattr(manager, "ttflist", [font for font in manager.ttflist if "CJK" not in font.name])
    assert language.cjk_font() in language.CJK_FONTS
