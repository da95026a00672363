"""Run a profile: count parameters and FLOPs, run every selected check under its budget, build a Report.

The runner knows no check: it imports every module of the ``nnprof.checks`` package (so each registers
itself) and iterates ``nnprof.checks.REGISTRY``. A check that raises becomes an ``error`` finding; one
that overruns its time budget an ``info`` finding ("skipped (budget)"), and its thread is told to stop
at its next forward (``loading.abandon``); the run goes on either way. A check raises ``CheckSkipped(reason)`` when it cannot run here (the meta device, say).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import threading
import time
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

import nnprof.checks
from nnprof.checks import REGISTRY, CheckSpec
from nnprof.context import CheckContext
from nnprof.findings import Finding
from nnprof.flops import FlopResult, count_flops
from nnprof.loading import (
    LoadedModel,
    abandon,
    batch_size_of,
    call_model,
    resize_batch,
    restored,
    seeded,
    to_device,
)
from nnprof.report import FLOP_UNIT, Report

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class CheckSkipped(Exception):
    """Raised by a check that cannot run in this setting: ``reason`` says why (a sentence), ``short``
    is the status label ("meta device")."""

    def __init__(self, reason: str, short: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.short = short or reason


def load_checks() -> dict[str, CheckSpec]:
    """Import every module of ``nnprof.checks`` (new check files register themselves)."""
    for info in pkgutil.iter_modules(nnprof.checks.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"nnprof.checks.{info.name}")
    return REGISTRY


def _run_order(spec: CheckSpec) -> tuple:
    """Checks run in a fixed order, whatever imported their modules first: by module name, then by their
    place in it (checks registered outside ``nnprof.checks`` come last, in registration order)."""
    module = getattr(spec.fn, "__module__", "") or ""
    code = getattr(spec.fn, "__code__", None)
    line = code.co_firstlineno if code is not None else 0
    return (0, module, line) if module.startswith("nnprof.checks.") else (1, "", 0)


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` is cuda when available, else cpu."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def select_checks(checks: Iterable[str] | None, skip: Iterable[str] = ()) -> list[CheckSpec]:
    """The checks to run, in a fixed order: ``checks`` (default: every default check) minus ``skip``.
    Unknown ids raise ``ValueError``."""
    registry = load_checks()
    wanted = list(checks) if checks is not None else [cid for cid, spec in registry.items() if spec.default]
    skipped = set(skip)
    unknown = [cid for cid in [*wanted, *skipped] if cid not in registry]
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(unknown)} (known: {', '.join(sorted(registry))})")
    chosen = [registry[cid] for cid in registry if cid in wanted and cid not in skipped]
    return sorted(chosen, key=_run_order)  # stable: equal keys keep registration order


def run_profile(
    loaded: LoadedModel,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "bfloat16",
    batch_size: int | None = None,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Report:
    """Profile ``loaded`` on ``device`` for training in ``dtype``; see the module docstring."""
    specs = select_checks(checks, skip)
    dev = resolve_device(device)
    torch_dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    options = dict(options or {})
    model, example, batch = _prepare(loaded, dev, batch_size)

    flops_budget = float(options.get("flops_budget_s", 120.0))
    with seeded(seed), restored(model):  # counting runs forward: batch-norm statistics must not move
        counted = _within(flops_budget, lambda: _count(model, example))
    hung = counted is None
    if hung:
        flops = FlopResult(0.0, {}, {}, 0.0, [], "none", batch_size_of(example), ["did not finish"])
        flop_error = Finding("flops", "error", "", f"FLOP counting did not finish within {flops_budget:g} s: the model's "
                             "forward does not return; the checks were skipped", {"budget_s": flops_budget})
    else:
        flops, flop_error = counted
    if loaded.get_batch is not None and "get_batch" not in options:
        options["get_batch"] = _batch_source(loaded, dev, batch_size)
    shared: dict[str, Any] = {"flops": flops, "extras": {}}
    ctx = CheckContext(
        model=model,
        example_input=example,
        device=dev,
        dtype=torch_dtype,
        seed=seed,
        batch=batch,
        loss_fn=loaded.loss_fn,
        make_optimizer=loaded.make_optimizer,
        build_model=_rebuilder(loaded, dev),
        causal=loaded.causal,
        options=options,
        shared=shared,
    )
    findings: list[Finding] = [flop_error] if flop_error else []
    status: dict[str, str] = {}
    seconds: dict[str, float] = {}
    scale = float(options.get("budget_scale", 1.0))
    stop: str | None = "model hangs" if hung else None
    for spec in specs:
        if stop is not None:
            status[spec.id] = f"skipped ({stop})"
            continue
        t0 = time.monotonic()
        state, found = run_check(spec, dataclasses.replace(ctx, budget_s=spec.budget_s * scale), seed)
        status[spec.id], seconds[spec.id] = state, round(time.monotonic() - t0, 3)
        findings.extend(found)
        # The checks after these would only fail the same way: one clear finding, then stop.
        if state == "out of memory":
            stop = "out of memory"
        elif state == "skipped (budget)" and _forward_hangs(model, example, float(options.get("hang_probe_s", 10.0))):
            stop = "model hangs"
            findings.append(Finding(spec.id, "error", "", f"the model's forward did not return within "
                                    f"{options.get('hang_probe_s', 10.0):g} s after {spec.id} ran out of its budget; "
                                    "the remaining checks were skipped", {"probe_s": options.get("hang_probe_s", 10.0)}))

    extras = {k: v for k, v in shared.items() if k not in ("extras", "throughput") and _plain(v)}
    extras.update(shared.get("extras", {}))
    extras.update(check_status=status, check_seconds=seconds, flops_counter=flops.counter,
                  flops_by_operator=flops.by_operator, flops_notes=flops.notes)
    params = {id(p): p for p in model.parameters()}
    return Report(
        model=loaded.spec,
        device=str(dev),
        dtype=str(torch_dtype).replace("torch.", ""),
        params=sum(p.numel() for p in params.values()),
        trainable_params=sum(p.numel() for p in params.values() if p.requires_grad),
        flops=flops_block(flops),
        throughput=shared.get("throughput") or _no_throughput(status.get("throughput", "not selected")),
        findings=findings,
        extras=extras,
    )


def flops_block(flops: FlopResult) -> dict[str, Any]:
    """The report's ``flops`` object."""
    return {
        "total": float(flops.total),
        "unit": FLOP_UNIT,
        "per_sample": flops.per_sample,
        "by_module": [{"module": m, "flops": f, "share": round(s, 6)} for m, f, s in flops.top_modules()],
        "coverage": round(flops.coverage, 6),
        "uncounted_ops": list(flops.uncounted_ops),
    }


