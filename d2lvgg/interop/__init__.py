"""Weights in and out of other libraries' VGGs (torchvision, timm, MindCV), and ONNX."""
