"""The PyTorch backend: the book's ``vgg_block``/``vgg`` as ``nn.Sequential``, and its runner."""
