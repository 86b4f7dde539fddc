"""The PaddlePaddle backend: the book's ``vgg_block``/``vgg`` as ``paddle.nn.Sequential``, and its runner.

This file declares the backend without importing PaddlePaddle; ``backend.py`` implements the contract.
"""

from ..base import Declaration, Launcher, Option
from ..feed import DEVICE_DATA

DECLARATION = Declaration(
    title="PaddlePaddle",
    framework="paddle",
    extra="paddle",  # the CPU wheel; on a CUDA machine install paddlepaddle-gpu instead
    devices="auto, cpu, gpu or gpu:N",
    device_pattern=r"(?i)auto|cpu|gpu(:\d+)?",
    quiet=("No ccache found",),  # about compiling C++ extensions, which d2lvgg never does
    onnx_needs=("paddle2onnx",),  # paddle.onnx.export hands the work to it
    # Dynamic graph by default: on the CPU, to_static's graph measured slower (docs/speed.md).
    options=(
        DEVICE_DATA,
        Option(
            "to_static", False, "compile the forward pass with paddle.jit.to_static", flag="--to-static", plain=False
        ),
    ),
    # PaddlePaddle's verbose and INFO logging off (its GLOG_v counts up, MindSpore's down).
    environment={"GLOG_v": "0", "GLOG_minloglevel": "1"},
    # Installed frameworks to load first: MindSpore 2.10's CPU plugin fails to load ("undefined symbol:
    # dnnl_threadpool_interop_stream_create") once PaddlePaddle's oneDNN is in the process.
    load_first=("mindspore",),
    textbook_loop="d2l-zh's train_ch6, PaddlePaddle tab",  # paddle.io.DataLoader workers, Pillow
    refused_files={
        ".pdparams": "PaddlePaddle's .pdparams files are pickles, which d2lvgg does not open (they could run code); "
        "write the weights as safetensors or .npz instead"
    },
    device_names={"cuda": "gpu"},
    # Data-parallel: PaddlePaddle's own launcher, gloo on a CPU (NCCL on GPUs), node 0's address its
    # rendezvous; a failed worker is not restarted, and each node's process logs are kept.
    launcher=Launcher(
        command=(
            "{python}",
            "-m",
            "paddle.distributed.launch",
            "--nnodes={nodes}",
            "--rank={node_rank}",
            "--nproc_per_node={nproc}",
            "--master={host}:{port}",
            "--max_restart=0",
            "--log_level=WARNING",
            "--log_dir={logs}-paddle-logs",
            "{main}",
        ),
        environment={"PYTHONWARNINGS": "ignore:No ccache found:UserWarning"},  # the launcher loads paddle too
        loopback_arguments=("--host=127.0.0.1",),  # else it finds this machine's address by its hostname
        chatter=r"\[.*\] \[ *INFO\] _client\.py|LAUNCH WARNING .* Host ip reset",  # rendezvous HTTP requests
    ),
)
