"""hwtrain: binary neural networks and learned Boolean networks as verified RTL."""

__version__ = "0.1.0"
