"""Training: the run's config, the textbook's loop, and the run folder it writes."""
