"""Rules: layout."""

from __future__ import annotations

import libcst as cst

from nnlint.rule import Invalid, Rule, Valid


class ViewAsPermute(Rule):
    """STUB: being written.

    ## What it does

    ## Why is this bad?

    ## Example

    ## Use instead
    """

    code = "NN101"
    name = "view-as-permute"
    message = "STUB"
