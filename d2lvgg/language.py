"""The language of d2lvgg's figures: English unless Simplified Chinese is asked for.

Ask with ``--lang zh`` on the commands that draw, or ``D2LVGG_LANG=zh`` in the environment (a
notebook can call ``use("zh")``). Chinese text needs a CJK font: d2lvgg uses the first of
``CJK_FONTS`` that matplotlib finds among the system's fonts (on Debian and Ubuntu, ``apt-get
install fonts-noto-cjk`` installs Noto Sans CJK), else the one ``pip install 'd2lvgg[zh]'`` brings.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import ConfigError

LANGUAGES = ("en", "zh")
ENVIRONMENT = "D2LVGG_LANG"
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",  # the name a Noto CJK collection (.ttc) takes where matplotlib reads only its first face
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
)

# The figures' words in Chinese, as the Chinese edition of the book names them.
CHINESE = {
    "train loss": "训练损失",
    "train acc": "训练精度",
    "test acc": "测试精度",
    "accuracy": "精度",
    "epoch": "迭代周期",
    "train": "训练",
    "test": "测试",
    "comparison": "对比",
    "input": "输入",
    "block": "块",
    "conv": "卷积",
    "max pool": "最大汇聚",
    "batch norm": "批量规范化",
    "flatten": "展平",
    "dense": "全连接层",
    "dropout": "暂退法",
    "output": "输出层",
    "weight layers": "个权重层",
    "parameters": "个参数",
    "G MACs per image": "G 次乘加（每张图像）",
}

_chosen: str | None = None


def use(language: str) -> str:
    """Draw the figures that follow in ``language`` ("en" or "zh"); Chinese checks for its font first."""
    global _chosen
    if language not in LANGUAGES:
        raise ConfigError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    if language == "zh":
        _use_cjk_font()
    _chosen = language
    return language


def current() -> str:
    """The language chosen with ``use``, else ``$D2LVGG_LANG``, else English."""
    if _chosen is None:
        asked = os.environ.get(ENVIRONMENT) or "en"
        if asked not in LANGUAGES:
            raise ConfigError(f"{ENVIRONMENT}={asked!r} is not a language d2lvgg draws in: set it to en or zh")
        return use(asked)
    return _chosen


def word(english: str) -> str:
    """``english`` in the current language."""
    return CHINESE.get(english, english) if current() == "zh" else english


# The font of ``d2lvgg[zh]``: Noto Sans CJK JP (SIL Open Font License 1.1, its text beside the file) in the
# notojp-matplotlib package. It holds every Simplified Chinese character, some shared ones in their
# Japanese forms; it is read from its package folder, not imported (the import would restyle matplotlib).
PACKAGED_FONT = ("notojp_matplotlib", "fonts/NotoSansCJKjp-Regular.otf")


def cjk_font() -> str | None:
    """The first of ``CJK_FONTS`` that matplotlib can use here, or ``None``.

    matplotlib caches its list of fonts and, before 3.11, leaves font collections (.ttc, the form
    Debian's fonts-noto-cjk takes) out of it; the system's CJK font files are added once if needed,
    and the font of ``d2lvgg[zh]`` where the system has none.
    """
    from matplotlib import font_manager

    def first() -> str | None:
        installed = {font.name for font in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)

    if first() is None:
        for path in font_manager.findSystemFonts(fontext="ttf") + _collections():
            if "cjk" in path.lower() or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
    if first() is None and (packaged := packaged_font()):
        font_manager.fontManager.addfont(str(packaged))
    return first()


def packaged_font() -> Path | None:
    """The font file ``pip install 'd2lvgg[zh]'`` installed, or ``None``."""
    package, file = PACKAGED_FONT
    found = importlib.util.find_spec(package)
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / file
    return path if path.is_file() else None


def _collections() -> list[str]:
    """Font collections in the system's font folders, which older matplotlib does not list."""
    from matplotlib import font_manager

    folders = [Path(folder) for folder in font_manager.X11FontDirectories + font_manager.OSXFontDirectories]
    return [str(path) for folder in folders if folder.is_dir() for path in folder.rglob("*.ttc")]


def _use_cjk_font() -> None:
    """Put an installed CJK font first, with matplotlib's default behind it for Latin text."""
    import matplotlib

    found = cjk_font()
    if found is None:
        raise ConfigError(
            "Chinese labels need a CJK font, and matplotlib finds none of "
            f"{', '.join(CJK_FONTS)}: pip install 'd2lvgg[zh]', or on Debian or Ubuntu apt-get install fonts-noto-cjk"
        )
    matplotlib.rcParams["font.sans-serif"] = [found, *matplotlib.rcParams["font.sans-serif"]]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus sign's glyph
