"""``throughput``: measured training-step time, samples/s, tokens/s and MFU where the peak is known.

A step is forward + loss + backward + optimizer step on a fresh copy of the model (the file's
``get_batch()`` and loss, or the example input with the mean of the output as a stand-in loss), under
autocast to ``--dtype`` on CUDA. After warm-up steps the device is synchronised around each timed step;
the report gives the median. MFU = (3 x forward FLOPs of the batch) / step time / the device's dense peak
for the precision (``PEAKS``); on a CPU it is not reported.

On CUDA, one extra step runs under ``torch.profiler``; kernel names tell whether the GEMMs ran on Tensor
Cores (``classify_kernel``), and a warning says so when bf16/fp16 GEMM time mostly ran on SIMT kernels.
"""

from __future__ import annotations

import copy
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nnprof.checks import register
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.loading import batch_size_of, call_model, primary_output, seeded

CHECK = "throughput"

#: Dense (no sparsity) peak TFLOP/s per precision, from the vendors' data sheets. The first pattern that
#: matches ``torch.cuda.get_device_name()`` wins, so specific names come before general ones.
PEAKS: list[tuple[str, dict[str, float]]] = [
    (r"GH200|H200", {"bfloat16": 989, "float16": 989, "tf32": 494, "float32": 67}),
    (r"H100.*PCIe", {"bfloat16": 756, "float16": 756, "tf32": 378, "float32": 51}),
    (r"H100.*NVL", {"bfloat16": 835, "float16": 835, "tf32": 418, "float32": 60}),
    (r"H100|H800", {"bfloat16": 989, "float16": 989, "tf32": 494, "float32": 67}),
    (r"B200", {"bfloat16": 2250, "float16": 2250, "tf32": 1100, "float32": 80}),
    (r"A100|A800", {"bfloat16": 312, "float16": 312, "tf32": 156, "float32": 19.5}),
    (r"L40S", {"bfloat16": 362, "float16": 362, "tf32": 183, "float32": 91.6}),
    (r"L40\b", {"bfloat16": 181, "float16": 181, "tf32": 90.5, "float32": 90.5}),
    (r"\bL4\b", {"bfloat16": 121, "float16": 121, "tf32": 60, "float32": 30.3}),
    (r"\bA10\b", {"bfloat16": 125, "float16": 125, "tf32": 62.5, "float32": 31.2}),
    (r"RTX 4090", {"bfloat16": 165, "float16": 165, "tf32": 82.6, "float32": 82.6}),
    (r"RTX 3090", {"bfloat16": 71, "float16": 71, "tf32": 35.6, "float32": 35.6}),
    (r"V100", {"float16": 125, "float32": 15.7}),
    (r"\bT4\b", {"float16": 65, "float32": 8.1}),
]

_GEMM_HINTS = ("gemm", "gemv", "xmma", "nvjet", "cutlass", "conv", "fprop", "dgrad", "wgrad", "flash", "fmha",
               "cublas", "dot_kernel", "winograd")
_TENSOR_CORE_HINTS = ("h884", "s884", "h1688", "s1688", "i8816", "16816", "161616", "xmma", "sm90", "sm100",
                      "nvjet", "tensorop", "wgmma", "hmma", "flash", "fmha", "wmma")


