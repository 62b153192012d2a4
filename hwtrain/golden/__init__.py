"""NumPy golden models: the specification every hardware block is checked against."""

from ..core import bits, prng
from .datapath import DatapathParams, XnorPopcountArray
from ..core.prng import Xorshift32

__all__ = ["bits", "prng", "DatapathParams", "XnorPopcountArray", "Xorshift32"]
