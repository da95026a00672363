"""Rules: training_loop (NN2xx): the optimisation loop — the loss, backward(), the optimiser and its schedule.

Helpers are grouped per rule and prefixed with the rule's theme: ``_loss_*``/``_Loss*`` for NN201,
``_sched_*``/``_Sched*``/``_epoch_*`` for NN202, ``_step_*``/``_Step*`` for NN203-NN209 (one shared
scan of a training step: backward, zero_grad, clipping, step, scheduler, accumulations) and ``_opt_*``
for NN210-NN211 (the optimiser's construction). The few shared ones (``_tokens``, ``_last``,
``_block_body``) come first; ``expr_nodes`` is nnlint.astutil's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import libcst as cst

from nnlint.astutil import (
    NESTED_SCOPES,
    arg,
    call_name,
    dotted_name,
    expr_nodes,
    int_value,
    number_value,
    string_value,
    walk_nodes,
)
from nnlint.rule import Invalid, Rule
from nnlint.walker import children

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _tokens(name: str) -> list[str]:
    """``train_lossFn`` -> ``['train', 'loss', 'fn']``."""
    return [t for t in _CAMEL.sub("_", name).lower().split("_") if t]


def _last(dotted: str | None) -> str:
    return dotted.rsplit(".", 1)[-1] if dotted else ""




def _block_body(suite: cst.BaseSuite | None) -> list[cst.CSTNode]:
    if suite is None:
        return []
    return list(suite.body)


def _is_none(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


# ---------------------------------------------------------------------------------------------
# NN201 loss-clipping: what is a loss, what caps it, and where the capped value goes
# ---------------------------------------------------------------------------------------------

# torch.nn.functional losses whose name does not end in "_loss".
_LOSS_FUNCTIONAL = frozenset(
    {"cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "nll_loss"}
)
# Names (split in words) of values that hold a loss ...
_LOSS_WORDS = frozenset({"loss", "losses"})
# ... unless another word says they hold a setting, a function or a record about it.
_LOSS_VALUE_EXCLUDE = frozenset(
    {
        "scale", "scaler", "scaling", "weight", "weights", "wt", "w", "fn", "fns", "func", "funcs",
        "function", "functions", "criterion", "module", "modules", "type", "types", "name", "names",
        "key", "keys", "cfg", "config", "conf", "coef", "coeff", "coefficient", "factor", "lambda",
        "lam", "mult", "multiplier", "ratio", "clip", "clipping", "cap", "max", "min", "threshold",
        "thresh", "limit", "bound", "eps", "history", "hist", "list", "dict", "meter", "meters",
        "tracker", "log", "logs", "str", "msg", "fmt", "idx", "index", "count", "step", "steps",
        "scheduler", "mask", "reduction", "kwargs", "args", "window", "queue", "buffer", "buf", "cls",
        "class", "best", "lowest", "prev", "previous", "smoothing", "mode", "spec", "obj",
    }
)
# Callables whose result is a loss: ``criterion(...)``, ``self.compute_loss(...)``, ``loss_fn(...)``.
_LOSS_CALLEE_WORDS = frozenset({"loss", "losses", "criterion", "criterions", "crit", "lossfn", "lossfunc"})
_LOSS_CALLEE_EXCLUDE = frozenset(
    {
        "scale", "scaler", "scaling", "weight", "weights", "log", "plot", "print", "save", "record",
        "update", "reset", "show", "write", "load", "meter", "tracker", "history", "type", "name",
        "names", "cfg", "config", "list", "dict", "build", "create", "make", "init", "register",
        "add", "append", "set", "format", "str", "keys", "items", "values",
    }
)
# Tensor methods that keep a loss a loss (reductions, casts, elementwise arithmetic, in-place forms).
_LOSS_KEEP_METHODS = frozenset(
    {
        "mean", "sum", "nanmean", "nansum", "clamp", "clamp_", "clip", "clip_", "clamp_min",
        "clamp_min_", "reshape", "view", "squeeze", "unsqueeze", "flatten", "float", "double", "half",
        "bfloat16", "to", "cuda", "cpu", "clone", "contiguous", "mul", "mul_", "add", "add_", "div",
        "div_", "sub", "sub_", "masked_fill", "masked_fill_", "masked_select", "abs", "sqrt", "pow",
        "neg", "max", "amax", "type_as", "expand", "expand_as", "__getitem__",
    }
)
# torch functions that reduce or combine losses into a loss.
_LOSS_COMBINE_FUNCTIONS = frozenset(
    {
        "torch.mean", "torch.sum", "torch.nanmean", "torch.nansum", "torch.stack", "torch.cat",
        "torch.add", "torch.mul", "torch.div", "torch.sub", "torch.sqrt", "torch.abs",
        "torch.flatten", "torch.reshape", "torch.squeeze", "torch.max", "torch.amax",
    }
)
# Calls through which a value leaves the autograd graph (or becomes a number for a log line).
_LOSS_DETACH_METHODS = frozenset(
    {
        "item", "detach", "detach_", "tolist", "numpy", "exp", "exp_", "isnan", "isinf", "isfinite",
        "size", "dim", "numel", "argmax", "argmin", "eq", "ne", "lt", "gt", "le", "ge", "any", "all",
        "nonzero", "bool", "long", "int", "__float__", "__int__", "backward",
    }
)
_LOSS_DETACH_BUILTINS = frozenset({"float", "int", "round", "str", "repr", "format", "bool", "len", "print"})
_LOSS_DETACH_PREFIXES = ("math.", "numpy.", "torch.exp", "torch.isnan", "torch.isinf", "torch.isfinite")
# Functions whose name says they only measure or report: what they return is not trained on.
_LOSS_REPORT_FUNCTION_WORDS = frozenset(
    {
        "val", "valid", "validate", "validation", "eval", "evaluate", "evaluation", "test", "testing",
        "metric", "metrics", "log", "logging", "ppl", "perplexity", "score", "scores", "predict",
        "prediction", "inference", "infer", "report", "summary", "summarize", "print", "plot",
        "monitor", "display", "visualize", "show", "stats", "statistics",
    }
)
_LOSS_INF_NAMES = frozenset({"math.inf", "numpy.inf", "torch.inf", "np.inf", "inf"})
# Callables (last name) that run backward() on their first argument.
_LOSS_BACKWARD_CALLEES = frozenset({"loss_scaler", "grad_scaler", "scaler"})
_LOSS_CAP_NAMES = frozenset(
    {"clamp", "clamp_", "clip", "clip_", "clamp_max", "clamp_max_", "min", "minimum", "fmin"}
)


_NO_LOSS, _NAMED_LOSS, _FLOW_LOSS = 0, 1, 2


def _loss_value_name(name: str) -> bool:
    """A variable or attribute named for a loss value: ``loss``, ``ce_loss``, ``totalLoss``, not ``loss_scale``."""
    words = _tokens(name)
    return bool(_LOSS_WORDS.intersection(words)) and not _LOSS_VALUE_EXCLUDE.intersection(words)


def _loss_callee_name(name: str) -> bool:
    """A callable named for computing a loss: ``criterion``, ``loss_fn``, ``compute_loss``, not ``loss_scaler``."""
    words = _tokens(name)
    return bool(_LOSS_CALLEE_WORDS.intersection(words)) and not _LOSS_CALLEE_EXCLUDE.intersection(words)


def _loss_functional(qualname: str | None) -> bool:
    if not qualname or not qualname.startswith("torch.nn.functional."):
        return False
    last = _last(qualname)
    return last in _LOSS_FUNCTIONAL or last.endswith("_loss")


def _loss_class_name(name: str) -> bool:
    """``CrossEntropyLoss``, ``FocalLoss``, ``LabelSmoothingCrossEntropy``, ``SetCriterion``."""
    return bool(name) and name[0].isupper() and name.endswith(("Loss", "CrossEntropy", "Criterion"))


def _loss_is_infinite(node: cst.BaseExpression | None, ctx) -> bool:
    if node is None:
        return False
    if isinstance(node, cst.Call) and call_name(node) == "float" and node.args:
        text = string_value(node.args[0].value)
        return text is not None and text.strip().lower().lstrip("+") in ("inf", "infinity")
    name = ctx.qualname(node) or dotted_name(node)
    return name in _LOSS_INF_NAMES


class _LossCap:
    """A call that caps a value from above: the capped operands, the in-place target, a label."""

    __slots__ = ("call", "operands", "pair", "inplace", "label", "level")

    def __init__(self, call, operands, pair, inplace, label):
        self.call = call
        self.operands = operands  # candidate loss operands
        self.pair = pair  # min()-style: operands are compared with each other, one must be the cap
        self.inplace = inplace  # dotted name modified in place (clamp_), else None
        self.label = label
        self.level = _NO_LOSS  # how sure we are that the capped operand is a loss


def _loss_cap_of(call: cst.Call, ctx) -> _LossCap | None:
    """Recognise an upper cap: clamp/clip with a max, clamp_max, min(a, b), minimum/fmin."""
    name = call_name(call)
    if name not in _LOSS_CAP_NAMES:
        return None
    func = call.func
    qual = ctx.qualname(func)
    if isinstance(func, cst.Name):
        if qual is None:
            if name != "min":
                return None
            if any(a.star or a.keyword is not None for a in call.args) or len(call.args) < 2:
                return None
            return _LossCap(call, [a.value for a in call.args], True, None, "min()")
        receiver = None
    else:
        assert isinstance(func, cst.Attribute)
        root = dotted_name(func.value)
        is_function = qual is not None and qual.startswith(("torch.", "numpy.")) and qual.count(".") == 1
        if is_function or root in ("torch", "np", "numpy"):
            qual = qual or f"{'numpy' if root in ('np', 'numpy') else 'torch'}.{name}"
            receiver = None
        else:
            receiver = func.value
    if receiver is None:
        # Function forms: torch.clamp(x, min, max), torch.clamp_max(x, m), torch.minimum(a, b), np.clip.
        module = (qual or "").split(".", 1)[0]
        if module not in ("torch", "numpy"):
            return None
        label = f"{'np' if module == 'numpy' else 'torch'}.{name}"
        first = arg(call, 0, "input") or arg(call, 0, "a")
        if first is None:
            return None
        if name in ("clamp", "clip"):
            top = arg(call, 2, "max") or (arg(call, 2, "a_max") if module == "numpy" else None)
            if top is None or _is_none(top) or _loss_is_infinite(top, ctx):
                return None
            return _LossCap(call, [first], False, None, f"{label}(max=...)")
        if name in ("clamp_max", "clamp_max_") and module == "torch":
            return _LossCap(call, [first], False, None, label)
        if name in ("minimum", "fmin") or (name == "min" and module == "torch"):
            second = arg(call, 1, "other") or arg(call, 1, "x2")
            if second is None or arg(call, None, "dim") is not None or int_value(second) is not None:
                return None
            if len([a for a in call.args if a.keyword is None]) > 2:
                return None
            return _LossCap(call, [first, second], True, None, label)
        return None
    # Method forms: loss.clamp(max=...), loss.clamp_(0, 10), loss.clip(...), loss.clamp_max(c).
    inplace = dotted_name(receiver) if name.endswith("_") else None
    if name in ("clamp", "clamp_", "clip", "clip_"):
        top = arg(call, 1, "max")
        if top is None or _is_none(top) or _loss_is_infinite(top, ctx):
            return None
        return _LossCap(call, [receiver], False, inplace, f".{name}(max=...)")
    if name in ("clamp_max", "clamp_max_"):
        return _LossCap(call, [receiver], False, inplace, f".{name}()")
    if name in ("minimum", "fmin"):
        second = arg(call, 0, "other")
        if second is None:
            return None
        return _LossCap(call, [receiver, second], True, None, f".{name}()")
    return None


class _LossFlow:
    """Straight-line data flow over one function body: which names hold a loss, which hold a capped loss.

    Branches of an ``if`` start from the same state and are merged (a value capped in one branch is
    capped after the ``if``); a loop body is merged with the state before the loop (it may not run).
    """

    def __init__(self, rule: LossClipping, callables: set[str], returns_train: bool) -> None:
        self.rule = rule
        self.ctx = rule.ctx
        self.env: dict[str, int] = {}  # dotted name -> loss level of its value (data flow beats the name)
        self.callables = set(callables)  # dotted names bound to a loss module or loss function
        self.taint: dict[str, frozenset[int]] = {}  # dotted name -> capping calls its value comes from
        self.caps: dict[int, _LossCap] = {}
        self.reached: set[int] = set()  # caps whose value reaches backward()
        self.returned: set[int] = set()  # caps whose value is returned from a training function
        self.returns_train = returns_train
        self.no_grad = 0  # inside ``with torch.no_grad():`` nothing is differentiated

    # -- statements ---------------------------------------------------------------------------
    def run(self, stmts) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def _snapshot(self):
        return dict(self.env), set(self.callables), dict(self.taint)

    def _restore(self, snap) -> None:
        self.env, self.callables, self.taint = dict(snap[0]), set(snap[1]), dict(snap[2])

    def _merge(self, snap) -> None:
        env, callables, taint = snap
        for key, value in env.items():
            self.env[key] = max(self.env.get(key, _NO_LOSS), value)
        self.callables |= callables
        for key, value in taint.items():
            self.taint[key] = self.taint.get(key, frozenset()) | value

    def stmt(self, stmt) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small)
        elif isinstance(stmt, cst.If):
            self.scan(stmt.test)
            before = self._snapshot()
            self.run(_block_body(stmt.body))
            after = self._snapshot()
            self._restore(before)
            if isinstance(stmt.orelse, cst.If):
                self.stmt(stmt.orelse)
            elif stmt.orelse is not None:
                self.run(_block_body(stmt.orelse.body))
            self._merge(after)
        elif isinstance(stmt, (cst.For, cst.While)):
            if isinstance(stmt, cst.For):
                self.scan(stmt.iter)
                self.bind(stmt.target, None)
            else:
                self.scan(stmt.test)
            before = self._snapshot()
            self.run(_block_body(stmt.body))
            self._merge(before)
            if stmt.orelse is not None:
                self.run(_block_body(stmt.orelse.body))
        elif isinstance(stmt, cst.With):
            no_grad = False
            for item in stmt.items:
                self.scan(item.item)
                if item.asname is not None:
                    self.bind(item.asname.name, item.item)
                no_grad = no_grad or _loss_no_grad(item.item, self.ctx)
            self.no_grad += no_grad
            self.run(_block_body(stmt.body))
            self.no_grad -= no_grad
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            self.run(_block_body(stmt.body))
            for handler in stmt.handlers:
                self.run(_block_body(handler.body))
            if stmt.orelse is not None:
                self.run(_block_body(stmt.orelse.body))
            if stmt.finalbody is not None:
                self.run(_block_body(stmt.finalbody.body))
        elif isinstance(stmt, cst.Match):
            self.scan(stmt.subject)
            before = self._snapshot()
            merged = []
            for case in stmt.cases:
                self._restore(before)
                self.run(_block_body(case.body))
                merged.append(self._snapshot())
            for snap in merged:
                self._merge(snap)
        elif isinstance(stmt, cst.BaseSmallStatement):
            self.small(stmt)

    def small(self, small) -> None:
        if isinstance(small, cst.Expr):
            self.scan(small.value)
        elif isinstance(small, cst.Assign):
            self.scan(small.value)
            for target in small.targets:
                self.bind(target.target, small.value)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.scan(small.value)
                self.bind(small.target, small.value)
        elif isinstance(small, cst.AugAssign):
            self.scan(small.value)
            key = dotted_name(small.target)
            if key is not None:
                self.env[key] = max(self.holds_loss(small.target), self.loss_level(small.value))
                self.taint[key] = self.taint.get(key, frozenset()) | self.taint_of(small.value)
            else:
                self._taint_container(small.target, small.value)
        elif isinstance(small, cst.Return):
            if small.value is not None:
                self.scan(small.value)
                if self.returns_train:
                    self.returned |= self._returned_taint(small.value)

    def bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            values = None
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
                values = [e.value for e in value.elements]
            for i, element in enumerate(target.elements):
                self.bind(element.value, values[i] if values is not None else None)
                if values is None and value is not None:
                    key = dotted_name(element.value)
                    if key is not None:
                        named = _loss_value_name(_last(key)) and not self._detached(value)
                        self.env[key] = _FLOW_LOSS if named and self.loss_level(value) else int(named)
                        self.taint[key] = self.taint_of(value)
            return
        if isinstance(target, cst.StarredElement):
            return
        key = dotted_name(target)
        if key is None:
            if value is not None:
                self._taint_container(target, value)
            return
        if value is None:
            self.env.pop(key, None)
            self.taint.pop(key, None)
            self.callables.discard(key)
            return
        if self.is_loss_callable(value):
            self.callables.add(key)
            self.env[key] = _NO_LOSS
        else:
            self.callables.discard(key)
            level = self.loss_level(value)
            if not level and _loss_value_name(_last(key)) and not self._detached(value):
                level = _NAMED_LOSS
            self.env[key] = level
        self.taint[key] = self.taint_of(value)

    def _taint_container(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        """``losses['ce'] = capped`` taints ``losses``."""
        while isinstance(target, cst.Subscript):
            target = target.value
        key = dotted_name(target)
        if key is not None:
            self.taint[key] = self.taint.get(key, frozenset()) | self.taint_of(value)

    # -- expressions --------------------------------------------------------------------------
    def scan(self, expr: cst.CSTNode) -> None:
        """Register the capping calls on a loss in ``expr``, then the backward() calls it makes."""
        calls = [n for n in expr_nodes(expr) if isinstance(n, cst.Call)]
        for call in reversed(calls):  # innermost first: a cap inside a cap sees the inner one
            cap = _loss_cap_of(call, self.ctx) if not self.no_grad else None
            if cap is None:
                continue
            levels = [self.loss_level(op) for op in cap.operands]
            if cap.pair:
                ok = any(levels) and not all(levels)
            else:
                ok = all(levels)
            if not ok:
                continue
            cap.level = max(levels)
            self.caps[id(call)] = cap
            if cap.inplace is not None:
                self.taint[cap.inplace] = self.taint.get(cap.inplace, frozenset()) | {id(call)}
        if not self.caps:
            return
        for call in calls:
            self._sink(call)

    def _sink(self, call: cst.Call) -> None:
        func = call.func
        name = call_name(call)
        first = call.args[0].value if call.args and not call.args[0].star else None
        if isinstance(func, cst.Attribute) and name in ("backward", "manual_backward"):
            reached = self.taint_of(func.value) if name == "backward" else frozenset()
            if not reached and first is not None:
                reached = self.taint_of(first)
            self.reached |= reached
        elif self.ctx.qualname(func) in ("torch.autograd.backward", "torch.autograd.grad"):
            if first is not None:
                self.reached |= self.taint_of(first)
        elif name in _LOSS_BACKWARD_CALLEES and first is not None:
            self.reached |= self.taint_of(first)
        elif name in ("append", "extend", "add_") and isinstance(func, cst.Attribute) and first is not None:
            key = dotted_name(func.value)
            if key is not None:
                self.taint[key] = self.taint.get(key, frozenset()) | self.taint_of(first)

    def _returned_taint(self, value: cst.BaseExpression) -> frozenset[int]:
        if isinstance(value, cst.Dict):
            keys = [string_value(e.key) if isinstance(e, cst.DictElement) else None for e in value.elements]
            if keys and all(k is not None for k in keys):
                out: frozenset[int] = frozenset()
                for element, key in zip(value.elements, keys, strict=True):
                    if "loss" in key.lower():
                        out |= self.taint_of(element.value)
                return out
        return self.taint_of(value)

    def _detached(self, value: cst.BaseExpression) -> bool:
        """A value that is certainly not a differentiable loss: a number, ``x.item()``, ``float(x)``."""
        if isinstance(value, (cst.Integer, cst.Float, cst.SimpleString, cst.FormattedString, cst.Dict)):
            return True
        if isinstance(value, cst.Call):
            func = value.func
            if isinstance(func, cst.Attribute) and func.attr.value in _LOSS_DETACH_METHODS:
                return True
            qual = self.ctx.qualname(func)
            if isinstance(func, cst.Name) and qual is None and func.value in _LOSS_DETACH_BUILTINS:
                return True
            if qual is not None and qual.startswith(_LOSS_DETACH_PREFIXES):
                return True
        return False

    def holds_loss(self, node: cst.BaseExpression) -> int:
        """The loss level of a name: what this function assigned to it, else what its name says."""
        key = dotted_name(node)
        if key is None:
            return _NO_LOSS
        if key in self.env:
            return self.env[key]
        if not _loss_value_name(_last(key)):
            return _NO_LOSS
        # ``outputs.loss`` of a model's output is a loss; a bare parameter named ``loss`` probably is.
        root = key.split(".", 1)[0]
        return _FLOW_LOSS if "." in key and root != "self" and root in self.env else _NAMED_LOSS

    def is_loss_callable(self, value: cst.BaseExpression) -> bool:
        """A loss module or function: ``nn.MSELoss()``, ``F.cross_entropy``, ``partial(F.nll_loss, ...)``."""
        if isinstance(value, cst.Call):
            callee = self.ctx.callee(value)
            if _loss_class_name(_last(callee)):
                return True
            if _last(callee) == "partial" and value.args:
                return self.is_loss_callable(value.args[0].value)
            return False
        key = dotted_name(value)
        if key is None:
            return False
        return key in self.callables or _loss_functional(self.ctx.qualname(value))

    def is_loss(self, expr: cst.BaseExpression) -> bool:
        return self.loss_level(expr) > _NO_LOSS

    def loss_level(self, expr: cst.BaseExpression) -> int:
        """Whether ``expr`` evaluates to a loss value (differentiable, not yet detached), and how sure.

        ``_FLOW_LOSS``: it comes from a loss function or criterion; ``_NAMED_LOSS``: only a name says so.
        """
        if isinstance(expr, (cst.Name, cst.Attribute)):
            if isinstance(expr, cst.Attribute) and expr.attr.value in ("data", "grad"):
                return _NO_LOSS
            key = dotted_name(expr)
            if key is None:
                named = isinstance(expr, cst.Attribute) and _loss_value_name(expr.attr.value)
                return _FLOW_LOSS if named else _NO_LOSS
            if key in self.callables:
                return _NO_LOSS
            return self.holds_loss(expr)
        if isinstance(expr, cst.Call):
            return self._call_loss_level(expr)
        if isinstance(expr, cst.BinaryOperation):
            # ``loss / n`` and ``loss ** 2`` are losses; ``n / loss`` (an inverse weight) is not.
            if isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.MatrixMultiply)):
                return max(self.loss_level(expr.left), self.loss_level(expr.right))
            return self.loss_level(expr.left)
        if isinstance(expr, cst.UnaryOperation):
            return _NO_LOSS if isinstance(expr.operator, cst.Not) else self.loss_level(expr.expression)
        if isinstance(expr, cst.Subscript):
            for element in expr.slice:
                if isinstance(element.slice, cst.Index):
                    key = string_value(element.slice.value)
                    if key is not None and _loss_value_name(key):
                        return _FLOW_LOSS
            return self.loss_level(expr.value)
        if isinstance(expr, cst.IfExp):
            return max(self.loss_level(expr.body), self.loss_level(expr.orelse))
        if isinstance(expr, (cst.List, cst.Tuple)):
            return max((self.loss_level(e.value) for e in expr.elements if isinstance(e, cst.Element)), default=0)
        if isinstance(expr, cst.Dict):
            return max(
                (self.loss_level(e.value) for e in expr.elements if isinstance(e, cst.DictElement)), default=0
            )
        return _NO_LOSS

    def _call_loss_level(self, call: cst.Call) -> int:
        func = call.func
        if isinstance(func, cst.Call):  # nn.CrossEntropyLoss()(logits, y)
            return _FLOW_LOSS if _loss_class_name(_last(self.ctx.callee(func))) else _NO_LOSS
        qual = self.ctx.qualname(func)
        if _loss_functional(qual):
            return _FLOW_LOSS
        if qual in _LOSS_COMBINE_FUNCTIONS or (isinstance(func, cst.Name) and qual is None and func.value == "sum"):
            return max((self.loss_level(a.value) for a in call.args), default=0)
        key = dotted_name(func)
        if key is not None and key in self.callables:
            return _FLOW_LOSS
        method = None
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _LOSS_KEEP_METHODS:
                level = self.loss_level(func.value)
                if level:
                    return level
            if method in ("forward", "__call__"):
                inner = dotted_name(func.value)
                ok = inner is not None and (inner in self.callables or _loss_callee_name(_last(inner)))
                return _FLOW_LOSS if ok else _NO_LOSS
            if method in _LOSS_DETACH_METHODS:
                return _NO_LOSS
            if qual is not None and qual.startswith(("torch.", "numpy.", "math.")):
                return _NO_LOSS
        elif isinstance(func, cst.Name):
            method = func.value
        else:
            return _NO_LOSS
        if _loss_class_name(method):  # constructing a loss module is not a loss value
            return _NO_LOSS
        return _FLOW_LOSS if _loss_callee_name(method) else _NO_LOSS

    def taint_of(self, expr: cst.BaseExpression | None) -> frozenset[int]:
        """The capping calls whose result flows into ``expr`` without leaving the autograd graph."""
        if expr is None or not self.caps:
            return frozenset()
        out: set[int] = set()
        pending = [expr]
        while pending:
            node = pending.pop()
            if isinstance(node, (cst.Name, cst.Attribute)):
                key = dotted_name(node)
                if key is not None:
                    out |= self.taint.get(key, frozenset())
                    continue
                if isinstance(node, cst.Attribute) and node.attr.value not in ("data", "grad"):
                    pending.append(node.value)
            elif isinstance(node, cst.Call):
                if id(node) in self.caps:
                    out.add(id(node))
                func = node.func
                if isinstance(func, cst.Attribute) and func.attr.value in _LOSS_DETACH_METHODS:
                    continue
                qual = self.ctx.qualname(func)
                if qual is not None and qual.startswith(_LOSS_DETACH_PREFIXES) and id(node) not in self.caps:
                    continue
                if isinstance(func, cst.Name) and qual is None and func.value in _LOSS_DETACH_BUILTINS:
                    continue
                if isinstance(func, cst.Attribute):
                    pending.append(func.value)
                pending.extend(a.value for a in node.args)
            elif isinstance(node, (cst.BinaryOperation, cst.BooleanOperation)):
                pending.extend((node.left, node.right))
            elif isinstance(node, cst.UnaryOperation):
                if not isinstance(node.operator, cst.Not):
                    pending.append(node.expression)
            elif isinstance(node, cst.IfExp):
                pending.extend((node.body, node.orelse))
            elif isinstance(node, cst.Subscript):
                pending.append(node.value)
            elif isinstance(node, (cst.List, cst.Tuple, cst.Set)):
                pending.extend(e.value for e in node.elements)
            elif isinstance(node, cst.Dict):
                pending.extend(e.value for e in node.elements)
            elif isinstance(node, (cst.GeneratorExp, cst.ListComp)):
                pending.append(node.elt)
            elif isinstance(node, (cst.Await, cst.StarredElement)):
                pending.append(node.expression if isinstance(node, cst.Await) else node.value)
        return frozenset(out)


def _loss_no_grad(expr: cst.BaseExpression, ctx) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()`` (as a context manager or a decorator)."""
    if isinstance(expr, cst.Call):
        expr = expr.func
    qual = ctx.qualname(expr) or dotted_name(expr) or ""
    return qual.endswith(("no_grad", "inference_mode"))


def _loss_module_callables(module: cst.Module, ctx) -> set[str]:
    """Module-level names bound to a loss module or function (``criterion = nn.CrossEntropyLoss()``)."""
    out: set[str] = set()
    pending = list(module.body)
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and _loss_binds_callable(small.value, ctx):
                    out.update(k for t in small.targets if (k := dotted_name(t.target)))
        elif isinstance(stmt, (cst.If, cst.With, cst.Try)):
            pending.extend(_block_body(stmt.body))
    return out


def _loss_binds_callable(value: cst.BaseExpression, ctx) -> bool:
    if isinstance(value, cst.Call):
        return _loss_class_name(_last(ctx.callee(value)))
    return _loss_functional(ctx.qualname(value))


def _loss_class_callables(klass: cst.ClassDef, ctx) -> set[str]:
    """``self.X`` attributes a class binds to a loss module (``self.criterion = nn.CrossEntropyLoss()``)."""
    out: set[str] = set()
    for node in expr_nodes(klass.body):
        if isinstance(node, cst.FunctionDef):
            for inner in expr_nodes(node.body):
                if isinstance(inner, cst.Assign) and _loss_binds_callable(inner.value, ctx):
                    out.update(k for t in inner.targets if (k := dotted_name(t.target)) and k.startswith("self."))
    return out