def run_check(spec: CheckSpec, ctx: CheckContext, seed: int = 0) -> tuple[str, list[Finding]]:
    """Run one check in a worker thread under its budget; never raises."""
    if spec.needs_batch and ctx.batch is None:
        return "skipped (no get_batch)", [_skip_finding(spec.id, "the model file defines no get_batch()", "no get_batch")]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            with seeded(seed):
                box["findings"] = list(spec.fn(ctx))
        except BaseException as exc:  # reported below, whatever the check raised
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"nnprof-{spec.id}", daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker.start()
        worker.join(ctx.budget_s)
    if worker.is_alive():
        abandon(worker)  # it stops at its next forward instead of racing the next checks
        return "skipped (budget)", [
            Finding(spec.id, "info", "", f"skipped (budget): did not finish within {ctx.budget_s:g} s",
                    {"skipped": "budget", "budget_s": ctx.budget_s})
        ]
    error = box.get("error")
    if isinstance(error, CheckSkipped):
        return f"skipped ({error.short})", [_skip_finding(spec.id, error.reason, error.short)]
    if error is not None and _is_out_of_memory(error):
        message = " ".join(str(error).split())[:200]
        return "out of memory", [
            Finding(spec.id, "error", "", f"out of memory while running {spec.id} ({message}); the remaining checks "
                    "were skipped: try a smaller --batch-size, or --device meta for the static report",
                    {"exception": type(error).__name__, "error": message})
        ]
    if error is not None:
        if ctx.device.type == "meta" and _is_meta_limit(error):
            return "skipped (meta device)", [_skip_finding(spec.id, "needs real values, not the meta device", "meta device")]
        message = " ".join(str(error).split())[:300]
        return "failed", [
            Finding(spec.id, "error", "", f"the check failed: {type(error).__name__}: {message}",
                    {"exception": type(error).__name__, "error": message})
        ]
    return "ok", box.get("findings", [])


