"""Binary MLP inference cores: configuration, model, golden twin and cycle formulas.

The hardware lives in ``hwtrain.hdl.inference``; the golden twin of its
``InferenceCore`` is ``hwtrain.golden.inference.InferenceCore``.
"""

from .config import InferenceConfig, LayerImpl
from .model import BinaryMLP

__all__ = ["InferenceConfig", "LayerImpl", "BinaryMLP"]
