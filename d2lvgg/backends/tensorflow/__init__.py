"""The TensorFlow backend: the book's ``vgg_block``/``vgg`` as Keras 3 ``Sequential`` models, and its runner.

This file declares the backend without importing TensorFlow; ``backend.py`` implements the contract.
"""

from ..base import Declaration, Option
from ..feed import DEVICE_DATA

DECLARATION = Declaration(
    title="TensorFlow",
    framework="tensorflow",
    extra="tensorflow",  # tensorflow-cpu and Keras 3; on a CUDA machine install tensorflow[and-cuda] instead
    devices="auto, cpu, gpu or gpu:N",
    device_pattern=r"(?i)auto|cpu|gpu(:\d+)?",
    options=(
        DEVICE_DATA,
        Option("xla", False, "compile the training step with XLA (jit_compile)", flag="--xla", plain=False),
    ),
    # Set before TensorFlow loads. KERAS_BACKEND: Keras 3 on TensorFlow, whatever the user's keras.json
    # says. TF_CPP_MIN_LOG_LEVEL: its C++ side's INFO lines (oneDNN notices, CPU feature guards) off.
    environment={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"},
    onnx_needs=("tf2onnx",),  # TensorFlow's maintained ONNX exporter
    textbook_loop="d2l-zh's train_ch6, TensorFlow tab",  # the benchmark re-creates it on the plain path
    device_names={"cuda": "gpu"},
    refused_files={
        ".keras": "d2lvgg does not read Keras model files (their layer names are generated per run); "
        "save the weights with d2lvgg (weights.npz) or as safetensors instead"
    },
)