class LossClipping(Rule):
    """## What it does
    Flags a loss value that is capped from above — `torch.clamp(loss, max=c)`, `loss.clamp(0, c)`,
    `loss.clamp_(max=c)`, `torch.clip`, `torch.clamp_max`, `torch.minimum(loss, c)`, Python
    `min(loss, c)` — when the capped value is trained on: it reaches `backward()` (directly,
    through `scaler.scale(...)`, `accelerator.backward(...)`, `manual_backward`, `torch.autograd.grad`,
    or a variable), or it is returned from a training function (a loss function, `forward` of a loss
    module, `training_step`; not a function named for validation, metrics or logging).

    A loss is the result of a loss function (`F.cross_entropy`, `F.*_loss`, `torch.nn.functional.*`
    losses), of a loss module (`nn.CrossEntropyLoss()`, any `*Loss`/`*Criterion` class, called
    directly, through a variable or `self.criterion`), of a callable named for a loss (`criterion`,
    `loss_fn`, `compute_loss`), a variable assigned from one of these, a variable or attribute named
    `loss`, `*_loss`, `loss_*` (but not `loss_scale`, `loss_weight`, `loss_fn` ...), and reductions or
    sums of losses (`loss.mean()`, `ce + kl`). Data flow beats the name: `loss_val = loss.item()` is
    a number, not a loss.

    Left alone: lower bounds only (`clamp(min=0)`, hinge and margin terms), clamping logits or
    probabilities before the loss, gradient clipping, `min()` of two losses (a pessimistic objective
    such as PPO's or double-Q, not a cap), capped values that only feed a log line or a perplexity
    (`math.exp(min(loss, 20))`, `torch.exp(loss.clamp(max=20))`, `min(loss.item(), 10)`).

    ## Why is this bad?
    Where the cap is active the loss is constant, so its gradient is exactly zero: the examples
    with the largest error — the ones the model most needs to learn from — stop contributing, and a
    batch whose mean loss exceeds the cap does not train at all. To protect training from
    exploding updates, clip the gradients instead (`torch.nn.utils.clip_grad_norm_`).

    ## Example
    ```python
    loss = criterion(model(x), y)
    loss = torch.clamp(loss, max=10.0)
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    loss = criterion(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    ```
    """

    code = "NN201"
    name = "loss-clipping"
    message = "the loss is capped from above before backward(): capped examples get zero gradient; clip the gradients (clip_grad_norm_) instead"
    requires = (
        ("loss", "Loss", "criterion", "cross_entropy", "nll", "kl_div", "CrossEntropy"),
        ("clamp", "clip", "min(", "minimum", "fmin"),
    )

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._pending: set[int] = set()  # ids of functions (or the module: 0) holding a capping call
        self._class_callables: dict[int, set[str]] = {}
        self._module_callables: set[str] | None = None

    def visit_Call(self, node: cst.Call) -> None:
        if call_name(node) in _LOSS_CAP_NAMES:
            function = self.ctx.function
            self._pending.add(id(function) if function is not None else 0)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if id(node) not in self._pending:
            return
        callables = set(self._module_level_callables())
        klass = self.ctx.klass
        if klass is not None:
            key = id(klass)
            if key not in self._class_callables:
                self._class_callables[key] = _loss_class_callables(klass, self.ctx)
            callables |= self._class_callables[key]
        if any(_loss_no_grad(d.decorator, self.ctx) for d in node.decorators):
            return
        self._analyse(node.body, callables, self._trains_on_return(node, klass))

    def leave_Module(self, node: cst.Module) -> None:
        if 0 in self._pending:
            self._analyse(node, self._module_level_callables(), False)

    def _module_level_callables(self) -> set[str]:
        if self._module_callables is None:
            self._module_callables = _loss_module_callables(self.ctx.module, self.ctx)
        return self._module_callables

    @staticmethod
    def _trains_on_return(node: cst.FunctionDef, klass: cst.ClassDef | None) -> bool:
        """Whether what the function returns is trained on (not a metric, log or validation value)."""
        words = set(_tokens(node.name.value))
        if words & _LOSS_REPORT_FUNCTION_WORDS:
            return False
        if klass is not None and set(_tokens(klass.name.value)) & _LOSS_REPORT_FUNCTION_WORDS:
            return False
        return True

    def _analyse(self, body: cst.CSTNode, callables: set[str], returns_train: bool) -> None:
        flow = _LossFlow(self, callables, returns_train)
        stmts = [s for s in body.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
        flow.run(stmts)
        for key, cap in flow.caps.items():
            if key not in flow.reached:
                # Returned: a tensor clamp; a Python min() or numpy only on a value known to be a loss.
                if key not in flow.returned or cap.label.startswith("np."):
                    continue
                if cap.label == "min()" and cap.level < _FLOW_LOSS:
                    continue
            self.report(
                cap.call,
                f"the loss is capped from above by {cap.label} and then trained on: examples above the "
                "cap get zero gradient; clip the gradients (clip_grad_norm_) instead",
            )

    VALID = [
        # Gradient clipping: the recipe's remedy.
        """
        import torch
        import torch.nn as nn

        def train(model, loader, optimizer):
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
                for p in model.parameters():
                    p.grad.clamp_(-1, 1)
                optimizer.step()
        """,
        # Probabilities clamped before BCE; logits clamped before the loss.
        """
        import torch
        import torch.nn.functional as F

        def step(model, x, y, optimizer):
            probs = torch.sigmoid(model(x))
            probs = torch.clamp(probs, 1e-7, 1 - 1e-7)
            loss = F.binary_cross_entropy(probs, y)
            logits = model(x).clamp(-50, 50)
            loss = loss + F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
        """,
        # Hinge / margin terms: a lower bound only.
        """
        import torch
        import torch.nn.functional as F

        def triplet(anchor, pos, neg, margin=0.2):
            d_ap = (anchor - pos).pow(2).sum(1)
            d_an = (anchor - neg).pow(2).sum(1)
            loss = torch.clamp(d_ap - d_an + margin, min=0.0).mean()
            hinge = F.relu(margin - d_an).mean()
            loss = loss.clamp(min=0) + hinge
            return loss
        """,
        # Perplexity for the log: the capped value never reaches backward().
        """
        import math
        import torch

        def train_epoch(model, loader, optimizer, criterion):
            total = 0.0
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                ppl = math.exp(min(loss.item(), 20))
                ppl_t = torch.exp(torch.clamp(loss, max=20))
                print(f"ppl {ppl:.2f} {ppl_t.item():.2f}")
                total += loss.item()
            avg_loss = total / len(loader)
            return avg_loss, math.exp(min(avg_loss, 100))
        """,
        # loss_scale, loss_weight: settings that merely contain the word.
        """
        def update(loss_scale, loss_weight, overflow, step):
            loss_scale = min(loss_scale * 2.0, 2.0 ** 24)
            loss_weight = min(1.0, step / 1000)
            kl_weight = min(loss_weight, 0.5)
            return loss_scale, loss_weight, kl_weight
        """,
        # Lightning: the clamped value is only logged; the returned loss is uncapped.
        """
        import torch
        import torch.nn.functional as F
        import pytorch_lightning as pl

        class LitModel(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = F.cross_entropy(self(x), y)
                self.log("train_loss_capped", torch.clamp(loss.detach(), max=10.0))
                ppl = torch.exp(loss.clamp(max=20))
                return {"loss": loss, "ppl": ppl}
        """,
        # min() of two losses is a pessimistic objective (PPO, double-Q), not a cap.
        """
        import torch

        def ppo_loss(ratio, adv, eps=0.2):
            loss1 = -ratio * adv
            loss2 = -torch.clamp(ratio, 1 - eps, 1 + eps) * adv
            loss = torch.max(loss1, loss2).mean()
            q_loss = torch.min(loss1, loss2).mean()
            return loss + q_loss
        """,
        # Best-loss bookkeeping with min(): never backpropagated.
        """
        def fit(model, train_loader, val_loader, optimizer, criterion, epochs=10):
            best_val_loss = float("inf")
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                val_loss = evaluate(model, val_loader, criterion)
                best_val_loss = min(best_val_loss, val_loss)
                capped = min(val_loss, 10.0)
                print(epoch, capped)
        """,
        # A validation function may cap what it reports.
        """
        import torch

        def validate(model, loader, criterion):
            losses = []
            with torch.no_grad():
                for x, y in loader:
                    loss = criterion(model(x), y)
                    losses.append(torch.clamp(loss, max=50.0))
            return torch.stack(losses).mean()
        """,
        # Clamping the inputs of the loss, and an upper bound of infinity.
        """
        import torch
        import torch.nn as nn

        class Trainer:
            def __init__(self, model):
                self.model = model
                self.criterion = nn.MSELoss()

            def train_step(self, x, y):
                pred = self.model(x).clamp(max=1.0)
                target = torch.clamp(y, 0.0, 1.0)
                loss = self.criterion(pred, target)
                loss = torch.clamp(loss, max=float("inf"))
                loss.backward()
                return loss
        """,
        # The clamped value is reassigned by a fresh loss before backward().
        """
        import torch.nn.functional as F

        def step(model, x, y):
            loss = F.mse_loss(model(x), y)
            shown = loss.clamp(max=5.0)
            print(shown.item())
            loss = F.mse_loss(model(x), y)
            loss.backward()
        """,
        # Detached loss used as a per-sample weight: clamping .detach() is not capping the loss.
        """
        import torch
        import torch.nn.functional as F

        def weighted_step(model, x, y, optimizer):
            per_sample = F.cross_entropy(model(x), y, reduction="none")
            weights = torch.clamp(per_sample.detach(), max=5.0)
            loss = (weights * per_sample).mean()
            loss.data.clamp_(max=100.0)
            loss.backward()
            optimizer.step()
        """,
        # A module-level script logging a capped running loss.
        """
        import torch
        import torch.nn as nn

        criterion = nn.CrossEntropyLoss()
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(trainloader):
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            writer.add_scalar("loss", min(running_loss / (i + 1), 10.0), i)
        """,
        # Values that look like losses by name only: a KL warm-up factor and an lr bound.
        """
        import torch

        def kl_term(mu, logvar, step, warmup=1000):
            kl_loss_factor = min(1.0, step / warmup)
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            kld = torch.clamp(kld, min=0.1)
            return kl_loss_factor * kld
        """,
        # Hinge GAN loss: relu, no cap.
        """
        import torch
        import torch.nn.functional as F
        def d_step(D, real, fake, opt):
            d_loss = torch.mean(F.relu(1.0 - D(real))) + torch.mean(F.relu(1.0 + D(fake)))
            d_loss.backward()
            opt.step()
        """,
        # Free bits: a lower bound on the KL term.
        """
        import torch
        def vae_loss(recon_x, x, mu, logvar, free_bits=0.5):
            recon_loss = torch.nn.functional.mse_loss(recon_x, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
            kl_loss = torch.clamp(kl.mean(0), min=free_bits).sum()
            return recon_loss + kl_loss
        """,
        # An evaluation function: nothing is trained on.
        """
        import math, torch
        @torch.no_grad()
        def evaluate(model, loader, criterion):
            total = 0.0
            for x, y in loader:
                loss = criterion(model(x), y)
                total += torch.clamp(loss, max=100).item()
            avg_loss = total / len(loader)
            return math.exp(min(avg_loss, 50))
        """,
        # min() of two losses is a pessimistic objective, not a cap.
        """
        import torch
        import torch.nn.functional as F
        def critic_step(q1, q2, s, a, target, opt):
            q1_loss = F.mse_loss(q1(s, a), target, reduction="none")
            q2_loss = F.mse_loss(q2(s, a), target, reduction="none")
            loss = torch.min(q1_loss, q2_loss).mean() + torch.minimum(q1_loss, q2_loss).mean()
            loss.backward()
            opt.step()
        """,
        # A dynamic loss scale.
        """
        def update_scale(self, overflow):
            if overflow:
                self.loss_scale = max(self.loss_scale / 2, 1)
            else:
                self.loss_scale = min(self.loss_scale * 2, self.max_loss_scale)
            return self.loss_scale
        """,
        # Focal loss clamps the probability pt, not the loss.
        """
        import torch
        import torch.nn.functional as F
        def focal_loss(logits, targets, gamma=2.0):
            ce_loss = F.cross_entropy(logits, targets, reduction="none")
            pt = torch.exp(-ce_loss).clamp(max=0.999)
            loss = (1 - pt) ** gamma * ce_loss
            return loss.mean()
        """,
        # Best-loss bookkeeping.
        """
        class EarlyStopping:
            def __call__(self, val_loss):
                self.best_loss = min(self.best_loss, val_loss)
                self.min_loss = min(val_loss, self.min_loss)
        """,
        # SSIM clamps its similarity map, no loss in sight.
        """
        import torch
        import torch.nn as nn
        class SSIM(nn.Module):
            def forward(self, x, y):
                mu_x = self.pool(x)
                mu_y = self.pool(y)
                SSIM_n = (2 * mu_x * mu_y + self.C1)
                SSIM_d = (mu_x ** 2 + mu_y ** 2 + self.C1)
                return torch.clamp((1 - SSIM_n / SSIM_d) / 2, 0, 1)
        """,
        # Guarding against non-finite losses without capping them.
        """
        import torch
        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                if not torch.isfinite(loss):
                    continue
                loss = torch.nan_to_num(loss, nan=0.0, posinf=1e4)
                loss.backward()
                optimizer.step()
        """,
        # Python min() on a name that only says loss, returned from a helper.
        """
        class Meter:
            def smoothed(self):
                return min(self.avg_loss, 100.0)
        def cap(loss):
            return min(loss, 10.0)
        """,
        # numpy clipping of a loss curve for a plot.
        """
        import numpy as np
        def smooth(loss):
            return np.clip(loss, 0, 5)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn as nn

            def train(model, loader, optimizer):
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss = torch.clamp(loss, max=10.0)
                    loss.backward()
                    optimizer.step()
            """,
            line=10,
            message_contains="torch.clamp(max=...)",
        ),
        # Positional max, the method form, and the in-place form.
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def step(model, x, y, optimizer):
                loss = F.cross_entropy(model(x), y)
                loss = torch.clamp(loss, 0, 10)
                loss.backward()
                optimizer.step()
            """,
            line=7,
        ),
        Invalid(
            """
            import torch.nn.functional as F

            def step(model, x, y, optimizer):
                loss = F.mse_loss(model(x), y).clamp(max=1.0)
                loss.backward()
                optimizer.step()
            """,
            line=5,
        ),
        Invalid(
            """
            import torch.nn.functional as F

            def step(model, x, y, optimizer):
                loss = F.smooth_l1_loss(model(x), y)
                loss.clamp_(max=5.0)
                loss.backward()
            """,
            line=6,
        ),
        # self.criterion in a trainer class, mixed precision.
        Invalid(
            """
            import torch
            from torch import nn as tnn

            class Trainer:
                def __init__(self, model, optimizer):
                    self.model = model
                    self.optimizer = optimizer
                    self.criterion = tnn.BCEWithLogitsLoss()
                    self.scaler = torch.cuda.amp.GradScaler()

                def train_step(self, batch):
                    x, y = batch
                    with torch.autocast("cuda"):
                        out = self.criterion(self.model(x), y)
                    out = out.clip(0.0, 20.0)
                    self.scaler.scale(out).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
            line=16,
        ),
        # Python min() on the loss.
        Invalid(
            """
            def train(model, loader, optimizer, loss_fn):
                for inputs, targets in loader:
                    optimizer.zero_grad()
                    loss = loss_fn(model(inputs), targets)
                    loss = min(loss, 5.0)
                    loss.backward()
                    optimizer.step()
            """,
            line=6,
            message_contains="min()",
        ),
        # torch.minimum against a tensor cap, inline in backward().
        Invalid(
            """
            import torch
            import torch.nn as nn

            mse = nn.MSELoss()

            def step(model, x, y):
                cap = torch.tensor(4.0, device=x.device)
                torch.minimum(mse(model(x), y), cap).backward()
            """,
            line=9,
        ),
        # Returned from a loss function: the caller trains on it.
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def compute_loss(logits, labels):
                loss = F.cross_entropy(logits, labels, reduction="none")
                return torch.clamp(loss, max=5.0).mean()
            """,
            line=7,
        ),
        # Lightning training_step returning the capped loss in a dict.
        Invalid(
            """
            import torch
            import lightning as L
            from torch.nn import functional as F

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    x, y = batch
                    loss = F.nll_loss(self(x), y)
                    loss = torch.clamp_max(loss, 3.0)
                    self.log("train_loss", loss)
                    return {"loss": loss}
            """,
            line=10,
        ),
        # A loss module's forward returns a capped loss.
        Invalid(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class ClippedFocalLoss(nn.Module):
                def __init__(self, gamma=2.0, max_loss=10.0):
                    super().__init__()
                    self.gamma = gamma
                    self.max_loss = max_loss

                def forward(self, logits, target):
                    ce = F.cross_entropy(logits, target, reduction="none")
                    pt = torch.exp(-ce)
                    focal = (1 - pt) ** self.gamma * ce
                    return focal.clamp(max=self.max_loss).mean()
            """,
            line=16,
        ),
        # Accelerate: the capped loss goes through accelerator.backward(); loss from model outputs.
        Invalid(
            """
            import torch

            def train(model, dataloader, optimizer, accelerator, max_loss=8.0):
                model.train()
                for batch in dataloader:
                    outputs = model(**batch)
                    loss = outputs.loss
                    if max_loss is not None:
                        loss = torch.clamp(loss, max=max_loss)
                    accelerator.backward(loss)
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            line=10,
        ),
        # A sum of capped per-term losses; a loss variable named without the word "loss".
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def train_step(model, x, y, optimizer):
                logits, recon = model(x)
                ce = F.cross_entropy(logits, y)
                rec = F.l1_loss(recon, x)
                total = ce.clamp(max=4.0) + 0.1 * rec
                optimizer.zero_grad()
                total.backward()
                optimizer.step()
            """,
            line=9,
        ),
        # Module-level script, nn.*Loss instance called, capped with np-free torch.clip.
        Invalid(
            """
            import torch
            import torch.nn as nn

            criterion = nn.SmoothL1Loss()
            for epoch in range(10):
                for x, y in loader:
                    optimizer.zero_grad()
                    out = criterion(model(x), y)
                    out = torch.clip(out, max=2.0)
                    out.backward()
                    optimizer.step()
            """,
            line=10,
        ),
        # apex: the capped loss goes through amp.scale_loss(...) to backward().
        Invalid(
            """
            import torch
            from apex import amp
            def step(model, x, y, optimizer, criterion):
                loss = criterion(model(x), y)
                loss = torch.clamp(loss, max=10)
                with amp.scale_loss(loss, optimizer) as scaled_loss:
                    scaled_loss.backward()
            """,
            line=6,
        ),
        # timm's loss_scaler(loss, optimizer) runs backward() on its first argument.
        Invalid(
            """
            import torch
            def train_one_epoch(model, loader, optimizer, loss_fn, loss_scaler):
                for input, target in loader:
                    output = model(input)
                    loss = loss_fn(output, target)
                    loss = loss.clamp(max=20.0)
                    loss_scaler(loss, optimizer, clip_grad=None, parameters=model.parameters())
            """,
            line=7,
        ),
        # Capped, then divided for gradient accumulation.
        Invalid(
            """
            import torch
            def train(model, loader, optimizer, criterion, accum=4):
                for i, (x, y) in enumerate(loader):
                    loss = criterion(model(x), y)
                    loss = torch.clamp(loss, max=5.0) / accum
                    loss.backward()
                    if (i + 1) % accum == 0:
                        optimizer.step()
                        optimizer.zero_grad()
            """,
            line=6,
        ),
        # min() with the cap first.
        Invalid(
            """
            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    loss = min(10.0, criterion(model(x), y))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
            line=4,
        ),
        # torch.autograd.grad on the capped loss (meta-learning).
        Invalid(
            """
            import torch
            def meta_step(model, x, y, loss_fn, params):
                loss = loss_fn(model(x), y)
                grads = torch.autograd.grad(loss.clamp(max=4.0), params, create_graph=True)
                return grads
            """,
            line=5,
        ),
        # Lightning manual optimisation: self.manual_backward().
        Invalid(
            """
            import torch
            import pytorch_lightning as pl
            class GAN(pl.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    d_loss = self.discriminator_loss(batch)
                    d_loss = torch.clamp(d_loss, max=2.0)
                    self.manual_backward(d_loss)
                    opt.step()
            """,
            line=8,
        ),
        # A Trainer.compute_loss override returning the capped loss.
        Invalid(
            """
            import torch
            from transformers import Trainer
            class ClippedTrainer(Trainer):
                def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
                    outputs = model(**inputs)
                    loss = outputs["loss"]
                    loss = torch.clamp(loss, max=self.args.max_loss)
                    return (loss, outputs) if return_outputs else loss
            """,
            line=8,
        ),
        # torchvision detection: the sum of the loss dict, capped.
        Invalid(
            """
            import torch
            def train_step(model, images, targets, optimizer):
                loss_dict = model(images, targets)
                losses = sum(loss for loss in loss_dict.values())
                losses = torch.clamp(losses, max=10.0)
                optimizer.zero_grad()
                losses.backward()
                optimizer.step()
            """,
            line=6,
        ),
        # Per-sample losses truncated before the mean, through self.ce = nn.CrossEntropyLoss().
        Invalid(
            """
            import torch
            import torch.nn as nn
            class Model:
                def __init__(self):
                    self.ce = nn.CrossEntropyLoss(reduction="none")
                def train_batch(self, x, y, optimizer):
                    per_sample = self.ce(self.net(x), y)
                    loss = torch.clamp(per_sample, max=2.3).mean()
                    loss.backward()
                    optimizer.step()
            """,
            line=9,
        ),
    ]



# ---------------------------------------------------------------------------------------------
# NN202 epoch-tied-lr-decay: the epoch count of the run, the schedulers, where they are stepped
# ---------------------------------------------------------------------------------------------

_SCHED_MODULE = "torch.optim.lr_scheduler."
_SCHED_CLASSES = frozenset(
    {
        "StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearLR", "PolynomialLR", "ExponentialLR",
        "CosineAnnealingWarmRestarts", "SequentialLR", "ChainedScheduler", "LambdaLR", "MultiplicativeLR",
    }
)
_SCHED_WRAPPERS = frozenset({"SequentialLR", "ChainedScheduler"})
_SCHED_LAMBDA = frozenset({"LambdaLR", "MultiplicativeLR"})
# The period argument of each scheduler: (position, keyword).
_SCHED_PERIOD = {
    "StepLR": (1, "step_size"),
    "MultiStepLR": (1, "milestones"),
    "CosineAnnealingLR": (1, "T_max"),
    "LinearLR": (3, "total_iters"),
    "PolynomialLR": (1, "total_iters"),
    "ExponentialLR": (1, "gamma"),
    "CosineAnnealingWarmRestarts": (1, "T_0"),
}
_EPOCH_COUNT_QUALIFIERS = frozenset({"num", "n", "nb", "max", "total", "count", "number", "no"})
_EPOCH_COUNT_GLUED = frozenset({"nepochs", "nepoch", "numepochs", "maxepochs", "nbepochs", "totalepochs"})
_EPOCH_NOT_RUN = frozenset(
    {
        "warmup", "warm", "start", "decay", "step", "steps", "save", "eval", "log", "print", "cooldown",
        "per", "every", "freeze", "unfreeze", "milestone", "milestones", "current", "cur", "curr",
        "last", "begin", "resume", "init", "checkpoint", "ckpt", "val", "valid", "test", "swa", "ema",
        "lr", "patience", "interval", "freq", "frequency", "rampup", "ramp", "anneal", "annealing",
        "done", "completed", "finished", "elapsed", "stage", "phase", "pretrain", "finetune", "idx",
        "index", "remaining", "left", "min", "plateau", "restart", "cycle",
    }
)
_EPOCH_INDEX_EXCLUDE = frozenset(
    {"start", "warmup", "warm", "decay", "save", "eval", "log", "print", "freeze", "unfreeze", "last", "per",
     "every", "steps", "step", "milestone", "milestones", "best", "resume", "init"}
)
_SCHED_BATCH_ITER_WORDS = frozenset(
    {
        "loader", "loaders", "dataloader", "dataloaders", "dl", "dls", "batches", "batch", "data",
        "dataset", "ds", "iterator", "iter", "iters", "iterations", "pbar", "bar", "tbar", "progress",
        "samples", "len", "steps", "step", "tepoch", "minibatches", "generator", "gen", "train",
    }
)
_SCHED_BATCH_TARGET_WORDS = frozenset(
    {
        "batch", "inputs", "input", "images", "imgs", "image", "img", "x", "y", "xb", "yb", "data",
        "target", "targets", "labels", "label", "sample", "samples", "src", "tgt", "features", "feats",
        "sentences", "tokens", "ids", "mask", "bi", "batch_idx",
    }
)
_SCHED_NOT_BATCH_ITER_WORDS = frozenset(
    {"param", "groups", "parameters", "named", "modules", "children", "items", "keys", "values", "phases", "phase"}
)
_SCHED_HARMLESS_CALLS = frozenset(
    {"print", "len", "str", "repr", "isinstance", "type", "id", "save", "info", "debug", "warning", "log"}
)
_SCHED_TRANSPARENT_TARGET_WORDS = frozenset({"phase", "phases", "mode", "split", "stage"})
_SCHED_STEPS_WORDS = frozenset(
    {"len", "steps", "step", "iters", "iter", "iterations", "iteration", "batches", "batch", "loader", "per"}
)
_SCHED_LR_WORDS = frozenset({"lr", "lrs", "learning", "rate"})


def _epoch_count_name(name: str) -> bool:
    """A name for the length of the run in epochs: ``epochs``, ``num_epochs``, ``args.max_epochs``, ``EPOCHS``."""
    words = _tokens(name)
    if _EPOCH_NOT_RUN.intersection(words):
        return False
    if "epochs" in words or _EPOCH_COUNT_GLUED.intersection(words):
        return True
    return "epoch" in words and bool(_EPOCH_COUNT_QUALIFIERS.intersection(words))


def _epoch_index_name(name: str) -> bool:
    """A name for the current epoch: ``epoch``, ``cur_epoch``, ``self.current_epoch``, ``ep``."""
    words = _tokens(name)
    if words == ["ep"]:
        return True
    return "epoch" in words and not _epoch_count_name(name) and not _EPOCH_INDEX_EXCLUDE.intersection(words)


def _sched_names_in(expr: cst.CSTNode) -> list[str]:
    """Dotted names and string subscripts (``cfg['epochs']`` gives ``epochs``) used in ``expr``."""
    out: list[str] = []
    for node in expr_nodes(expr):
        if isinstance(node, (cst.Name, cst.Attribute)):
            key = dotted_name(node)
            if key:
                out.append(key)
        elif isinstance(node, cst.SimpleString):
            value = string_value(node)
            if value and value.isidentifier():
                out.append(value)
    return out


def _sched_mentions_epoch_count(expr: cst.CSTNode) -> bool:
    return any(_epoch_count_name(_last(n)) for n in _sched_names_in(expr))


def _sched_mentions_steps(expr: cst.CSTNode) -> bool:
    for name in _sched_names_in(expr):
        for part in name.split("."):
            if not _epoch_count_name(part) and _SCHED_STEPS_WORDS.intersection(_tokens(part)):
                return True
    return False


def _sched_unwrap_iter(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """``enumerate(tqdm(loader))`` -> ``loader``; the flag says a ``trange`` stood for ``range``."""
    trange = False
    while isinstance(expr, cst.Call) and expr.args:
        name = call_name(expr)
        if name in ("enumerate", "tqdm", "iter", "progress_bar", "track", "zip", "islice", "ProgressBar"):
            expr = expr.args[0].value
        elif name == "trange":
            trange = True
            break
        else:
            break
    return expr, trange


def _sched_range_bounds(expr: cst.BaseExpression) -> tuple[cst.BaseExpression | None, cst.BaseExpression] | None:
    """(start, end) of ``range(end)``/``range(start, end)``/``trange(...)``, else None."""
    inner, trange = _sched_unwrap_iter(expr)
    if not isinstance(inner, cst.Call) or (call_name(inner) != "range" and not trange):
        return None
    positional = [a.value for a in inner.args if a.keyword is None and not a.star]
    if len(positional) == 1:
        return None, positional[0]
    if len(positional) in (2, 3):
        return positional[0], positional[1]
    return None


def _sched_loop_words(expr: cst.CSTNode) -> set[str]:
    words: set[str] = set()
    for name in _sched_names_in(expr):
        for part in name.split("."):
            words.update(_tokens(part))
            low = part.lower()
            if "loader" in low:
                words.add("loader")
            if "batch" in low:
                words.add("batch")
    return words


def _sched_is_batch_loop(loop: cst.CSTNode) -> bool:
    if not isinstance(loop, cst.For):
        return False
    inner, _ = _sched_unwrap_iter(loop.iter)
    if isinstance(inner, (cst.List, cst.Tuple, cst.Set)):
        return False
    iter_words = _sched_loop_words(inner)
    if _SCHED_NOT_BATCH_ITER_WORDS.intersection(iter_words):
        return False
    bounds = _sched_range_bounds(loop.iter)
    if bounds is not None:
        words = _sched_loop_words(bounds[1])
        return bool(_SCHED_STEPS_WORDS.intersection(words) or {"loader", "batch"} & words) and not _sched_mentions_epoch_count(bounds[1])
    if _SCHED_BATCH_ITER_WORDS.intersection(iter_words):
        return True
    target_words = _sched_loop_words(loop.target)
    return bool(_SCHED_BATCH_TARGET_WORDS.intersection(target_words))


def _sched_is_transparent_loop(loop: cst.CSTNode) -> bool:
    """A loop that runs a fixed few times per epoch (``for phase in ['train', 'val']``)."""
    if not isinstance(loop, cst.For):
        return False
    inner, _ = _sched_unwrap_iter(loop.iter)
    if isinstance(inner, (cst.List, cst.Tuple, cst.Set)) and all(
        isinstance(e, cst.Element) and isinstance(e.value, cst.SimpleString) for e in inner.elements
    ):
        return True
    return bool(_SCHED_TRANSPARENT_TARGET_WORDS.intersection(_sched_loop_words(loop.target)))


def _sched_lr_name(name: str) -> bool:
    words = _tokens(name)
    return bool(_SCHED_LR_WORDS.intersection(words)) and ("rate" not in words or "learning" in words)


def _sched_sets_lr(stmt: cst.CSTNode) -> bool:
    """Whether ``stmt`` assigns a learning rate (``g['lr'] = ...``, ``lr *= 0.1``, ``adjust_lr(...)``)."""
    for node in expr_nodes(stmt):
        targets: list[cst.BaseExpression] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, cst.Call):
            name = _last(dotted_name(node.func))
            words = set(_tokens(name))
            if _sched_lr_name(name) and words & {"set", "adjust", "update", "decay", "scale", "assign"}:
                return True
        for target in targets:
            if isinstance(target, cst.Subscript):
                for element in target.slice:
                    if isinstance(element.slice, cst.Index) and string_value(element.slice.value) == "lr":
                        return True
            else:
                key = dotted_name(target)
                if key and _sched_lr_name(_last(key)):
                    return True
    return False


class _SchedRun:
    """How long a run is: ``count`` epochs, the last epoch index ``last``."""

    __slots__ = ("count", "last")

    def __init__(self, count: int, last: int) -> None:
        self.count = count
        self.last = last


class _SchedAnalysis:
    """Module-wide facts for NN202, computed at the end of the walk from what the visits recorded."""

    def __init__(self, rule: EpochTiedLrDecay) -> None:
        self.rule = rule
        self.ctx = rule.ctx
        self.module = rule.ctx.module
        self._own: dict[int, list[cst.CSTNode]] = {}
        self._parents: dict[int, dict[int, cst.CSTNode]] = {}
        self.functions: dict[str, list[tuple[cst.FunctionDef, cst.ClassDef | None]]] = {}
        self.owner: dict[int, cst.CSTNode | None] = {}  # id(function) -> its class
        pending: list[tuple[cst.CSTNode, cst.ClassDef | None]] = [(s, None) for s in self.module.body]
        while pending:
            stmt, klass = pending.pop()
            if isinstance(stmt, cst.FunctionDef):
                self.functions.setdefault(stmt.name.value, []).append((stmt, klass))
                self.owner[id(stmt)] = klass
            elif isinstance(stmt, cst.ClassDef):
                pending.extend((s, stmt) for s in _block_body(stmt.body))
            elif isinstance(stmt, (cst.If, cst.Try, cst.With)):
                pending.extend((s, klass) for s in _block_body(stmt.body))

    # -- structure ----------------------------------------------------------------------------
    def own_nodes(self, scope: cst.CSTNode) -> list[cst.CSTNode]:
        """Nodes of a function body (or module) outside nested functions and classes."""
        key = id(scope)
        if key not in self._own:
            root = scope.body if isinstance(scope, cst.FunctionDef) else scope
            self._own[key] = [n for n in expr_nodes(root) if n is root or not isinstance(n, (cst.FunctionDef, cst.ClassDef))]
        return self._own[key]

    def ancestors(self, scope: cst.CSTNode, node: cst.CSTNode) -> list[cst.CSTNode]:
        """Ancestors of ``node`` inside ``scope``, outermost first."""
        key = id(scope)
        if key not in self._parents:
            parents: dict[int, cst.CSTNode] = {}
            root = scope.body if isinstance(scope, cst.FunctionDef) else scope
            pending = [root]
            while pending:
                current = pending.pop()
                if current is not root and isinstance(current, (cst.FunctionDef, cst.ClassDef)):
                    continue
                for child in children(current):
                    parents[id(child)] = current
                    pending.append(child)
            self._parents[key] = parents
        parents = self._parents[key]
        out = []
        current = parents.get(id(node))
        while current is not None:
            out.append(current)
            current = parents.get(id(current))
        out.reverse()
        return out

    @staticmethod
    def scope_of(stack) -> cst.CSTNode | None:
        for node in reversed(stack):
            if isinstance(node, cst.FunctionDef):
                return node
        return None

    @staticmethod
    def class_of(stack) -> cst.ClassDef | None:
        for node in reversed(stack):
            if isinstance(node, cst.ClassDef):
                return node
        return None

    def params(self, func: cst.FunctionDef) -> list[cst.Param]:
        p = func.params
        return [*p.posonly_params, *p.params, *p.kwonly_params]

    # -- values -------------------------------------------------------------------------------
    def resolve(self, expr: cst.BaseExpression | None, scope: cst.CSTNode | None, depth: int = 0) -> int | None:
        """The integer an expression has in the default run: literals, constants, defaults, config."""
        if expr is None or depth > 5:
            return None
        value = int_value(expr)
        if value is not None:
            return value
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply)):
            left, right = self.resolve(expr.left, scope, depth + 1), self.resolve(expr.right, scope, depth + 1)
            if left is None or right is None:
                return None
            if isinstance(expr.operator, cst.Add):
                return left + right
            return left - right if isinstance(expr.operator, cst.Subtract) else left * right
        if isinstance(expr, cst.Call) and call_name(expr) == "int" and len(expr.args) == 1:
            return self.resolve(expr.args[0].value, scope, depth + 1)
        if isinstance(expr, cst.Name):
            return self._resolve_name(expr.value, scope, depth)
        if isinstance(expr, cst.Attribute):
            attr = expr.attr.value
            if dotted_name(expr.value) == "self" and scope is not None:
                found = self._resolve_self(attr, scope, depth)
                if found is not None:
                    return found
            return self.rule._pool_value(attr) if _epoch_count_name(attr) else None
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            key = string_value(expr.slice[0].slice.value)
            if key is not None and _epoch_count_name(key):
                return self.rule._pool_value(key)
        return None

    def _assigned(self, scope: cst.CSTNode, name: str) -> list[cst.BaseExpression]:
        out = []
        for node in self.own_nodes(scope):
            if isinstance(node, cst.Assign):
                if any(dotted_name(t.target) == name for t in node.targets):
                    out.append(node.value)
            elif isinstance(node, cst.AnnAssign) and node.value is not None and dotted_name(node.target) == name:
                out.append(node.value)
            elif isinstance(node, cst.AugAssign) and dotted_name(node.target) == name:
                out.append(cst.Name("__unknown__"))
        return out

    def _resolve_all(self, values, scope, depth) -> int | None:
        results = {self.resolve(v, scope, depth + 1) for v in values}
        if len(results) == 1:
            return results.pop()
        return None

    def _resolve_name(self, name: str, scope: cst.CSTNode | None, depth: int) -> int | None:
        if scope is not None:
            values = self._assigned(scope, name)
            if values:
                return self._resolve_all(values, scope, depth)
            for param in self.params(scope):
                if param.name.value == name:
                    return self._resolve_param(scope, param, depth)
        values = self._assigned(self.module, name)
        if values:
            return self._resolve_all(values, None, depth)
        return self.rule._pool_value(name) if _epoch_count_name(name) else None

    def _resolve_param(self, func: cst.FunctionDef, param: cst.Param, depth: int) -> int | None:
        name = param.name.value
        plist = self.params(func)
        index = next((i for i, p in enumerate(plist) if p is param), None)
        is_method = self.owner.get(id(func)) is not None
        if is_method and index is not None:
            index -= 1
        if param in func.params.kwonly_params:
            index = None
        values = []
        for call, stack in self.rule._calls.get(func.name.value, ()):
            if isinstance(call.func, cst.Attribute) and not is_method:
                continue
            passed = arg(call, index, name)
            if passed is None:
                if any(a.star for a in call.args):
                    return None
                values.append((param.default, func))
            else:
                values.append((passed, self.scope_of(stack)))
        if not values:
            if param.default is None:
                return self.rule._pool_value(name) if _epoch_count_name(name) else None
            return self.resolve(param.default, None, depth + 1)
        results = {self.resolve(v, s, depth + 1) if v is not None else None for v, s in values}
        return results.pop() if len(results) == 1 else None

    def _resolve_self(self, attr: str, scope: cst.CSTNode, depth: int) -> int | None:
        klass = self.owner.get(id(scope))
        if klass is None:
            return None
        values = []
        for methods in self.functions.values():
            for func, owner in methods:
                if owner is klass:
                    values.extend((v, func) for v in self._assigned(func, f"self.{attr}"))
        if not values:
            for stmt in _block_body(klass.body):
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                            targets = small.targets if isinstance(small, cst.Assign) else [small]
                            if any(dotted_name(t.target) == attr for t in targets):
                                values.append((small.value, None))
        if not values:
            return None
        results = {self.resolve(v, f, depth + 1) for v, f in values}
        return results.pop() if len(results) == 1 else None

    def int_list(self, expr: cst.BaseExpression | None, scope: cst.CSTNode | None) -> list[int] | None:
        if isinstance(expr, cst.Name):
            values = self._assigned(scope, expr.value) if scope is not None else []
            values = values or self._assigned(self.module, expr.value)
            if len(values) != 1:
                return None
            expr = values[0]
        if not isinstance(expr, (cst.List, cst.Tuple, cst.Set)) or not expr.elements:
            return None
        out = []
        for element in expr.elements:
            value = self.resolve(element.value, scope) if isinstance(element, cst.Element) else None
            if value is None:
                return None
            out.append(value)
        return out

    # -- epoch loops --------------------------------------------------------------------------
    def loop_run(self, loop: cst.CSTNode, scope: cst.CSTNode | None) -> _SchedRun | None:
        if isinstance(loop, cst.For):
            bounds = _sched_range_bounds(loop.iter)
            if bounds is None:
                return None
            start_expr, end_expr = bounds
            end = self.resolve(end_expr, scope)
            if end is None:
                return None
            start = self.resolve(start_expr, scope) if start_expr is not None else 0
            if start is None:
                start = 0
            return _SchedRun(end - start, end - 1) if end > start else None
        if isinstance(loop, cst.While):
            test = loop.test
            if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
                op = test.comparisons[0].operator
                end = self.resolve(test.comparisons[0].comparator, scope)
                if end is not None and isinstance(op, (cst.LessThan, cst.LessThanEqual)):
                    end += 1 if isinstance(op, cst.LessThanEqual) else 0
                    return _SchedRun(end, end - 1) if end > 0 else None
        return None

    def is_epoch_loop(self, loop: cst.CSTNode, scope: cst.CSTNode | None) -> bool:
        if isinstance(loop, cst.For):
            bounds = _sched_range_bounds(loop.iter)
            if bounds is None:
                return False
            target = dotted_name(loop.target) or ""
            if _epoch_index_name(target) or _sched_mentions_epoch_count(bounds[1]):
                return True
            if _sched_is_batch_loop(loop):
                return False
            return any(
                isinstance(n, cst.For) and n is not loop and _sched_is_batch_loop(n) for n in expr_nodes(loop.body)
            )
        if isinstance(loop, cst.While):
            test = loop.test
            return (
                isinstance(test, cst.Comparison)
                and len(test.comparisons) == 1
                and isinstance(test.left, (cst.Name, cst.Attribute))
                and _epoch_index_name(_last(dotted_name(test.left)))
            )
        return False

    def epoch_loops(self, scope: cst.CSTNode) -> list[cst.CSTNode]:
        return [n for n in self.own_nodes(scope) if isinstance(n, (cst.For, cst.While)) and self.is_epoch_loop(n, scope)]

    def scope_run(self, scope: cst.CSTNode | None) -> _SchedRun | None:
        """The run of a function: its epoch loop, else its epoch-count variables, else the module's."""
        if scope is not None:
            loops = self.epoch_loops(scope)
            runs = {(r.count, r.last) if r else None for r in (self.loop_run(lp, scope) for lp in loops)}
            if len(runs) == 1 and None not in runs:
                return _SchedRun(*runs.pop())
            if runs:
                return None  # an epoch loop whose length is not known, or two different ones
            names = {p.name.value for p in self.params(scope) if _epoch_count_name(p.name.value)}
            for node in self.own_nodes(scope):
                if isinstance(node, (cst.Assign, cst.AnnAssign)):
                    targets = node.targets if isinstance(node, cst.Assign) else [node]
                    for t in targets:
                        key = dotted_name(t.target)
                        if key and _epoch_count_name(_last(key)):
                            names.add(key)
            values = set()
            for name in names:
                expr = cst.parse_expression(name)
                values.add(self.resolve(expr, scope))
            values.discard(None)
            if len(values) == 1:
                count = values.pop()
                return _SchedRun(count, count - 1) if count > 0 else None
            if len(values) > 1:
                return None
            klass = self.owner.get(id(scope))
            if klass is not None:
                found = set()
                for methods in self.functions.values():
                    for func, owner in methods:
                        if owner is klass:
                            for node in self.own_nodes(func):
                                if isinstance(node, cst.Assign):
                                    for t in node.targets:
                                        key = dotted_name(t.target)
                                        if key and key.startswith("self.") and _epoch_count_name(_last(key)):
                                            found.add(self.resolve(node.value, func))
                found.discard(None)
                if len(found) == 1:
                    count = found.pop()
                    return _SchedRun(count, count - 1) if count > 0 else None
                if found:
                    return None
        else:
            loops = self.epoch_loops(self.module)
            runs = {(r.count, r.last) if r else None for r in (self.loop_run(lp, None) for lp in loops)}
            if len(runs) == 1 and None not in runs:
                return _SchedRun(*runs.pop())
            if runs:
                return None
        count = self.rule._pool_run()
        return _SchedRun(count, count - 1) if count else None

    # -- stepping -----------------------------------------------------------------------------
    def classify_step(self, chain: list[cst.CSTNode], scope: cst.CSTNode | None) -> tuple[str | None, cst.CSTNode | None]:
        """('epoch'|'batch'|None, the epoch loop) for a call whose ancestors inside ``scope`` are ``chain``."""
        loops = [n for n in chain if isinstance(n, (cst.For, cst.While))]
        for i in range(len(loops) - 1, -1, -1):
            loop = loops[i]
            if _sched_is_batch_loop(loop):
                position = chain.index(loop)
                for node in chain[position + 1 :]:
                    if isinstance(node, cst.If) and _sched_loop_words(node.test) & {"len", "epoch", "last", "end", "epochs"}:
                        return None, None
                outer = next((lp for lp in reversed(loops[:i]) if self.is_epoch_loop(lp, scope)), None)
                return "batch", outer
            if self.is_epoch_loop(loop, scope):
                return "epoch", loop
            if not _sched_is_transparent_loop(loop):
                return None, None
        if loops:
            return None, None
        if isinstance(scope, cst.FunctionDef):
            words = set(_tokens(scope.name.value))
            if "scheduler" in words:
                return None, None  # Lightning's lr_scheduler_step(): called at the configured interval
            if "epoch" in words or "epochs" in words:
                return "epoch", None
            if words & {"batch", "iteration", "iter"} or (
                "step" in words and words & {"train", "training", "optimizer", "update", "fit"}
            ):
                return "batch", None
        return None, None

    def step_sites(self, receiver: str, scope: cst.CSTNode | None, klass: cst.ClassDef | None):
        for call, recv, stack in self.rule._steps:
            if recv != receiver:
                continue
            step_scope = self.scope_of(stack)
            if receiver.startswith("self."):
                if klass is None or self.class_of(stack) is not klass:
                    continue
            elif step_scope is not scope:
                continue
            yield call, stack, step_scope

    def stepping(self, target: str, scope: cst.CSTNode | None, klass, depth: int = 0):
        """How the scheduler bound to ``target`` is stepped: [(granularity, step call, epoch loop, loop scope)].

        None when it cannot be told (handed to code we do not see); [] when it is never stepped here.
        """
        out = []
        for call, stack, step_scope in self.step_sites(target, scope, klass):
            chain = list(stack)
            if step_scope is not None:
                position = next(i for i, n in enumerate(chain) if n is step_scope)
                chain = chain[position + 1 :]
            grain, loop = self.classify_step(chain, step_scope)
            out.append((grain, call, loop, step_scope))
        if target.startswith("self.") or depth > 2:
            return out
        root = scope if scope is not None else self.module
        unseen = False  # handed to code outside this module
        for node in self.own_nodes(root):
            if not isinstance(node, cst.Call) or call_name(node) == "step":
                continue
            for index, a in enumerate(node.args):
                if dotted_name(a.value) != target:
                    continue
                callee = call_name(node)
                if callee in _SCHED_CLASSES or callee in _SCHED_HARMLESS_CALLS:
                    continue  # a wrapper (handled from its own binding), a print or a save
                defs = self.functions.get(callee or "", [])
                if len(defs) != 1:
                    unseen = True
                    continue
                func, owner = defs[0]
                plist = self.params(func)
                offset = 1 if owner is not None else 0
                if a.keyword is not None:
                    pname = a.keyword.value
                elif index + offset < len(plist) and all(x.keyword is None for x in node.args[: index + 1]):
                    pname = plist[index + offset].name.value
                else:
                    unseen = True
                    continue
                inner = self.stepping(pname, func, None, depth + 1)
                if inner is None:
                    unseen = True
                    continue
                chain = self.ancestors(root, node)
                for grain, call, loop, step_scope in inner:
                    if grain is None and loop is None:
                        step_chain = self.ancestors(func, call)
                        if not any(isinstance(n, (cst.For, cst.While)) for n in step_chain):
                            grain, loop = self.classify_step(chain, scope)
                            step_scope = scope
                    out.append((grain, call, loop, step_scope))
        if unseen and not out:
            return None
        return out

    def returned_at(self, target: str, scope: cst.CSTNode | None) -> tuple[bool, int | None]:
        """Whether a scheduler variable is returned, and its index when a tuple is returned."""
        if scope is None:
            return False, None
        for node in self.own_nodes(scope):
            if isinstance(node, cst.Return) and node.value is not None:
                value = node.value
                if dotted_name(value) == target:
                    return True, None
                if isinstance(value, cst.Tuple):
                    for i, element in enumerate(value.elements):
                        if dotted_name(element.value) == target:
                            return True, i
                if target in _sched_names_in(value):
                    return True, -1
        return False, None

    def passed_on(self, target: str, scope: cst.CSTNode | None) -> bool:
        """Whether a scheduler variable is handed to a call or stored in another value."""
        root = scope if scope is not None else self.module
        for node in self.own_nodes(root):
            if isinstance(node, cst.Call) and call_name(node) not in _SCHED_HARMLESS_CALLS:
                if any(dotted_name(a.value) == target for a in node.args):
                    return True
            elif isinstance(node, cst.Assign) and not isinstance(node.value, cst.Call):
                if target in _sched_names_in(node.value):
                    return True
        return False

    def caller_stepping(self, func: cst.FunctionDef, position: int | None, calls, depth: int = 0):
        """How the callers of a scheduler builder step what it returns ([] when no caller steps it)."""
        out = []
        for call, stack in calls.get(func.name.value, ()):
            parent = stack[-1] if stack else None
            if not isinstance(parent, cst.Assign) or parent.value is not call or len(parent.targets) != 1:
                continue
            target = parent.targets[0].target
            if position is not None:
                if not isinstance(target, (cst.Tuple, cst.List)) or position >= len(target.elements):
                    continue
                target = target.elements[position].value
            key = dotted_name(target)
            if key is None:
                continue
            found = self.stepping(key, self.scope_of(stack), self.class_of(stack), depth + 1)
            if found is None:
                return None
            out.extend(found)
        return out


class EpochTiedLrDecay(Rule):
    """## What it does
    Flags a learning-rate schedule whose period is hard-coded in epochs and does not fit the run it
    is used in. The number of epochs of the run is taken from the epoch loop
    (`for epoch in range(N)`, `range(start, N)`, `while epoch < N`), a parameter default
    (`epochs=90`, resolved through the call sites), an argparse default
    (`add_argument('--epochs', default=90)`), a constant or config entry (`EPOCHS = 10`,
    `config = {'epochs': 10}`, `Trainer(max_epochs=10)`). With it known, the rule reports:

    - `StepLR` with `step_size >= N` (the rate never decays);
    - `MultiStepLR` milestones `>= N` (the message lists the ones never reached);
    - `CosineAnnealingLR` with `T_max > N` (never anneals) or `T_max < N/2` (the cosine climbs back
      up after `T_max`), `LinearLR` with `total_iters > N`, `PolynomialLR` with `total_iters > N` or
      `< N/2`;

    for a scheduler stepped once per epoch (in the epoch loop, in a function named for an epoch, or
    returned from `configure_optimizers` without `'interval': 'step'` or from a builder whose callers
    are not seen stepping it). A scheduler stepped inside the per-batch loop (a loop over a loader or
    data set, `enumerate(loader)`, `range(len(loader))`, `range(steps_per_epoch)`, including in a
    helper it is handed to; a step guarded by `if i == len(loader) - 1` is left alone) is reported on
    its `step()` when its period is in epochs: derived from the epoch count (`T_max=args.epochs`), a literal no
    larger than `N` (`StepLR(step_size=30)` in a 90-epoch run), or `ExponentialLR(gamma<=0.99)`.
    Hand-written decays on the epoch index are reported when their literal period is never reached:
    `lr * 0.1 ** (epoch // 30)`, `if epoch % 30 == 0: g['lr'] *= 0.1`, `if epoch in [30, 60]:`,
    `if epoch >= 30: lr = ...`, `LambdaLR(opt, lambda epoch: 0.1 ** (epoch // 30))`.

    Left alone: periods derived from the epoch count or from steps (`T_max=args.epochs`,
    `T_max=epochs * len(loader)` stepped per batch, `milestones=[int(0.5 * epochs)]`), per-batch
    schedules built for it (`OneCycleLR`, warm-up in steps, `get_linear_schedule_with_warmup`),
    `ReduceLROnPlateau`, `CosineAnnealingWarmRestarts` stepped per epoch, runs whose length is not
    known (or known with two different values), and schedulers handed to code the rule does not see.

    ## Why is this bad?
    Schedules copied from ImageNet code (decay by 10 at epoch 30, 60) decay too late or never on a
    shorter run, and too early on a longer one; a cosine whose `T_max` does not match the run ends
    at the wrong rate or climbs back up. A scheduler sized in epochs but stepped every batch decays
    `len(loader)` times too fast, so training stalls within the first epoch. Nothing fails: the
    model just trains worse.

    ## Example
    ```python
    parser.add_argument("--epochs", type=int, default=10)
    ...
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(args.epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Use instead
    ```python
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.epochs // 3, gamma=0.1)
    # or: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    ```
    """

    code = "NN202"
    name = "epoch-tied-lr-decay"
    message = "learning-rate schedule hard-coded in epochs does not fit the run; derive its period from the epoch count and step it once per epoch"
    requires = (("epoch", "Epoch", "EPOCH"), ("lr", "LR", "scheduler", "learning_rate"))

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._scheds: list[tuple[cst.Call, str, tuple]] = []
        self._steps: list[tuple[cst.Call, str, tuple]] = []
        self._calls: dict[str, list[tuple[cst.Call, tuple]]] = {}
        self._pool: dict[str, set[int]] = {}
        self._floordivs: list[tuple[cst.BinaryOperation, tuple]] = []
        self._ifs: list[tuple[cst.If, tuple]] = []

    VALID = [
        # The ImageNet recipe in its own 90-epoch run.
        """
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument('--epochs', default=90, type=int)
        def adjust_learning_rate(optimizer, epoch, args):
            lr = args.lr * (0.1 ** (epoch // 30))
            for param_group in optimizer.param_groups:
                param_group['lr'] = lr
        def main():
            args = parser.parse_args()
            for epoch in range(args.start_epoch, args.epochs):
                adjust_learning_rate(optimizer, epoch, args)
        """,
        # step_size=30 fits a 90-epoch run.
        """
        import torch
        def main(epochs=90):
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            for epoch in range(epochs):
                train()
                sched.step()
        """,
        # T_max derived from the epoch count.
        """
        import torch
        def main(args):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
            for epoch in range(10):
                train()
                sched.step()
        """,
        # Per-batch cosine sized in steps.
        """
        import torch
        def train(model, loader, epochs=10):
            opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
            for epoch in range(epochs):
                for x, y in loader:
                    opt.zero_grad()
                    model(x, y).backward()
                    opt.step()
                    sched.step()
        """,
        # OneCycleLR is built for per-batch stepping.
        """
        import torch
        def train(model, loader, epochs=10):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=len(loader))
            for epoch in range(epochs):
                for x, y in loader:
                    opt.zero_grad(); model(x, y).backward(); opt.step(); sched.step()
        """,
        # ReduceLROnPlateau has no period.
        """
        import torch
        def train(model, loader, epochs=5):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=10, factor=0.1)
            for epoch in range(epochs):
                val_loss = run(model, loader)
                sched.step(val_loss)
        """,
        # The epoch count is not known here.
        """
        import torch
        def train(model, loader, optimizer, epochs):
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
            for epoch in range(epochs):
                run_epoch(model, loader, optimizer)
                scheduler.step()
        """,
        # Milestones derived from the epoch count.
        """
        import torch
        def train(model, loader, optimizer, epochs=10):
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(0.5 * epochs), int(0.75 * epochs)])
            for epoch in range(epochs):
                run_epoch(model, loader, optimizer)
                scheduler.step()
        """,
        # Warm-up in steps, stepped per batch.
        """
        from transformers import get_linear_schedule_with_warmup
        import torch
        def train(model, train_dataloader, num_epochs=3):
            optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
            total = len(train_dataloader) * num_epochs
            scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=100, num_training_steps=total)
            warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=500)
            for epoch in range(num_epochs):
                for batch in train_dataloader:
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    scheduler.step()
                    warmup.step()
                    optimizer.zero_grad()
        """,
        # A step size in iterations (larger than the run in epochs), stepped per batch.
        """
        import torch
        def train(model, loader, epochs=10):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2000, gamma=0.5)
            for epoch in range(epochs):
                for x, y in loader:
                    opt.zero_grad(); model(x, y).backward(); opt.step()
                    sched.step()
        """,
        # CosineAnnealingWarmRestarts stepped per batch with a fractional epoch, as documented.
        """
        import torch
        def train(model, loader, epochs=100):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
            iters = len(loader)
            for epoch in range(epochs):
                for i, (x, y) in enumerate(loader):
                    opt.zero_grad(); model(x, y).backward(); opt.step()
                    sched.step(epoch + i / iters)
        """,
        # The transfer-learning tutorial: stepped once per epoch inside the phase loop; 7 < 25.
        """
        import torch
        from torch.optim import lr_scheduler
        def train_model(model, criterion, optimizer, scheduler, num_epochs=25):
            for epoch in range(num_epochs):
                for phase in ['train', 'val']:
                    for inputs, labels in dataloaders[phase]:
                        optimizer.zero_grad()
                        loss = criterion(model(inputs), labels)
                        if phase == 'train':
                            loss.backward()
                            optimizer.step()
                    if phase == 'train':
                        scheduler.step()
            return model

        optimizer_ft = torch.optim.SGD(model_ft.parameters(), lr=0.001, momentum=0.9)
        exp_lr_scheduler = lr_scheduler.StepLR(optimizer_ft, step_size=7, gamma=0.1)
        model_ft = train_model(model_ft, criterion, optimizer_ft, exp_lr_scheduler, num_epochs=25)
        """,
        # Handed to a trainer the rule cannot see.
        """
        import torch
        EPOCHS = 10
        def main():
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            trainer = Trainer(model, opt, sched, epochs=EPOCHS)
            trainer.fit()
        """,
        # Two different epoch defaults: the run length is not known.
        """
        import argparse, torch
        def get_args():
            p = argparse.ArgumentParser()
            p.add_argument("--epochs", type=int, default=10)
            return p.parse_args()
        def get_test_args():
            p = argparse.ArgumentParser()
            p.add_argument("--epochs", type=int, default=200)
            return p.parse_args()
        def build(opt):
            return torch.optim.lr_scheduler.StepLR(opt, step_size=30)
        """,
        # An epoch step formula that does not set a learning rate.
        """
        def train(model, loader, epochs=10):
            for epoch in range(epochs):
                tf_ratio = 0.5 ** (epoch // 30)
                beta = min(1.0, epoch / 50)
                run(model, loader, tf_ratio, beta)
        """,
        # Periods from the configuration.
        """
        def train(args, optimizer):
            for epoch in range(args.epochs):
                if epoch % args.lr_decay_every == 0 and epoch > 0:
                    for g in optimizer.param_groups:
                        g['lr'] *= args.lr_decay
                if epoch in args.schedule:
                    for g in optimizer.param_groups:
                        g['lr'] *= 0.1
        """,
        # Warm-up then a cosine over the remaining epochs.
        """
        import torch
        from torch.optim.lr_scheduler import SequentialLR, LinearLR, CosineAnnealingLR
        def main(epochs=100):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
            cosine = CosineAnnealingLR(opt, T_max=95)
            sched = SequentialLR(opt, schedulers=[warmup, cosine], milestones=[5])
            for epoch in range(epochs):
                train(model, opt)
                sched.step()
        """,
        # Stepped at the last batch of each epoch only.
        """
        import torch
        def train(model, loader, epochs=20):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5)
            for epoch in range(epochs):
                for i, (x, y) in enumerate(loader):
                    opt.zero_grad(); model(x, y).backward(); opt.step()
                    if i == len(loader) - 1:
                        sched.step()
        """,
        # T_max close to the run length.
        """
        import torch
        EPOCHS = 100
        def main():
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS - 1, eta_min=1e-6)
            sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=90)
            for epoch in range(EPOCHS):
                train(model, opt)
                sched.step()
                sched2.step()
        """,
        # A hand-written decay whose period derives from the epoch count.
        """
        def adjust_learning_rate(optimizer, epoch, args):
            lr = args.lr * (0.1 ** (epoch // (args.epochs // 3)))
            for param_group in optimizer.param_groups:
                param_group['lr'] = lr
        """,
        # Lightning scheduler stepped per batch ('interval': 'step'), sized in steps.
        """
        import torch
        import lightning as L
        class Lit(L.LightningModule):
            def configure_optimizers(self):
                opt = torch.optim.AdamW(self.parameters(), lr=1e-3)
                sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1000, gamma=0.5)
                return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        trainer = L.Trainer(max_epochs=20)
        """,
        # Threshold decays inside the run.
        """
        def main(opt):
            for epoch in range(100):
                if epoch >= 50:
                    lr = opt.lr * 0.1
                    for pg in optimizer.param_groups:
                        pg['lr'] = lr
                if epoch == 75:
                    for pg in optimizer.param_groups:
                        pg['lr'] *= 0.1
        """,
        # A builder whose caller steps it per batch with a step size in iterations.
        """
        import torch

        def get_scheduler(optimizer):
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=5000)

        def main(epochs=10):
            sched = get_scheduler(opt)
            for epoch in range(epochs):
                for x, y in loader:
                    opt.step()
                    sched.step()
        """,
        # Lightning's lr_scheduler_step hook and a scheduler stepped in validation_epoch_end; N = T_max.
        """
        import torch
        import lightning as L

        class Lit(L.LightningModule):
            def configure_optimizers(self):
                opt = torch.optim.SGD(self.parameters(), lr=0.1)
                return [opt], [torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)]

            def lr_scheduler_step(self, scheduler, metric):
                scheduler.step()

        trainer = L.Trainer(max_epochs=50)
        """,
        # epoch // 30 that is not a learning rate.
        """
        def main(optimizer):
            for epoch in range(10):
                ckpt_id = epoch // 30
                for g in optimizer.param_groups:
                    g['lr'] = 0.1
                save(ckpt_id)
        """,
        # A loop that is not an epoch loop.
        """
        import torch
        def main():
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            for e in range(3):
                model = build()
                sched.step()
        """,
        # The loop's epoch count is unknown; other epoch settings in the file do not stand in for it.
        """
        import argparse, torch
        p = argparse.ArgumentParser()
        p.add_argument("--warmup_epochs", type=int, default=5)
        p.add_argument("--max_epochs", type=int, default=10)
        def main(args):
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            for epoch in range(args.n_ep):
                train()
                sched.step()
        """,
        # Two loops of different lengths: the run is not known.
        """
        import torch
        def main():
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
            for epoch in range(10):
                pretrain()
            for epoch in range(100):
                train()
                sched.step()
        """,
        # A periodic checkpoint, not a decay.
        """
        def main():
            for epoch in range(10):
                train()
                if epoch % 30 == 0:
                    save_checkpoint(model, epoch)
        """,
    ]
    INVALID = [
        # StepLR never reaches its step in a literal 10-epoch loop.
        Invalid(
            """
                import torch
                from torch.optim.lr_scheduler import StepLR
                def main():
                    model = Net()
                    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
                    for epoch in range(10):
                        train(model, optimizer)
                        scheduler.step()
            """,
            line=7,
        ),
        # The ImageNet milestones copied into a run whose argparse default is 10 epochs.
        Invalid(
            """
                import argparse
                import torch
                def main():
                    parser = argparse.ArgumentParser()
                    parser.add_argument('--epochs', type=int, default=10)
                    parser.add_argument('--lr', type=float, default=0.1)
                    args = parser.parse_args()
                    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
                    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60, 80], gamma=0.1)
                    for epoch in range(args.start_epoch, args.epochs):
                        train_one_epoch(model, train_loader, optimizer, epoch)
                        scheduler.step()
            """,
            line=10,
        ),
        # A cosine sized in epochs, stepped every batch.
        Invalid(
            """
                import torch.optim as optim
                def train(model, loader, epochs=20):
                    opt = optim.AdamW(model.parameters(), lr=3e-4)
                    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
                    for epoch in range(epochs):
                        for x, y in loader:
                            opt.zero_grad()
                            loss = model(x, y)
                            loss.backward()
                            opt.step()
                            sched.step()
            """,
            line=12,
        ),
        # The ImageNet adjust_learning_rate() in a 10-epoch script: decays at epoch 30, never reached.
        Invalid(
            """
                import argparse
                parser = argparse.ArgumentParser()
                parser.add_argument('--epochs', default=10, type=int)
                def adjust_learning_rate(optimizer, epoch, args):
                    lr = args.lr * (0.1 ** (epoch // 30))
                    for param_group in optimizer.param_groups:
                        param_group['lr'] = lr
                def main():
                    args = parser.parse_args()
                    for epoch in range(args.start_epoch, args.epochs):
                        adjust_learning_rate(optimizer, epoch, args)
                        train(train_loader, model, criterion, optimizer, epoch, args)
            """,
            line=6,
        ),
        # T_max longer than the run: the cosine never anneals.
        Invalid(
            """
                import torch
                from torch import optim
                def train_model(model, dataloaders, criterion):
                    num_epochs = 50
                    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)
                    for epoch in range(num_epochs):
                        for inputs, labels in dataloaders['train']:
                            optimizer.zero_grad()
                            loss = criterion(model(inputs), labels)
                            loss.backward()
                            optimizer.step()
                        scheduler.step()
            """,
            line=7,
        ),
        # An epoch-sized StepLR stepped inside the batch loop.
        Invalid(
            """
                import torch
                def train(model, train_loader, optimizer, epochs=90):
                    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
                    for epoch in range(epochs):
                        model.train()
                        for batch_idx, (data, target) in enumerate(train_loader):
                            optimizer.zero_grad()
                            loss = F.nll_loss(model(data), target)
                            loss.backward()
                            optimizer.step()
                            scheduler.step()
            """,
            line=12,
        ),
        # ExponentialLR with an epoch-sized gamma stepped every batch.
        Invalid(
            """
                from torch.optim.lr_scheduler import ExponentialLR
                def fit(model, loader, optimizer):
                    scheduler = ExponentialLR(optimizer, gamma=0.95)
                    for epoch in range(5):
                        for x, y in loader:
                            loss = model.loss(x, y)
                            optimizer.zero_grad(); loss.backward(); optimizer.step()
                            scheduler.step()
            """,
            line=9,
        ),
        # Hand-written decay every 30 epochs in a 20-epoch loop.
        Invalid(
            """
                def train(model, loader, optimizer):
                    for epoch in range(20):
                        if epoch % 30 == 0 and epoch > 0:
                            for g in optimizer.param_groups:
                                g['lr'] *= 0.1
                        run_epoch(model, loader, optimizer)
            """,
            line=4,
        ),
        # Hand-written milestones beyond a module constant EPOCHS.
        Invalid(
            """
                EPOCHS = 25
                LR = 0.1
                def main():
                    lr = LR
                    for epoch in range(EPOCHS):
                        if epoch in [30, 60, 90]:
                            lr *= 0.1
                            for param_group in optimizer.param_groups:
                                param_group["lr"] = lr
                        train_epoch(epoch)
            """,
            line=7,
        ),
        # A trainer class: the scheduler in __init__, epochs from the parameter default.
        Invalid(
            """
                import torch
                from torch.optim.lr_scheduler import StepLR
                class Trainer:
                    def __init__(self, model, loader, epochs=20, lr=0.1):
                        self.model = model
                        self.loader = loader
                        self.epochs = epochs
                        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
                        self.scheduler = StepLR(self.optimizer, step_size=50, gamma=0.5)

                    def train_epoch(self):
                        for x, y in self.loader:
                            self.optimizer.zero_grad()
                            self.model(x, y).backward()
                            self.optimizer.step()

                    def fit(self):
                        for epoch in range(self.epochs):
                            self.train_epoch()
                            self.scheduler.step()
            """,
            line=10,
        ),
        # Lightning steps configure_optimizers schedulers per epoch; Trainer(max_epochs=30).
        Invalid(
            """
                import torch
                import pytorch_lightning as pl
                class LitClassifier(pl.LightningModule):
                    def configure_optimizers(self):
                        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
                        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.1)
                        return [optimizer], [scheduler]

                if __name__ == "__main__":
                    trainer = pl.Trainer(max_epochs=30)
                    trainer.fit(LitClassifier(), dm)
            """,
            line=7,
        ),
        # LambdaLR with a step decay on the epoch index.
        Invalid(
            """
                import torch
                def main():
                    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda epoch: 0.1 ** (epoch // 30))
                    for epoch in range(15):
                        train(model, optimizer)
                        scheduler.step()
            """,
            line=5,
        ),
        # Stepped per batch inside a helper the scheduler is handed to.
        Invalid(
            """
                import torch
                from torch.optim import lr_scheduler

                def train_one_epoch(model, loader, optimizer, scheduler):
                    model.train()
                    for images, targets in loader:
                        loss = model(images, targets)
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        scheduler.step()

                def main(args):
                    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
                    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                    for epoch in range(args.epochs):
                        train_one_epoch(model, train_loader, optimizer, scheduler)
            """,
            line=12,
        ),
        # Epoch count from a config dict; positional step_size.
        Invalid(
            """
                import torch
                config = {"epochs": 10, "lr": 0.1, "batch_size": 128}
                def run():
                    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"])
                    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30, gamma=0.1)
                    for epoch in range(config["epochs"]):
                        train(model, optimizer)
                        scheduler.step()
            """,
            line=6,
        ),
        # A module-level script, `from torch.optim import lr_scheduler`, positional step size.
        Invalid(
            """
                from torch.optim import lr_scheduler
                import torch.optim as optim
                NUM_EPOCHS = 12
                opt = optim.SGD(net.parameters(), lr=0.1)
                sched = lr_scheduler.StepLR(opt, 20)
                for epoch in range(NUM_EPOCHS):
                    for inputs, labels in trainloader:
                        opt.zero_grad()
                        criterion(net(inputs), labels).backward()
                        opt.step()
                    sched.step()
            """,
            line=6,
        ),
        # LinearLR decay that never completes.
        Invalid(
            """
                import torch
                def main(epochs: int = 100):
                    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=300)
                    for epoch in range(epochs):
                        train(model, opt)
                        sched.step()
            """,
            line=5,
        ),
        # T_max far shorter than the run: the cosine climbs back up.
        Invalid(
            """
                import torch
                def main(epochs: int = 100):
                    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
                    for epoch in range(epochs):
                        train(model, opt)
                        sched.step()
            """,
            line=5,
        ),
        # The parameter default says 90, the only call says 20.
        Invalid(
            """
                import torch
                def train(model, loader, epochs=90):
                    opt = torch.optim.SGD(model.parameters(), lr=0.1)
                    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[30, 60, 80])
                    for epoch in range(epochs):
                        run_epoch(model, loader, opt)
                        sched.step()

                train(model, loader, epochs=20)
            """,
            line=5,
        ),
        # A while loop over epochs.
        Invalid(
            """
                import torch
                def main():
                    epoch = 0
                    max_epochs = 10
                    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=15)
                    while epoch < max_epochs:
                        train(model, opt)
                        sched.step()
                        epoch += 1
            """,
            line=6,
        ),
        # self.scheduler stepped every batch, sized by self.epochs.
        Invalid(
            """
                import torch
                class Trainer:
                    def __init__(self, model, epochs=30):
                        self.epochs = epochs
                        self.optimizer = torch.optim.Adam(model.parameters())
                        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.epochs)
                    def train(self, loader):
                        for epoch in range(self.epochs):
                            for step, batch in enumerate(loader):
                                loss = self.model(batch)
                                loss.backward()
                                self.optimizer.step()
                                self.scheduler.step()
            """,
            line=14,
        ),
        # A helper called from a 30-epoch loop decays every 50 epochs.
        Invalid(
            """
                def adjust_lr(optimizer, epoch, base_lr=0.1):
                    lr = base_lr * (0.5 ** ((epoch + 1) // 50))
                    for g in optimizer.param_groups:
                        g['lr'] = lr
                    return lr

                def main():
                    for epoch in range(1, 31):
                        adjust_lr(optimizer, epoch)
                        train(epoch)
            """,
            line=3,
        ),
        # A threshold decay past the argparse epoch count.
        Invalid(
            """
                import argparse
                def main():
                    parser = argparse.ArgumentParser()
                    parser.add_argument("--n_epochs", type=int, default=40)
                    opt = parser.parse_args()
                    for epoch in range(opt.n_epochs):
                        if epoch >= 50:
                            lr = opt.lr * 0.1
                            for pg in optimizer.param_groups:
                                pg['lr'] = lr
                        train()
            """,
            line=8,
        ),
        # Epoch count from a config class attribute.
        Invalid(
            """
            import torch
            class Config:
                EPOCHS = 10
                LR = 0.1
            def main():
                sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
                for epoch in range(Config.EPOCHS):
                    train()
                    sched.step()
            """,
            line=7,
        ),
        # Epoch count from a dataclass default; T_max copied from a 100-epoch recipe.
        Invalid(
            """
            from dataclasses import dataclass
            import torch
            @dataclass
            class TrainConfig:
                epochs: int = 10
                lr: float = 1e-3
            def main():
                cfg = TrainConfig()
                opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
                for epoch in range(cfg.epochs):
                    train()
                    sched.step()
            """,
            line=11,
        ),
        # A named lr_lambda handed to LambdaLR.
        Invalid(
            """
            import torch
            def lr_schedule(epoch):
                return 0.1 ** (epoch // 30)

            def main():
                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lr_schedule)
                for epoch in range(20):
                    train()
                    scheduler.step()
            """,
            line=4,
        ),
        # A builder returns (optimizer, scheduler); its caller steps it per epoch.
        Invalid(
            """
            import torch
            def build_optimizer(model):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
                return optimizer, scheduler

            optimizer, scheduler = build_optimizer(model)
            for epoch in range(10):
                train(model, optimizer)
                scheduler.step()
            """,
            line=5,
        ),
    ]

    # -- recording during the walk ------------------------------------------------------------
    def _pool_add(self, name: str, value: cst.BaseExpression | None) -> None:
        number = int_value(value)
        if number is not None and number > 0 and _epoch_count_name(name):
            self._pool.setdefault(name, set()).add(number)

    def _pool_value(self, name: str) -> int | None:
        values = self._pool.get(name)
        return next(iter(values)) if values and len(values) == 1 else None

    def _pool_run(self) -> int | None:
        values = set().union(*self._pool.values()) if self._pool else set()
        return next(iter(values)) if len(values) == 1 else None

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = call_name(node)
        if name in _SCHED_CLASSES:
            qual = self.ctx.qualname(func)
            if (qual is not None and qual == _SCHED_MODULE + name) or (
                qual is None and isinstance(func, cst.Name) and any(
                    m in ("torch.optim.lr_scheduler", "torch.optim") for m in self.ctx.imports.star_modules
                )
            ):
                self._scheds.append((node, name, tuple(self.ctx.stack)))
        elif name == "step":
            if isinstance(func, cst.Attribute):
                receiver = dotted_name(func.value)
                if receiver is not None:
                    self._steps.append((node, receiver, tuple(self.ctx.stack)))
        elif name == "add_argument":
            default = arg(node, None, "default")
            dest = string_value(arg(node, None, "dest"))
            if dest is None:
                options = [string_value(a.value) for a in node.args if a.keyword is None]
                longs = [o for o in options if o and o.startswith("--")]
                chosen = longs[0] if longs else next((o for o in options if o), None)
                dest = chosen.lstrip("-").replace("-", "_") if chosen else None
            if dest:
                self._pool_add(dest, default)
        if isinstance(func, cst.Name):
            self._calls.setdefault(func.value, []).append((node, tuple(self.ctx.stack)))
        elif isinstance(func, cst.Attribute) and dotted_name(func.value) == "self":
            self._calls.setdefault(func.attr.value, []).append((node, tuple(self.ctx.stack)))
        for a in node.args:
            if a.keyword is not None and "poch" in a.keyword.value.lower():
                self._pool_add(a.keyword.value, a.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            key = dotted_name(target.target)
            if key and "poch" in key.lower():
                self._pool_add(_last(key), node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        key = dotted_name(node.target)
        if key and "poch" in key.lower() and node.value is not None:
            self._pool_add(_last(key), node.value)

    def visit_DictElement(self, node: cst.DictElement) -> None:
        key = string_value(node.key)
        if key and "poch" in key.lower():
            self._pool_add(key, node.value)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.FloorDivide) and any(
            _epoch_index_name(_last(n)) for n in _sched_names_in(node.left)
        ):
            self._floordivs.append((node, tuple(self.ctx.stack)))

    def visit_If(self, node: cst.If) -> None:
        if any(_epoch_index_name(_last(n)) for n in _sched_names_in(node.test)):
            self._ifs.append((node, tuple(self.ctx.stack)))

    # -- the analysis -------------------------------------------------------------------------
    def leave_Module(self, node: cst.Module) -> None:
        if not (self._scheds or self._floordivs or self._ifs):
            return
        analysis = _SchedAnalysis(self)
        for call, kind, stack in self._scheds:
            self._check_scheduler(analysis, call, kind, stack)
        for binop, stack in self._floordivs:
            self._check_floordiv(analysis, binop, stack)
        for if_node, stack in self._ifs:
            self._check_if(analysis, if_node, stack)

    def _binding(self, call: cst.Call, stack: tuple) -> tuple[str, str | None, cst.Call | None]:
        """('name', target) / ('return', None) / ('wrapped', wrapper call) / ('unknown', None)."""
        child: cst.CSTNode = call
        for parent in reversed(stack):
            if isinstance(parent, cst.Assign) and parent.value is child:
                key = dotted_name(parent.targets[0].target) if len(parent.targets) == 1 else None
                return ("name", key, None) if key else ("unknown", None, None)
            if isinstance(parent, cst.AnnAssign) and parent.value is child:
                key = dotted_name(parent.target)
                return ("name", key, None) if key else ("unknown", None, None)
            if isinstance(parent, cst.Return):
                return "return", None, None
            if isinstance(parent, cst.Call):
                if call_name(parent) in _SCHED_WRAPPERS:
                    return "wrapped", None, parent
                return "unknown", None, None
            if not isinstance(parent, (cst.Arg, cst.Element, cst.List, cst.Tuple, cst.Dict, cst.DictElement)):
                return "unknown", None, None
            child = parent
        return "unknown", None, None

    def _stepping_of(self, analysis: _SchedAnalysis, call: cst.Call, stack: tuple, depth: int = 0):
        """[(granularity, step call or None, epoch loop, loop scope)] or None when it cannot be told."""
        scope = analysis.scope_of(stack)
        klass = analysis.class_of(stack)
        how, target, wrapper = self._binding(call, stack)
        if how == "wrapped" and depth < 2:
            for other_call, _, other_stack in self._scheds:
                if other_call is wrapper:
                    return self._stepping_of(analysis, other_call, other_stack, depth + 1)
            return None
        lightning = scope is not None and scope.name.value == "configure_optimizers"
        if lightning:
            per_step = any(
                isinstance(n, cst.DictElement) and string_value(n.key) == "interval" and string_value(n.value) == "step"
                for n in analysis.own_nodes(scope)
            )
            return [("batch" if per_step else "epoch", None, None, scope)]
        if how == "return":
            return self._builder_stepping(analysis, scope, self._return_position(call, stack))
        if how != "name" or target is None:
            return None
        if target.startswith("self.") and klass is None:
            return None
        # A sub-scheduler bound to a name and then handed to SequentialLR/ChainedScheduler.
        if not target.startswith("self."):
            for other_call, other_kind, other_stack in self._scheds:
                if other_kind in _SCHED_WRAPPERS and analysis.scope_of(other_stack) is scope and any(
                    n == target for n in _sched_names_in(other_call)
                ) and depth < 2:
                    return self._stepping_of(analysis, other_call, other_stack, depth + 1)
        found = analysis.stepping(target, scope, klass)
        if found is None:
            return None
        if found:
            return found
        if target.startswith("self."):
            return None
        returned, position = analysis.returned_at(target, scope)
        if returned:
            return None if position == -1 else self._builder_stepping(analysis, scope, position)
        if analysis.passed_on(target, scope):
            return None
        return [("epoch", None, None, scope)]

    def _builder_stepping(self, analysis: _SchedAnalysis, scope, position: int | None):
        """A scheduler returned by a builder: stepped as its callers step it, else once per epoch."""
        if scope is not None and position != -1:
            found = analysis.caller_stepping(scope, position, self._calls)
            if found is None:
                return None
            if found:
                return found
        return [("epoch", None, None, scope)]

    @staticmethod
    def _return_position(call: cst.Call, stack: tuple) -> int | None:
        """``return StepLR(...)`` -> None; ``return model, opt, StepLR(...)`` -> 2; nested deeper: -1."""
        for i in range(len(stack) - 1, -1, -1):
            if isinstance(stack[i], cst.Return):
                value = stack[i].value
                if value is call:
                    return None
                if isinstance(value, cst.Tuple) and i + 2 < len(stack) and stack[i + 1] is value:
                    element = stack[i + 2]
                    if isinstance(element, cst.Element) and element.value is call:
                        return list(value.elements).index(element)
                return -1
        return -1

    def _check_scheduler(self, analysis: _SchedAnalysis, call: cst.Call, kind: str, stack: tuple) -> None:
        if kind not in _SCHED_PERIOD:
            return
        scope = analysis.scope_of(stack)
        period_expr = arg(call, *_SCHED_PERIOD[kind])
        if period_expr is None:
            return
        stepping = self._stepping_of(analysis, call, stack)
        if not stepping:
            return
        grains = {g for g, _, _, _ in stepping}
        if len(grains) != 1 or None in grains:
            return
        grain = grains.pop()
        # The run: the epoch loop the step sits in, else the constructing function's, else the module's.
        run = None
        loops = {(id(lp), s) for _, _, lp, s in stepping if lp is not None}
        if len(loops) == 1:
            _, loop_scope = next(iter(loops))
            loop = next(lp for _, _, lp, _ in stepping if lp is not None)
            run = analysis.loop_run(loop, loop_scope)
        if run is None and not loops:
            run = analysis.scope_run(scope)
        if grain == "epoch":
            if run is not None:
                self._check_epoch_sized(analysis, call, kind, period_expr, scope, run)
            return
        step_calls = [c for _, c, _, _ in stepping if c is not None]
        report_at = step_calls[0] if step_calls else call
        self._check_per_batch(analysis, call, kind, period_expr, scope, run, report_at, step_calls)

    def _check_epoch_sized(self, analysis, call, kind, period_expr, scope, run: _SchedRun) -> None:
        n = run.count
        if kind == "MultiStepLR":
            milestones = analysis.int_list(period_expr, scope)
            if not milestones:
                return
            late = [m for m in milestones if m >= n]
            if late:
                self.report(
                    call,
                    f"MultiStepLR milestones {late} are never reached in a {n}-epoch run: those decays never "
                    "happen; derive the milestones from the epoch count",
                )
            return
        if kind in ("ExponentialLR", "CosineAnnealingWarmRestarts"):
            return
        period = analysis.resolve(period_expr, scope)
        if period is None or period <= 0:
            return
        name = _SCHED_PERIOD[kind][1]
        if kind == "StepLR" and period >= n:
            self.report(
                call,
                f"StepLR step_size={period} but the run has {n} epochs: the learning rate never decays; "
                "derive step_size from the epoch count",
            )
        elif kind == "CosineAnnealingLR" and period > n:
            self.report(
                call,
                f"CosineAnnealingLR T_max={period} but the run has {n} epochs: the learning rate never "
                "anneals to its minimum; set T_max from the epoch count",
            )
        elif kind == "CosineAnnealingLR" and 2 * period < n:
            self.report(
                call,
                f"CosineAnnealingLR T_max={period} but the run has {n} epochs: after T_max the cosine "
                "raises the learning rate again; set T_max from the epoch count",
            )
        elif kind in ("LinearLR", "PolynomialLR") and period > n:
            self.report(
                call,
                f"{kind} {name}={period} but the run has {n} epochs: the schedule never completes; "
                f"derive {name} from the epoch count",
            )
        elif kind == "PolynomialLR" and 2 * period < n:
            self.report(
                call,
                f"PolynomialLR total_iters={period} but the run has {n} epochs: the learning rate reaches "
                "its final value early and stays there; derive total_iters from the epoch count",
            )

    def _check_per_batch(self, analysis, call, kind, period_expr, scope, run, report_at, step_calls) -> None:
        name = _SCHED_PERIOD[kind][1]
        fix = "call scheduler.step() once per epoch, or size the schedule in batches"
        if kind == "ExponentialLR":
            gamma = number_value(period_expr)
            if gamma is not None and 0 < gamma <= 0.99:
                self.report(
                    report_at,
                    f"ExponentialLR(gamma={gamma:g}) is stepped once per batch: the learning rate shrinks "
                    f"by {gamma:g} every batch and vanishes within an epoch; {fix}",
                )
            return
        if kind == "CosineAnnealingWarmRestarts" and any(c.args for c in step_calls):
            return  # step(epoch + i / iters): the documented per-batch use
        derived = (
            not isinstance(period_expr, (cst.List, cst.Tuple))
            and _sched_mentions_epoch_count(period_expr)
            and not _sched_mentions_steps(period_expr)
        )
        if derived:
            self.report(
                report_at,
                f"{kind} ({name}={self.ctx.code(period_expr)}, counted in epochs) is stepped once per batch: "
                f"it decays len(loader) times too fast; {fix}",
            )
            return
        if run is None or kind in ("LinearLR", "PolynomialLR"):
            return
        if kind == "MultiStepLR":
            milestones = analysis.int_list(period_expr, scope)
            if milestones and max(milestones) <= run.count:
                self.report(
                    report_at,
                    f"MultiStepLR (milestones={milestones}, epochs of a {run.count}-epoch run) is stepped once "
                    f"per batch: it decays len(loader) times too fast; {fix}",
                )
            return
        period = analysis.resolve(period_expr, scope)
        if period is not None and 0 < period <= run.count:
            self.report(
                report_at,
                f"{kind} ({name}={period}, epochs of a {run.count}-epoch run) is stepped once per batch: it "
                f"decays len(loader) times too fast; {fix}",
            )

    # -- hand-written decays ------------------------------------------------------------------
    def _formula_run(self, analysis: _SchedAnalysis, index_name: str, stack: tuple) -> _SchedRun | None:
        """The run an epoch index belongs to: its loop, the loops that call this function, the scope."""
        scope = analysis.scope_of(stack)
        for node in reversed(stack):
            if isinstance(node, cst.For) and dotted_name(node.target) == index_name:
                return analysis.loop_run(node, scope) if analysis.is_epoch_loop(node, scope) else None
            if isinstance(node, cst.Lambda):
                # LambdaLR(opt, lambda epoch: ...): the run of the function building the scheduler.
                return analysis.scope_run(scope)
        if scope is not None and any(p.name.value == index_name for p in analysis.params(scope)):
            runs = set()
            for _caller, caller_stack in self._calls.get(scope.name.value, ()):
                caller_scope = analysis.scope_of(caller_stack)
                loops = [n for n in caller_stack if isinstance(n, (cst.For, cst.While))]
                epoch = next((lp for lp in reversed(loops) if analysis.is_epoch_loop(lp, caller_scope)), None)
                if epoch is not None:
                    run = analysis.loop_run(epoch, caller_scope)
                    runs.add((run.count, run.last) if run else None)
            if len(runs) == 1:
                only = runs.pop()
                return _SchedRun(*only) if only else None
            if runs:
                return None
            # def lr_lambda(epoch): ... handed to LambdaLR: the run of the function building it.
            for call, kind, sched_stack in self._scheds:
                if kind in _SCHED_LAMBDA and any(dotted_name(a.value) == scope.name.value for a in call.args):
                    return analysis.scope_run(analysis.scope_of(sched_stack))
        return analysis.scope_run(scope)

    def _in_lr_context(self, analysis: _SchedAnalysis, node: cst.CSTNode, stack: tuple) -> bool:
        """Whether a ``epoch // P`` computes a learning rate (and not, say, a checkpoint index)."""
        in_exponent = False
        child: cst.CSTNode = node
        for parent in reversed(stack):
            if isinstance(parent, cst.Lambda):
                return True  # only lambdas handed to a scheduler get here (see _check_floordiv)
            if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Power):
                in_exponent = in_exponent or parent.right is child
            elif isinstance(parent, cst.Arg) and call_name(stack[stack.index(parent) - 1]) == "pow":
                in_exponent = True
            if isinstance(parent, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                if _sched_sets_lr(parent):
                    return True
                break
            child = parent
        scope = analysis.scope_of(stack)
        if scope is None:
            return False
        named = _sched_lr_name(scope.name.value) or set(_tokens(scope.name.value)) & {"adjust", "schedule", "scheduler"}
        if named and any(isinstance(p, cst.Return) for p in stack):
            return True  # def lr_lambda(epoch): return 0.1 ** (epoch // 30)
        return in_exponent and bool(named or _sched_sets_lr(scope.body))

    def _check_floordiv(self, analysis: _SchedAnalysis, node: cst.BinaryOperation, stack: tuple) -> None:
        scope = analysis.scope_of(stack)
        period = analysis.resolve(node.right, scope)
        if period is None or period < 2:
            return
        lam = next((p for p in reversed(stack) if isinstance(p, cst.Lambda)), None)
        if lam is not None:
            position = stack.index(lam)
            outer = stack[position - 2] if position >= 2 else None
            if not (isinstance(outer, cst.Call) and call_name(outer) in _SCHED_LAMBDA):
                return
        if not self._in_lr_context(analysis, node, stack):
            return
        index, offset = self._index_and_offset(node.left)
        if index is None:
            return
        run = self._formula_run(analysis, index, stack)
        if run is None or period <= run.last + offset:
            return
        self.report(
            node,
            f"learning-rate decay every {period} epochs (`{self.ctx.code(node.with_changes(lpar=[], rpar=[]))}`) "
            f"but the run has {run.count} "
            "epochs: the rate never decays; derive the period from the epoch count",
        )

    @staticmethod
    def _index_and_offset(expr: cst.BaseExpression) -> tuple[str | None, int]:
        """``epoch`` -> ('epoch', 0); ``epoch + 1`` -> ('epoch', 1); anything else: (None, 0)."""
        offset = 0
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract)):
            value = int_value(expr.right)
            if value is None:
                return None, 0
            offset = value if isinstance(expr.operator, cst.Add) else -value
            expr = expr.left
        key = dotted_name(expr)
        if key is None or not _epoch_index_name(_last(key)):
            return None, 0
        return key, offset

    def _check_if(self, analysis: _SchedAnalysis, node: cst.If, stack: tuple) -> None:
        if not _sched_sets_lr(node.body):
            return
        scope = analysis.scope_of(stack)
        tests = [node.test]
        while tests:
            test = tests.pop(0)
            if isinstance(test, cst.BooleanOperation):
                if isinstance(test.operator, cst.And):
                    tests[:0] = [test.left, test.right]
                continue
            found = self._never_true(analysis, test, scope, stack)
            if found is not None:
                self.report(test, found)
                return

    def _never_true(self, analysis: _SchedAnalysis, test: cst.BaseExpression, scope, stack) -> str | None:
        """The message when ``test`` (a comparison on the epoch index) is never true in the run."""
        if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
            return None
        op = test.comparisons[0].operator
        right = test.comparisons[0].comparator
        left = test.left
        code = self.ctx.code(test.with_changes(lpar=[], rpar=[]))
        if isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Modulo):
            if not isinstance(op, cst.Equal) or int_value(right) != 0:
                return None
            index, offset = self._index_and_offset(left.left)
            period = analysis.resolve(left.right, scope)
            if index is None or period is None or period < 2:
                return None
            run = self._formula_run(analysis, index, stack)
            if run is None or period <= run.last + offset:
                return None
            return (
                f"learning-rate decay every {period} epochs (`{code}`) but the run has {run.count} epochs: "
                "the rate never decays; derive the period from the epoch count"
            )
        index, offset = self._index_and_offset(left)
        if index is None:
            return None
        if isinstance(op, cst.In):
            milestones = analysis.int_list(right, scope)
        elif isinstance(op, (cst.Equal, cst.GreaterThanEqual, cst.GreaterThan)):
            value = analysis.resolve(right, scope)
            milestones = None if value is None else [value + (1 if isinstance(op, cst.GreaterThan) else 0)]
        else:
            return None
        if not milestones:
            return None
        run = self._formula_run(analysis, index, stack)
        if run is None:
            return None
        late = [m for m in milestones if m > run.last + offset]
        if not late:
            return None
        shown = ", ".join(str(m) for m in late)
        return (
            f"learning-rate decay at epoch {shown} (`{code}`) but the run has {run.count} epochs: it never "
            "happens; derive it from the epoch count"
        )


