"""Fashion-MNIST from its IDX files, and the seeded batches every backend trains on."""
