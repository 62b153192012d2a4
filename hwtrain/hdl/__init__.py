"""Amaranth hardware blocks; each has a golden twin of the same name in hwtrain.golden."""

from .datapath import XnorPopcountArray
from .prng import Xorshift32

__all__ = ["XnorPopcountArray", "Xorshift32"]