# ---------------------------------------------------------------------------------------------
# NN203-NN209: one training step in order — backward(), zero_grad(), clipping, unscale_, step(),
# the scheduler — and what a loop keeps across iterations. Helpers are prefixed ``_step_``/``_Step``.
#
# A function (or the module) holding training calls is scanned once into a list of events in
# execution order: B backward, S optimiser step, Z zero_grad, G another write of ``.grad``, C gradient
# clipping, U ``scaler.unscale_``, L scheduler step, Q a call that may run backward unseen, A an
# accumulation (``x += v``, ``x.append(v)``), D an assignment, R a return. Calls to helpers defined in
# the same module (``train_step(...)``, ``self.backward_G()``) and LBFGS closures are inlined. Each
# event carries its path: the loops and branches between the scanned body and the event, so a loop's
# iteration is the events under it, and "unconditional" means no branch in between.
# ---------------------------------------------------------------------------------------------

_STEP_OPT_WORDS = frozenset(
    {"optimizer", "optimizers", "optimiser", "optimisers", "optim", "optims", "opt", "opts", "optimzer", "solver"}
)
_STEP_OPT_EXCLUDE = frozenset(
    {
        "scheduler", "schedulers", "sched", "lr", "scaler", "ema", "swa", "env", "envs", "state", "states",
        "dict", "cfg", "config", "conf", "args", "kwargs", "name", "names", "type", "cls", "class", "fn",
        "func", "builder", "factory", "hook", "hooks", "params", "param", "kind", "idx", "index", "options",
        "option", "parser", "flags", "diff", "inner", "meta", "differentiable", "functional",
    }
)
_STEP_SCHED_WORDS = frozenset({"scheduler", "schedulers", "sched", "schedular", "scheduler1", "scheduler2"})
# A scheduler known only by its name: every word of the name must be one of these.
_STEP_SCHED_ALLOWED = frozenset(
    {
        "scheduler", "schedulers", "sched", "schedular", "lr", "learning", "rate", "train", "training", "main",
        "model", "net", "optimizer", "opt", "optim", "warmup", "warm", "cosine", "cos", "step", "multistep",
        "exp", "exponential", "linear", "poly", "polynomial", "cyclic", "onecycle", "base", "my", "epoch", "iter",
        "iteration", "batch", "g", "d", "gen", "disc", "generator", "discriminator", "encoder", "decoder",
        "backbone", "head", "after", "lrs",
    }
)
# Receivers whose ``backward(x)`` runs backward on ``x`` (not a tensor's backward with a gradient).
_STEP_BACKWARD_OWNERS = frozenset(
    {
        "accelerator", "fabric", "engine", "trainer", "booster", "strategy", "deepspeed", "precision",
        "optimizer", "optimiser", "optim", "opt", "amp", "scaler", "self", "runner", "plugin", "wrapper",
    }
)
_STEP_CLIP_NAMES = frozenset(
    {"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grad_value", "clip_grads_with_norm_", "dispatch_clip_grad"}
)
_STEP_CLIP_METHODS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_gradients"})
_STEP_GRAD_WRITE_METHODS = frozenset(
    {"zero_", "fill_", "mul_", "detach_", "copy_", "add_", "div_", "requires_grad_", "set_", "clamp_"}
)
_STEP_NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"})
_STEP_CALL_NAMES = frozenset(
    {
        "backward", "manual_backward", "step", "zero_grad", "optimizer_step", "unscale_", "clip_gradients",
        *_STEP_CLIP_NAMES,
    }
)
_STEP_INLINE_DEPTH = 3