def classify_kernel(name: str) -> str | None:
    """``"tensor_core"`` or ``"simt"`` for a GEMM/convolution/attention kernel name, None for others.

    Tensor Core kernels carry an MMA shape or family in their name (volta_h884gemm, turing s1688,
    ampere_bf16_s16816gemm, sm80/sm90 xmma, Hopper nvjet, cutlass *tensorop*, flash/fmha attention);
    plain sgemm/gemv and implicit_convolve_sgemm run on the SIMT cores.
    """
    n = name.lower()
    if not any(h in n for h in _GEMM_HINTS):
        return None
    if "fmha" in n and ("_f32_" in n or "f32_aligned" in n):
        return "simt"  # memory-efficient attention in fp32
    return "tensor_core" if any(h in n for h in _TENSOR_CORE_HINTS) else "simt"


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The dense peak of ``device_name`` for ``precision`` ("bfloat16", "float16", "tf32", "float32")."""
    for pattern, peaks in PEAKS:
        if re.search(pattern, device_name):
            return peaks.get(precision)
    return None


@dataclass
class KernelSummary:
    tensor_core_ms: float = 0.0
    simt_ms: float = 0.0
    top: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tensor_core_share(self) -> float | None:
        total = self.tensor_core_ms + self.simt_ms
        return self.tensor_core_ms / total if total > 0 else None


def summarize_kernels(kernels: list[tuple[str, float]], top: int = 8) -> KernelSummary:
    """``(kernel name, device ms)`` pairs -> time on Tensor Core vs SIMT GEMM kernels."""
    summary = KernelSummary()
    gemms = []
    for name, ms in kernels:
        kind = classify_kernel(name)
        if kind == "tensor_core":
            summary.tensor_core_ms += ms
        elif kind == "simt":
            summary.simt_ms += ms
        if kind is not None:
            gemms.append({"kernel": name[:160], "ms": ms, "kind": kind})
    summary.top = sorted(gemms, key=lambda k: -k["ms"])[:top]
    return summary


@dataclass
class ThroughputResult:
    step_ms: float
    step_ms_runs: list[float]
    batch_size: int | None
    samples_per_s: float | None
    tokens_per_s: float | None
    flops_per_step: float | None
    precision: str
    device_name: str
    peak_tflops: float | None
    mfu: float | None
    warmup_steps: int
    kernels: KernelSummary | None = None

    def to_report(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "kernels"}
        out["tensor_core_share"] = self.kernels.tensor_core_share if self.kernels else None
        return out


# ---------------------------------------------------------------------------------------------------
# Measuring.


def _precision(ctx: CheckContext) -> tuple[str, torch.dtype | None]:
    """The precision the step runs in, and the autocast dtype (CUDA only)."""
    name = str(ctx.dtype).replace("torch.", "")
    if ctx.device.type != "cuda":
        return "float32", None
    if name in ("bfloat16", "float16"):
        return name, ctx.dtype
    return ("tf32" if torch.backends.cuda.matmul.allow_tf32 else "float32"), None


def _tokens(inputs: Any) -> int | None:
    if isinstance(inputs, dict):
        inputs = inputs.get("input_ids", next(iter(inputs.values()), None))
    elif isinstance(inputs, (tuple, list)) and inputs:
        inputs = inputs[0]
    if isinstance(inputs, torch.Tensor) and inputs.dim() >= 2 and not inputs.is_floating_point():
        return int(inputs.numel())
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(ctx: CheckContext) -> tuple[Any, Any]:
    """A fresh model's training step (a closure) and the inputs it runs on."""
    with seeded(ctx.seed):
        model: nn.Module = ctx.build_model() if ctx.build_model is not None else copy.deepcopy(ctx.model)
    model.train()
    optimizer = ctx.make_optimizer(model) if ctx.make_optimizer is not None else torch.optim.Adam(model.parameters(), lr=3e-4)
    inputs, targets = ctx.batch if ctx.batch is not None else (ctx.example_input, None)
    _, autocast = _precision(ctx)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(ctx.device.type, dtype=autocast, enabled=autocast is not None):
            output = call_model(model, inputs)
            if targets is not None and ctx.loss_fn is not None:
                loss = ctx.loss_fn(output, targets)
            else:
                loss = primary_output(output).float().mean()
        loss.backward()
        optimizer.step()

    return step, inputs


def time_steps(step: Any, device: torch.device, *, warmup: int, runs: int, budget_s: float) -> tuple[list[float], int]:
    """Warm up, then time ``runs`` synchronised steps (fewer when the budget runs out; at least one)."""
    start = time.monotonic()
    done_warmup = 0
    for _ in range(warmup):
        step()
        done_warmup += 1
        if time.monotonic() - start > budget_s / 3:
            break
    _sync(device)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
        if time.monotonic() - start > budget_s * 0.6:
            break
    return times, done_warmup


