"""Golden models of the fully binary training algorithms (CP+R, BEP, BEP-TT).

See docs/semantics_training.md for every integer rule, width and PRNG draw.
"""

from .config import HwParams, TrainConfig
from .mlp import MLPTrainer


def make_trainer(cfg: TrainConfig):
    """The trainer for ``cfg.algorithm``."""
    if cfg.algorithm == "bep_tt":
        from .rnn import RNNTrainer
        return RNNTrainer(cfg)
    return MLPTrainer(cfg)


__all__ = ["HwParams", "TrainConfig", "MLPTrainer", "make_trainer"]