def _step_words(name: str) -> list[str]:
    return [t.rstrip("0123456789") or t for t in _tokens(name)]


def _step_key(expr: cst.BaseExpression | None) -> str | None:
    """A stable key for a receiver: ``self.opt``, ``optimizers`` for ``optimizers[0]``, ``self.optimizers`` for
    ``self.optimizers()``."""
    while expr is not None:
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call) and not expr.args:
            expr = expr.func
        else:
            break
    return dotted_name(expr) if expr is not None else None


def _step_opt_name(key: str | None) -> bool:
    if not key:
        return False
    words = set(_step_words(_last(key)))
    return bool(words & _STEP_OPT_WORDS) and not words & _STEP_OPT_EXCLUDE


def _step_sched_name(key: str | None) -> bool:
    if not key:
        return False
    words = set(_step_words(_last(key)))
    return bool(words & _STEP_SCHED_WORDS) and words <= _STEP_SCHED_ALLOWED


def _step_zero_name(name: str | None) -> bool:
    """``zero_grad``, ``zero_grads``, ``clear_grad``, ``reset_gradients``, ``cleargrads``, ``optimizer_zero_grad``."""
    if not name:
        return False
    low = name.lower()
    if low in ("cleargrads", "zerograd", "zerograds", "zero_grad"):
        return True
    words = set(_tokens(name))
    return bool(words & {"zero", "clear", "reset", "zeros"}) and any(w.startswith("grad") for w in words)