def profile_kernels(step: Any, device: torch.device) -> KernelSummary | None:
    """One step under torch.profiler: device time per kernel name (CUDA only)."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
        _sync(device)
    kernels = []
    for event in prof.key_averages():
        if getattr(event, "device_type", None) != torch.autograd.DeviceType.CUDA:
            continue
        us = getattr(event, "self_device_time_total", None) or getattr(event, "device_time_total", 0.0)
        kernels.append((event.key, float(us) / 1e3))
    return summarize_kernels(kernels)


def measure_throughput(ctx: CheckContext, *, warmup: int = 2, runs: int = 5) -> ThroughputResult:
    step, inputs = make_step(ctx)
    times, done_warmup = time_steps(step, ctx.device, warmup=warmup, runs=runs, budget_s=ctx.budget_s)
    step_ms = statistics.median(times)
    n = batch_size_of(inputs)
    tokens = _tokens(inputs)
    flops = ctx.shared.get("flops")
    per_sample = getattr(flops, "per_sample", None)
    flops_per_step = 3.0 * per_sample * n if per_sample and n else None
    precision, _ = _precision(ctx)
    device_name = torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else ctx.device.type
    peak = peak_tflops(device_name, precision) if ctx.device.type == "cuda" else None
    mfu = flops_per_step / (step_ms / 1e3) / (peak * 1e12) if flops_per_step and peak else None
    kernels = profile_kernels(step, ctx.device)
    return ThroughputResult(
        step_ms=step_ms,
        step_ms_runs=times,
        batch_size=n,
        samples_per_s=n / (step_ms / 1e3) if n else None,
        tokens_per_s=tokens / (step_ms / 1e3) if tokens else None,
        flops_per_step=flops_per_step,
        precision=precision,
        device_name=device_name,
        peak_tflops=peak,
        mfu=mfu,
        warmup_steps=done_warmup,
        kernels=kernels,
    )


# ---------------------------------------------------------------------------------------------------
# Judging.


def judge(result: ThroughputResult, *, dtype: str) -> list[Finding]:
    parts = [f"training step {result.step_ms:.1f} ms (median of {len(result.step_ms_runs)})"]
    if result.samples_per_s:
        parts.append(f"{result.samples_per_s:,.0f} samples/s")
    if result.tokens_per_s:
        parts.append(f"{result.tokens_per_s:,.0f} tokens/s")
    if result.mfu is not None:
        parts.append(f"MFU {result.mfu:.1%} of the {result.device_name} {result.precision} peak ({result.peak_tflops:g} TFLOP/s)")
    else:
        parts.append(f"MFU n/a (no known peak for {result.device_name} {result.precision})")
    details: dict[str, Any] = result.to_report()
    findings = [Finding(CHECK, "info", "", ", ".join(parts) + f" on {result.device_name}", details)]
    k = result.kernels
    share = k.tensor_core_share if k else None
    if k is not None and share is not None:
        details["kernels"] = k.top
        if dtype in ("bfloat16", "float16") and share < 0.5:
            findings.append(Finding(CHECK, "warning", "",
                                    f"only {share:.0%} of the GEMM/convolution kernel time ran on Tensor Cores in {dtype} "
                                    f"(top kernel: {k.top[0]['kernel'] if k.top else 'n/a'})",
                                    {"tensor_core_share": share, "kernels": k.top,
                                     "fix": "pad the dimensions tc-alignment reports, and check that autocast covers the "
                                            "model (torch.autocast('cuda', dtype=torch.bfloat16))"}))
        else:
            findings[0] = Finding(CHECK, "info", "", findings[0].message + f"; {share:.0%} of GEMM time on Tensor Cores",
                                  details)
    return findings


@register(CHECK, default=True, budget_s=60.0, needs_batch=False)
def throughput(ctx: CheckContext) -> list[Finding]:
    if ctx.device.type == "meta":
        from nnprof.runner import CheckSkipped

        raise CheckSkipped("timing needs real tensors, not the meta device", "meta device")
    result = measure_throughput(ctx, warmup=int(ctx.options.get("warmup_steps", 2)),
                                runs=int(ctx.options.get("timed_steps", 5)))
    ctx.shared["throughput"] = result.to_report()
    extras = ctx.shared.setdefault("extras", {})
    extras["throughput_runs_ms"] = list(result.step_ms_runs)
    if result.kernels is not None:
        extras["kernels"] = {"tensor_core_share": result.kernels.tensor_core_share, "top": result.kernels.top}
    return judge(result, dtype=str(ctx.dtype).replace("torch.", ""))