def _skip_finding(check: str, reason: str, short: str) -> Finding:
    return Finding(check, "info", "", f"skipped ({short}): {reason}", {"skipped": short})


def _within(timeout_s: float, fn: Any) -> Any:
    """``fn()`` run in a daemon thread; its result, or None if it did not return within ``timeout_s``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="nnprof-budget", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return None
    if "error" in box:
        raise box["error"]
    return box["value"]


def _forward_hangs(model: nn.Module, example: Any, timeout_s: float) -> bool:
    """Whether one forward pass on the example input fails to return within ``timeout_s``."""
    done = threading.Event()

    def probe() -> None:
        try:
            with torch.no_grad():
                call_model(model, example)
        except BaseException:  # noqa: BLE001 - only whether it returns matters here
            pass
        done.set()

    threading.Thread(target=probe, name="nnprof-hang-probe", daemon=True).start()
    return not done.wait(timeout_s)


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _is_meta_limit(error: BaseException) -> bool:
    text = str(error).lower()
    return "meta" in text or isinstance(error, NotImplementedError)


def _prepare(loaded: LoadedModel, device: torch.device, batch_size: int | None) -> tuple[nn.Module, Any, Any]:
    model = loaded.model if loaded.device == device else loaded.model.to(device)
    example = to_device(loaded.example_input, device)
    batch = to_device(loaded.batch, device) if loaded.batch is not None else None
    if batch_size:
        old = batch_size_of(example)
        if old:
            example = resize_batch(example, old, batch_size)
        if batch is not None and batch_size_of(batch[0]):
            batch = resize_batch(batch, batch_size_of(batch[0]), batch_size)
    return model, example, batch


def _batch_source(loaded: LoadedModel, device: torch.device, batch_size: int | None) -> Any:
    """Fresh batches for checks that need more than one (lr-range), on the device and at the batch size."""

    def get() -> Any:
        inputs, targets = loaded.get_batch()
        batch = (to_device(inputs, device), to_device(targets, device))
        if batch_size and batch_size_of(batch[0]):
            batch = resize_batch(batch, batch_size_of(batch[0]), batch_size)
        return batch

    return get


def _rebuilder(loaded: LoadedModel, device: torch.device) -> Any:
    def build() -> nn.Module:
        return loaded.build_model().to(device)

    return build


def _count(model: nn.Module, example: Any) -> tuple[FlopResult, Finding | None]:
    try:
        return count_flops(model, example, batch_size=batch_size_of(example)), None
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        empty = FlopResult(0.0, {}, {}, 0.0, [], "none", batch_size_of(example), [message])
        return empty, Finding("flops", "error", "", f"FLOPs could not be counted: {type(exc).__name__}: {message}",
                              {"exception": type(exc).__name__})


def _plain(value: Any) -> bool:
    """JSON-like data (what checks leave in ``ctx.shared`` for renderers), not measurement objects."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _no_throughput(status: str) -> dict[str, Any]:
    """The throughput block when the check gave no numbers; ``skipped`` says why ("meta device")."""
    reason = status[len("skipped (") : -1] if status.startswith("skipped (") else status
    return {"samples_per_s": None, "step_ms": None, "mfu": None, "skipped": reason}