def _step_on_grad(expr: cst.BaseExpression) -> bool:
    """``p.grad``, ``p.grad.data``, ``self.w.grad``: an expression that is a ``.grad`` field."""
    while isinstance(expr, cst.Attribute):
        if expr.attr.value == "grad":
            return True
        if expr.attr.value != "data":
            return False
        expr = expr.value
    return False


class _StepEvent:
    __slots__ = ("kind", "node", "key", "path", "nograd", "extra", "line", "indent", "inlined")

    def __init__(self, kind, node, key, path, nograd, extra=None, line=None, indent=None, inlined=False):
        self.kind = kind  # B S Z G C U L Q A D R
        self.node = node  # the call (or statement) to report
        self.key = key  # B: scaler key when scaled; S/U: optimiser key; Z: receiver key; L: scheduler key
        self.path = path  # ((id(node), tag, test), ...) from the scanned body to the event
        self.nograd = nograd
        self.extra = extra
        self.line = line  # the small statement holding the event
        self.indent = indent  # absolute indentation of that statement, or None
        self.inlined = inlined  # found in an inlined helper


class _StepFacts:
    """What the module says about optimisers, schedulers, scalers, its functions and methods."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.opts: set[str] = set()  # keys bound to an optimiser
        self.opt_models: dict[str, set[str]] = {}  # optimiser key (last name) -> model keys
        self.scheds: dict[str, set[str]] = {}  # key -> {"lr", "plateau", "other"}
        self.scalers: set[str] = set()
        self.functions: dict[str, cst.FunctionDef] = {}
        self.methods: dict[int, dict[str, cst.FunctionDef]] = {}
        self.klass_of: dict[int, cst.ClassDef | None] = {}
        self.indent: dict[int, str] = {}
        self.roots: list[cst.FunctionDef | cst.Module] = []
        self.lr_classes: set[str] = set()  # classes defined here that subclass an LR scheduler
        self._root_ids: set[int] = set()
        self._calls: dict[str, list[tuple]] = {}  # helper name -> (calling function or module, its class)
        self._finished = False

    # -- collection, fed by the engine's walk (one rule instance per file collects) ----------------
    def on_function(self, node: cst.FunctionDef, ctx) -> None:
        scopes = ctx.scopes
        scope = scopes[-1] if scopes else None
        if scope is None:
            self.functions.setdefault(node.name.value, node)
        elif type(scope) is cst.ClassDef:
            self.methods.setdefault(id(scope), {}).setdefault(node.name.value, node)
        self.klass_of[id(node)] = ctx.klass
        body = node.body
        if isinstance(body, cst.IndentedBlock):
            default = ctx.module.default_indent
            indent = "".join(
                (b.indent if b.indent is not None else default) for b in ctx.stack if type(b) is cst.IndentedBlock
            )
            self.indent[id(node)] = indent + (body.indent if body.indent is not None else default)
        if node.name.value == "training_step":
            self._add_root(node)

    def on_class(self, node: cst.ClassDef) -> None:
        if any(self._lr_base(b.value) for b in node.bases):
            self.lr_classes.add(node.name.value)

    def on_call(self, node: cst.Call, ctx) -> None:
        name = call_name(node)
        if not name:
            return
        if name in _STEP_CALL_NAMES or _step_zero_name(name):
            self._add_root(ctx.function or ctx.module)
        elif type(node.func) is cst.Name or (
            type(node.func) is cst.Attribute and type(node.func.value) is cst.Name and node.func.value.value == "self"
        ):
            self._calls.setdefault(name, []).append((ctx.function or ctx.module, ctx.klass))

    def _add_root(self, owner) -> None:
        if id(owner) not in self._root_ids:
            self._root_ids.add(id(owner))
            self.roots.append(owner)

    def finish(self) -> None:
        """Callers of training helpers defined here are scanned too (the helper is inlined into them)."""
        if self._finished:
            return
        self._finished = True
        helpers = [r for r in self.roots if isinstance(r, cst.FunctionDef)]
        while helpers:
            helper = helpers.pop()
            for owner, klass in self._calls.get(helper.name.value, ()):
                if id(owner) in self._root_ids:
                    continue
                local = self.functions.get(helper.name.value) is helper or (
                    klass is not None and self.methods.get(id(klass), {}).get(helper.name.value) is helper
                )
                if local or isinstance(owner, cst.FunctionDef) and helper in owner.body.body:
                    self._add_root(owner)
                    if isinstance(owner, cst.FunctionDef):
                        helpers.append(owner)

    def _lr_base(self, expr: cst.BaseExpression) -> bool:
        qual = self.ctx.qualname(expr) or dotted_name(expr) or ""
        return _last(qual) in ("_LRScheduler", "LRScheduler", "LambdaLR", "MultiStepLR", "StepLR", "CosineAnnealingLR") or (
            qual.startswith(_SCHED_MODULE)
        )

    def on_assign(self, node: cst.Assign | cst.AnnAssign) -> None:
        value = node.value
        while isinstance(value, cst.Subscript):
            value = value.value
        if not isinstance(value, cst.Call):
            return
        keys = []
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        for target in targets:
            if isinstance(target, (cst.Tuple, cst.List)):
                keys.extend(_step_key(e.value) for e in target.elements)
            else:
                keys.append(_step_key(target))
        keys = [k for k in keys if k]
        if not keys:
            return
        qual = self.ctx.qualname(value.func) or ""
        name = call_name(value) or ""
        last = _last(qual) or name
        kind = None
        if qual.startswith(_SCHED_MODULE):
            kind = "plateau" if last == "ReduceLROnPlateau" else "lr"
        elif qual.startswith("torch.optim.") and last[:1].isupper():
            kind = "opt"
        elif name == "optimizers" or (set(_step_words(name)) & {"optimizer", "optimiser", "optim"} and "scheduler" not in name.lower()):
            kind = "opt"
        elif last in ("GradScaler", "ShardedGradScaler"):
            kind = "scaler"
        elif name == "lr_schedulers" or (last.startswith("get_") and "schedule" in last) or (
            last == "get_scheduler" and qual.startswith(("transformers", "diffusers.optimization"))
        ):
            kind = "lr"
        elif last in self.lr_classes or last in ("GradualWarmupScheduler", "LinearWarmupCosineAnnealingLR", "WarmupLR"):
            kind = "lr"
        elif qual.startswith(("timm.", "diffusers.")) or "Noise" in last or last.endswith(("Sampler",)):
            kind = "other"
        if kind == "opt":
            self.opts.update(keys)
            first = arg(value, 0, "params")
            model = self._params_owner(first)
            if model:
                for k in keys:
                    self.opt_models.setdefault(_last(k), set()).add(model)
        elif kind == "scaler":
            self.scalers.update(keys)
        elif kind is not None:
            for k in keys:
                self.scheds.setdefault(k, set()).add(kind)

    @staticmethod
    def _params_owner(expr: cst.BaseExpression | None) -> str | None:
        if isinstance(expr, cst.Call) and call_name(expr) in ("parameters", "named_parameters") and isinstance(
            expr.func, cst.Attribute
        ):
            return dotted_name(expr.func.value)
        return None

    # -- questions ------------------------------------------------------------------------------
    def is_optimizer(self, key: str | None) -> bool:
        if not key:
            return False
        if key in self.opts:
            return True
        if key in self.scheds or key in self.scalers:
            return False
        return _step_opt_name(key)

    def is_scaler(self, key: str | None) -> bool:
        if not key:
            return False
        return key in self.scalers or "scaler" in _step_words(_last(key))

    def is_lr_scheduler(self, key: str | None, call: cst.Call) -> bool:
        """Whether ``key.step(...)`` steps a learning-rate scheduler (not ReduceLROnPlateau, not a sampler)."""
        if not key:
            return False
        kinds = self.scheds.get(key)
        if kinds:
            return kinds == {"lr"}
        if key in self.opts:
            return False
        # Known only by its name: the zero-argument form (timm's and diffusers' take arguments).
        return not call.args and _step_sched_name(key)


def _step_facts(ctx, collector=None) -> _StepFacts:
    """The facts of this module, shared by every rule of the family; ``collector`` (a rule instance) claims
    the job of feeding them from the engine's walk when it is the first to ask."""
    cache = _STEP_CACHE
    if cache.get("module") is not ctx.module:
        cache.clear()
        cache["module"] = ctx.module
        cache["facts"] = _StepFacts(ctx)
        cache["scans"] = {}
        cache["collector"] = collector
        if collector is None:  # outside the engine's walk: walk the module here
            _step_collect(ctx, cache["facts"])
    return cache["facts"]


def _step_collect(ctx, facts: _StepFacts) -> None:
    from nnlint.context import FileContext
    from nnlint.walker import walk

    own = FileContext(path=ctx.path, source=ctx.source, module=ctx.module, imports=ctx.imports)
    visitors = {
        cst.FunctionDef: [lambda n: facts.on_function(n, own)],
        cst.ClassDef: [facts.on_class],
        cst.Call: [lambda n: facts.on_call(n, own)],
        cst.Assign: [facts.on_assign],
        cst.AnnAssign: [facts.on_assign],
    }
    walk(ctx.module, own, visitors, {})


def _step_scans(ctx) -> list[_StepScan]:
    facts = _step_facts(ctx)
    facts.finish()
    scans = _STEP_CACHE["scans"]
    out = []
    for root in facts.roots:
        scan = scans.get(id(root))
        if scan is None:
            scan = scans[id(root)] = _StepScan(ctx, facts, root)
        out.append(scan)
    return out


_STEP_CACHE: dict = {}


class _StepScan:
    """The events of one function body (or of the module's own statements), helpers inlined."""

    def __init__(self, ctx, facts: _StepFacts, root: cst.FunctionDef | cst.Module) -> None:
        self.ctx = ctx
        self.facts = facts
        self.root = root
        self.events: list[_StepEvent] = []
        self.loops: list[cst.CSTNode] = []  # loops written in the root itself (not inlined)
        self.nested: dict[str, cst.FunctionDef] = {}
        self.scaled: dict[str, str] = {}  # variable -> scaler key (``scaled = scaler.scale(loss)``)
        self._active: list[int] = []
        self.klass = facts.klass_of.get(id(root)) if isinstance(root, cst.FunctionDef) else None
        if isinstance(root, cst.FunctionDef):
            nograd = any(self._no_grad_expr(d.decorator) for d in root.decorators)
            self._active.append(id(root))
            self.block(root.body, (), nograd, facts.indent.get(id(root)), False)
        else:
            stmts = [s for s in root.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
            for stmt in stmts:
                self.stmt(stmt, (), False, "", False)

    @property
    def name(self) -> str:
        return self.root.name.value if isinstance(self.root, cst.FunctionDef) else ""

    # -- statements -----------------------------------------------------------------------------
    def block(self, suite, path, nograd, indent, inlined) -> None:
        if isinstance(suite, cst.IndentedBlock):
            for stmt in suite.body:
                self.stmt(stmt, path, nograd, indent, inlined)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.small(small, path, nograd, None, inlined)

    def _inner(self, suite, indent):
        if indent is None or not isinstance(suite, cst.IndentedBlock):
            return None
        return indent + (suite.indent if suite.indent is not None else self.ctx.module.default_indent)

    def stmt(self, stmt, path, nograd, indent, inlined) -> None:
        t = type(stmt)
        if t is cst.SimpleStatementLine:
            single = len(stmt.body) == 1
            for small in stmt.body:
                self.small(small, path, nograd, indent if single else None, inlined)
        elif t is cst.If:
            self.expr(stmt.test, path, nograd, inlined)
            self.block(stmt.body, path + ((id(stmt), "if", stmt.test),), nograd, self._inner(stmt.body, indent), inlined)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                self.stmt(orelse, path + ((id(stmt), "else", stmt.test),), nograd, indent, inlined)
            elif orelse is not None:
                self.block(orelse.body, path + ((id(stmt), "else", stmt.test),), nograd, self._inner(orelse.body, indent), inlined)
        elif t is cst.For or t is cst.While:
            if t is cst.For:
                self.expr(stmt.iter, path, nograd, inlined)
                self.define(stmt.target, stmt.iter, path, nograd, stmt, inlined)
            else:
                self.expr(stmt.test, path, nograd, inlined)
            if not inlined and not self._active[1:]:
                self.loops.append(stmt)
            entry = (id(stmt), "loop", stmt)
            self.block(stmt.body, path + (entry,), nograd, self._inner(stmt.body, indent), inlined)
            if stmt.orelse is not None:
                self.block(stmt.orelse.body, path + ((id(stmt), "else", None),), nograd, self._inner(stmt.orelse.body, indent), inlined)
        elif t is cst.With:
            inner = nograd
            for item in stmt.items:
                self.expr(item.item, path, nograd, inlined)
                if self._no_grad_expr(item.item):
                    inner = True
                elif self._grad_on_expr(item.item):
                    inner = False
            self.block(stmt.body, path, inner, self._inner(stmt.body, indent), inlined)
        elif t is cst.Try or t is cst.TryStar:
            self.block(stmt.body, path, nograd, self._inner(stmt.body, indent), inlined)
            for handler in stmt.handlers:
                self.block(handler.body, path + ((id(handler), "except", None),), nograd, self._inner(handler.body, indent), inlined)
            if stmt.orelse is not None:
                self.block(stmt.orelse.body, path, nograd, self._inner(stmt.orelse.body, indent), inlined)
            if stmt.finalbody is not None:
                self.block(stmt.finalbody.body, path, nograd, self._inner(stmt.finalbody.body, indent), inlined)
        elif t is cst.Match:
            self.expr(stmt.subject, path, nograd, inlined)
            for case in stmt.cases:
                self.block(case.body, path + ((id(case), "case", None),), nograd, self._inner(case.body, indent), inlined)
        elif t is cst.FunctionDef:
            self.nested.setdefault(stmt.name.value, stmt)

    def small(self, small, path, nograd, indent, inlined) -> None:
        t = type(small)
        if t is cst.Expr:
            self.expr(small.value, path, nograd, inlined, small, indent)
        elif t is cst.Assign or t is cst.AnnAssign:
            value = small.value
            if value is not None:
                self.expr(value, path, nograd, inlined, small, indent)
            targets = [x.target for x in small.targets] if t is cst.Assign else [small.target]
            for target in targets:
                if _step_on_grad(target):
                    self.events.append(_StepEvent("G", small, None, path, nograd, None, small, indent, inlined))
                self.define(target, value, path, nograd, small, inlined)
                if value is not None and t is cst.Assign:
                    self._scaled_var(target, value)
            if t is cst.Assign and isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
                key = _step_key(targets[0]) if len(targets) == 1 else None
                for mine, other in ((value.left, value.right), (value.right, value.left)):
                    if key and _step_key(mine) == key and dotted_name(mine):
                        self.events.append(_StepEvent("A", small, key, path, nograd, other, small, indent, inlined))
                        break
        elif t is cst.AugAssign:
            self.expr(small.value, path, nograd, inlined, small, indent)
            if _step_on_grad(small.target):
                self.events.append(_StepEvent("G", small, None, path, nograd, None, small, indent, inlined))
            if isinstance(small.operator, cst.AddAssign):
                key = _step_key(small.target)
                if key:
                    self.events.append(_StepEvent("A", small, key, path, nograd, small.value, small, indent, inlined))
            self.define(small.target, small.value, path, nograd, small, inlined, augmented=True)
        elif t is cst.Return:
            if small.value is not None:
                self.expr(small.value, path, nograd, inlined, small, indent)
                self.events.append(_StepEvent("R", small, None, path, nograd, small.value, small, indent, inlined))
        else:
            for child in children(small):
                if isinstance(child, cst.BaseExpression):
                    self.expr(child, path, nograd, inlined, small, indent)

    def define(self, target, value, path, nograd, line, inlined, augmented=False) -> None:
        keys: list[str] = []
        pending = [target]
        while pending:
            t = pending.pop()
            if isinstance(t, (cst.Tuple, cst.List)):
                pending.extend(e.value for e in t.elements)
            elif isinstance(t, cst.StarredElement):
                pending.append(t.value)
            else:
                key = _step_key(t)
                if key:
                    keys.append(key)
        if keys:
            self.events.append(_StepEvent("D", line, tuple(keys), path, nograd, (value, augmented), line, None, inlined))

    def _scaled_var(self, target, value) -> None:
        key = dotted_name(target)
        if key and isinstance(value, cst.Call) and call_name(value) == "scale" and isinstance(value.func, cst.Attribute):
            scaler = _step_key(value.func.value)
            if self.facts.is_scaler(scaler):
                self.scaled[key] = scaler

    def _no_grad_expr(self, expr) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        qual = self.ctx.qualname(target) or ""
        if qual in _STEP_NO_GRAD:
            return True
        if isinstance(expr, cst.Call) and qual in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled"):
            first = arg(expr, 0, "mode")
            return isinstance(first, cst.Name) and first.value == "False"
        return False

    def _grad_on_expr(self, expr) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        return (self.ctx.qualname(target) or "") in ("torch.enable_grad", "torch.set_grad_enabled")

    # -- expressions ----------------------------------------------------------------------------
    def expr(self, node, path, nograd, inlined, line=None, indent=None) -> None:
        calls: list[cst.Call] = []
        stack: list[tuple[cst.CSTNode, bool]] = [(node, False)]
        while stack:
            current, done = stack.pop()
            if done:
                calls.append(current)
                continue
            if current is not node and isinstance(current, NESTED_SCOPES):
                continue
            if isinstance(current, cst.Call):
                stack.append((current, True))
            stack.extend((c, False) for c in reversed(children(current)))
        for call in calls:
            self.call(call, path, nograd, inlined, line, indent)

    def call(self, call: cst.Call, path, nograd, inlined, line, indent) -> None:  # noqa: C901
        func = call.func
        name = call_name(call)
        events = self.events

        def add(kind, key=None, extra=None):
            events.append(_StepEvent(kind, call, key, path, nograd, extra, line, indent, inlined))

        if isinstance(func, cst.Attribute):
            recv = func.value
            qual = self.ctx.qualname(func) or ""
            if name == "backward":
                if isinstance(recv, cst.Call) and call_name(recv) == "super":
                    return
                rkey = _step_key(recv)
                owner = set(_step_words(_last(rkey))) if rkey else set()
                if qual == "torch.autograd.backward" or (call.args and call.args[0].keyword is None and owner & _STEP_BACKWARD_OWNERS):
                    target = call.args[0].value if call.args else None
                    add("B", self._scaler_of(target), target)
                elif rkey == "ctx":
                    return
                else:
                    add("B", self._scaler_of(recv), recv)
            elif name == "manual_backward":
                target = arg(call, 0, "loss")
                add("B", self._scaler_of(target), target)
            elif name == "step":
                if isinstance(recv, cst.Name) and recv.value == "self" and self._inline_method(name, call, path, nograd, inlined):
                    return
                self._step_call(call, recv, add, path, nograd, inlined, line, indent)
            elif name == "optimizer_step" and call.args:
                add("S", _step_key(call.args[0].value), False)
            elif _step_zero_name(name):
                add("Z", _step_key(recv))
            elif name == "unscale_":
                add("U", _step_key(arg(call, 0, "optimizer")), _step_key(recv))
            elif name in _STEP_CLIP_METHODS or qual.startswith("torch.nn.utils."):
                if name in _STEP_CLIP_NAMES or name in _STEP_CLIP_METHODS:
                    is_torch = qual.startswith("torch.nn.utils.")
                    add("C", None, (is_torch, self._clip_logging(call, is_torch)))
            elif _step_on_grad(recv) and name in _STEP_GRAD_WRITE_METHODS:
                add("G")
            elif name == "append" and len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star:
                key = _step_key(recv)
                if key:
                    add("A", key, call.args[0].value)
            elif isinstance(recv, cst.Name) and recv.value == "self" and self._inline_method(name, call, path, nograd, inlined):
                return
            elif name and "backward" in name.lower():
                add("Q")
            elif qual == "torch._foreach_zero_":
                add("G")
        elif isinstance(func, cst.Name):
            qual = self.ctx.qualname(func) or ""
            if qual == "torch.autograd.backward" or name == "backward":
                target = call.args[0].value if call.args else None
                add("B", self._scaler_of(target), target)
            elif name in _STEP_CLIP_NAMES and (not qual or qual.startswith(("torch.nn.utils", "timm."))):
                add("C", None, (True, self._clip_logging(call, True)))
            elif _step_zero_name(name):
                add("Z", _step_key(call.args[0].value) if call.args else None)
            elif name and "scaler" in _step_words(name) and not qual and len(call.args) >= 2 and not any(
                a.keyword is not None or a.star for a in call.args[:2]
            ):
                # timm's NativeScaler: loss_scaler(loss, optimizer, clip_grad=..., parameters=...)
                add("B", None, call.args[0].value)
                if arg(call, None, "clip_grad") is not None:
                    add("C", None, (False, False))
                add("S", _step_key(call.args[1].value), False)
            elif self._inline_function(name, call, path, nograd, inlined):
                return
            elif name and "backward" in name.lower():
                add("Q")

    def _step_call(self, call, recv, add, path, nograd, inlined, line, indent) -> None:
        facts = self.facts
        rkey = _step_key(recv)
        if facts.is_scaler(rkey) and call.args:
            add("S", _step_key(call.args[0].value), False)
            self.events[-1].extra = ("scaler", rkey)
            return
        if facts.is_optimizer(rkey):
            closure = arg(call, 0, "closure")
            if closure is None:
                add("S", rkey, False)
                return
            if isinstance(closure, cst.Lambda):
                self.expr(closure.body, path, nograd, True, line, None)
                add("S", rkey, False)
                return
            name = closure.value if isinstance(closure, cst.Name) else None
            fn = self.nested.get(name) if name else None
            if fn is None and name:
                fn = self.facts.functions.get(name)
            if fn is not None and self._enter(fn):
                self.block(fn.body, path, nograd, None, True)
                self._active.pop()
                add("S", rkey, False)
                return
            add("S", rkey, True)  # a closure not seen: it may zero the gradients and run backward
            return
        if facts.is_lr_scheduler(rkey, call):
            add("L", rkey)

    def _scaler_of(self, target) -> str | None:
        if isinstance(target, cst.Call) and call_name(target) == "scale" and isinstance(target.func, cst.Attribute):
            key = _step_key(target.func.value)
            return key if self.facts.is_scaler(key) else None
        key = dotted_name(target) if target is not None else None
        return self.scaled.get(key) if key else None

    def _clip_logging(self, call: cst.Call, is_torch: bool) -> bool:
        """``clip_grad_norm_(params, float('inf'))``: measures the norm, clips nothing."""
        value = arg(call, 1, "max_norm") or arg(call, 1, "clip_value")
        if value is None and not is_torch:
            value = arg(call, 1, "max_norm") or arg(call, 0, "max_norm")
        return _loss_is_infinite(value, self.ctx)

    def _enter(self, fn: cst.FunctionDef) -> bool:
        if id(fn) in self._active or len(self._active) > _STEP_INLINE_DEPTH:
            return False
        self._active.append(id(fn))
        return True

    def _inline_function(self, name, call, path, nograd, inlined) -> bool:
        fn = self.nested.get(name) or self.facts.functions.get(name)
        if fn is None or self.ctx.qualname(call.func):
            return False
        if not self._enter(fn):
            return True
        self.block(fn.body, path, nograd, self.facts.indent.get(id(fn)), True)
        self._active.pop()
        return True

    def _inline_method(self, name, call, path, nograd, inlined) -> bool:
        if self.klass is None:
            return False
        fn = self.facts.methods.get(id(self.klass), {}).get(name)
        if fn is None:
            return False
        if not self._enter(fn):
            return True
        self.block(fn.body, path, nograd, self.facts.indent.get(id(fn)), True)
        self._active.pop()
        return True

    # -- units ----------------------------------------------------------------------------------
    def units(self) -> Iterator[tuple[cst.CSTNode | None, list[_StepEvent]]]:
        """The scanned body itself (None), then every loop written in it with the events of one iteration."""
        yield None, self.events
        for loop in self.loops:
            key = id(loop)
            yield loop, [e for e in self.events if any(p[0] == key for p in e.path)]


def _step_rel(ev: _StepEvent, loop: cst.CSTNode | None) -> tuple:
    """The path of ``ev`` below ``loop``'s body (the whole path for the function itself)."""
    if loop is None:
        return ev.path
    key = id(loop)
    for i, entry in enumerate(ev.path):
        if entry[0] == key:
            return ev.path[i + 1 :]
    return ev.path


def _step_depth(rel: tuple) -> int:
    return sum(1 for entry in rel if entry[1] == "loop")


_STEP_DETACH_CALLS = frozenset({"item", "detach", "tolist", "numpy", "float", "int", "round", "len"})


def _step_zeroing(ev: _StepEvent) -> bool:
    """A ``.grad`` write that clears it: ``p.grad = None``, ``p.grad.zero_()``, ``p.grad.detach_()``..."""
    node = ev.node
    if isinstance(node, cst.Call):
        name = call_name(node)
        if name in ("zero_", "detach_", "requires_grad_") or name == "_foreach_zero_":
            return True
        if name in ("fill_", "mul_") and node.args:
            return number_value(node.args[0].value) == 0
        return False
    if isinstance(node, cst.Assign):
        value = node.value
        if _is_none(value) or number_value(value) == 0:
            return True
        return isinstance(value, cst.Call) and call_name(value) in ("zeros_like", "zeros")
    return False


def _step_once_guard(test: cst.BaseExpression | None) -> bool:
    """``if i == len(loader) - 1:`` (runs once per loop), not ``if (i + 1) % accum == 0:`` (periodic)."""
    if not isinstance(test, cst.Comparison):
        return False
    if not any(isinstance(t.operator, cst.Equal) for t in test.comparisons):
        return False
    for node in expr_nodes(test):
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
            return False
    return True


_STEP_PHASE_WORDS = frozenset({"phase", "mode", "split", "stage"})
_STEP_TRAIN_WORDS = frozenset({"train", "training", "is_train", "is_training"})


def _step_phase_test(test: cst.BaseExpression) -> bool:
    """``phase == 'train'``, ``mode == "train"``, ``self.training``, ``is_train``: a test that the iteration trains."""
    if isinstance(test, (cst.Name, cst.Attribute)):
        return bool(set(_tokens(_last(dotted_name(test)))) & {"train", "training"})
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        if not isinstance(target.operator, cst.Equal):
            return False
        for side, other in ((test.left, target.comparator), (target.comparator, test.left)):
            text = string_value(side)
            if text is not None and text.lower() in _STEP_TRAIN_WORDS and isinstance(other, (cst.Name, cst.Attribute)):
                return bool(set(_tokens(_last(dotted_name(other)))) & _STEP_PHASE_WORDS)
    return False


_STEP_KEEP_WORDS = ("step", "backward", "zero_grad", ".grad", "clip_grad", "clip_gradients", "unscale_", "sched")


class _StepRule(Rule):
    """Shared driver: scan the module's training code once (cached), then ``check`` every scanned body."""

    requires: tuple = ((".backward(", "manual_backward("), "step")

    def __init_subclass__(cls, **kwargs) -> None:
        # Words that keep helpers (``def reset(model): model.zero_grad()``) in the parsed text; every file
        # that passes a rule's own words has one of them, so the file-level filter is unchanged.
        super().__init_subclass__(**kwargs)
        if _STEP_KEEP_WORDS not in cls.requires:
            cls.requires = (*cls.requires, _STEP_KEEP_WORDS)

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._found: dict[int, tuple] = {}
        facts = _step_facts(ctx, self)
        self._facts = facts if _STEP_CACHE.get("collector") is self else None

    # The first rule of the family built for a file feeds the shared facts during the engine's walk.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._facts is not None:
            self._facts.on_function(node, self.ctx)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if self._facts is not None:
            self._facts.on_class(node)

    def visit_Call(self, node: cst.Call) -> None:
        if self._facts is not None:
            self._facts.on_call(node, self.ctx)

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._facts is not None:
            self._facts.on_assign(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self._facts is not None:
            self._facts.on_assign(node)

    def leave_Module(self, node: cst.Module) -> None:
        for scan in _step_scans(self.ctx):
            self.check(scan)
        for target, message, fix in self._found.values():
            self.report(target, message, fix=fix)

    def check(self, scan: _StepScan) -> None:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def found(self, node: cst.CSTNode, message: str | None = None, fix=None) -> None:
        old = self._found.get(id(node))
        if old is None or (old[2] is None and fix is not None):
            self._found[id(node)] = (node, message or self.message, fix)


class MissingZeroGrad(_StepRule):
    """## What it does
    Flags a training loop that calls `backward()` and `optimizer.step()` in every iteration but never
    clears the gradients: no `optimizer.zero_grad()`, `model.zero_grad()`, `zero_grad(set_to_none=True)`,
    `p.grad = None` / `p.grad.zero_()` loop, or helper named for it (`reset_grad()`), anywhere in the
    iteration — including in helpers defined in the same file (`train_step(...)`, `self.backward_G()`),
    which are followed. A `zero_grad` written without parentheses (`optimizer.zero_grad`) does nothing
    and does not count.

    Backward calls are `loss.backward()`, `scaler.scale(loss).backward()`, `accelerator.backward(loss)`,
    `fabric.backward(loss)`, `self.manual_backward(loss)`, `torch.autograd.backward(...)` and timm's
    `loss_scaler(loss, optimizer)`. Steps are `optimizer.step()` (any optimiser: constructed from
    `torch.optim`, returned by `self.optimizers()`, or named `optimizer`, `opt_g`, `optimizerD` ...),
    `scaler.step(optimizer)` and `xm.optimizer_step(optimizer)`. A Lightning `training_step` with manual
    optimisation is checked as one iteration.

    Left alone: any zeroing anywhere in the iteration (at the top or the bottom, inside a gradient
    accumulation guard, in a helper), LBFGS-style `optimizer.step(closure)` (the closure is followed, and
    one that is not seen is trusted), a step guarded to run once per loop (`if i == len(loader) - 1:`)
    after gradients were zeroed before the loop, and engines that zero for you (`model_engine.step()`
    of DeepSpeed is not an optimiser step).

    ## Why is this bad?
    `backward()` adds to `.grad`; it does not overwrite it. Without zeroing, every step applies the sum
    of all gradients computed so far, so the effective step grows each iteration and training diverges
    or crawls. Zeroing once before the loop does not help: it only clears the first iteration.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```
    """

    code = "NN203"
    name = "missing-zero-grad"
    message = "optimizer.step() in a loop that never zeroes the gradients: backward() adds to .grad, so each step applies the sum of all past gradients; call optimizer.zero_grad() every iteration"

    VALID = [
        # zero_grad at the top of the iteration.
        """
        import torch
        import torch.nn as nn

        def train(model, loader, optimizer):
            criterion = nn.CrossEntropyLoss()
            for epoch in range(10):
                for i, (x, y) in enumerate(loader):
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
        """,
        # zero_grad at the bottom, set_to_none, model.zero_grad().
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

        def train2(model, loader, optimizer, criterion):
            for x, y in loader:
                model.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
        """,
        # Gradients cleared by hand.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                for p in model.parameters():
                    p.grad = None
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """,
        # Gradient accumulation with zero_grad inside the guard; AMP.
        """
        import torch

        scaler = torch.amp.GradScaler("cuda")

        def train(model, loader, optimizer, criterion, accum_steps=4):
            for i, (x, y) in enumerate(loader):
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y) / accum_steps
                scaler.scale(loss).backward()
                if (i + 1) % accum_steps == 0:
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad()
        """,
        # LBFGS: the closure zeroes and runs backward.
        """
        import torch

        def fit(model, x, y, criterion):
            optimizer = torch.optim.LBFGS(model.parameters(), lr=1)
            for _ in range(20):
                def closure():
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    return loss
                optimizer.step(closure)
        """,
        # A closure we cannot see is trusted; a helper named for zeroing.
        """
        import torch

        def fit(model, optimizer, closure, loader, criterion):
            for batch in loader:
                optimizer.step(closure)

        class Trainer:
            def run(self, loader):
                for x, y in loader:
                    self.reset_grad()
                    loss = self.criterion(self.model(x), y)
                    loss.backward()
                    self.optimizer.step()
        """,
        # The zeroing happens in a helper defined in the same file.
        """
        import torch

        def train_step(model, batch, optimizer, criterion):
            optimizer.zero_grad()
            loss = criterion(model(batch[0]), batch[1])
            loss.backward()
            optimizer.step()
            return loss.item()

        def train(model, loader, optimizer, criterion):
            for batch in loader:
                train_step(model, batch, optimizer, criterion)
        """,
        # Micro-batches: zeroed before the loop, one step on the last micro-batch.
        """
        import torch

        def accumulate_and_step(model, micro_batches, optimizer, criterion):
            optimizer.zero_grad()
            for i, (x, y) in enumerate(micro_batches):
                loss = criterion(model(x), y) / len(micro_batches)
                loss.backward()
                if i == len(micro_batches) - 1:
                    optimizer.step()
        """,
        # DeepSpeed's engine zeroes the gradients in its own step().
        """
        import deepspeed

        def train(model_engine, loader):
            for batch in loader:
                loss = model_engine(batch)
                model_engine.backward(loss)
                model_engine.step()
        """,
        # Backward without an optimiser step: input gradients, Fisher information.
        """
        import torch

        def saliency(model, loader):
            maps = []
            for x, y in loader:
                x.requires_grad_(True)
                model(x).gather(1, y[:, None]).sum().backward()
                maps.append(x.grad.abs())
            return maps
        """,
        # RL: env.step() is not an optimiser step; the update zeroes.
        """
        import torch

        def run_episode(env, policy, optimizer):
            obs = env.reset()
            log_probs, rewards = [], []
            for t in range(1000):
                action, log_prob = policy.act(obs)
                obs, reward, done, _ = env.step(action)
                log_probs.append(log_prob)
                rewards.append(reward)
                if done:
                    break
            optimizer.zero_grad()
            loss = -(torch.stack(log_probs) * torch.tensor(rewards)).sum()
            loss.backward()
            optimizer.step()
        """,
        # Lightning manual optimisation that zeroes.
        """
        import lightning as L

        class GAN(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.automatic_optimization = False

            def training_step(self, batch, batch_idx):
                opt = self.optimizers()
                opt.zero_grad()
                loss = self.compute_loss(batch)
                self.manual_backward(loss)
                opt.step()
        """,
        # HF accelerate with accumulate().
        """
        from accelerate import Accelerator

        accelerator = Accelerator(gradient_accumulation_steps=4)

        def train(model, loader, optimizer, lr_scheduler):
            for batch in loader:
                with accelerator.accumulate(model):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn as nn

            def train(model, loader, optimizer):
                criterion = nn.CrossEntropyLoss()
                for x, y in loader:
                    out = model(x)
                    loss = criterion(out, y)
                    loss.backward()
                    optimizer.step()
            """,
            line=11,
        ),
        # Zeroed once, before the loop.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion, epochs):
                optimizer.zero_grad()
                for epoch in range(epochs):
                    for i, (x, y) in enumerate(loader):
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
            """,
            line=10,
            message_contains="only once",
        ),
        # AMP.
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                model.train()
                for images, targets in loader:
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(images), targets)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
            """,
            line=12,
        ),
        # HF accelerate.
        Invalid(
            """
            from accelerate import Accelerator

            def main(model, train_dataloader, optimizer, lr_scheduler, num_epochs):
                accelerator = Accelerator()
                model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
                for epoch in range(num_epochs):
                    model.train()
                    for step, batch in enumerate(train_dataloader):
                        outputs = model(**batch)
                        loss = outputs.loss
                        accelerator.backward(loss)
                        optimizer.step()
                        lr_scheduler.step()
            """,
            line=13,
        ),
        # Gradient accumulation that never zeroes.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion, accum):
                for i, (x, y) in enumerate(loader):
                    loss = criterion(model(x), y) / accum
                    loss.backward()
                    if (i + 1) % accum == 0:
                        optimizer.step()
            """,
            line=9,
        ),
        # Backward and step in a helper of the same file.
        Invalid(
            """
            import torch

            def train_step(model, batch, optimizer, criterion):
                loss = criterion(model(batch["x"]), batch["y"])
                loss.backward()
                optimizer.step()
                return loss.item()

            def train(model, loader, optimizer, criterion):
                for batch in loader:
                    train_step(model, batch, optimizer, criterion)
            """,
            line=7,
        ),
        # Lightning manual optimisation without zero_grad.
        Invalid(
            """
            import lightning as L

            class Model(L.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.automatic_optimization = False

                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    loss = self.loss_fn(self(batch["x"]), batch["y"])
                    self.manual_backward(loss)
                    opt.step()
                    return loss
            """,
            line=13,
        ),
        # A while loop in a trainer class.
        Invalid(
            """
            import torch

            class Trainer:
                def __init__(self, model, lr):
                    self.model = model
                    self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

                def fit(self, batches, max_steps):
                    step = 0
                    while step < max_steps:
                        x, y = next(batches)
                        loss = self.model(x, y)
                        loss.backward()
                        self.optimizer.step()
                        step += 1
            """,
            line=15,
        ),
        # GAN with neither optimiser zeroed.
        Invalid(
            """
            import torch

            def train_gan(G, D, loader, opt_g, opt_d, bce):
                for real in loader:
                    fake = G(torch.randn(real.size(0), 100))
                    d_loss = bce(D(real), torch.ones(real.size(0))) + bce(D(fake.detach()), torch.zeros(real.size(0)))
                    d_loss.backward()
                    opt_d.step()
                    g_loss = bce(D(fake), torch.ones(real.size(0)))
                    g_loss.backward()
                    opt_g.step()
            """,
            line=9,
        ),
        # A script at module level.
        Invalid(
            """
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for x, y in data:
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            line=10,
        ),
        # zero_grad referenced but never called.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
            """,
            line=9,
        ),
    ]

    def check(self, scan: _StepScan) -> None:
        for loop, evs in scan.units():
            if loop is None and not self._manual_training_step(scan, evs):
                continue
            steps = [e for e in evs if e.kind == "S"]
            if not steps or not any(e.kind == "B" for e in evs):
                continue
            if any(e.extra is True for e in steps):
                continue  # a closure we cannot see may zero the gradients
            if any(e.kind == "Z" or (e.kind == "G" and _step_zeroing(e)) for e in evs):
                continue
            message = None
            if loop is not None:
                start = scan.events.index(evs[0])
                before = any(e.kind == "Z" or (e.kind == "G" and _step_zeroing(e)) for e in scan.events[:start])
                conditional = all(_step_rel(s, loop) for s in steps)
                if before:
                    if conditional:
                        continue  # zeroed before a loop that steps once (micro-batches, last-batch guard)
                    message = (
                        "optimizer.step() in a loop whose gradients are zeroed only once, before the loop: backward() adds "
                        "to .grad, so each step applies the sum of all past gradients; call optimizer.zero_grad() every iteration"
                    )
                if conditional and all(
                    any(entry[1] == "if" and _step_once_guard(entry[2]) for entry in _step_rel(s, loop)) for s in steps
                ):
                    continue
            self.found(steps[0].node, message)

    @staticmethod
    def _manual_training_step(scan: _StepScan, evs: list[_StepEvent]) -> bool:
        """Lightning manual optimisation: ``training_step`` of a class, one iteration per call."""
        return scan.name == "training_step" and scan.klass is not None and not scan.loops


class ZeroGradBeforeStep(_StepRule):
    """## What it does
    Flags `zero_grad()` called after `backward()` and before the `step()` of the same optimiser, in
    the same block, with no other `backward()` in between — the step then applies zeroed (or `None`)
    gradients. The optimiser is matched by name (`optimizer.zero_grad()` then `optimizer.step()` or
    `scaler.step(optimizer)`), or through the model it was built on (`model.zero_grad()` for
    `optimizer = Adam(model.parameters())`).

    Left alone: zeroing at the top of the iteration or after the step, another `backward()` (or a
    gradient written by hand, `p.grad = g`) between the zeroing and the step (gradient surgery,
    two-loss recipes), the zeroing of another optimiser or model (GANs), and steps whose closure we
    cannot see.

    ## Why is this bad?
    The gradients computed by `backward()` are wiped before the optimiser reads them: with
    `set_to_none=True` (the default since PyTorch 2.0) the step skips every parameter, otherwise it
    applies only weight decay and momentum. Training silently does nothing useful.

    ## Example
    ```python
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    ```
    """

    code = "NN204"
    name = "zero-grad-before-step"
    message = "zero_grad() between backward() and step() wipes the gradients just computed, so the step applies nothing; zero the gradients before backward() or after step()"

    VALID = [
        # Zeroing at the top, and after the step.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()

        def train2(model, loader, optimizer, criterion):
            for x, y in loader:
                criterion(model(x), y).backward()
                optimizer.step()
                optimizer.zero_grad()
        """,
        # Gradient surgery: a second backward after the zeroing.
        """
        import torch

        def step(model, optimizer, loss_a, loss_b):
            loss_a.backward(retain_graph=True)
            grads_a = [p.grad.clone() for p in model.parameters()]
            optimizer.zero_grad()
            loss_b.backward()
            for p, g in zip(model.parameters(), grads_a):
                p.grad += g
            optimizer.step()
        """,
        # DCGAN: the generator is zeroed between the discriminator's backward and step.
        """
        import torch
        import torch.optim as optim

        optimizerD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        optimizerG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

        def update_d(real, fake, criterion, label):
            errD = criterion(netD(real), label) + criterion(netD(fake), 1 - label)
            errD.backward()
            netG.zero_grad()
            optimizerD.step()
        """,
        # Another optimiser's zeroing.
        """
        import torch

        def train(loader, opt_g, opt_d, d_loss_fn, g_loss_fn):
            for batch in loader:
                opt_d.zero_grad()
                d_loss = d_loss_fn(batch)
                d_loss.backward()
                opt_g.zero_grad()
                opt_d.step()
                g_loss = g_loss_fn(batch)
                g_loss.backward()
                opt_g.step()
        """,
        # Skipping a bad update by zeroing under a condition.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                if not torch.isfinite(loss):
                    optimizer.zero_grad()
                optimizer.step()
        """,
        # Gradients written by hand after the zeroing.
        """
        import torch

        def pcgrad_step(model, optimizer, losses):
            grads = []
            for loss in losses:
                loss.backward(retain_graph=True)
                grads.append([p.grad.clone() for p in model.parameters()])
            merged = project(grads)
            optimizer.zero_grad()
            for p, g in zip(model.parameters(), merged):
                p.grad = g
            optimizer.step()
        """,
        # Accumulation done right.
        """
        import torch

        def train(model, loader, optimizer, criterion, accum=8):
            for i, (x, y) in enumerate(loader):
                (criterion(model(x), y) / accum).backward()
                if (i + 1) % accum == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad()
        """,
        # LBFGS closure after the zeroing.
        """
        import torch

        def fit(model, optimizer, closure, x, y, criterion):
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.zero_grad()
            optimizer.step(closure)
        """,
        # A backward helper we cannot see runs between the zeroing and the step (CycleGAN).
        """
        import torch
        from .base_model import BaseModel

        class CycleGANModel(BaseModel):
            def optimize_parameters(self):
                self.forward()
                self.loss_idt.backward(retain_graph=True)
                self.optimizer_G.zero_grad()
                self.backward_G()
                self.optimizer_G.step()
        """,
        # AMP done right.
        """
        import torch

        scaler = torch.amp.GradScaler("cuda")

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.zero_grad()
                    optimizer.step()
            """,
            line=8,
        ),
        # AMP.
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.scale(loss).backward()
                    optimizer.zero_grad()
                    scaler.step(optimizer)
                    scaler.update()
            """,
            line=11,
        ),
        # Inside the accumulation guard.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion, accum_steps):
                for i, (x, y) in enumerate(loader):
                    loss = criterion(model(x), y) / accum_steps
                    loss.backward()
                    if (i + 1) % accum_steps == 0:
                        optimizer.zero_grad()
                        optimizer.step()
            """,
            line=9,
        ),
        # model.zero_grad() of the model the optimiser was built on.
        Invalid(
            """
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for x, y in loader:
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                model.zero_grad()
                optimizer.step()
            """,
            line=10,
        ),
        # A trainer class.
        Invalid(
            """
            import torch

            class Trainer:
                def train_epoch(self, loader):
                    self.model.train()
                    for batch in loader:
                        loss = self.compute_loss(batch)
                        loss.backward()
                        self.optimizer.zero_grad()
                        self.optimizer.step()
            """,
            line=10,
        ),
        # With gradient clipping in between.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.zero_grad()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
            """,
            line=8,
        ),
        # accelerate, set_to_none.
        Invalid(
            """
            from accelerate import Accelerator

            accelerator = Accelerator()

            def train(model, loader, optimizer):
                for batch in loader:
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    optimizer.zero_grad(set_to_none=True)
                    optimizer.step()
            """,
            line=10,
        ),
        # Lightning manual optimisation.
        Invalid(
            """
            import lightning as L

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    loss = self.loss_fn(self(batch[0]), batch[1])
                    self.manual_backward(loss)
                    opt.zero_grad()
                    opt.step()
            """,
            line=9,
        ),
        # A train_step function, no loop.
        Invalid(
            """
            import torch

            def train_step(model, x, y, optimizer, criterion):
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.zero_grad()
                optimizer.step()
                return loss.item()
            """,
            line=7,
        ),
    ]

    def check(self, scan: _StepScan) -> None:
        facts = scan.facts
        for _loop, evs in scan.units():
            for i, s in enumerate(evs):
                if s.kind != "S" or s.extra is True:
                    continue
                j = i - 1
                while j >= 0 and not (evs[j].kind in ("B", "Z", "G", "Q") or (evs[j].kind == "S" and evs[j].extra is True)):
                    j -= 1
                if j < 0 or evs[j].kind != "Z":
                    continue
                z = evs[j]
                if z.path != s.path or not self._same_optimizer(z, s, facts):
                    continue
                if any(e.kind == "B" and z.path[: len(e.path)] == e.path for e in evs[:j]):
                    self.found(z.node)

    @staticmethod
    def _same_optimizer(z: _StepEvent, s: _StepEvent, facts: _StepFacts) -> bool:
        if not z.key or not s.key:
            return False
        if z.key == s.key:
            return True
        if facts.is_optimizer(z.key):
            return False
        models = facts.opt_models.get(_last(s.key), set())
        return z.key in models or any(_last(m) == _last(z.key) and "." in z.key for m in models)


