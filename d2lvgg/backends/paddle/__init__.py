"""The PaddlePaddle backend: the book's ``vgg_block``/``vgg`` as ``paddle.nn.Sequential``, and its runner.

This file declares the backend without importing PaddlePaddle; ``backend.py`` implements the contract.
"""

from ..base import Option

TITLE = "PaddlePaddle"  # the name people know it by
FRAMEWORK = "paddle"
EXTRA = "paddle"  # the CPU wheel; on a CUDA machine install paddlepaddle-gpu instead
DEVICES = "auto, cpu, gpu or gpu:N"
DEVICE_NAMES = {"cuda": "gpu"}
ENVIRONMENT = {"GLOG_v": "0"}  # PaddlePaddle's verbose logging off (its GLOG_v counts up, MindSpore's down)
TEXTBOOK: dict = {}  # the Chinese edition's paddle tab builds the spec's default form
TEXTBOOK_LOADER = False  # the benchmark re-creates PyTorch's loader only
OPTIONS: tuple[Option, ...] = ()
