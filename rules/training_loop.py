"""Rules: training_loop (NN2xx): the optimisation loop — the loss, backward(), the optimiser and its schedule.

Helpers are grouped per rule and prefixed with the rule's theme: ``_loss_*``/``_Loss*`` for NN201,
``_sched_*``/``_Sched*``/``_epoch_*`` for NN202. The few shared ones (``_tokens``, ``_last``,
``_expr_nodes``, ``_block_body``) come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import libcst as cst

from nnlint.astutil import arg, call_name, dotted_name, int_value, number_value, string_value
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


_NESTED_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _expr_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Nodes under ``root`` in source order, not entering nested functions, classes or lambdas."""
    pending = [root]
    while pending:
        node = pending.pop()
        yield node
        if node is not root and isinstance(node, _NESTED_SCOPES):
            continue
        pending.extend(reversed(children(node)))


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
        calls = [n for n in _expr_nodes(expr) if isinstance(n, cst.Call)]
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
    for node in _expr_nodes(klass.body):
        if isinstance(node, cst.FunctionDef):
            for inner in _expr_nodes(node.body):
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
    for node in _expr_nodes(expr):
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
    for node in _expr_nodes(stmt):
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
            self._own[key] = [n for n in _expr_nodes(root) if n is root or not isinstance(n, (cst.FunctionDef, cst.ClassDef))]
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
                isinstance(n, cst.For) and n is not loop and _sched_is_batch_loop(n) for n in _expr_nodes(loop.body)
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