class StepBeforeBackward(_StepRule):
    """## What it does
    Flags `optimizer.step()` (or `scaler.step(optimizer)`) that runs, unconditionally, before the first
    `backward()` of the same iteration (a loop body, or a function such as `train_step` or
    `training_step`), with nothing zeroing the gradients between the step and the backward.
    Helpers defined in the same file are followed.

    Left alone: a step after some backward of the iteration (two optimisers, GANs), a step under a
    condition (`if i > 0 and i % accum == 0: optimizer.step()` at the top of the loop is a deliberate
    delayed step), `step(); zero_grad(); backward()` (a delayed but correct step), LBFGS closures,
    hand-written gradients (`p.grad = g`) before the step, and calls that may run backward unseen
    (`self.backward_G()` defined elsewhere).

    ## Why is this bad?
    The step applies whatever is in `.grad` at that moment: nothing in the first iteration, then the
    previous iteration's gradients — and if they are zeroed after the backward, nothing at all. The
    loss still goes down a little through momentum or weight decay, which hides the bug.

    ## Example
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        optimizer.step()
        loss.backward()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```
    """

    code = "NN205"
    name = "step-before-backward"
    message = "optimizer.step() runs before backward() in the same iteration: the update uses the previous iteration's gradients (or none); call backward() first"

    VALID = [
        # The usual order.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """,
        # Two optimisers: the discriminator steps before the generator's backward.
        """
        import torch

        def train(loader, G, D, opt_g, opt_d, bce):
            for real in loader:
                opt_d.zero_grad()
                d_loss = bce(D(real), 1) + bce(D(G.sample().detach()), 0)
                d_loss.backward()
                opt_d.step()
                opt_g.zero_grad()
                g_loss = bce(D(G.sample()), 1)
                g_loss.backward()
                opt_g.step()
        """,
        # A delayed step at the top, under a condition (accumulation).
        """
        import torch

        def train(model, loader, optimizer, criterion, accum):
            for i, (x, y) in enumerate(loader):
                if i > 0 and i % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
                loss = criterion(model(x), y) / accum
                loss.backward()
        """,
        # step(); zero_grad(); backward(): delayed by one iteration but correct.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.step()
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
        """,
        # LBFGS: backward runs inside step().
        """
        import torch

        def fit(model, x, y, criterion):
            optimizer = torch.optim.LBFGS(model.parameters())
            for _ in range(10):
                def closure():
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    return loss
                optimizer.step(closure)
                loss = criterion(model(x), y)
        """,
        # A backward helper we cannot see runs before the first step.
        """
        import torch
        from .base_model import BaseModel

        class Pix2Pix(BaseModel):
            def optimize_parameters(self):
                self.forward()
                self.optimizer_D.zero_grad()
                self.backward_D()
                self.optimizer_D.step()
                self.optimizer_G.zero_grad()
                self.loss_G = self.criterionGAN(self.netD(self.fake), True)
                self.loss_G.backward()
                self.optimizer_G.step()
        """,
        # Not optimiser steps: an environment, a scheduler, a progress bar.
        """
        import torch

        def rollout(env, policy, optimizer, lr_scheduler, progress):
            for t in range(100):
                obs, reward, done, info = env.step(policy(obs))
                lr_scheduler.step()
                progress.step()
                optimizer.zero_grad()
                loss = -reward * policy.log_prob
                loss.backward()
                optimizer.step()
        """,
        # Backward and step in different methods.
        """
        import torch

        class Learner:
            def backward(self, loss):
                loss.backward()

            def step(self):
                self.optimizer.step()
                self.optimizer.zero_grad()
        """,
        # Gradients set by hand before the step.
        """
        import torch

        def apply_grads(model, optimizer, grads, loss_fn, x):
            for p, g in zip(model.parameters(), grads):
                p.grad = g
            optimizer.step()
            optimizer.zero_grad()
            probe = loss_fn(model(x))
            probe.backward()
        """,
        # AMP in order.
        """
        import torch

        scaler = torch.amp.GradScaler()

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    optimizer.step()
                    loss.backward()
            """,
            line=8,
        ),
        # Zeroed after the backward: the step never sees a gradient.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    output = model(x)
                    loss = criterion(output, y)
                    optimizer.step()
                    loss.backward()
                    optimizer.zero_grad()
            """,
            line=8,
        ),
        # AMP.
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.step(optimizer)
                    scaler.update()
                    scaler.scale(loss).backward()
            """,
            line=11,
        ),
        # accelerate.
        Invalid(
            """
            from accelerate import Accelerator

            accelerator = Accelerator()

            def train(model, loader, optimizer, lr_scheduler):
                for batch in loader:
                    optimizer.zero_grad()
                    loss = model(**batch).loss
                    optimizer.step()
                    lr_scheduler.step()
                    accelerator.backward(loss)
            """,
            line=10,
        ),
        # A train_step function.
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def train_step(model, optimizer, batch):
                optimizer.zero_grad()
                logits = model(batch["input"])
                loss = F.cross_entropy(logits, batch["label"])
                optimizer.step()
                loss.backward()
                return loss.item()
            """,
            line=9,
        ),
        # Lightning manual optimisation.
        Invalid(
            """
            import lightning as L

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    opt.zero_grad()
                    loss = self.loss_fn(self(batch[0]), batch[1])
                    opt.step()
                    self.manual_backward(loss)
                    return loss
            """,
            line=9,
        ),
        # A method stepping self.optimizer.
        Invalid(
            """
            import torch

            class Agent:
                def update(self, batch):
                    q = self.q_net(batch.obs).gather(1, batch.act)
                    loss = torch.nn.functional.smooth_l1_loss(q, batch.target)
                    self.optimizer.zero_grad()
                    self.optimizer.step()
                    loss.backward()
            """,
            line=9,
        ),
        # A while loop.
        Invalid(
            """
            import torch

            def train(model, data_iter, opt, max_steps):
                step = 0
                while step < max_steps:
                    x, y = next(data_iter)
                    opt.zero_grad()
                    loss = (model(x) - y).pow(2).mean()
                    opt.step()
                    loss.backward()
                    step += 1
            """,
            line=10,
        ),
        # The step in a helper of the same file.
        Invalid(
            """
            import torch

            def update(optimizer, scheduler):
                optimizer.step()
                scheduler.step()

            def train(model, loader, optimizer, scheduler, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    update(optimizer, scheduler)
                    loss.backward()
            """,
            line=5,
            message_contains="before backward()",
        ),
    ]

    def check(self, scan: _StepScan) -> None:
        for loop, evs in scan.units():
            first = next((i for i, e in enumerate(evs) if e.kind == "S"), None)
            if first is None:
                continue
            s = evs[first]
            if s.extra is True or _step_rel(s, loop):
                continue
            if any(e.kind in ("B", "Q") or (e.kind == "G" and not _step_zeroing(e)) for e in evs[:first]):
                continue
            for e in evs[first + 1 :]:
                if e.kind in ("Z", "Q") or (e.kind == "S" and e.extra is True):
                    break
                if e.kind == "B":
                    self.found(s.node)
                    break


class ClipGradMisplaced(_StepRule):
    """## What it does
    Flags gradient clipping (`torch.nn.utils.clip_grad_norm_`, `clip_grad_value_`,
    `accelerator.clip_grad_norm_`, `fabric.clip_gradients`, `self.clip_gradients`, FSDP's
    `model.clip_grad_norm_`) placed where it cannot affect the update:

    - before the first `backward()` of the iteration, when a `backward()` and then a `step()` follow;
    - after the last `optimizer.step()` of the iteration, with no `backward()` between them or after.

    Helpers defined in the same file are followed.

    Left alone: clipping between `backward()` and `step()` (also inside an accumulation guard), clipping
    that only measures the norm (`max_norm=float('inf')`), clipping between two optimisers' steps (GANs:
    the second model's backward follows), and clipping in hooks (`on_before_optimizer_step`) that have no
    backward or step of their own.

    ## Why is this bad?
    Clipping rescales the gradients currently stored in `.grad`. Before `backward()` these are zeros,
    `None` or last iteration's already-applied values; after `step()` the update has already used the
    unclipped gradients. Either way the model trains without the clipping the recipe relies on, and
    exploding gradients are not caught.

    ## Example
    ```python
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    loss.backward()
    optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    ```
    """

    code = "NN206"
    name = "clip-grad-misplaced"
    message = "gradient clipping outside backward()..step(): it clips gradients that are not computed yet or already applied; clip after backward() and before step()"
    requires = (("clip_grad", "clip_gradients"), "step")

    _BEFORE = "gradient clipping before backward(): it clips the gradients of the previous iteration (or zeros), not the ones step() applies; clip after backward() and before step()"
    _AFTER = "gradient clipping after optimizer.step(): the update has already used the unclipped gradients; clip after backward() and before step()"

    VALID = [
        # Between backward and step.
        """
        import torch

        def train(model, loader, optimizer, criterion, max_norm=1.0):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                optimizer.step()
        """,
        # Inside the accumulation guard, before the step; AMP with unscale_.
        """
        import torch
        from torch.nn.utils import clip_grad_norm_

        scaler = torch.amp.GradScaler("cuda")

        def train(model, loader, optimizer, criterion, accum):
            for i, (x, y) in enumerate(loader):
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y) / accum
                scaler.scale(loss).backward()
                if (i + 1) % accum == 0:
                    scaler.unscale_(optimizer)
                    clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad()
        """,
        # Measuring the norm after the step (max_norm=inf clips nothing).
        """
        import math
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
                total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf)
        """,
        # GAN: each model clipped after its own backward.
        """
        import torch
        import torch.nn as nn

        def train(loader, G, D, opt_g, opt_d, d_loss_fn, g_loss_fn):
            for batch in loader:
                opt_d.zero_grad()
                d_loss_fn(batch).backward()
                nn.utils.clip_grad_norm_(D.parameters(), 10.0)
                opt_d.step()
                opt_g.zero_grad()
                g_loss_fn(batch).backward()
                nn.utils.clip_grad_norm_(G.parameters(), 10.0)
                opt_g.step()
        """,
        # A Lightning hook: no backward or step of its own.
        """
        import torch
        import lightning as L

        class Model(L.LightningModule):
            def on_before_optimizer_step(self, optimizer):
                torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)

            def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
                self.clip_gradients(optimizer, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
        """,
        # Clipping in a helper called between backward and step.
        """
        import torch

        def clip(model):
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                clip(model)
                optimizer.step()
        """,
        # The backward runs in a helper we cannot see.
        """
        import torch
        from .base import BaseModel

        class Model(BaseModel):
            def optimize_parameters(self):
                self.optimizer.zero_grad()
                self.backward_G()
                torch.nn.utils.clip_grad_norm_(self.netG.parameters(), 5.0)
                self.optimizer.step()
        """,
        # Gradients computed with autograd.grad and written by hand.
        """
        import torch

        def step(model, optimizer, loss):
            params = [p for p in model.parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, params)
            for p, g in zip(params, grads):
                p.grad = g
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
        """,
        # accelerate: clip after accelerator.backward.
        """
        from accelerate import Accelerator

        accelerator = Accelerator()

        def train(model, loader, optimizer):
            for batch in loader:
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
        """,
        # RL update (stable-baselines3 style).
        """
        import torch as th
        from torch.nn import functional as F

        class PPO:
            def train(self):
                for epoch in range(self.n_epochs):
                    for rollout_data in self.rollout_buffer.get(self.batch_size):
                        loss = self.compute_loss(rollout_data)
                        self.policy.optimizer.zero_grad()
                        loss.backward()
                        th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                        self.policy.optimizer.step()
        """,
    ]
    INVALID = [
        # Before backward.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    loss.backward()
                    optimizer.step()
            """,
            line=8,
            message_contains="before backward()",
        ),
        # After the step.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
            """,
            line=10,
            message_contains="after optimizer.step()",
        ),
        # After scaler.step.
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            """,
            line=15,
        ),
        # accelerate, before backward.
        Invalid(
            """
            from accelerate import Accelerator

            accelerator = Accelerator()

            def train(model, loader, optimizer):
                for batch in loader:
                    optimizer.zero_grad()
                    loss = model(**batch).loss
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                    accelerator.backward(loss)
                    optimizer.step()
            """,
            line=10,
        ),
        # Lightning manual optimisation, before manual_backward.
        Invalid(
            """
            import lightning as L

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    opt.zero_grad()
                    loss = self.loss_fn(self(batch[0]), batch[1])
                    self.clip_gradients(opt, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
                    self.manual_backward(loss)
                    opt.step()
            """,
            line=9,
        ),
        # clip_grad_value_ after step and zero_grad.
        Invalid(
            """
            import torch.nn as nn

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                    nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
            """,
            line=10,
        ),
        # A train_step function.
        Invalid(
            """
            import torch

            def train_step(model, batch, optimizer, criterion, clip):
                optimizer.zero_grad()
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                loss = criterion(model(batch[0]), batch[1])
                loss.backward()
                optimizer.step()
                return loss
            """,
            line=6,
        ),
        # Accumulation: clipped after the step inside the guard.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion, accum):
                for i, (x, y) in enumerate(loader):
                    (criterion(model(x), y) / accum).backward()
                    if (i + 1) % accum == 0:
                        optimizer.step()
                        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                        optimizer.zero_grad()
            """,
            line=9,
        ),
        # Imported by name, before backward, in a class.
        Invalid(
            """
            from torch.nn.utils import clip_grad_norm_

            class Trainer:
                def fit(self, loader):
                    for batch in loader:
                        self.optimizer.zero_grad()
                        clip_grad_norm_(self.model.parameters(), self.max_norm)
                        loss = self.model(batch)
                        loss.backward()
                        self.optimizer.step()
            """,
            line=8,
        ),
    ]

    def check(self, scan: _StepScan) -> None:
        for loop, evs in scan.units():
            for c_index, c in enumerate(evs):
                if c.kind != "C" or c.extra[1]:
                    continue
                before, after = evs[:c_index], evs[c_index + 1 :]
                if not any(self._backward_like(e) for e in before):
                    k = next((i for i, e in enumerate(after) if e.kind == "B"), None)
                    if k is not None and any(e.kind == "S" and e.extra is not True for e in after[k + 1 :]):
                        self.found(c.node, self._BEFORE)
                    continue
                if _step_depth(_step_rel(c, loop)):
                    continue
                m = next((i for i in range(len(before) - 1, -1, -1) if before[i].kind == "S"), None)
                if m is None or before[m].extra is True or _step_depth(_step_rel(before[m], loop)):
                    continue
                if any(self._backward_like(e) for e in before[m + 1 :]) or any(self._backward_like(e) for e in after):
                    continue
                if any(e.kind == "B" for e in before[:m]):
                    self.found(c.node, self._AFTER)

    @staticmethod
    def _backward_like(e: _StepEvent) -> bool:
        return e.kind in ("B", "Q", "G") or (e.kind == "S" and e.extra is True)


