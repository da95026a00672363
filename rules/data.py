"""Rules: data."""

from __future__ import annotations

import libcst as cst

from nnlint.rule import Invalid, Rule, Valid


class AugmentationInEvaluation(Rule):
    """STUB: being written.

    ## What it does

    ## Why is this bad?

    ## Example

    ## Use instead
    """

    code = "NN401"
    name = "augmentation-in-evaluation"
    message = "STUB"
