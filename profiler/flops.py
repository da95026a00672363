"""FLOPs per module: fvcore's ``FlopCountAnalysis`` with extra op handles, or a dispatch-level counter.

All figures are FLOPs with one multiply-add = 2 FLOPs (fvcore counts multiply-adds; its counts are
doubled). Formulas are small functions registered by decorator against the aten operators they cover::

    @formula("mm")
    def _mm(a): return gemm_flops(*a["self"].shape, a["mat2"].shape[1])

Each formula receives the operator's arguments by schema name (tensors, or stand-ins with a ``shape``
when the caller is fvcore's JIT graph) and returns FLOPs. Both backends use the same formulas for the
operators fvcore does not know (attention, RNNs, baddbmm, fused MHA), so they agree.

Backends:

* ``fvcore`` (real devices): ``FlopCountAnalysis`` traces the model with the JIT; the registry adds
  ``set_op_handle`` entries for what fvcore misses: ``aten::scaled_dot_product_attention`` (QK^T and AV,
  causal mask counted), ``aten::lstm``/``gru``/``rnn_tanh``/``rnn_relu`` (all gates),
  ``aten::baddbmm``/``addbmm``/``mv``/``addmv``/``dot`` and ``aten::_native_multi_head_attention``.
* ``dispatch`` (the meta device, and the fallback when the JIT trace fails): a ``TorchDispatchMode``
  over aten operators, with attention and RNN calls caught whole at the torch-function level. fvcore's
  JIT trace cannot run convolutions on meta tensors (torch 2.13: ``meta_conv`` raises TypeError under
  tracing), so the meta device always uses this counter.

Coverage is the share of time-relevant operator calls that have a formula. Views, copies, element-wise
operators, reductions and indexing are memory-bound and not counted as FLOPs (see ``NEGLIGIBLE``); any
other operator without a formula is listed in ``uncounted_ops`` and lowers the coverage.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnprof.loading import call_model
from nnprof.tracing import OpEvent, bind_args, op_name, tap_ops

UNIT = "flop (1 multiply-add = 2 flop)"

Formula = Callable[[dict[str, Any]], float]
FORMULAS: dict[str, Formula] = {}
#: Operators counted whole at the torch-function level (their decomposition differs per device).
WHOLE_OPS = frozenset({"scaled_dot_product_attention", "lstm", "gru", "rnn_tanh", "rnn_relu"})


def formula(*names: str) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the FLOP formula of the aten operators ``names`` (bare names, no overload)."""

    def deco(fn: Formula) -> Formula:
        for name in names:
            FORMULAS[name] = fn
        return fn

    return deco


# ---------------------------------------------------------------------------------------------------
# Shape arithmetic shared by the formulas, the shape recorder and the tests.


def gemm_flops(m: int, k: int, n: int, batch: int = 1) -> int:
    """(batch x) an (m x k) @ (k x n) product: 2*m*n*k FLOPs."""
    return 2 * batch * m * n * k


def conv_flops(x_shape: Iterable[int], w_shape: Iterable[int], out_shape: Iterable[int], transposed: bool) -> int:
    """2 * N * prod(weight) * prod(spatial) (spatial of the output, or of the input when transposed)."""
    x, w, out = list(x_shape), list(w_shape), list(out_shape)
    spatial = (x if transposed else out)[2:]
    return 2 * x[0] * math.prod(w) * math.prod(spatial)


def causal_pairs(t: int, s: int) -> int:
    """Query/key pairs left by a top-left causal mask (query i sees keys 0..i)."""
    if t <= s:
        return t * (t + 1) // 2
    return s * (s + 1) // 2 + (t - s) * s


def attention_flops(q_shape: Iterable[int], k_shape: Iterable[int], v_shape: Iterable[int], causal: bool) -> int:
    """QK^T (2*T*S*E) plus AV (2*T*S*Ev) per batch-head; a causal mask keeps only the unmasked pairs
    (about half). Softmax and scaling are element-wise and not counted."""
    q, k, v = list(q_shape), list(k_shape), list(v_shape)
    t, e, s, ev = q[-2], q[-1], k[-2], v[-1]
    pairs = causal_pairs(t, s) if causal else t * s
    return 2 * math.prod(q[:-2]) * pairs * (e + ev)


#: Element-wise FLOPs per hidden unit and step (1 per add, multiply or activation), with / without biases.
RNN_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_RNN_ELEMENTWISE = {"lstm": (21, 13), "gru": (16, 10), "rnn_tanh": (4, 2), "rnn_relu": (4, 2)}