class ClipWithoutUnscale(_StepRule):
    """## What it does
    Flags `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` applied after a backward through an AMP
    `GradScaler` (`scaler.scale(loss).backward()`, also through a variable) with no
    `scaler.unscale_(optimizer)` between the backward and the clipping. The scaler is a
    `torch.amp.GradScaler`/`torch.cuda.amp.GradScaler` (or anything named `*scaler*` with a
    `.scale(...)` method). Helpers defined in the same file are followed.

    Left alone: `scaler.unscale_(optimizer)` before the clipping (also under the same `if`),
    `accelerator.clip_grad_norm_` / Lightning / Fabric clipping (they unscale themselves), timm's
    `loss_scaler(loss, optimizer, clip_grad=...)`, norm measurement with `max_norm=inf`, and backward
    without a scaler.

    ## Why is this bad?
    Until `unscale_` runs, the gradients are multiplied by the loss scale (65536 at first). The
    clipping threshold then applies to the scaled norm, so every step is clipped to a tiny fraction of
    the intended size (or, with `clip_grad_value_`, all gradients are flattened to ±max): the learning
    rate is effectively divided by the scale and training stalls.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Fix safety
    Unsafe: the fix inserts `scaler.unscale_(optimizer)` on its own line before the clipping (offered
    only when the clipping statement stands alone on its line, the iteration steps exactly one optimiser
    through this scaler, at the same loop level, and nothing else in it calls `unscale_`). It changes the
    numbers the model trains with — which is the point — and `unscale_` may be called only once per
    optimiser between two `update()` calls, so code that also unscales somewhere we cannot see would
    then raise.
    """

    code = "NN207"
    name = "clip-without-unscale"
    message = "gradients clipped while still scaled by GradScaler: the threshold applies to the scaled norm; call scaler.unscale_(optimizer) before clipping"
    requires = ("scale", "clip_grad", ".backward(")
    fixable = True

    VALID = [
        # unscale_ first.
        """
        import torch

        scaler = torch.amp.GradScaler("cuda")

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
        """,
        # unscale_ under the same condition (yolov5, timm style).
        """
        import torch
        from torch.cuda import amp

        scaler = amp.GradScaler(enabled=True)

        def train(model, loader, optimizer, criterion, accumulate, clip_grad):
            for i, (imgs, targets) in enumerate(loader):
                with amp.autocast():
                    loss = criterion(model(imgs), targets)
                scaler.scale(loss).backward()
                if (i + 1) % accumulate == 0:
                    if clip_grad is not None:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip_grad)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad()
        """,
        # accelerate unscales inside its own clip_grad_norm_.
        """
        from accelerate import Accelerator

        accelerator = Accelerator(mixed_precision="fp16")

        def train(model, loader, optimizer):
            for batch in loader:
                loss = model(**batch).loss
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
        """,
        # No scaler.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
        """,
        # timm's NativeScaler unscales before clipping.
        """
        import torch
        from timm.utils import NativeScaler

        loss_scaler = NativeScaler()

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                with torch.autocast("cuda"):
                    loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss_scaler(loss, optimizer, clip_grad=1.0, parameters=model.parameters())
        """,
        # Measuring the (scaled) norm only.
        """
        import torch

        scaler = torch.cuda.amp.GradScaler()

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                scaler.scale(criterion(model(x), y)).backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
                scaler.step(optimizer)
                scaler.update()
        """,
        # unscale_ in a helper method.
        """
        import torch

        class Trainer:
            def _clip(self):
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)

            def step(self, loss):
                self.scaler.scale(loss).backward()
                self._clip()
                self.scaler.step(self.optimizer)
                self.scaler.update()
        """,
        # apex amp: clip the master parameters, no GradScaler.
        """
        import torch
        from apex import amp

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                with amp.scale_loss(loss, optimizer) as scaled_loss:
                    scaled_loss.backward()
                torch.nn.utils.clip_grad_norm_(amp.master_params(optimizer), 1.0)
                optimizer.step()
        """,
        # A plain backward after a scaled one (two losses, only the second clipped).
        """
        import torch

        scaler = torch.amp.GradScaler()

        def train(model, aux, loader, optimizer, aux_opt, criterion):
            for x, y in loader:
                scaler.scale(criterion(model(x), y)).backward()
                scaler.step(optimizer)
                scaler.update()
                aux_loss = aux(x).mean()
                aux_loss.backward()
                torch.nn.utils.clip_grad_norm_(aux.parameters(), 1.0)
                aux_opt.step()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.scale(loss).backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(optimizer)
                    scaler.update()
            """,
            line=12,
            fixed="""
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(optimizer)
                    scaler.update()
            """,
        ),
        # Under a condition, in a class.
        Invalid(
            """
            import torch

            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
                    self.scaler = torch.amp.GradScaler("cuda")

                def train_step(self, batch):
                    self.optimizer.zero_grad()
                    with torch.autocast("cuda"):
                        loss = self.model(batch)
                    self.scaler.scale(loss).backward()
                    if self.clip:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
            line=16,
            fixed="""
            import torch

            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
                    self.scaler = torch.amp.GradScaler("cuda")

                def train_step(self, batch):
                    self.optimizer.zero_grad()
                    with torch.autocast("cuda"):
                        loss = self.model(batch)
                    self.scaler.scale(loss).backward()
                    if self.clip:
                        self.scaler.unscale_(self.optimizer)
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
        ),
        # Through a variable, a scaler with another name, clip_grad_value_, the norm assigned.
        Invalid(
            """
            import torch
            from torch.nn.utils import clip_grad_value_

            amp_helper = torch.amp.GradScaler("cuda")

            def train(model, loader, opt, criterion):
                for x, y in loader:
                    opt.zero_grad()
                    with torch.autocast("cuda"):
                        loss = criterion(model(x), y)
                    scaled = amp_helper.scale(loss)
                    scaled.backward()
                    grad_norm = clip_grad_value_(model.parameters(), 0.1)
                    amp_helper.step(opt)
                    amp_helper.update()
            """,
            line=14,
            fixed="""
            import torch
            from torch.nn.utils import clip_grad_value_

            amp_helper = torch.amp.GradScaler("cuda")

            def train(model, loader, opt, criterion):
                for x, y in loader:
                    opt.zero_grad()
                    with torch.autocast("cuda"):
                        loss = criterion(model(x), y)
                    scaled = amp_helper.scale(loss)
                    scaled.backward()
                    amp_helper.unscale_(opt)
                    grad_norm = clip_grad_value_(model.parameters(), 0.1)
                    amp_helper.step(opt)
                    amp_helper.update()
            """,
        ),
        # unscale_ after the clipping: reported, no fix.
        Invalid(
            """
            import torch

            scaler = torch.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    scaler.scale(criterion(model(x), y)).backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.unscale_(optimizer)
                    scaler.step(optimizer)
                    scaler.update()
            """,
            line=10,
        ),
        # Gradient accumulation.
        Invalid(
            """
            import torch
            import torch.nn as nn

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion, accum_steps):
                for i, (x, y) in enumerate(loader):
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y) / accum_steps
                    scaler.scale(loss).backward()
                    if (i + 1) % accum_steps == 0:
                        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
            """,
            line=13,
            fixed="""
            import torch
            import torch.nn as nn

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion, accum_steps):
                for i, (x, y) in enumerate(loader):
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y) / accum_steps
                    scaler.scale(loss).backward()
                    if (i + 1) % accum_steps == 0:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
            """,
        ),
        # Clipping in a helper of the same class.
        Invalid(
            """
            import torch

            class Trainer:
                def clip(self):
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)

                def step(self, loss):
                    self.scaler.scale(loss).backward()
                    self.clip()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.optimizer.zero_grad()
            """,
            line=6,
        ),
        # Two optimisers through one scaler: reported, no fix.
        Invalid(
            """
            import torch

            scaler = torch.amp.GradScaler()

            def train(model, loader, opt_a, opt_b, criterion):
                for x, y in loader:
                    scaler.scale(criterion(model(x), y)).backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    scaler.step(opt_a)
                    scaler.step(opt_b)
                    scaler.update()
            """,
            line=9,
        ),
        # A train_step function.
        Invalid(
            """
            import torch

            def train_step(model, batch, optimizer, scaler):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = model(**batch).loss
                scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                return loss.detach()
            """,
            line=8,
            fixed="""
            import torch

            def train_step(model, batch, optimizer, scaler):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = model(**batch).loss
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                return loss.detach()
            """,
        ),
        # AMP optional: the scaled branch is not unscaled (no fix: the plain branch must not unscale).
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion, use_amp):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    if use_amp:
                        scaler.scale(loss).backward()
                    else:
                        loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    if use_amp:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
            """,
            line=14,
        ),
    ]
    VALID = [*VALID, *(case.fixed for case in INVALID if case.fixed is not None)]  # a second --fix changes nothing

    def check(self, scan: _StepScan) -> None:
        for _loop, evs in scan.units():
            for c_index, c in enumerate(evs):
                if c.kind != "C" or not c.extra[0] or c.extra[1]:
                    continue
                # The backward calls since the last step (both branches of ``if amp: ... else: ...``).
                scaled = None
                for i in range(c_index - 1, -1, -1):
                    e = evs[i]
                    if e.kind == "S" and e.extra is not True:
                        break
                    if e.kind == "B" and e.key:
                        scaled = i
                if scaled is None or any(e.kind == "U" for e in evs[scaled:c_index]):
                    continue
                backs = [e for e in evs[scaled:c_index] if e.kind == "B"]
                self.found(c.node, fix=self._fix(evs, c, backs))

    def _fix(self, evs: list[_StepEvent], c: _StepEvent, backs: list[_StepEvent]):
        """Only where the unscale_ runs at most once per scaled step: every backward since the last step is
        scaled by the same scaler and dominates the clipping, and the scaler steps one optimiser in the
        clipping's block or one enclosing it through conditions only (no loop in between)."""
        if c.indent is None or c.line is None or c.inlined or any(e.kind == "U" for e in evs):
            return None
        scaler = backs[0].key
        if any(b.key != scaler or c.path[: len(b.path)] != b.path for b in backs):
            return None
        steps = [e for e in evs if e.kind == "S" and isinstance(e.extra, tuple) and e.extra[1] == scaler and e.key]
        optimizers = {e.key for e in steps}
        for e in steps:
            extra = c.path[len(e.path) :]
            if c.path[: len(e.path)] != e.path or any(entry[1] not in ("if", "else") for entry in extra):
                return None
        if len(optimizers) != 1:
            return None
        (optimizer,) = optimizers
        text = f"{scaler}.unscale_({optimizer})\n{c.indent}{self.ctx.code(c.line)}"
        return self.fix("unsafe", (c.line, text), description=f"call {scaler}.unscale_({optimizer}) first")


class SchedulerBeforeOptimizer(_StepRule):
    """## What it does
    Flags `scheduler.step()` that runs before the first `optimizer.step()` of the same iteration — at
    the top of the batch loop or of the epoch loop (with the optimiser step in the batch loop below or in
    a `train(...)` helper defined in the same file), or at the start of a `train_one_epoch` function.

    A scheduler is a `torch.optim.lr_scheduler` object (not `ReduceLROnPlateau`), a `transformers`
    `get_*_schedule*`/`get_scheduler` result, a local `LRScheduler` subclass, or — when its construction
    is not seen — a variable named `scheduler`, `lr_scheduler`, `sched` ... stepped without arguments
    (timm's `lr_scheduler.step(epoch)` and diffusers' `noise_scheduler.step(...)` take arguments and are
    other APIs). Optimiser steps include `scaler.step(optimizer)`.

    A step under a check that the scheduler exists (`if scheduler is not None:`) or that the phase
    trains (`for phase in ["train", "val"]: if phase == "train": scheduler.step()`, the pre-1.1
    transfer-learning tutorial) counts as unconditional.

    Left alone: the scheduler stepped after the optimiser (in the same loop or after the batch loop),
    a scheduler step under another condition (`if epoch > 0:`, `if epoch > args.warm:`),
    fast-forward loops when resuming (`for _ in range(start_epoch): scheduler.step()`), schedulers
    of other libraries (timm, diffusers samplers), KL/temperature "schedulers" (`beta_scheduler`), and
    optimiser steps hidden in code the rule does not see (`train_one_epoch` imported from elsewhere).

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler is meant to be stepped after the optimiser. Stepping it first skips
    the first value of the schedule (a warm-up starts one step late, a step decay happens one epoch
    early) and PyTorch warns "Detected call of `lr_scheduler.step()` before `optimizer.step()`".

    ## Example
    ```python
    for epoch in range(epochs):
        scheduler.step()
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```
    """

    code = "NN209"
    name = "scheduler-before-optimizer"
    message = "scheduler.step() runs before optimizer.step(): the first value of the schedule is skipped (PyTorch >= 1.1 order); step the scheduler after the optimizer"
    requires = (("sched", "Sched", "_LR", "LR("), "step")

    VALID = [
        # After the optimiser, per batch and per epoch.
        """
        import torch
        from torch.optim.lr_scheduler import OneCycleLR, StepLR

        def train(model, loader, optimizer, criterion, epochs):
            batch_sched = OneCycleLR(optimizer, max_lr=0.1, total_steps=epochs * len(loader))
            epoch_sched = StepLR(optimizer, step_size=30)
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                    batch_sched.step()
                epoch_sched.step()
        """,
        # A guard that skips the first epoch.
        """
        import torch

        def main(model, loader, optimizer, scheduler, epochs):
            for epoch in range(epochs):
                if epoch > 0:
                    scheduler.step()
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
        """,
        # ReduceLROnPlateau steps on a metric.
        """
        import torch

        def main(model, loader, optimizer, epochs, validate, train):
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
            val_loss = float("inf")
            for epoch in range(epochs):
                plateau.step(val_loss)
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
                val_loss = validate(model)
        """,
        # timm's scheduler takes the epoch; diffusers' noise scheduler samples.
        """
        import torch
        from timm.scheduler import create_scheduler_v2

        def train(model, loader, optimizer, noise_scheduler, start_epoch, epochs):
            lr_scheduler, _ = create_scheduler_v2(optimizer, sched="cosine", num_epochs=epochs)
            for epoch in range(start_epoch, epochs):
                lr_scheduler.step(epoch)
                for batch in loader:
                    latents = batch["latents"]
                    for t in noise_scheduler.timesteps:
                        latents = noise_scheduler.step(model(latents, t), t, latents).prev_sample
                    optimizer.zero_grad()
                    model.loss(latents).backward()
                    optimizer.step()
        """,
        # Fast-forward when resuming, then the normal order.
        """
        import torch

        def main(model, loader, optimizer, start_epoch, epochs):
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60])
            for _ in range(start_epoch):
                scheduler.step()
            for epoch in range(start_epoch, epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
                scheduler.step()
        """,
        # Warm-up scheduler after the step (pytorch-cifar100 style).
        """
        import torch

        def train(epoch, net, loader, optimizer, loss_function, warmup_scheduler, warm):
            for batch_index, (images, labels) in enumerate(loader):
                optimizer.zero_grad()
                loss = loss_function(net(images), labels)
                loss.backward()
                optimizer.step()
                if epoch <= warm:
                    warmup_scheduler.step()
        """,
        # Not learning-rate schedulers: KL annealing, a teacher-forcing schedule.
        """
        import torch

        def train(model, loader, optimizer, beta_scheduler, tf_scheduler):
            for x in loader:
                beta_scheduler.step()
                tf_scheduler.step()
                optimizer.zero_grad()
                model.elbo(x, beta=beta_scheduler.value).backward()
                optimizer.step()
        """,
        # Stepped in a function without an optimiser step.
        """
        import torch

        def on_epoch_end(scheduler, logger):
            scheduler.step()
            logger.log(scheduler.get_last_lr())

        def train(model, loader, optimizer):
            for x, y in loader:
                optimizer.zero_grad()
                model(x, y).backward()
                optimizer.step()
        """,
        # transformers warm-up in order, with AMP.
        """
        import torch
        from transformers import get_linear_schedule_with_warmup

        scaler = torch.amp.GradScaler()

        def train(model, loader, optimizer, num_training_steps):
            lr_scheduler = get_linear_schedule_with_warmup(optimizer, 100, num_training_steps)
            for batch in loader:
                with torch.autocast("cuda"):
                    loss = model(**batch).loss
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                lr_scheduler.step()
                optimizer.zero_grad()
        """,
        # The scheduler stepped at the end of the previous function body, the train loop elsewhere.
        """
        import torch
        from engine import train_one_epoch

        def main(model, loader, optimizer, scheduler, epochs):
            for epoch in range(epochs):
                scheduler.step()
                train_one_epoch(model, loader, optimizer)
        """,
        # Stepped at the end of the epoch, in the validation phase.
        """
        import torch

        def train_model(model, criterion, optimizer, scheduler, dataloaders, num_epochs):
            for epoch in range(num_epochs):
                for phase in ["train", "val"]:
                    model.train(phase == "train")
                    for inputs, labels in dataloaders[phase]:
                        optimizer.zero_grad()
                        with torch.set_grad_enabled(phase == "train"):
                            loss = criterion(model(inputs), labels)
                            if phase == "train":
                                loss.backward()
                                optimizer.step()
                    if phase == "val":
                        scheduler.step()
        """,
    ]
    INVALID = [
        # At the top of the epoch loop, a train() helper of the same file.
        Invalid(
            """
            import torch
            import torch.optim as optim

            def train(model, loader, optimizer, criterion):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            def main(model, loader, criterion, epochs):
                optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
                scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
                for epoch in range(epochs):
                    scheduler.step()
                    train(model, loader, optimizer, criterion)
            """,
            line=15,
        ),
        # Per batch, before the optimiser.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, scheduler, criterion):
                for x, y in loader:
                    scheduler.step()
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
            """,
            line=6,
        ),
        # At the start of a train_one_epoch function.
        Invalid(
            """
            import torch

            def train_one_epoch(model, loader, optimizer, lr_scheduler, criterion):
                lr_scheduler.step()
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            line=5,
        ),
        # transformers warm-up.
        Invalid(
            """
            from transformers import get_cosine_schedule_with_warmup

            def train(model, loader, optimizer, total_steps):
                sched = get_cosine_schedule_with_warmup(optimizer, 500, total_steps)
                for step, batch in enumerate(loader):
                    sched.step()
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            line=7,
        ),
        # A guard on the scheduler's existence.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion, scheduler=None):
                for x, y in loader:
                    if scheduler is not None:
                        scheduler.step()
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            line=7,
        ),
        # AMP.
        Invalid(
            """
            import torch

            scaler = torch.amp.GradScaler("cuda")

            def train(model, loader, optimizer, scheduler):
                for batch in loader:
                    scheduler.step()
                    with torch.autocast("cuda"):
                        loss = model(batch)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad()
            """,
            line=8,
        ),
        # A torch scheduler built in __init__, stepped with the epoch (the pre-1.1 idiom).
        Invalid(
            """
            import torch

            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                    self.lr_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=100)

                def train_epoch(self, epoch, loader):
                    self.lr_sched.step(epoch)
                    for x, y in loader:
                        self.optimizer.zero_grad()
                        self.model.loss(x, y).backward()
                        self.optimizer.step()
            """,
            line=11,
        ),
        # Lightning manual optimisation.
        Invalid(
            """
            import lightning as L

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    opt = self.optimizers()
                    sch = self.lr_schedulers()
                    sch.step()
                    opt.zero_grad()
                    self.manual_backward(self.loss_fn(self(batch[0]), batch[1]))
                    opt.step()
            """,
            line=8,
        ),
        # A script at module level.
        Invalid(
            """
            import torch
            import torch.nn as nn

            model = nn.Linear(4, 1)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
            for epoch in range(20):
                scheduler.step()
                for x, y in loader:
                    optimizer.zero_grad()
                    nn.functional.mse_loss(model(x), y).backward()
                    optimizer.step()
            """,
            line=9,
        ),
        # The pre-1.1 transfer-learning tutorial: stepped when the train phase starts.
        Invalid(
            """
            import torch
            from torch.optim import lr_scheduler

            def train_model(model, criterion, optimizer, scheduler, dataloaders, num_epochs=25):
                for epoch in range(num_epochs):
                    for phase in ["train", "val"]:
                        if phase == "train":
                            scheduler.step()
                            model.train()
                        else:
                            model.eval()
                        for inputs, labels in dataloaders[phase]:
                            optimizer.zero_grad()
                            with torch.set_grad_enabled(phase == "train"):
                                loss = criterion(model(inputs), labels)
                                if phase == "train":
                                    loss.backward()
                                    optimizer.step()
                return model
            """,
            line=9,
        ),
    ]

    def check(self, scan: _StepScan) -> None:
        for loop, evs in scan.units():
            first = next((i for i, e in enumerate(evs) if e.kind == "S"), None)
            if first is None:
                continue
            for e in evs[:first]:
                if e.kind == "L" and self._unconditional(e, loop):
                    self.found(e.node)

    def _unconditional(self, e: _StepEvent, loop) -> bool:
        """Runs whenever the iteration trains: no condition but a check that the scheduler exists or that the
        phase is training (``for phase in ['train', 'val']: if phase == 'train': scheduler.step()``)."""
        for entry in _step_rel(e, loop):
            if entry[1] == "loop":
                if not _sched_is_transparent_loop(entry[2]):
                    return False
                continue
            if entry[1] not in ("if", "else") or entry[2] is None:
                return False
            names = {dotted_name(n) for n in expr_nodes(entry[2]) if isinstance(n, (cst.Name, cst.Attribute))}
            if e.key in names or any(n and _step_sched_name(n) for n in names):
                continue
            if entry[1] == "if" and _step_phase_test(entry[2]):
                continue
            return False
        return True


def _step_names(expr: cst.CSTNode | None) -> set[str]:
    """Dotted names read by ``expr`` (``outputs.loss`` and ``outputs``), not entering nested scopes."""
    out: set[str] = set()
    if expr is None:
        return out
    for node in expr_nodes(expr):
        if isinstance(node, (cst.Name, cst.Attribute)):
            key = dotted_name(node)
            if key:
                out.add(key)
    return out


def _step_detached_value(value: cst.BaseExpression | None) -> bool:
    """A value that holds no graph: ``loss.item()``, ``float(loss)``, ``loss.detach()``, ``loss.data``, a number."""
    if value is None:
        return False
    if isinstance(value, (cst.Integer, cst.Float)) or number_value(value) is not None:
        return True
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and call_name(value) in _LOSS_KEEP_METHODS:
        value = value.func.value
    if isinstance(value, cst.Call):
        name = call_name(value)
        return name in _STEP_DETACH_CALLS or name in _LOSS_DETACH_METHODS
    if isinstance(value, cst.Attribute):
        return value.attr.value == "data"
    return False


class LossAccumulatedWithGraph(_StepRule):
    """## What it does
    Flags a loss tensor added to (or appended to) an accumulator that outlives the iteration — a
    variable bound before the loop, an attribute, a list — without `.item()`, `.detach()` or
    `float()`: `total_loss += loss`, `running = running + loss * x.size(0)`, `epoch_loss += loss.mean()`,
    `losses.append(loss)`, `history["loss"].append(loss)`, and in a Lightning `training_step`,
    `self.epoch_loss += loss`.

    The accumulated value must be part of what the iteration backpropagates (`loss.backward()`,
    `scaler.scale(loss).backward()`, `accelerator.backward(loss)`, a sum of parts that is
    backpropagated, the loss a `training_step` returns) and hold a loss (named for one, or the result
    of a loss function or module, or the backward target itself).

    Left alone: `loss_sum += loss.item()`, `+= float(loss)`, `+= loss.detach()`, `+= loss.data`; an
    accumulator reset inside the iteration (summing the parts of one step's loss); an accumulator that
    is itself backpropagated later (`total.backward()` after a micro-batch loop,
    `torch.stack(losses).mean().backward()`); accumulation under `torch.no_grad()`; values that were
    turned into numbers before (`loss = loss.item()`); metric objects (`meter.update(loss)`), which are
    not followed.

    ## Why is this bad?
    A loss tensor carries its autograd graph. Adding it to a long-lived accumulator builds one ever-
    growing graph that references every iteration's activations, so memory grows until the epoch ends
    (or the process runs out of memory), and the accumulation itself is recorded for autograd.

    ## Example
    ```python
    total_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total_loss += loss
    ```

    ## Use instead
    ```python
    total_loss = 0.0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach()  # or loss.item() for a Python float
    ```

    ## Fix safety
    Safe: for `+=` and `x = x + ...` the fix appends `.detach()` to the loss term, which keeps the
    value, the dtype, the device and the type of the accumulator (a tensor stays a tensor, so later
    `total_loss.item()` calls still work) and drops only the graph. `.append(loss)` gets no fix: what the
    list holds may be stacked or compared with other tensors later.
    """

    code = "NN208"
    name = "loss-accumulated-with-graph"
    message = "a loss tensor is accumulated across iterations with its autograd graph: every iteration's graph stays alive (memory grows); accumulate loss.detach() or loss.item()"
    requires = ((".backward(", "manual_backward(", "training_step"), ("+=", "append", "+ "))
    fixable = True

    VALID = [
        # .item(), float(), .detach(), .data.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            total_loss, running, epoch_loss, s = 0.0, 0.0, 0.0, 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
                running += float(loss) * x.size(0)
                epoch_loss += loss.detach()
                s = s + loss.data
        """,
        # Summing the parts of one step's loss, then backpropagating the sum.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                optimizer.zero_grad()
                outputs = model(x)
                loss = 0
                for out in outputs:
                    loss += criterion(out, y)
                loss.backward()
                optimizer.step()
        """,
        # Accumulated over micro-batches, then backpropagated.
        """
        import torch

        def step(model, micro_batches, optimizer, criterion):
            optimizer.zero_grad()
            total = 0
            losses = []
            for x, y in micro_batches:
                loss = criterion(model(x), y)
                total = total + loss
                losses.append(loss)
            total.backward()
            torch.stack(losses).mean().backward()
            optimizer.step()
        """,
        # Evaluation under no_grad.
        """
        import torch

        def evaluate(model, loader, criterion):
            val_loss = 0
            with torch.no_grad():
                for x, y in loader:
                    val_loss += criterion(model(x), y)
            return val_loss / len(loader)
        """,
        # The loss became a number first.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            total = 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                loss = loss.item()
                total += loss
        """,
        # Not a loss: accuracy counters, sample counts.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            correct, seen = 0, 0
            for x, y in loader:
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                correct += (out.argmax(1) == y).sum()
                seen += y.size(0)
        """,
        # Reset with every optimiser step (torchtune's running loss over one accumulation window).
        """
        import torch

        def train(model, loader, optimizer, loss_fn, accum):
            running_loss = 0
            for idx, batch in enumerate(loader):
                current_loss = loss_fn(model(batch["x"]), batch["y"])
                running_loss += current_loss
                current_loss.backward()
                if (idx + 1) % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
                    print(running_loss.item())
                    running_loss = 0
        """,
        # Meters are not followed; Lightning logging.
        """
        import torch
        import lightning as L

        def train(model, loader, optimizer, criterion, losses):
            for x, y in loader:
                loss = criterion(model(x), y)
                losses.update(loss, x.size(0))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        class Model(L.LightningModule):
            def training_step(self, batch, batch_idx):
                loss = self.criterion(self(batch[0]), batch[1])
                self.log("train_loss", loss)
                self.outputs.append(loss.detach())
                self.total += loss.item()
                return loss
        """,
        # Gradient accumulation: the scaled loss is backpropagated, the number is logged.
        """
        from accelerate import Accelerator

        accelerator = Accelerator()

        def train(model, loader, optimizer, accum):
            total_loss = 0
            for step, batch in enumerate(loader):
                outputs = model(**batch)
                loss = outputs.loss / accum
                accelerator.backward(loss)
                total_loss += loss.detach().float()
                if step % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
        """,
        # A per-iteration accumulator reset at the top of the iteration.
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                batch_loss = 0
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                batch_loss += loss
                print(batch_loss)
        """,
        # A step method whose running loss is reset with every optimiser step.
        """
        import torch

        class Recipe:
            def train_step(self, batch):
                loss = self._loss_fn(self._model(batch["tokens"]), batch["labels"])
                loss = loss / self._gradient_accumulation_steps
                self._running_loss += loss
                loss.backward()
                if (self._current_step + 1) % self._gradient_accumulation_steps == 0:
                    self._optimizer.step()
                    self._optimizer.zero_grad(set_to_none=True)
                    log(self._running_loss.item())
                    self._running_loss = 0
                self._current_step += 1
        """,
        # A helper of the same file returns a number; its names are its own.
        """
        import torch

        def train_step(model, batch, optimizer, criterion):
            optimizer.zero_grad()
            loss = criterion(model(batch[0]), batch[1])
            loss.backward()
            optimizer.step()
            return loss.item()

        def train(model, loader, optimizer, criterion):
            total = 0
            for batch in loader:
                loss = train_step(model, batch, optimizer, criterion)
                total += loss
            return total / len(loader)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                total_loss = 0.0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total_loss += loss
                return total_loss / len(loader)
            """,
            line=11,
            fixed="""
            import torch

            def train(model, loader, optimizer, criterion):
                total_loss = 0.0
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total_loss += loss.detach()
                return total_loss / len(loader)
            """,
        ),
        # Weighted by the batch size, in an epoch loop.
        Invalid(
            """
            import torch
            import torch.nn as nn

            def train(model, loader, optimizer, epochs):
                criterion = nn.CrossEntropyLoss()
                for epoch in range(epochs):
                    running_loss = 0.0
                    for inputs, labels in loader:
                        optimizer.zero_grad()
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                        loss.backward()
                        optimizer.step()
                        running_loss += loss * inputs.size(0)
                    print(epoch, running_loss / len(loader.dataset))
            """,
            line=15,
            fixed="""
            import torch
            import torch.nn as nn

            def train(model, loader, optimizer, epochs):
                criterion = nn.CrossEntropyLoss()
                for epoch in range(epochs):
                    running_loss = 0.0
                    for inputs, labels in loader:
                        optimizer.zero_grad()
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                        loss.backward()
                        optimizer.step()
                        running_loss += loss.detach() * inputs.size(0)
                    print(epoch, running_loss / len(loader.dataset))
            """,
        ),
        # x = x + loss.
        Invalid(
            """
            import torch.nn.functional as F

            def train(model, loader, opt):
                epoch_loss = 0
                for x, y in loader:
                    opt.zero_grad()
                    mse = F.mse_loss(model(x), y)
                    mse.backward()
                    opt.step()
                    epoch_loss = epoch_loss + mse
                return epoch_loss
            """,
            line=11,
            fixed="""
            import torch.nn.functional as F

            def train(model, loader, opt):
                epoch_loss = 0
                for x, y in loader:
                    opt.zero_grad()
                    mse = F.mse_loss(model(x), y)
                    mse.backward()
                    opt.step()
                    epoch_loss = epoch_loss + mse.detach()
                return epoch_loss
            """,
        ),
        # A list of loss tensors: reported, no fix.
        Invalid(
            """
            import torch

            def train(model, loader, optimizer, criterion):
                losses = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss)
                return losses
            """,
            line=11,
        ),
        # AMP.
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()

            def train(model, loader, optimizer, criterion):
                train_loss = 0
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.cuda.amp.autocast():
                        loss = criterion(model(x), y)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    train_loss += loss
            """,
            line=15,
        ),
        # HF accelerate with outputs.loss.
        Invalid(
            """
            from accelerate import Accelerator

            accelerator = Accelerator()

            def train(model, loader, optimizer, lr_scheduler, num_epochs):
                for epoch in range(num_epochs):
                    model.train()
                    total_loss = 0
                    for step, batch in enumerate(loader):
                        outputs = model(**batch)
                        loss = outputs.loss
                        total_loss += loss
                        accelerator.backward(loss)
                        optimizer.step()
                        lr_scheduler.step()
                        optimizer.zero_grad()
            """,
            line=13,
        ),
        # Lightning: an attribute that outlives the step.
        Invalid(
            """
            import lightning as L
            import torch.nn.functional as F

            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    x, y = batch
                    loss = F.cross_entropy(self(x), y)
                    self.epoch_loss += loss
                    return loss
            """,
            line=9,
        ),
        # A history dict of lists.
        Invalid(
            """
            import torch

            def fit(model, loader, optimizer, criterion, epochs):
                history = {"loss": []}
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
                        history["loss"].append(loss)
                return history
            """,
            line=12,
        ),
        # The parts of a backpropagated sum.
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def train_vae(model, loader, optimizer):
                recon_total, kl_total = 0.0, 0.0
                for x in loader:
                    optimizer.zero_grad()
                    recon, mu, logvar = model(x)
                    recon_loss = F.binary_cross_entropy(recon, x, reduction="sum")
                    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                    total = recon_loss + kl
                    total.backward()
                    optimizer.step()
                    recon_total += recon_loss
                    kl_total += kl.item()
            """,
            line=15,
            fixed="""
            import torch
            import torch.nn.functional as F

            def train_vae(model, loader, optimizer):
                recon_total, kl_total = 0.0, 0.0
                for x in loader:
                    optimizer.zero_grad()
                    recon, mu, logvar = model(x)
                    recon_loss = F.binary_cross_entropy(recon, x, reduction="sum")
                    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                    total = recon_loss + kl
                    total.backward()
                    optimizer.step()
                    recon_total += recon_loss.detach()
                    kl_total += kl.item()
            """,
        ),
        # A trainer attribute, loss from a method named for it.
        Invalid(
            """
            import torch

            class Trainer:
                def train_epoch(self, loader):
                    self.running_loss = 0.0
                    for batch in loader:
                        self.optimizer.zero_grad()
                        loss = self.compute_loss(batch)
                        loss.backward()
                        self.optimizer.step()
                        self.running_loss += loss.mean()
            """,
            line=12,
            fixed="""
            import torch

            class Trainer:
                def train_epoch(self, loader):
                    self.running_loss = 0.0
                    for batch in loader:
                        self.optimizer.zero_grad()
                        loss = self.compute_loss(batch)
                        loss.backward()
                        self.optimizer.step()
                        self.running_loss += loss.mean().detach()
            """,
        ),
        # A per-sample training method: the attribute outlives the call.
        Invalid(
            """
            import torch

            class Learner:
                def train(self, data, target):
                    self.model.zero_grad()
                    loss = self.loss_function(self.model(data), target)
                    loss.backward()
                    self.running_loss += loss
                    self.optimizer.step()
            """,
            line=9,
        ),
    ]
    VALID = [*VALID, *(case.fixed for case in INVALID if case.fixed is not None)]  # a second --fix changes nothing

    def check(self, scan: _StepScan) -> None:
        root_slice = self._slice(scan.events, scan.events, include_returns=scan.name == "training_step")
        for loop, evs in scan.units():
            # The function itself is one iteration (a train_step method, Lightning's training_step): what
            # outlives a call is an attribute.
            per_call = loop is None and isinstance(scan.root, cst.FunctionDef) and scan.klass is not None
            lightning = per_call and scan.name == "training_step"
            if loop is None and not per_call:
                continue
            targets = self._targets(evs, lightning)
            if not targets:
                continue
            unit_slice = self._slice(evs, evs, include_returns=lightning)
            for index, acc in enumerate(evs):
                if acc.kind != "A" or acc.nograd or acc.inlined and per_call:
                    continue
                rel = _step_rel(acc, loop)
                if _step_depth(rel):
                    continue
                key = acc.key
                if per_call and not key.startswith("self."):
                    continue
                if self._in_slice(key, root_slice) or self._reset(key, acc, evs, index, loop):
                    continue
                leaves = self._grad_leaves(acc.extra, unit_slice, targets, evs[:index])
                if not leaves:
                    continue
                fix = None
                if not isinstance(acc.node, cst.Call):
                    reps = [(leaf, f"{self.ctx.code(leaf)}.detach()") for leaf in leaves]
                    fix = self.fix("safe", *reps, description="accumulate .detach()")
                self.found(acc.node, fix=fix)

    @staticmethod
    def _targets(evs: list[_StepEvent], lightning: bool) -> set[str]:
        out: set[str] = set()
        for e in evs:
            if e.inlined:
                continue  # a helper's names are its own
            if e.kind == "B" or (lightning and e.kind == "R"):
                value = e.extra
                if isinstance(value, cst.Call) and call_name(value) == "scale" and value.args:
                    value = value.args[0].value
                if isinstance(value, cst.Dict):
                    value = next((el.value for el in value.elements if isinstance(el, cst.DictElement) and string_value(el.key) == "loss"), None)
                while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and call_name(value) in _LOSS_KEEP_METHODS:
                    value = value.func.value
                key = dotted_name(value) if value is not None else None
                if key:
                    out.add(key)
        return out

    @staticmethod
    def _slice(evs: list[_StepEvent], defs: list[_StepEvent], include_returns: bool) -> set[str]:
        """Names that flow into what is backpropagated (a backward target, or a returned training loss)."""
        names: set[str] = set()
        for e in evs:
            if not e.inlined and (e.kind == "B" or (include_returns and e.kind == "R")):
                names |= _step_names(e.extra)
        assigns = [e for e in defs if e.kind in ("D", "A") and not e.inlined]
        changed = True
        while changed:
            changed = False
            for e in assigns:
                keys = e.key if e.kind == "D" else (e.key,)
                if any(k in names for k in keys):
                    value = e.extra[0] if e.kind == "D" else e.extra
                    new = _step_names(value) - names
                    if e.kind == "A":
                        new |= {e.key} - names
                    if new:
                        names |= new
                        changed = True
        return names

    @staticmethod
    def _in_slice(key: str, names: set[str]) -> bool:
        return key in names or any(n.startswith(key + ".") for n in names)

    @staticmethod
    def _reset(key: str, acc: _StepEvent, evs: list[_StepEvent], index: int, loop) -> bool:
        """The accumulator is rebound within the iteration: earlier, in a block that dominates it (it sums the
        parts of one step), or together with an optimiser step (it sums one accumulation window)."""
        steps = [e for e in evs if e.kind == "S"]
        for i, e in enumerate(evs):
            if e.kind != "D" or key not in e.key or e.extra[1]:
                continue
            value = e.extra[0]
            if isinstance(value, cst.BinaryOperation) and key in _step_names(value):
                continue
            if i < index and acc.path[: len(e.path)] == e.path:
                return True
            if _step_rel(e, loop) and any(s.path[: len(e.path)] == e.path for s in steps):
                return True
        return False

    def _grad_leaves(self, value, names: set[str], targets: set[str], before: list[_StepEvent]) -> list[cst.CSTNode]:
        if isinstance(value, cst.BinaryOperation):
            if not isinstance(value.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide)):
                return []
            return self._grad_leaves(value.left, names, targets, before) + self._grad_leaves(value.right, names, targets, before)
        if isinstance(value, cst.UnaryOperation):
            return self._grad_leaves(value.expression, names, targets, before)
        inner = value
        while isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and call_name(inner) in _LOSS_KEEP_METHODS:
            if call_name(inner) in ("cpu", "to") and inner is not value:
                break
            inner = inner.func.value
        if not isinstance(inner, (cst.Name, cst.Attribute)):
            return []
        key = dotted_name(inner)
        if not key or key not in names:
            return []
        latest = None
        for e in before:
            if e.kind == "D" and key in e.key:
                latest = e
        bound = latest.extra[0] if latest is not None and not latest.extra[1] else None
        if latest is not None and len(latest.key) == 1 and _step_detached_value(bound):
            return []
        if key in targets or _loss_value_name(_last(key)) or self._loss_call(bound):
            return [value]
        return []

    def _loss_call(self, value) -> bool:
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and call_name(value) in _LOSS_KEEP_METHODS:
            value = value.func.value
        if not isinstance(value, cst.Call):
            return False
        qual = self.ctx.qualname(value.func)
        if _loss_functional(qual):
            return True
        callee = dotted_name(value.func) or ""
        return _loss_callee_name(_last(callee)) or _loss_class_name(_last(callee))


