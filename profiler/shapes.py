"""Record the runtime shape of every GEMM, convolution, attention and RNN the model executes.

``record_shapes(model, inputs)`` runs the forward (and, with ``backward=True``, a backward from the sum
of the output) under the taps of ``nnprof.tracing`` and returns one ``OpRecord`` per operator call,
mapped to the module that issued it: the module whose forward was running, or, in the backward, the
module whose backward was running (``phase == "backward"``). Works on cpu, cuda and meta; on meta no
value is computed, only shapes.

GEMM dimensions follow BLAS: ``M x K`` @ ``K x N``; ``K`` is the reduction. ``M`` of ``mm``/``addmm`` is
the flattened batch (rows); ``bmm`` also has ``B``. Convolutions record ``C_in``, ``C_out`` and ``groups``;
attention records ``T``, ``S``, ``head_dim`` (``E``) and ``head_dim_v``; RNNs ``input_size`` and
``hidden_size``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nnprof.flops import ATTENTION_OPS, FORMULAS, RNN_GATES, WHOLE_OPS, bind_function
from nnprof.loading import call_model, primary_output, restored
from nnprof.tracing import OpEvent, tap_ops

GEMM_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm"})
CONV_OPS = frozenset({"convolution", "_convolution"})
ATTENTION_BACKWARD_OPS = frozenset(f"{name}_backward" for name in ATTENTION_OPS if name.startswith("_"))
RNN_OPS = frozenset({"lstm", "gru", "rnn_tanh", "rnn_relu"})


@dataclass(frozen=True)
class OpRecord:
    """One GEMM-like operator call: its kind, shape, FLOPs and the module that issued it."""

    module: str
    op: str  # the aten operator, e.g. "addmm", "bmm", "convolution", "scaled_dot_product_attention"
    kind: str  # "gemm" | "conv" | "attention" | "rnn"
    phase: str  # "forward" | "backward"
    dims: dict[str, int]
    flops: float
    dtype: str
    module_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_shapes(model: nn.Module, inputs: Any, *, backward: bool = True) -> list[OpRecord]:
    """Run ``model(inputs)`` (and a backward from the output's sum) and record every GEMM-like call.

    The model is left as it was (``nnprof.loading.restored``): no gradients, same buffers.
    """
    records: list[OpRecord] = []
    types = {name: type(m).__name__ for name, m in model.named_modules()}

    def on_op(ev: OpEvent) -> None:
        record = _record(ev)
        if record is not None:
            records.append(_with_type(record, types.get(record.module, "")))

    grad = backward and any(p.requires_grad for p in model.parameters())
    with restored(model), torch.set_grad_enabled(grad), tap_ops(model, on_op, whole=WHOLE_OPS):
        out = call_model(model, inputs)
        if grad:
            loss = primary_output(out).float().sum()
            if loss.requires_grad:
                loss.backward()
    return records


def _with_type(record: OpRecord, module_type: str) -> OpRecord:
    return OpRecord(**{**asdict(record), "module_type": module_type})


def _record(ev: OpEvent) -> OpRecord | None:
    name = ev.name
    builder = _BUILDERS.get(name)
    if builder is None:
        if name in ATTENTION_BACKWARD_OPS:
            builder = _attention_backward
        elif name == "convolution_backward":
            builder = _conv_backward
        else:
            return None
    a = bind_function(name, ev.args, ev.kwargs) if ev.level == "function" else ev.bound()
    made = builder(a, ev)
    if made is None:
        return None
    kind, dims, flops, dtype = made
    return OpRecord(ev.module, name, kind, ev.phase, dims, float(flops), dtype)


Built = tuple[str, dict[str, int], float, str] | None


def _dt(t: Any) -> str:
    return str(t.dtype).replace("torch.", "") if isinstance(t, torch.Tensor) else ""


def _gemm(a: dict[str, Any], ev: OpEvent) -> Built:
    x, w = (a["mat1"], a["mat2"]) if "mat1" in a else (a["batch1"], a["batch2"]) if "batch1" in a else (a["self"], a["mat2"])
    if x.dim() == 3:
        b, m, k = x.shape
        dims = {"B": int(b), "M": int(m), "K": int(k), "N": int(w.shape[2])}
    else:
        m, k = x.shape
        dims = {"M": int(m), "K": int(k), "N": int(w.shape[1])}
    flops = 2 * dims.get("B", 1) * dims["M"] * dims["K"] * dims["N"]
    return "gemm", dims, flops, _dt(x)


def _conv(a: dict[str, Any], ev: OpEvent) -> Built:
    x, w = a["input"], a["weight"]
    groups = int(a.get("groups", 1))
    transposed = bool(a.get("transposed", False))
    c_out = int(w.shape[1]) * groups if transposed else int(w.shape[0])
    c_in = int(w.shape[0]) if transposed else int(w.shape[1]) * groups
    dims = {
        "N": int(x.shape[0]),
        "C_in": c_in,
        "C_out": c_out,
        "groups": groups,
        "kernel": int(math.prod(w.shape[2:])),
        "out_spatial": int(math.prod(ev.out.shape[2:])),
    }
    return "conv", dims, FORMULAS["convolution"]({**a, "_out_shape": list(ev.out.shape)}), _dt(x)


def _conv_backward(a: dict[str, Any], ev: OpEvent) -> Built:
    grad_out, x, w = a["grad_output"], a["input"], a["weight"]
    groups = int(a.get("groups", 1))
    dims = {"N": int(x.shape[0]), "C_in": int(w.shape[1]) * groups, "C_out": int(w.shape[0]), "groups": groups}
    mask = list(a.get("output_mask", [True, True, True]))
    one = FORMULAS["convolution"]({"input": x, "weight": w, "transposed": a.get("transposed", False), "_out_shape": list(grad_out.shape)})
    return "conv", dims, one * (int(bool(mask[0])) + int(bool(mask[1]))), _dt(x)


def _attention(a: dict[str, Any], ev: OpEvent) -> Built:
    q, k, v = a["query"], a["key"], a["value"]
    dims = {
        "B": int(math.prod(q.shape[:-2])),
        "T": int(q.shape[-2]),
        "S": int(k.shape[-2]),
        "head_dim": int(q.shape[-1]),
        "head_dim_v": int(v.shape[-1]),
        "causal": int(bool(a.get("is_causal", False))),
    }
    return "attention", dims, FORMULAS["scaled_dot_product_attention"](a), _dt(q)


def _attention_backward(a: dict[str, Any], ev: OpEvent) -> Built:
    kind, dims, flops, dtype = _attention(a, ev)
    return kind, dims, 2 * flops, dtype  # dQ, dK, dV and dP: about twice the forward


def _rnn(a: dict[str, Any], ev: OpEvent) -> Built:
    x = a["input"] if "input" in a else a["data"]
    params = [p for p in a["params"] if p.dim() == 2]
    dims = {
        "input_size": int(x.shape[-1]),
        "hidden_size": int(params[1].shape[0]) // RNN_GATES[ev.name] if len(params) > 1 else 0,
        "num_layers": int(a["num_layers"]),
    }
    return "rnn", dims, FORMULAS[ev.name](a), _dt(x)


_BUILDERS: dict[str, Callable[[dict[str, Any], OpEvent], Any]] = {
    **{name: _gemm for name in GEMM_OPS},
    **{name: _conv for name in CONV_OPS},
    **{name: _attention for name in ATTENTION_OPS},
    **{name: _rnn for name in RNN_OPS},
}
