"""The rule registry: every rule class, one entry each.

Adding a rule is its class in the family module (``layout``: NN1xx, ``training_loop``: NN2xx,
``architecture``: NN3xx, ``data``: NN4xx, ``performance``: NN5xx, ``reproducibility``: NN6xx) plus one
line here.
"""

from __future__ import annotations

from nnlint.rule import Rule
from nnlint.rules.architecture import DropoutBeforeBatchNorm
from nnlint.rules.data import AugmentationInEvaluation
from nnlint.rules.layout import ViewAsPermute
from nnlint.rules.training_loop import EpochTiedLrDecay, LossClipping

ALL_RULES: list[type[Rule]] = [
    ViewAsPermute,
    LossClipping,
    EpochTiedLrDecay,
    DropoutBeforeBatchNorm,
    AugmentationInEvaluation,
]