# ---------------------------------------------------------------------------------------------
# NN210 adam-weight-decay, NN211 extreme-learning-rate: the optimiser's construction. Helpers ``_opt_*``.
# ---------------------------------------------------------------------------------------------

_OPT_MODULE = "torch.optim."
# weight_decay is the fifth positional parameter of Adam and Adamax (params, lr, betas, eps, weight_decay).
_OPT_L2 = {"Adam": 4, "Adamax": 4}
_OPT_ADAPTIVE = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})
_OPT_HIGH = {**{name: 0.1 for name in _OPT_ADAPTIVE}, "RMSprop": 1.0, "Adagrad": 1.0, "SGD": 25.0, "ASGD": 25.0}
_OPT_LOW = 1e-7
_OPT_LR_OVERRIDES = (
    "LambdaLR", "lr_lambda", "OneCycleLR", "CyclicLR", "range_test", "LRFinder", "lr_find", "Noam", "['lr'] =",
    '["lr"] =', "['lr']=", '["lr"]=', "set_lr(", "lr_schedule(", "adjust_learning_rate", "adjust_lr",
)
_OPT_PARAM_NAMES = frozenset(
    {
        "params", "parameters", "param_groups", "grouped_parameters", "optimizer_grouped_parameters",
        "trainable_params", "trainable_parameters", "model_params", "model_parameters", "param_list",
        "params_to_update", "params_to_optimize", "parameters_to_optimize", "groups", "param_dicts",
    }
)


def _opt_class(ctx, call: cst.Call) -> str | None:
    """``Adam`` for ``torch.optim.Adam(...)``, ``optim.Adam``, ``from torch.optim import Adam``, else None."""
    qual = ctx.qualname(call.func)
    if qual is not None:
        if qual.startswith(_OPT_MODULE) and qual.count(".") == 2:
            return _last(qual)
        if qual.startswith("torch.optim.") and qual.rsplit(".", 2)[-2] in ("adam", "adamax", "adamw", "sgd", "rmsprop", "adagrad", "nadam", "radam", "asgd"):
            return _last(qual)
        return None
    if isinstance(call.func, cst.Name) and "torch.optim" in ctx.imports.star_modules:
        return call.func.value
    return None


class _OptValues:
    """Numeric settings of the module: unique constants (``WD = 1e-4``), entries of dict literals
    (``config = {"lr": 0.1}``), class attributes of config classes (``class CFG: lr = 0.1``, also through an
    instance ``cfg = CFG()``) and argparse defaults (``add_argument("--weight-decay", default=5e-4)``)."""

    def __init__(self, module: cst.Module) -> None:
        self.constants: dict[str, set[float | None]] = {}
        self.arguments: dict[str, set[float | None]] = {}
        self.entries: dict[tuple[str, str], set[float | None]] = {}  # (dict or class name, key) -> values
        self.instances: dict[str, set[str]] = {}  # variable -> class names it is bound to
        classes: set[str] = set()
        for node in walk_nodes(module, (cst.Assign, cst.Call, cst.ClassDef)):
            if isinstance(node, cst.ClassDef):
                classes.add(node.name.value)
                for stmt in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
                    if isinstance(stmt, cst.SimpleStatementLine):
                        for small in stmt.body:
                            if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                                for t in targets:
                                    if isinstance(t, cst.Name):
                                        key = (node.name.value, t.value)
                                        self.entries.setdefault(key, set()).add(number_value(small.value))
            elif isinstance(node, cst.Assign):
                if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
                    continue
                name = node.targets[0].target.value
                value = node.value
                self.constants.setdefault(name, set()).add(number_value(value))
                if isinstance(value, cst.Dict):
                    for item in value.elements:
                        key = string_value(item.key) if isinstance(item, cst.DictElement) else None
                        if key is not None:
                            self.entries.setdefault((name, key), set()).add(number_value(item.value))
                elif isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and not value.args:
                    self.instances.setdefault(name, set()).add(value.func.value)
            elif call_name(node) == "add_argument":
                dest = string_value(arg(node, None, "dest"))
                if dest is None:
                    options = [string_value(a.value) for a in node.args if a.keyword is None]
                    longs = [o for o in options if o and o.startswith("--")]
                    shorts = [o for o in options if o and o.startswith("-")]
                    chosen = longs[0] if longs else (shorts[0] if shorts else None)
                    dest = chosen.lstrip("-").replace("-", "_") if chosen else None
                if dest:
                    self.arguments.setdefault(dest, set()).add(number_value(arg(node, None, "default")))
        self.classes = classes

    @staticmethod
    def _unique(values: set[float | None] | None) -> float | None:
        if not values or len(values) != 1:
            return None
        return next(iter(values))

    def constant(self, name: str) -> float | None:
        return self._unique(self.constants.get(name))

    def argument(self, name: str) -> float | None:
        return self._unique(self.arguments.get(name))

    def config(self, expr: cst.BaseExpression) -> float | None:
        """``CFG.lr`` / ``cfg.lr`` (``cfg = CFG()``) / ``config["lr"]`` / ``self.config["lr"]`` read from a literal."""
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            owner, key = expr.value.value, expr.attr.value
            owners = {owner} if owner in self.classes else self.instances.get(owner, set())
            if len(owners) == 1:
                return self._unique(self.entries.get((next(iter(owners)), key)))
            return None
        if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name) and len(expr.slice) == 1:
            index = expr.slice[0].slice
            key = string_value(index.value) if isinstance(index, cst.Index) else None
            if key is not None and expr.value.value not in self.classes:
                return self._unique(self.entries.get((expr.value.value, key)))
        return None


def _opt_param_default(ctx, name: str) -> tuple[bool, float | None]:
    """Whether ``name`` is a parameter of the enclosing function, and its literal default."""
    function = ctx.function
    if function is None:
        return False, None
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name:
            return True, number_value(param.default)
    return False, None


class _OptRule(Rule):
    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._values: _OptValues | None = None

    @property
    def values(self) -> _OptValues:
        if self._values is None:
            self._values = _OptValues(self.ctx.module)
        return self._values


class AdamWeightDecay(_OptRule):
    """## What it does
    Flags `torch.optim.Adam` and `torch.optim.Adamax` constructed with a weight decay greater than
    zero: `weight_decay=5e-4`, the fifth positional argument, a parameter group
    `{"params": ..., "weight_decay": 1e-4}`, or a value that resolves to a positive number — a
    constant (`WD = 1e-4`), an entry of a config dict or class written in the file (`config["wd"]`,
    `CFG.weight_decay`), the default of the enclosing function's parameter (`weight_decay=1e-4`), or
    an argparse default read through `args.weight_decay`. Any import form resolves (`optim.Adam`,
    `from torch.optim import Adam`).

    Left alone: `weight_decay=0`, `AdamW`, `SGD` (where L2 and decay coincide), Adam with
    `decoupled_weight_decay=True`, values that cannot be resolved (`cfg.optim.wd` from a file), and
    optimisers of other libraries.

    ## Why is this bad?
    Adam's `weight_decay` adds `wd * w` to the gradient, which is then divided by the adaptive
    denominator: weights with large gradients are barely decayed, weights with small ones strongly.
    This coupled L2 regularises worse than true weight decay and interacts with the learning rate
    (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"). `AdamW` decays the weights
    directly, as intended.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```

    ## Fix safety
    Unsafe: the fix renames `Adam` to `AdamW` (`torch.optim.Adam` → `torch.optim.AdamW`, a bare
    `Adam` imported from `torch.optim` → `AdamW`, adding it to that import when missing). The
    arguments keep their meaning and position, but decoupled decay of the same strength regularises
    differently (AdamW is usually run with a larger `weight_decay`), so results change. `Adamax` has no
    decoupled variant in PyTorch and gets no fix.
    """

    code = "NN210"
    name = "adam-weight-decay"
    message = "Adam with weight_decay > 0 adds an L2 term that the adaptive rate rescales (weak, uneven decay); use AdamW for decoupled weight decay"
    requires = ("Adam",)
    fixable = True

    VALID = [
        # AdamW, SGD, Adam without decay.
        """
        import torch
        from torch import optim

        a = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        b = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        c = optim.Adam(model.parameters(), lr=1e-3)
        d = optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
        e = torch.optim.Adamax(model.parameters(), weight_decay=0.0)
        """,
        # Decoupled decay requested explicitly.
        """
        import torch

        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)
        """,
        # Values that cannot be resolved, or resolve to zero.
        """
        import argparse
        import torch

        parser = argparse.ArgumentParser()
        parser.add_argument("--weight-decay", type=float, default=0.0)
        args = parser.parse_args()
        opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        opt2 = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=cfg.optim.weight_decay)
        """,
        # Other libraries' Adam.
        """
        import bitsandbytes as bnb
        from apex.optimizers import FusedAdam

        a = bnb.optim.Adam8bit(model.parameters(), lr=1e-4, weight_decay=0.01)
        b = FusedAdam(model.parameters(), lr=1e-4, weight_decay=0.01)
        """,
        # Parameter groups without decay.
        """
        import torch

        groups = [{"params": decay, "weight_decay": 0.0}, {"params": no_decay, "weight_decay": 0.0}]
        opt = torch.optim.Adam([{"params": model.parameters(), "weight_decay": 0}], lr=1e-3)
        """,
        # A builder whose default is zero.
        """
        import torch

        def build_optimizer(model, lr=1e-3, weight_decay=0.0):
            return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        """,
        # A local class named Adam.
        """
        class Adam:
            def __init__(self, params, lr, weight_decay):
                self.params = params

        opt = Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        """,
        # Positional arguments without decay.
        """
        import torch

        opt = torch.optim.Adam(model.parameters(), 1e-3, (0.9, 0.999), 1e-8)
        """,
        # A config whose decay is zero.
        """
        import torch

        config = {"lr": 1e-3, "weight_decay": 0.0}
        opt = torch.optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
            """,
            line=4,
            message_contains="weight_decay=0.0001",
            fixed="""
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
            """,
        ),
        Invalid(
            """
            import torch.optim as optim

            def make(model):
                return optim.Adam(model.parameters(), lr=3e-4, weight_decay=5e-4)
            """,
            line=5,
            fixed="""
            import torch.optim as optim

            def make(model):
                return optim.AdamW(model.parameters(), lr=3e-4, weight_decay=5e-4)
            """,
        ),
        # A bare name: AdamW is added to the import.
        Invalid(
            """
            from torch.optim import Adam, SGD

            opt = Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
            """,
            line=4,
            fixed="""
            from torch.optim import Adam, AdamW, SGD

            opt = AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)
            """,
        ),
        # AdamW already imported.
        Invalid(
            """
            from torch.optim import Adam, AdamW

            opt = Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
            """,
            line=4,
            fixed="""
            from torch.optim import Adam, AdamW

            opt = AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)
            """,
        ),
        # Positional weight decay.
        Invalid(
            """
            import torch

            opt = torch.optim.Adam(params, 1e-3, (0.9, 0.999), 1e-8, 1e-4)
            """,
            line=4,
        ),
        # Adamax: reported, no fix.
        Invalid(
            """
            import torch

            opt = torch.optim.Adamax(model.parameters(), lr=2e-3, weight_decay=0.01)
            """,
            line=4,
            message_contains="Adamax",
        ),
        # A constant.
        Invalid(
            """
            import torch

            WEIGHT_DECAY = 1e-4

            def build(model):
                return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
            """,
            line=7,
        ),
        # An argparse default.
        Invalid(
            """
            import argparse
            import torch

            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=1e-3)
            parser.add_argument("--weight-decay", "--wd", type=float, default=5e-4)
            args = parser.parse_args()

            def main(model):
                optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
            """,
            line=11,
        ),
        # A builder's default.
        Invalid(
            """
            import torch

            def build_optimizer(model, lr=1e-3, weight_decay=1e-4):
                return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
            """,
            line=5,
        ),
        # A parameter group with decay.
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(
                [
                    {"params": model.backbone.parameters(), "weight_decay": 1e-4},
                    {"params": model.head.parameters(), "weight_decay": 0.0},
                ],
                lr=1e-3,
            )
            """,
            line=4,
        ),
        # A config class (Kaggle style).
        Invalid(
            """
            import torch

            class CFG:
                lr = 1e-3
                weight_decay = 1e-6

            def get_optimizer(model):
                return torch.optim.Adam(model.parameters(), lr=CFG.lr, weight_decay=CFG.weight_decay)
            """,
            line=9,
        ),
    ]
    VALID = [*VALID, *(case.fixed for case in INVALID if case.fixed is not None)]  # a second --fix changes nothing

    def visit_Call(self, node: cst.Call) -> None:
        kind = _opt_class(self.ctx, node) if call_name(node) in _OPT_L2 else None
        if kind not in _OPT_L2:
            return
        flag = arg(node, None, "decoupled_weight_decay")
        if flag is not None and not (isinstance(flag, cst.Name) and flag.value == "False"):
            return
        value = self._decay(arg(node, _OPT_L2[kind], "weight_decay"))
        if value is None or value <= 0:
            groups = self._group_decays(arg(node, 0, "params"))
            if not groups:
                return
            value = max(groups)
        shown = f"{value:g}"
        message = (
            f"{kind} with weight_decay={shown} adds an L2 term that the adaptive rate rescales (weak, uneven decay); "
            + ("use AdamW for decoupled weight decay" if kind == "Adam" else "use AdamW for decoupled weight decay, or drop it")
        )
        self.report(node, message, fix=self._fix(node) if kind == "Adam" else None)

    def _decay(self, expr: cst.BaseExpression | None) -> float | None:
        if expr is None:
            return None
        value = number_value(expr)
        if value is not None:
            return value
        if isinstance(expr, cst.Name):
            is_param, default = _opt_param_default(self.ctx, expr.value)
            if is_param:
                return default
            return self.values.constant(expr.value)
        configured = self.values.config(expr)
        if configured is not None:
            return configured
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, (cst.Name, cst.Attribute)):
            root = _last(dotted_name(expr.value))
            if root in ("args", "opt", "opts", "FLAGS", "flags", "hparams", "options", "cfg", "config", "hp"):
                return self.values.argument(expr.attr.value)
        return None

    def _group_decays(self, params: cst.BaseExpression | None) -> list[float]:
        out = []
        if isinstance(params, (cst.List, cst.Tuple)):
            for element in params.elements:
                if isinstance(element.value, cst.Dict):
                    for item in element.value.elements:
                        if isinstance(item, cst.DictElement) and string_value(item.key) == "weight_decay":
                            value = self._decay(item.value)
                            if value is not None and value > 0:
                                out.append(value)
        return out

    def _fix(self, call: cst.Call):
        func = call.func
        if isinstance(func, cst.Attribute):
            return self.fix("unsafe", (func.attr, "AdamW"), description="use AdamW")
        if not isinstance(func, cst.Name):
            return None
        aliases = self.ctx.imports.aliases
        if aliases.get("AdamW") == "torch.optim.AdamW":
            return self.fix("unsafe", (func, "AdamW"), description="use AdamW")
        if func.value != "Adam":
            return None
        alias = self._import_alias()
        if alias is None:
            return None
        return self.fix("unsafe", (alias, "Adam, AdamW"), (func, "AdamW"), description="use AdamW")

    def _import_alias(self) -> cst.ImportAlias | None:
        for stmt in self.ctx.module.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.ImportFrom) and not small.relative and dotted_name(small.module or cst.Name("_")) == "torch.optim":
                    if isinstance(small.names, cst.ImportStar):
                        return None
                    for alias in small.names:
                        if isinstance(alias.name, cst.Name) and alias.name.value == "Adam" and alias.asname is None:
                            return alias
        return None


class ExtremeLearningRate(_OptRule):
    """## What it does
    Flags a `torch.optim` optimiser built for a model's parameters with a learning rate written as a
    literal — directly, or through a constant bound once to one (`LR = 0.5`) or an entry of a config
    dict or class written in the file (`config["lr"]`, `CFG.lr`) — far outside any sane range for
    that optimiser:

    - Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam: `lr >= 0.1`;
    - RMSprop, Adagrad: `lr >= 1`;
    - SGD, ASGD: `lr >= 25` (20 with clipping is the word-language-model recipe);
    - any of them, and the others: `0 < lr <= 1e-7`.

    The learning rate is read from `lr=` or the second positional argument, and from the parameter
    groups (`[{"params": ..., "lr": 0.5}]`). The parameters must be a model's: `model.parameters()`,
    `filter(..., model.parameters())`, parameter groups, or a variable holding them.

    Left alone: optimisers over a few tensors (`Adam([latent], lr=0.1)`: optimising inputs or latents
    at high rates is normal), `lr=0`, values read from command-line arguments (`args.lr`: one default
    often serves several optimisers) or from function parameters, `Adadelta` and `LBFGS`
    (whose default is 1), and modules where something else sets the rate: `LambdaLR` (the Annotated
    Transformer's `Adam(lr=1.0)` with a Noam factor), `OneCycleLR`/`CyclicLR`, learning-rate finders,
    or code writing `param_group["lr"]`.

    ## Why is this bad?
    Adam's step size is roughly the learning rate itself: at 0.1 every weight moves by about 0.1 per
    step and training diverges or collapses to a constant. SGD beyond 10 explodes at once; a rate of
    1e-8 does nothing for millions of steps. These values are nearly always typos (`1e-1` for
    `1e-4`) or a rate tuned for another optimiser.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ```
    """

    code = "NN211"
    name = "extreme-learning-rate"
    message = "learning rate far outside the sane range for this optimizer (training diverges or never moves); check the value"
    requires = ("optim", ("Adam", "SGD", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "ASGD"))

    VALID = [
        # Ordinary rates.
        """
        import torch
        from torch import optim

        a = optim.Adam(model.parameters(), lr=1e-3)
        b = optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
        c = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        d = optim.SGD(model.parameters(), 1.0)
        e = optim.RMSprop(model.parameters(), lr=0.01)
        f = optim.Adagrad(model.parameters(), lr=0.1)
        g = optim.Adam(model.parameters(), lr=0.05)
        h = optim.AdamW(model.parameters(), lr=1e-6)
        """,
        # SGD at 20 with clipping: the word-language-model recipe.
        """
        import torch

        optimizer = torch.optim.SGD(model.parameters(), lr=20.0)
        """,
        # Optimising inputs or latents, not a model.
        """
        import torch

        z = torch.randn(1, 512, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        img_opt = torch.optim.Adam([input_img.requires_grad_()], lr=0.5)
        """,
        # The Annotated Transformer: lr=1.0 times a Noam factor from LambdaLR.
        """
        import torch
        from torch.optim.lr_scheduler import LambdaLR

        optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
        lr_scheduler = LambdaLR(optimizer=optimizer, lr_lambda=lambda step: rate(step, 512, 1.0, 4000))
        """,
        # OneCycleLR sets the rate; a learning-rate finder starts tiny.
        """
        import torch
        from torch_lr_finder import LRFinder

        optimizer = torch.optim.Adam(model.parameters(), lr=1e-7, weight_decay=1e-2)
        lr_finder = LRFinder(model, optimizer, criterion, device="cuda")
        lr_finder.range_test(trainloader, end_lr=100, num_iter=100)
        """,
        # Rates from arguments and parameters.
        """
        import torch

        def build(model, lr=0.1):
            return torch.optim.Adam(model.parameters(), lr=lr)

        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        opt2 = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        """,
        # A placeholder rate of zero; optimisers whose default is 1.
        """
        import torch

        a = torch.optim.Adam(model.parameters(), lr=0)
        b = torch.optim.Adadelta(model.parameters(), lr=1.0)
        c = torch.optim.LBFGS(model.parameters(), lr=1)
        """,
        # Other libraries.
        """
        import torch
        from lion_pytorch import Lion
        from timm.optim import Lars

        a = Lion(model.parameters(), lr=0.5)
        b = Lars(model.parameters(), lr=5.0)
        """,
        # Parameter groups at sane rates.
        """
        import torch

        params = [
            {"params": model.backbone.parameters(), "lr": 1e-5},
            {"params": model.head.parameters(), "lr": 1e-3},
        ]
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        """,
        # A warm-up that writes the rate by hand.
        """
        import torch

        optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
        for step, batch in enumerate(loader):
            for group in optimizer.param_groups:
                group["lr"] = base_lr * min(1.0, step / warmup)
        """,
        # Config entries at sane rates; a config class for SGD.
        """
        import torch

        class CFG:
            lr = 0.1

        config = {"lr": 3e-4}
        a = torch.optim.Adam(model.parameters(), lr=config["lr"])
        b = torch.optim.SGD(model.parameters(), lr=CFG.lr, momentum=0.9)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
            """,
            line=4,
            message_contains="learning rate 0.1 for Adam",
        ),
        # Positional.
        Invalid(
            """
            import torch.optim as optim

            optimizer = optim.AdamW(net.parameters(), 1.0)
            """,
            line=4,
        ),
        # SGD far too high.
        Invalid(
            """
            from torch.optim import SGD

            optimizer = SGD(model.parameters(), lr=100, momentum=0.9)
            """,
            line=4,
        ),
        # Far too low.
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)
            sgd = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
            """,
            count=2,
            message_contains="never move",
        ),
        # RMSprop.
        Invalid(
            """
            import torch

            optimizer = torch.optim.RMSprop(policy.parameters(), lr=5)
            """,
            line=4,
        ),
        # A constant.
        Invalid(
            """
            import torch

            LR = 0.5

            def build(model):
                return torch.optim.Adam(model.parameters(), lr=LR)
            """,
            line=7,
        ),
        # A parameter group.
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(
                [
                    {"params": model.backbone.parameters(), "lr": 1e-5},
                    {"params": model.head.parameters(), "lr": 0.5},
                ],
                lr=1e-4,
            )
            """,
            line=4,
        ),
        # Filtered parameters.
        Invalid(
            """
            import torch

            optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, model.parameters()), lr=0.2)
            """,
            line=4,
        ),
        # Parameters through a variable.
        Invalid(
            """
            import torch

            def setup(model):
                params = [p for p in model.parameters() if p.requires_grad]
                return torch.optim.NAdam(params, lr=0.3)
            """,
            line=6,
        ),
        # A config dict.
        Invalid(
            """
            import torch

            config = {"epochs": 10, "lr": 0.5, "batch_size": 64}
            optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"])
            """,
            line=5,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if call_name(node) not in _OPT_HIGH and call_name(node) not in ("Adadelta", "LBFGS", "Rprop"):
            return
        kind = _opt_class(self.ctx, node)
        if kind is None or (kind not in _OPT_HIGH and kind not in ("Adadelta", "LBFGS", "Rprop")):
            return
        params = arg(node, 0, "params")
        if not self._model_params(params):
            return
        values = [self._lr(arg(node, 1, "lr"))]
        if isinstance(params, (cst.List, cst.Tuple)):
            for element in params.elements:
                if isinstance(element.value, cst.Dict):
                    for item in element.value.elements:
                        if isinstance(item, cst.DictElement) and string_value(item.key) == "lr":
                            values.append(self._lr(item.value))
        for value in values:
            if value is None or value <= 0:
                continue
            high = _OPT_HIGH.get(kind)
            if high is not None and value >= high:
                self._report(node, kind, value, f"far above the usual range for {kind} (diverges at >= {high:g})")
                return
            if value <= _OPT_LOW:
                self._report(node, kind, value, "so small that the weights never move")
                return

    def _report(self, node: cst.Call, kind: str, value: float, why: str) -> None:
        if any(word in self.ctx.source for word in _OPT_LR_OVERRIDES):
            return
        self.report(node, f"learning rate {value:g} for {kind} is {why}; check the value")

    def _lr(self, expr: cst.BaseExpression | None) -> float | None:
        value = number_value(expr)
        if value is not None:
            return value
        if isinstance(expr, cst.Name):
            is_param, _ = _opt_param_default(self.ctx, expr.value)
            if is_param:
                return None
            return self.values.constant(expr.value)
        if isinstance(expr, (cst.Attribute, cst.Subscript)):
            return self.values.config(expr)
        return None

    def _model_params(self, params: cst.BaseExpression | None, depth: int = 0) -> bool:
        if params is None:
            return False
        for node in expr_nodes(params):
            if isinstance(node, cst.Call) and call_name(node) in ("parameters", "named_parameters"):
                return True
        if isinstance(params, cst.Name) and depth == 0:
            if params.value in _OPT_PARAM_NAMES:
                bound = self._bound_in_function(params.value)
                return bound is None or self._model_params(bound, 1)
            bound = self._bound_in_function(params.value)
            return bound is not None and self._model_params(bound, 1)
        return False

    def _bound_in_function(self, name: str) -> cst.BaseExpression | None:
        scope = self.ctx.function or self.ctx.module
        for node in walk_nodes(scope, cst.Assign):
            if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) and node.targets[0].target.value == name:
                return node.value
        return None
