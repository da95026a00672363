"""Rules: architecture."""

from __future__ import annotations

import libcst as cst

from nnlint.rule import Invalid, Rule, Valid


class DropoutBeforeBatchNorm(Rule):
    """STUB: being written.

    ## What it does

    ## Why is this bad?

    ## Example

    ## Use instead
    """

    code = "NN301"
    name = "dropout-before-batchnorm"
    message = "STUB"
