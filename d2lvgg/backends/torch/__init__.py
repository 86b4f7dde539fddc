"""The PyTorch backend: the book's ``vgg_block``/``vgg`` as ``nn.Sequential``, and its runner.

This file declares the backend without importing PyTorch; ``backend.py`` implements the contract.
"""

from ..base import Declaration, Launcher, Option
from ..feed import DEVICE_DATA

DECLARATION = Declaration(
    title="PyTorch",
    framework="torch",
    extra="torch",
    devices="auto, cpu, cuda, cuda:N or mps",
    device_pattern=r"auto|cpu|cuda(:\d+)?|mps",
    # The fast path: the dataset on the device, channels-last memory, and on a GPU bfloat16 autocast
    # and torch.compile ("auto": on where they pay). --plain switches all of it off.
    options=(
        DEVICE_DATA,
        Option(
            "channels_last", True, "keep PyTorch's default NCHW memory layout", flag="--no-channels-last", plain=False
        ),
        Option("amp", "auto", "bfloat16 autocast (auto: on a GPU)", ("auto", "on", "off"), "--amp", plain="off"),
        Option("compile", "auto", "torch.compile (auto: on a GPU)", ("auto", "on", "off"), "--compile", plain="off"),
    ),
    # Data-parallel: torchrun, node 0's address the static rendezvous; gloo on a CPU (over the loopback
    # where every node is this machine), NCCL on GPUs.
    launcher=Launcher(
        command=(
            "{python}",
            "-m",
            "torch.distributed.run",
            "--nnodes={nodes}",
            "--node-rank={node_rank}",
            "--nproc-per-node={nproc}",
            "--master-addr={host}",
            "--master-port={port}",
            "-m",
            "d2lvgg",
        ),
        loopback_environment={"GLOO_SOCKET_IFNAME": "lo"},
    ),
    textbook_loop="d2l-zh's train_ch6, PyTorch tab",  # the benchmark re-creates it (DataLoader workers, Pillow)
    checkpoint_suffixes=(".pt", ".pth", ".bin"),  # torch.save's state_dicts
    onnx_needs=("onnxscript",),  # torch.onnx.export(dynamo=True) builds the graph with it
)
