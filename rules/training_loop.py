"""Rules: training_loop."""

from __future__ import annotations

import libcst as cst

from nnlint.rule import Invalid, Rule, Valid


class LossClipping(Rule):
    """STUB: being written.

    ## What it does

    ## Why is this bad?

    ## Example

    ## Use instead
    """

    code = "NN201"
    name = "loss-clipping"
    message = "STUB"


class EpochTiedLrDecay(Rule):
    """STUB: being written.

    ## What it does

    ## Why is this bad?

    ## Example

    ## Use instead
    """

    code = "NN202"
    name = "epoch-tied-lr-decay"
    message = "STUB"