def rnn_flops(mode: str, rows: int, weight_shapes: list[list[int]], has_biases: bool, groups: int) -> int:
    """An RNN over ``rows`` (time steps x batch) with all its layers and directions.

    Matrix products: 2 * rows * (every 2-D weight's size: W_ih, W_hh and the LSTM projection W_hr).
    Gates per hidden unit and step: LSTM i,f,g,o (sums, biases, 3 sigmoid, 2 tanh, c = f*c + i*g,
    h = o*tanh(c)): 21; GRU r,z,n: 16; vanilla RNN: 4 (fewer without biases).
    """
    two_d = [s for s in weight_shapes if len(s) == 2]
    matmul = sum(2 * math.prod(s) for s in two_d)
    per_group = len(two_d) // max(groups, 1)  # W_ih, W_hh (and W_hr) per layer and direction
    hidden_total = sum(two_d[g * per_group + 1][0] // RNN_GATES[mode] for g in range(groups))
    per_unit = _RNN_ELEMENTWISE[mode][0 if has_biases else 1]
    return rows * (matmul + per_unit * hidden_total)


# ---------------------------------------------------------------------------------------------------
# The formulas, one per operator.


def _shape(x: Any) -> list[int]:
    return [int(d) for d in x.shape]


@formula("mm")
def _mm(a: dict[str, Any]) -> float:
    (m, k), n = _shape(a["self"]), _shape(a["mat2"])[1]
    return gemm_flops(m, k, n)


@formula("addmm")
def _addmm(a: dict[str, Any]) -> float:
    (m, k), n = _shape(a["mat1"]), _shape(a["mat2"])[1]
    return gemm_flops(m, k, n)


@formula("bmm")
def _bmm(a: dict[str, Any]) -> float:
    (b, m, k), n = _shape(a["self"]), _shape(a["mat2"])[2]
    return gemm_flops(m, k, n, b)


@formula("baddbmm", "addbmm")
def _baddbmm(a: dict[str, Any]) -> float:
    (b, m, k), n = _shape(a["batch1"]), _shape(a["batch2"])[2]
    return gemm_flops(m, k, n, b)


@formula("mv", "addmv")
def _mv(a: dict[str, Any]) -> float:
    m, k = _shape(a["mat"] if "mat" in a else a["self"])
    return gemm_flops(m, k, 1)


@formula("dot", "vdot")
def _dot(a: dict[str, Any]) -> float:
    return 2 * _shape(a["self"])[0]


@formula("convolution", "_convolution")
def _convolution(a: dict[str, Any]) -> float:
    out = a["_out_shape"]
    return conv_flops(_shape(a["input"]), _shape(a["weight"]), out, bool(a["transposed"]))


ATTENTION_OPS = frozenset(
    {
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
    }
)


@formula(*sorted(ATTENTION_OPS))
def _sdpa(a: dict[str, Any]) -> float:
    masked = a.get("attn_mask") is not None or a.get("attn_bias") is not None
    causal = bool(a.get("is_causal", False)) and not masked
    return attention_flops(_shape(a["query"]), _shape(a["key"]), _shape(a["value"]), causal)


@formula("_native_multi_head_attention")
def _native_mha(a: dict[str, Any]) -> float:
    q, k = _shape(a["query"]), _shape(a["key"])
    b, t, e = q[0] if len(q) == 3 else 1, q[-2], q[-1]
    s = k[-2]
    projections = gemm_flops(b * t, e, e) * 2 + gemm_flops(b * s, e, e) * 2  # q, out; k, v
    return projections + 2 * b * t * s * 2 * e


def _rnn(mode: str) -> Formula:
    def fn(a: dict[str, Any]) -> float:
        params = list(a["params"])
        x = _shape(a["input"] if "input" in a else a["data"])
        rows = math.prod(x[:-1])  # (T, B) or (B, T) or unbatched T, or the packed rows
        groups = int(a["num_layers"]) * (2 if a["bidirectional"] else 1)
        return rnn_flops(mode, rows, [_shape(p) for p in params], bool(a["has_biases"]), groups)

    return fn


for _mode in RNN_GATES:
    formula(_mode)(_rnn(_mode))


def _norm(affine_key: str, training_key: str | None = None) -> Formula:
    """fvcore's norm formula (in multiply-adds: 5 per element with affine, 4 without; batch norm in
    eval: 2 / 1), doubled to FLOPs, so both backends agree."""

    def fn(a: dict[str, Any]) -> float:
        numel = math.prod(_shape(a["input"]))
        affine = a.get(affine_key) is not None
        if training_key is not None and not a.get(training_key, True):
            return 2 * numel * (2 if affine else 1)
        return 2 * numel * (5 if affine else 4)

    return fn


formula("native_layer_norm", "native_group_norm")(_norm("weight"))
formula("native_batch_norm", "_native_batch_norm_legit")(_norm("weight", "training"))


@formula("_native_batch_norm_legit_no_training")
def _bn_eval(a: dict[str, Any]) -> float:
    return 2 * math.prod(_shape(a["input"])) * (2 if a.get("weight") is not None else 1)


def _elementwise(input_scale: float, output_scale: float) -> Formula:
    def fn(a: dict[str, Any]) -> float:
        first = a.get("self", a.get("input"))
        total = input_scale * math.prod(_shape(first)) if first is not None else 0
        return 2 * (total + output_scale * math.prod(a["_out_shape"]))

    return fn


formula("upsample_nearest2d")(_elementwise(0, 1))
formula("upsample_bilinear2d", "grid_sampler_2d")(_elementwise(0, 4))
formula("_adaptive_avg_pool2d")(_elementwise(1, 0))


# ---------------------------------------------------------------------------------------------------
# What is not worth a formula: memory-bound operators.

_VIEWS = """view _unsafe_view reshape t transpose permute expand expand_as squeeze unsqueeze select slice split
split_with_sizes unsafe_split chunk unbind contiguous clone copy detach alias as_strided _to_copy to type_as
lift_fresh flatten unflatten narrow movedim cat stack empty empty_like empty_strided new_empty new_empty_strided
zeros zeros_like ones ones_like full full_like new_zeros new_ones new_full fill zero arange scalar_tensor
tensor _local_scalar_dense item size stride numel dim constant_pad_nd pad roll repeat tile flip index
index_select index_put index_add index_copy gather scatter scatter_add masked_select masked_scatter embedding
embedding_dense_backward nonzero where _reshape_alias resolve_conj resolve_neg view_as unfold diagonal
split_copy slice_scatter select_scatter Int ScalarImplicit Float Bool list_to_tensor"""

_ELEMENTWISE = """add sub rsub mul div neg abs pow sqrt rsqrt exp exp2 expm1 log log1p log2 log_softmax softmax
_softmax _safe_softmax _log_softmax tanh sigmoid relu relu6 hardtanh gelu silu mish elu selu celu leaky_relu
softplus hardswish hardsigmoid threshold glu prelu _prelu_kernel erf erfc sin cos reciprocal sign floor ceil
round trunc frac clamp clamp_min clamp_max maximum minimum masked_fill lerp addcmul addcdiv eq ne lt le gt
ge logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_not bitwise_xor __and__
__or__ tril triu isnan isinf isfinite nan_to_num fmod remainder floor_divide square bernoulli native_dropout
dropout feature_dropout alpha_dropout rand rand_like randn randn_like randint randperm uniform normal
_unsafe_index sum mean amax amin max min argmax argmin var std var_mean std_mean norm linalg_vector_norm
prod cumsum cumprod logsumexp all any sort topk nll_loss nll_loss_forward nll_loss2d_forward cross_entropy_loss
mse_loss l1_loss smooth_l1_loss binary_cross_entropy binary_cross_entropy_with_logits kl_div max_pool1d
max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
adaptive_max_pool2d adaptive_avg_pool1d adaptive_avg_pool3d _adaptive_avg_pool3d one_hot bucketize
searchsorted floor_divide rms_norm _fused_rms_norm polar complex view_as_real view_as_complex real imag
linalg_norm dist cdist_backward channel_shuffle pixel_shuffle pixel_unshuffle upsample_nearest1d
upsample_nearest3d batch_norm_stats batch_norm_elemt"""

#: Operators deliberately given no FLOP formula: they move or touch memory (views, copies,
#: element-wise maths, reductions, indexing, pooling, losses). They do not lower coverage.
NEGLIGIBLE = frozenset(_VIEWS.split()) | frozenset(_ELEMENTWISE.split())


def is_negligible(name: str) -> bool:
    name = op_name(name)
    return name in NEGLIGIBLE or name.startswith(("_foreach", "prim::", "detach"))


# ---------------------------------------------------------------------------------------------------
# Results and backends.


@dataclass
class FlopResult:
    """Forward-pass FLOPs of the model on its example input.

    ``by_module`` maps a module path to the FLOPs of the operators it issued itself (children
    excluded), so the values add up to ``total``. ``by_operator`` maps an operator name to FLOPs.
    """

    total: float
    by_module: dict[str, float]
    by_operator: dict[str, float]
    coverage: float
    uncounted_ops: list[str]
    counter: str
    batch_size: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def per_sample(self) -> float | None:
        return self.total / self.batch_size if self.batch_size else None

    def top_modules(self, n: int | None = None) -> list[tuple[str, float, float]]:
        """``(module, flops, share)`` sorted by FLOPs, largest first."""
        rows = sorted(((m, f) for m, f in self.by_module.items() if f > 0), key=lambda r: -r[1])
        total = self.total or 1.0
        return [(m, f, f / total) for m, f in rows[:n]]


def _coverage(counted: int, uncounted: int) -> float:
    return 1.0 if counted + uncounted == 0 else counted / (counted + uncounted)


def count_flops(
    model: nn.Module, inputs: Any, *, backend: str = "auto", batch_size: int | None = None
) -> FlopResult:
    """Forward FLOPs of ``model(inputs)``: fvcore on real devices, the dispatch counter on meta or when
    the JIT trace fails (the reason is kept in ``notes``)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if backend == "dispatch" or (backend == "auto" and device.type == "meta"):
        return count_flops_dispatch(model, inputs, batch_size=batch_size)
    try:
        return count_flops_fvcore(model, inputs, batch_size=batch_size)
    except Exception as exc:  # the JIT trace cannot take every model (dict outputs, data-dependent code)
        if backend == "fvcore":
            raise
        result = count_flops_dispatch(model, inputs, batch_size=batch_size)
        result.notes.append(f"fvcore could not trace the model ({type(exc).__name__}: {exc}); used the dispatch counter")
        return result


def count_flops_dispatch(model: nn.Module, inputs: Any, *, batch_size: int | None = None) -> FlopResult:
    """Count with a ``TorchDispatchMode`` (works on every device, including meta)."""
    by_module: dict[str, float] = defaultdict(float)
    by_operator: dict[str, float] = defaultdict(float)
    counted, uncounted = 0, Counter()

    def on_op(ev: OpEvent) -> None:
        nonlocal counted
        if ev.phase != "forward":
            return
        fn = FORMULAS.get(ev.name)
        if fn is None:
            if not is_negligible(ev.name):
                uncounted[f"aten::{ev.name}"] += 1
            return
        flops = float(fn(_event_args(ev)))
        counted += 1
        by_module[ev.module] += flops
        by_operator[ev.name] += flops

    with torch.no_grad(), tap_ops(model, on_op, whole=WHOLE_OPS):
        call_model(model, inputs)
    return FlopResult(
        total=sum(by_module.values()),
        by_module=dict(by_module),
        by_operator=dict(by_operator),
        coverage=_coverage(counted, sum(uncounted.values())),
        uncounted_ops=sorted(uncounted),
        counter="dispatch",
        batch_size=batch_size,
    )


def _event_args(ev: OpEvent) -> dict[str, Any]:
    if ev.level == "function":
        a = bind_function(ev.name, ev.args, ev.kwargs)
    else:
        a = ev.bound()
    out = ev.out[0] if isinstance(ev.out, (tuple, list)) else ev.out
    a["_out_shape"] = list(out.shape) if isinstance(out, torch.Tensor) else []
    return a


def bind_function(name: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Name the arguments of a whole call (SDPA, RNNs) with the matching aten overload's schema."""
    packet = getattr(torch.ops.aten, name)
    overload = "default"
    if name in RNN_GATES:
        overload = "data" if len(args) > 3 and isinstance(args[3], (list, tuple)) else "input"
    return bind_args(getattr(packet, overload), args, kwargs)


def count_flops_fvcore(model: nn.Module, inputs: Any, *, batch_size: int | None = None) -> FlopResult:
    """Count with fvcore's ``FlopCountAnalysis`` plus the handles of ``FORMULAS`` it lacks."""
    with warnings.catch_warnings():  # fvcore's import scripts a function (torch.jit.script is deprecated)
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis
        from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS

    root, args, prefix = _positional(model, inputs)
    calls: Counter[str] = Counter()
    analysis = FlopCountAnalysis(root, args)
    handles = dict(_DEFAULT_SUPPORTED_OPS)
    handles.update({f"aten::{name}": _fvcore_handle(name) for name in FVCORE_EXTRA})
    for kind, handle in handles.items():
        analysis.set_op_handle(kind, _counting(kind, handle, calls))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inclusive = {k: 2.0 * v for k, v in analysis.by_module().items()}
            by_operator = {k: 2.0 * v for k, v in analysis.by_operator().items()}
            unsupported = analysis.unsupported_ops()
    finally:
        logger.setLevel(level)
    inclusive = _strip_prefix(inclusive, prefix)
    uncounted = Counter({k: v for k, v in unsupported.items() if not is_negligible(k)})
    return FlopResult(
        total=inclusive.get("", 0.0),
        by_module=self_flops(model, inclusive),
        by_operator=by_operator,
        coverage=_coverage(sum(calls.values()), sum(uncounted.values())),
        uncounted_ops=sorted(uncounted),
        counter="fvcore",
        batch_size=batch_size,
    )


#: Operators fvcore 0.1.5 has no handle for and ``FORMULAS`` has (their JIT names are ``aten::<name>``).
FVCORE_EXTRA = (
    "scaled_dot_product_attention",
    "lstm",
    "gru",
    "rnn_tanh",
    "rnn_relu",
    "baddbmm",
    "addbmm",
    "mv",
    "addmv",
    "dot",
    "_native_multi_head_attention",
)


class _JitShape:
    """A stand-in for a tensor in fvcore's JIT graph: only its shape."""

    def __init__(self, shape: list[int]) -> None:
        self.shape = torch.Size(shape)


def _jit_value(value: Any) -> Any:
    from fvcore.nn.jit_handles import get_shape

    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [_jit_value(v) for v in node.inputs()]
    shape = get_shape(value)
    if shape is not None:
        return _JitShape(shape)
    if value.type().kind() == "TensorType":
        return _JitShape([0])
    try:
        return value.toIValue()
    except RuntimeError:
        return None


def _fvcore_handle(name: str) -> Callable[[list[Any], list[Any]], float]:
    fn = FORMULAS[name]

    def handle(inputs: list[Any], outputs: list[Any]) -> float:
        args = tuple(_jit_value(v) for v in inputs)
        if name in WHOLE_OPS:
            a = bind_function(name, args, {})
        else:
            a = bind_args(getattr(torch.ops.aten, name).default, args, {})
        out = _jit_value(outputs[0]) if outputs else None
        a["_out_shape"] = list(out.shape) if isinstance(out, _JitShape) else []
        return fn(a) / 2.0  # fvcore's unit is the multiply-add

    return handle


def _counting(kind: str, handle: Callable, calls: Counter[str]) -> Callable:
    def wrapped(inputs: list[Any], outputs: list[Any]) -> Any:
        calls[kind] += 1
        return handle(inputs, outputs)

    return wrapped


class _KwargsModule(nn.Module):
    """Lets the JIT trace a model whose ``forward`` takes keyword arguments."""

    def __init__(self, model: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.m = model
        self.keys = keys

    def forward(self, *values: Any) -> Any:
        return self.m(**dict(zip(self.keys, values, strict=True)))


def _positional(model: nn.Module, inputs: Any) -> tuple[nn.Module, tuple, str]:
    if isinstance(inputs, dict):
        return _KwargsModule(model, list(inputs)), tuple(inputs.values()), "m"
    if isinstance(inputs, (tuple, list)):
        return model, tuple(inputs), ""
    return model, (inputs,), ""


def _strip_prefix(counts: dict[str, float], prefix: str) -> dict[str, float]:
    if not prefix:
        return counts
    out = {}
    for name, value in counts.items():
        if name == prefix:
            out[""] = value
        elif name.startswith(prefix + "."):
            out[name[len(prefix) + 1 :]] = value
    return out


def self_flops(model: nn.Module, inclusive: dict[str, float]) -> dict[str, float]:
    """Inclusive per-module counts (a module includes its children) -> the module's own operators."""
    children: dict[str, list[str]] = defaultdict(list)
    for name, _ in model.named_modules():
        if name:
            parent = name.rsplit(".", 1)[0] if "." in name else ""
            children[parent].append(name)
    out = {}
    for name, value in inclusive.items():
        own = value - sum(inclusive.get(c, 0.0) for c in children.get(name, []))
        if own > 0.5:
            out[name] = own
    return out
