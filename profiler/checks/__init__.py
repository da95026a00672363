"""Registry of nnprof checks: each check is a small function registered against its stable id.

A check takes a ``CheckContext`` (see ``nnprof.context``) and returns a list of ``Finding``. The runner
knows none of them: it iterates the registry. Registering a check is one decorator::

    @register("dead-relu", default=True, budget_s=10)
    def dead_relu(ctx: CheckContext) -> list[Finding]: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnprof.findings import Finding

CheckFn = Callable[..., "list[Finding]"]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    fn: CheckFn
    default: bool
    budget_s: float
    needs_batch: bool


REGISTRY: dict[str, CheckSpec] = {}


def register(check_id: str, *, default: bool = True, budget_s: float = 20.0, needs_batch: bool = True):
    """Register ``fn`` as the implementation of ``check_id``."""

    def deco(fn: CheckFn) -> CheckFn:
        if check_id in REGISTRY and REGISTRY[check_id].fn is not fn:
            raise ValueError(f"check {check_id!r} registered twice")
        REGISTRY[check_id] = CheckSpec(check_id, fn, default, budget_s, needs_batch)
        return fn

    return deco
