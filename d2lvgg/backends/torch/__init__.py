"""The PyTorch backend: the book's ``vgg_block``/``vgg`` as ``nn.Sequential``, and its runner.

This file declares the backend without importing PyTorch; ``backend.py`` implements the contract.
"""

from ..base import Option

TITLE = "PyTorch"  # the name people know it by
FRAMEWORK = "torch"
EXTRA = "torch"
DEVICES = "auto, cpu, cuda, cuda:N or mps"
ENVIRONMENT: dict[str, str] = {}  # nothing to set before PyTorch loads
TEXTBOOK: dict = {}  # the PyTorch edition's network is the spec's default form
# Data-parallel: torchrun on this machine ({nproc} processes, gloo over the loopback on a CPU).
LAUNCHER = ("torchrun", "--standalone", "--nproc-per-node={nproc}", "-m", "d2lvgg")
LAUNCH_ENVIRONMENT = {"GLOO_SOCKET_IFNAME": "lo"}
TEXTBOOK_LOADER = True  # the benchmark re-creates this edition's loader (DataLoader workers, Pillow)
LOAD_FIRST: tuple[str, ...] = ()  # backends whose frameworks must be in the process before this one's
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".bin")  # torch.save's state_dicts
DEVICE_NAMES: dict[str, str] = {}  # common device names in this backend's spelling
# The fast path: the dataset on the device, channels-last memory, and on a GPU bfloat16 autocast
# and torch.compile ("auto": on where they pay). --plain switches all of it off.
OPTIONS = (
    Option("device_data", True, "resize batches in numpy on the host", flag="--no-device-data", plain=False),
    Option("channels_last", True, "keep PyTorch's default NCHW memory layout", flag="--no-channels-last", plain=False),
    Option("amp", "auto", "bfloat16 autocast (auto: on a GPU)", ("auto", "on", "off"), "--amp", plain="off"),
    Option("compile", "auto", "torch.compile (auto: on a GPU)", ("auto", "on", "off"), "--compile", plain="off"),
)
