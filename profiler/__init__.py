"""nnprof: load a PyTorch model, count what it costs, and check that it is healthy before a long run."""

__version__ = "0.1.0"
