"""The tools built on the library: the CLI, parity, sweeps, comparisons, the benchmark, drawings."""
