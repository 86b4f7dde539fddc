"""The MindSpore backend: the book's ``vgg_block``/``vgg`` as ``nn.SequentialCell``, and its runner.

This file declares the backend without importing MindSpore; ``backend.py`` implements the contract.
"""

import os
import tempfile

from ..base import Declaration, Launcher, Option
from ..feed import DEVICE_DATA

DECLARATION = Declaration(
    title="MindSpore",
    framework="mindspore",
    extra="mindspore",
    devices="auto, cpu, gpu or ascend",
    device_pattern=r"(?i)auto|cpu|gpu|ascend",
    options=(DEVICE_DATA, Option("ms_mode", "graph", "MindSpore's execution mode", ("graph", "pynative"), "--ms-mode")),
    # Set before MindSpore loads. GLOG_v: its C++ side logs every WARNING otherwise. ONEDNN_MAX_CPU_ISA:
    # MindSpore 2.10's oneDNN picks a reference convolution on AVX-512 CPUs for its NCHW float32
    # layout, 25 ms where the AVX2 kernels take 0.4 ms (docs/speed.md). MS_OM_PATH: where a failed
    # graph compile writes rank_0/om/analyze_fail.ir (else the working folder).
    environment={
        "GLOG_v": "3",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MS_OM_PATH": os.path.join(tempfile.gettempdir(), "d2lvgg-mindspore"),
    },
    textbook={"conv_bias": False},  # the MindSpore edition leaves nn.Conv2d's has_bias at its default, False
    # Data-parallel: msrun, which runs a script (d2lvgg's __main__.py), starts the world's scheduler on
    # the node that has the master's address, and keeps each node's logs beside the run folder.
    launcher=Launcher(
        command=(
            "{python}",
            "-m",
            "mindspore.parallel.cluster.run",
            "--worker_num={world}",
            "--local_worker_num={nproc}",
            "--node_rank={node_rank}",
            "--master_addr={host}",
            "--master_port={port}",
            "--join=True",
            "--log_dir={logs}-msrun-logs",
            "{main}",
        ),
        programs={"ip": "Debian and Ubuntu: apt-get install iproute2"},  # msrun reads the interfaces with it
    ),
    textbook_loop="the MindSpore port's train_ch6",  # a step cell per batch, a host read after each
    checkpoint_suffixes=(".ckpt",),  # MindSpore's checkpoints (MindCV's among them)
    device_names={"cuda": "gpu"},
    # pip keeps numpy<2 only while nothing else asks for numpy; a later `pip install` of another
    # package can upgrade it, and MindSpore 2.10 then fails inside its tensor arithmetic.
    requires={"numpy<2": "MindSpore 2.10's tensor arithmetic fails with numpy 2"},
)
