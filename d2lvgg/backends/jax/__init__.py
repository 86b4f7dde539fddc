"""The JAX backend: the book's ``vgg_block``/``VGG`` as Flax linen modules, and a runner whose step is one jit.

This file declares the backend without importing JAX; ``backend.py`` implements the contract.
"""

from ..base import Declaration
from ..feed import DEVICE_DATA

DECLARATION = Declaration(
    title="JAX",
    framework="jax",
    extra="jax",  # jax, flax and optax; on a CUDA machine install jax[cuda12] as JAX's guide says
    devices="auto, cpu, gpu or gpu:N",
    device_pattern=r"(?i)auto|cpu|gpu(:\d+)?",
    options=(DEVICE_DATA,),
    requires={"flax>=0.10": "the book's JAX tab builds its layers with Flax", "optax>=0.2": "its SGD"},
    # The benchmark re-creates its data and a host read per step; the book's update runs outside its jit, ours in it.
    textbook_loop="d2l-en's Trainer.fit, JAX tab",
    device_names={"cuda": "gpu"},
    refused_files={
        ".msgpack": "d2lvgg does not read Flax checkpoints (their tree follows the code that saved them); "
        "save the weights with d2lvgg (weights.npz) or as safetensors instead"
    },
    no_onnx="JAX has no maintained ONNX exporter (jax2tf, the old road through TensorFlow, is deprecated): "
    "export the same weights with another backend, e.g. --backend torch",
)
