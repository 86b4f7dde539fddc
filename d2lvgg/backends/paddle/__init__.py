"""The PaddlePaddle backend: the book's ``vgg_block``/``vgg`` as ``paddle.nn.Sequential``, and its runner.

This file declares the backend without importing PaddlePaddle; ``backend.py`` implements the contract.
"""

from ..base import Option

TITLE = "PaddlePaddle"  # the name people know it by
FRAMEWORK = "paddle"
EXTRA = "paddle"  # the CPU wheel; on a CUDA machine install paddlepaddle-gpu instead
DEVICES = "auto, cpu, gpu or gpu:N"
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pdparams",)  # claimed to be refused with the reason: they are pickles
DEVICE_NAMES = {"cuda": "gpu"}
# PaddlePaddle's verbose and INFO logging off (its GLOG_v counts up, MindSpore's down).
ENVIRONMENT = {"GLOG_v": "0", "GLOG_minloglevel": "1"}
TEXTBOOK: dict = {}  # the Chinese edition's paddle tab builds the spec's default form
LAUNCHER = ()  # no data-parallel training yet
LAUNCH_ENVIRONMENT: dict[str, str] = {}
TEXTBOOK_LOADER = False  # the benchmark re-creates PyTorch's loader only
# Installed frameworks to load first: MindSpore 2.10's CPU plugin fails to load ("undefined symbol:
# dnnl_threadpool_interop_stream_create") once PaddlePaddle's oneDNN is in the process.
LOAD_FIRST = ("mindspore",)
# Dynamic graph by default: on the CPU, to_static's graph measured slower (docs/speed.md).
OPTIONS = (
    Option("to_static", False, "compile the forward pass with paddle.jit.to_static", flag="--to-static", plain=False),
)
