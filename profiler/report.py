"""The report of one nnprof run: what every renderer (text, JSON, HTML) shows."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from nnprof import __version__
from nnprof.findings import SEVERITY_ORDER, Finding

FLOP_UNIT = "flop (1 multiply-add = 2 flop)"


@dataclass
class Report:
    """One run's results. ``to_dict()`` gives exactly the contract's JSON fields::

        version, model, device, dtype, params, trainable_params,
        flops {total, unit, per_sample, by_module [{module, flops, share}], coverage, uncounted_ops},
        throughput {samples_per_s, step_ms, mfu, tokens_per_s, step_ms_runs, batch_size, precision,
                    device_name, peak_tflops, flops_per_step, warmup_steps, tensor_core_share},
        findings [{check, severity, module, message, details}]

    ``flops.total`` is the forward pass on the example input; ``by_module`` holds each module's own
    operators (children excluded, so shares add up to 1), largest first. ``throughput`` values are None
    when the check did not run (``skipped`` then says why).

    ``extras`` is not part of the JSON; renderers (the HTML report's plots) read it. Keys, each present
    only when the check that measures it ran:

    * ``check_status``: {check id: "ok" | "skipped (budget)" | "skipped (meta device)" |
      "skipped (no get_batch)" | "skipped (...)" | "failed"}
    * ``check_seconds``: {check id: wall seconds}
    * ``flops_counter``: "fvcore" or "dispatch"; ``flops_by_operator``: {operator: FLOPs};
      ``flops_notes``: [str]
    * ``gemm_shapes``: [{module, op, kind ("gemm" | "conv" | "attention" | "rnn"), phase ("forward" |
      "backward"), dims {M, K, N, B | C_in, C_out, groups, ... | T, S, head_dim, ...}, flops, dtype,
      module_type}] — every GEMM-like call (tc-alignment)
    * ``tc_dims``: [{module, dimension, value, aligned, suggested, flop_share}] (tc-alignment)
    * ``gradient_norms``: [{module, param, grad_norm, weight_norm, relative, mean_abs_grad, finite}] in
      forward execution order (gradient checks); ``loss_at_init``: float
    * ``activations``: [{module, op, units, dead_units, dead_fraction, zero_fraction}] (dead-relu)
    * ``update_ratios``: [{module, param, ratio}] (update-ratio)
    * ``throughput_runs_ms``: [float]; ``kernels``: {tensor_core_share, top [{kernel, ms, kind}]} on CUDA
    * every JSON-like value another check left in ``ctx.shared`` under its own key (the sanity checks'
      ``overfit-batch``, ``input-independence``, ``lr-range``, ``loss-at-init``)
    """

    model: str
    device: str
    dtype: str
    params: int
    trainable_params: int
    flops: dict[str, Any]
    throughput: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    version: str = __version__
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=lambda s: SEVERITY_ORDER[s])

    @property
    def exit_code(self) -> int:
        """0 without warnings or errors, 1 with at least one (the contract)."""
        return 1 if any(f.severity in ("warning", "error") for f in self.findings) else 0

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITY_ORDER[f.severity])

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model": self.model,
            "device": self.device,
            "dtype": self.dtype,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "flops": _clean(self.flops),
            "throughput": _clean(self.throughput),
            "findings": [_clean(f.to_dict()) for f in self.sorted_findings()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_html(self, path: str | None = None) -> str:
        """The self-contained HTML report (``nnprof.render.html``); written to ``path`` when given."""
        from nnprof.render.html import render_html

        page = render_html(self)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(page)
        return page


def _clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats become None, tuples/sets lists, other objects their str."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)
