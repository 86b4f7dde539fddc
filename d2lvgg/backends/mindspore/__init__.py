"""The MindSpore backend: the book's ``vgg_block``/``vgg`` as ``nn.SequentialCell``, and its runner."""
