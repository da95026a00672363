"""``tc-alignment``: GEMM and convolution dimensions that keep Tensor Cores from full speed.

A dimension ``d`` is aligned when ``d * bytes(dtype)`` is a multiple of 16: multiples of 8 for
bf16/fp16, 4 for tf32 (``--dtype float32`` on Ampere and later), 16 for int8/fp8. The check judges the
forward GEMMs (``K`` and ``N`` of a linear layer; also ``M`` of a batched matmul, where it is not a
flattened batch), the head dimension of attention (FlashAttention tiles the sequence, the head dim must
be aligned), input/output channels of convolutions (depthwise convolutions are skipped: they do not
run on Tensor Cores) and RNN sizes.

Each misaligned dimension is weighted by the share of the model's FLOPs its operators carry: a warning
at or above ``options["tc_warn_share"]`` (default 5 %), info below. A small output layer (fewer than
``options["tc_small_dim"]`` = 64 outputs, a 10-class head) is info whatever its share: padding it buys
nothing. Large dimensions aligned to the dtype but not to 64, the most efficient tile on A100/H100, are
reported as info.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from nnprof.checks import register
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.shapes import OpRecord, record_shapes

CHECK = "tc-alignment"
WARN_SHARE = 0.05
SMALL_DIM = 64
BIG_DIM = 256  # from here on, suggest the next multiple of 64
ALIGNMENT = {
    "bfloat16": 8,
    "float16": 8,
    "float32": 4,  # TF32 Tensor Cores
    "tf32": 4,
    "int8": 16,
    "float8_e4m3fn": 16,
    "float8_e5m2": 16,
    "fp8": 16,
}
DTYPE_LABEL = {"bfloat16": "bf16", "float16": "fp16", "float32": "tf32", "tf32": "tf32"}


def required_multiple(dtype: torch.dtype | str) -> int:
    """Elements per 16 bytes for the training dtype: 8 (bf16/fp16), 4 (tf32/fp32), 16 (int8/fp8)."""
    name = str(dtype).replace("torch.", "")
    return ALIGNMENT.get(name, 8)


def suggest(value: int, multiple: int) -> int:
    """The padded size: the next multiple of 64 for large dimensions (50257 -> 50304), else the next
    multiple the dtype needs (10 -> 16 for bf16, 3 -> 4 for tf32)."""
    step = 64 if value >= BIG_DIM else multiple
    return int(math.ceil(value / step) * step)


@dataclass
class DimIssue:
    """One (module, dimension, value) and the forward FLOPs of the operators it affects."""

    module: str
    module_type: str
    dim: str
    value: int
    multiple: int
    flops: float = 0.0
    ops: set[str] = field(default_factory=set)
    kind: str = "gemm"

    @property
    def aligned(self) -> bool:
        return self.value % self.multiple == 0

    @property
    def suggested(self) -> int:
        return suggest(self.value, self.multiple)

    @property
    def is_stem(self) -> bool:
        return self.kind == "conv" and self.dim == "in_channels" and self.value < self.multiple


def judged_dims(record: OpRecord) -> list[tuple[str, int]]:
    """The dimensions of one operator that decide whether it runs on Tensor Cores, user-named."""
    d = record.dims
    if record.kind == "gemm":
        linear = record.module_type in ("Linear", "LazyLinear", "NonDynamicallyQuantizableLinear")
        if "B" in d:
            return [("M (rows)", d["M"]), ("K (reduction)", d["K"]), ("N (columns)", d["N"])]
        if linear:
            return [("in_features", d["K"]), ("out_features", d["N"])]
        return [("K (reduction)", d["K"]), ("N (output)", d["N"])]
    if record.kind == "attention":
        dims = [("head_dim", d["head_dim"])]
        if d["head_dim_v"] != d["head_dim"]:
            dims.append(("head_dim_v", d["head_dim_v"]))
        return dims
    if record.kind == "conv":
        groups = max(d.get("groups", 1), 1)
        c_in, c_out = d["C_in"] // groups, d["C_out"] // groups
        if groups > 1 and c_in == 1:
            return []  # depthwise
        return [("in_channels", c_in), ("out_channels", c_out)]
    if record.kind == "rnn":
        return [("input_size", d["input_size"]), ("hidden_size", d["hidden_size"])]
    return []


def collect_dims(records: list[OpRecord], multiple: int) -> list[DimIssue]:
    """Every judged dimension of the forward operators, aggregated per (module, dimension, value)."""
    issues: dict[tuple[str, str, int], DimIssue] = {}
    for record in records:
        if record.phase != "forward":
            continue
        for dim, value in judged_dims(record):
            key = (record.module, dim, value)
            if key not in issues:
                issues[key] = DimIssue(record.module, record.module_type, dim, value, multiple, kind=record.kind)
            issues[key].flops += record.flops
            issues[key].ops.add(record.op)
    return list(issues.values())


def how_to_fix(issue: DimIssue, dtype_label: str) -> str:
    """How to apply the padding, in the terms of the layer that has the dimension."""
    v, s = issue.value, issue.suggested
    if issue.is_stem:
        pad = f"F.pad(x, (0, 0, 0, 0, 0, {s - v}))"
        text = f"pad the input images with zero channels to {s} ({pad}) and build the stem as nn.Conv2d({s}, ...)"
        if s > 4:
            text += "; with channels_last (x.to(memory_format=torch.channels_last)) 4 channels are enough"
        return text
    if issue.dim == "out_features":
        text = f"make it nn.Linear(..., {s}) and ignore the {s - v} extra outputs"
        if v >= 1000:
            text += (
                f"; for a vocabulary, round vocab_size up to {s} (nanoGPT's 50257 -> 50304 made training "
                "about 25 % faster): the extra tokens are never targets, mask or slice the logits when sampling"
            )
        return text
    if issue.dim == "in_features":
        return f"widen the layer that feeds it to {s} features (or zero-pad its input): nn.Linear({s}, ...)"
    if issue.dim in ("head_dim", "head_dim_v"):
        return f"choose embed_dim / num_heads = {s} (change the width or the number of heads)"
    if issue.dim in ("in_channels", "out_channels"):
        return f"use {s} {issue.dim.replace('_', ' ')} in this convolution"
    if issue.dim in ("input_size", "hidden_size"):
        return f"use {issue.dim} = {s}"
    if issue.dim.startswith("M"):
        return f"pad the sequence/row dimension to {s} (a multiple of {issue.multiple} for {dtype_label})"
    return f"pad this dimension from {v} to {s}"


def judge(
    issues: list[DimIssue], total_flops: float, dtype_label: str, *, warn_share: float = WARN_SHARE, small_dim: int = SMALL_DIM
) -> list[Finding]:
    """Turn measured dimensions into findings (warning / info), largest FLOP share first."""
    findings: list[tuple[float, Finding]] = []
    total = total_flops or sum(i.flops for i in issues) or 1.0
    for issue in issues:
        share = issue.flops / total
        if issue.aligned:
            if issue.value >= BIG_DIM and issue.value % 64 and share >= 0.01 and issue.dim in _CHANNEL_DIMS:
                findings.append((share, _finding(issue, share, dtype_label, "info", best64=True)))
            continue
        small_head = issue.dim in ("out_features", "N (output)") and issue.value < small_dim
        severity = "warning" if share >= warn_share and not small_head else "info"
        findings.append((share, _finding(issue, share, dtype_label, severity, small=small_head)))
    return [f for _, f in sorted(findings, key=lambda x: -x[0])]


_CHANNEL_DIMS = frozenset({"in_features", "out_features", "in_channels", "out_channels", "hidden_size"})


def _pct(share: float) -> str:
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def _finding(issue: DimIssue, share: float, dtype_label: str, severity: str, best64: bool = False,
             small: bool = False) -> Finding:
    where = issue.module or "the root module"
    s = int(math.ceil(issue.value / 64) * 64) if best64 else issue.suggested
    fix = f"pad {issue.dim} to {s}" if best64 else how_to_fix(issue, dtype_label)
    if best64:
        message = (
            f"{where}: {issue.dim} = {issue.value} is aligned for {dtype_label} but not a multiple of 64, the most "
            f"efficient tile size on A100/H100 ({_pct(share)} of the FLOPs); {s} would fill whole tiles"
        )
    elif small:
        message = (
            f"{where}: out_features = {issue.value} is not a multiple of {issue.multiple}, but a small output layer "
            f"({_pct(share)} of the FLOPs) is not worth padding"
        )
        fix = f"none needed (padding to {s} would only add work)"
    elif issue.is_stem:
        message = (
            f"{where}: the {issue.value}-channel image stem (in_channels = {issue.value}) is not a multiple of "
            f"{issue.multiple}, so this convolution cannot use {dtype_label} Tensor Cores at full speed "
            f"({_pct(share)} of the FLOPs); pad the input to {s} channels"
        )
    else:
        message = (
            f"{where}: {issue.dim} = {issue.value} is not a multiple of {issue.multiple}, so its {dtype_label} "
            f"GEMMs cannot use Tensor Cores at full speed ({_pct(share)} of the FLOPs); pad it to {s}"
        )
    details: dict[str, Any] = {
        "dimension": issue.dim,
        "value": issue.value,
        "suggested": s,
        "multiple": 64 if best64 else issue.multiple,
        "flop_share": round(share, 6),
        "flops": issue.flops,
        "ops": sorted(issue.ops),
        "module_type": issue.module_type,
        "fix": fix,
    }
    return Finding(CHECK, severity, issue.module, message, details)


def gemm_records(ctx: CheckContext) -> list[OpRecord]:
    """The shape records of the model (forward and backward), measured once per run."""
    if "gemm_shapes" not in ctx.shared:
        ctx.shared["gemm_shapes"] = record_shapes(ctx.model, ctx.example_input, backward=True)
        extras = ctx.shared.setdefault("extras", {})
        extras["gemm_shapes"] = [r.to_dict() for r in ctx.shared["gemm_shapes"]]
    return ctx.shared["gemm_shapes"]


@register(CHECK, default=True, budget_s=60.0, needs_batch=False)
def tc_alignment(ctx: CheckContext) -> list[Finding]:
    records = gemm_records(ctx)
    multiple = required_multiple(ctx.dtype)
    issues = collect_dims(records, multiple)
    flops = ctx.shared.get("flops")
    total = getattr(flops, "total", 0.0) or sum(r.flops for r in records if r.phase == "forward")
    label = DTYPE_LABEL.get(str(ctx.dtype).replace("torch.", ""), str(ctx.dtype))
    extras = ctx.shared.setdefault("extras", {})
    extras["tc_dims"] = [
        {"module": i.module, "dimension": i.dim, "value": i.value, "aligned": i.aligned, "suggested": i.suggested,
         "flop_share": i.flops / total if total else 0.0}
        for i in issues
    ]
    return judge(
        issues,
        total,
        label,
        warn_share=float(ctx.options.get("tc_warn_share", WARN_SHARE)),
        small_dim=int(ctx.options.get("tc_small_dim", SMALL_DIM)),
    )
