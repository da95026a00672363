"""Rules: architecture."""

from __future__ import annotations

import functools
import re
from collections import Counter

import libcst as cst

from nnlint.astutil import arg, dotted_name, number_value, statements, string_value, walk_nodes, with_arg
from nnlint.rule import Invalid, Rule
from nnlint.walker import children

# ---------------------------------------------------------------------------------------------
# NN301 dropout-before-batchnorm: layer vocabulary and a tiny "what reaches what" model of layers
# ---------------------------------------------------------------------------------------------

_DROPOUT_CLASSES = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
)
_DROPOUT_FUNCTIONS = frozenset(
    {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
)
_BATCHNORM_CLASS_RE = re.compile(r"(Lazy)?(Sync)?BatchNorm(Act)?([123]d)?")
_BATCHNORM_FUNCTIONS = frozenset({"batch_norm"})
# Modules that hand their input on without mixing it with other units or weights: a dropout's
# variance shift goes through them unchanged (ReLU even commutes with dropout exactly).
_PASSTHROUGH_CLASSES = frozenset(
    {
        "Identity", "Flatten", "Unflatten", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU",
        "CELU", "SELU", "GELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid", "Hardtanh", "Tanh",
        "Sigmoid", "Softplus", "Softsign", "LogSigmoid", "Tanhshrink", "Threshold",
    }
)
_PASSTHROUGH_FUNCTIONS = frozenset(
    {
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
        "silu", "mish", "hardswish", "hardsigmoid", "hardtanh", "tanh", "sigmoid", "softplus",
        "softsign", "logsigmoid", "flatten", "reshape", "transpose", "permute", "squeeze", "unsqueeze",
    }
)
# Tensor methods that keep the values of the receiver (data layout or elementwise activation).
_PASSTHROUGH_METHODS = frozenset(
    {
        "view", "reshape", "flatten", "transpose", "permute", "contiguous", "squeeze", "unsqueeze",
        "relu", "relu_", "sigmoid", "tanh", "float", "half", "bfloat16", "to", "type_as", "cuda",
        "clone", "mT", "unflatten", "movedim",
    }
)
_MODULE_METHODS = frozenset({"to", "cuda", "cpu", "float", "half", "train", "eval", "requires_grad_"})


class _Tag:
    """A dropout or a batch norm in the code: where it is, how to name it, the branches it sits in."""

    __slots__ = ("conds", "label", "leaf", "node", "whole")

    def __init__(self, node: cst.CSTNode, label: str, conds: frozenset, whole: bool = True, leaf: str = "") -> None:
        self.node = node
        self.label = label  # how the code names it where it is used (``self.drop``, ``nn.Dropout``)
        self.conds = conds
        self.whole = whole  # the tag names the whole module (a single layer), not a part of it
        self.leaf = leaf  # the layer class or function itself (``nn.Dropout``)


class _Chain:
    """What a module (or a list of layers run in order) does to a dropout's output.

    ``head``: batch norms its input reaches through pass-through layers only; ``passes``: its input can
    reach its output through pass-through layers and dropouts only; ``tail``: dropouts whose output can
    reach its output through pass-through layers only. May-semantics: branches are joined.
    """

    __slots__ = ("deferred", "elem", "head", "passes", "single", "tail", "unordered")

    def __init__(
        self,
        head: frozenset = frozenset(),
        passes: bool = False,
        tail: frozenset = frozenset(),
        single: bool = False,
        deferred: tuple = (),
        unordered: bool = False,
    ) -> None:
        self.head = head
        self.passes = passes
        self.tail = tail
        self.single = single  # one layer (``nn.Dropout(p)``), not a container of several
        # An ``nn.ModuleList`` need not run in order: its (dropout, batch norm) pairs wait in ``deferred``
        # until the code runs it in order (``for layer in self.layers: x = layer(x)``, ``Sequential(*list)``).
        self.unordered = unordered
        self.deferred = deferred
        self.elem: _Chain | None = None  # for a list of layers: any one of them (``self.bns[i]``)


_OTHER = _Chain()
_PASSTHROUGH = _Chain(passes=True)


class _Factory:
    """A layer class (or ``partial`` of one) held in a name: calling it builds ``kind``'s layer."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind  # 'dropout' | 'bn' | 'pass' | 'other'


def _join(a: object, b: object) -> object:
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, _Chain) and isinstance(b, _Chain):
        joined = _Chain(
            a.head | b.head,
            a.passes or b.passes,
            a.tail | b.tail,
            a.single or b.single,
            a.deferred + b.deferred,
            a.unordered or b.unordered,
        )
        joined.elem = _join_elems(a.elem, b.elem)
        return joined
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a | b
    if isinstance(a, _Factory) and isinstance(b, _Factory):
        if a.kind == b.kind:
            return a
        for kind in ("bn", "dropout", "pass"):
            if kind in (a.kind, b.kind):
                return _Factory(kind)
    return None


def _join_elems(a: _Chain | None, b: _Chain | None) -> _Chain | None:
    if a is None or b is None:
        return a if b is None else b
    return _join(a, b)  # type: ignore[return-value]


def _with_elem(chain: _Chain, elem: _Chain | None) -> _Chain:
    if chain is _OTHER or chain is _PASSTHROUGH:
        chain = _Chain(chain.head, chain.passes, chain.tail, chain.single, chain.deferred, chain.unordered)
    chain.elem = elem
    return chain


_PROBE = "<probe>"


def _augment(value: object, items: frozenset) -> object:
    """``value`` as seen after a branch taken under ``items``: its tags carry those conditions."""
    if not items:
        return value

    def tags(ts: frozenset) -> frozenset:
        return frozenset(t if t.leaf == _PROBE else _Tag(t.node, t.label, t.conds | items, t.whole, t.leaf) for t in ts)

    if isinstance(value, _Chain):
        out = _Chain(tags(value.head), value.passes, tags(value.tail), value.single, value.deferred, value.unordered)
        out.elem = value.elem
        return out
    if isinstance(value, frozenset):
        return tags(value)
    return value


def _merge_envs(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _join(out.get(key), value) if key in out else value
    return out


@functools.lru_cache(maxsize=4096)
def _nn_kind(qual: str | None) -> str | None:
    """The layer kind a resolved class name builds: 'dropout', 'bn', 'pass', 'seq', 'list', else None."""
    if not qual:
        return None
    module, _, last = qual.rpartition(".")
    if last in _DROPOUT_CLASSES:
        return "dropout"
    if _BATCHNORM_CLASS_RE.fullmatch(last) and "Frozen" not in qual:
        return "bn"
    if last == "BatchNorm" and module.endswith(".nn"):  # torch_geometric.nn.BatchNorm and the like
        return "bn"
    if not module.startswith("torch"):
        return None
    if last in _PASSTHROUGH_CLASSES:
        return "pass"
    if last == "Sequential":
        return "seq"
    if last == "ModuleList":
        return "list"
    return None


@functools.lru_cache(maxsize=4096)
def _functional_kind(qual: str | None) -> str | None:
    """'dropout' / 'bn' / 'pass' for ``F.dropout``, ``torch.batch_norm``, ``F.relu``, ``torch.flatten``."""
    if not qual or not qual.startswith("torch"):
        return None
    module, _, last = qual.rpartition(".")
    if module not in ("torch", "torch.nn.functional"):
        return None
    if last in _DROPOUT_FUNCTIONS:
        return "dropout"
    if last in _BATCHNORM_FUNCTIONS:
        return "bn"
    if last in _PASSTHROUGH_FUNCTIONS:
        return "pass"
    return None


def _is_zero(node: cst.BaseExpression | None) -> bool:
    value = number_value(node)
    return value is not None and value == 0.0


def _cond_items(test: cst.BaseExpression, polarity: bool) -> frozenset:
    """Branch-condition items for a test taken with ``polarity`` (nodes; compared by text only on a hit)."""
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, polarity = test.expression, not polarity
    items = {("t", test, polarity)}
    if (
        polarity
        and isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.Equal)
        and isinstance(test.comparisons[0].comparator, (cst.SimpleString, cst.Integer))
    ):
        items.add(("eq", test.left, test.comparisons[0].comparator))
    return frozenset(items)


_LEAF_EXPRESSIONS = frozenset(
    {cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis, cst.FormattedString, cst.ConcatenatedString}
)
_OPAQUE = frozenset({cst.Lambda, cst.FunctionDef, cst.ClassDef})
_SKIPPED_STATEMENTS = frozenset({cst.Import, cst.ImportFrom, cst.Pass, cst.Global, cst.Nonlocal})
_EXPRESSION_TYPES: dict[type, bool] = {}


def _is_expression(node_type: type) -> bool:
    known = _EXPRESSION_TYPES.get(node_type)
    if known is None:
        known = _EXPRESSION_TYPES[node_type] = issubclass(node_type, cst.BaseExpression)
    return known


class _DropoutBnAnalysis:
    """Per-file analysis for NN301: layer chains (Sequential, lists of layers) and forward() data flow."""

    def __init__(self, rule: Rule, module: cst.Module) -> None:
        self.rule = rule
        self.ctx = rule.ctx
        self.module = module
        self.hits: dict[int, tuple[_Tag, _Tag]] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.class_infos: dict[int, tuple[dict, object] | None] = {}
        self.function_returns: dict[object, object] = {}
        self.methods_of: dict[int, cst.ClassDef] = {}
        self.module_aliases: dict[str, object] = {}
        self.texts: dict[int, str] = {}
        self._dotted: dict[int, str | None] = {}
        self._qualnames: dict[int, str | None] = {}
        self.all_classes: list[cst.ClassDef] = []
        self.all_functions: list[cst.FunctionDef] = []

    # ---- driving -------------------------------------------------------------------------
    def run(self) -> None:
        all_classes = self.all_classes
        for cls in all_classes:
            self.classes[cls.name.value] = cls
            for stmt in cls.body.body:
                if isinstance(stmt, cst.FunctionDef):
                    self.methods_of[id(stmt)] = cls
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
        top = _Flow(self, {}, None)
        top.block(self._module_statements())
        self.module_aliases = {k: v for k, v in top.env.items() if isinstance(v, _Factory)}
        for cls in all_classes:
            self.class_info(cls)
        for fn in self.all_functions:
            if id(fn) not in self.methods_of:
                self.function_return(fn)

    def _module_statements(self) -> list:
        out = []
        for stmt in statements(self.module):
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            out.append(stmt)
        return out

    def hit(self, dropout: _Tag, bn: _Tag) -> None:
        if id(bn.node) in self.hits or self.exclusive(dropout.conds, bn.conds):
            return
        self.hits[id(bn.node)] = (dropout, bn)

    def dotted(self, node: cst.BaseExpression) -> str | None:
        key = id(node)
        if key not in self._dotted:
            self._dotted[key] = dotted_name(node)
        return self._dotted[key]

    def qualname(self, node: cst.BaseExpression) -> str | None:
        """``ctx.qualname`` cached per node, with ``from torch.nn import *`` names resolved."""
        key = id(node)
        if key in self._qualnames:
            return self._qualnames[key]
        qual = self.ctx.qualname(node)
        if qual is None and type(node) is cst.Name and "torch.nn" in self.ctx.imports.star_modules:
            candidate = f"torch.nn.{node.value}"
            if _nn_kind(candidate):
                qual = candidate
        self._qualnames[key] = qual
        return qual

    def text(self, node: cst.CSTNode) -> str:
        key = id(node)
        if key not in self.texts:
            self.texts[key] = self.ctx.code(node)
        return self.texts[key]

    def exclusive(self, a: frozenset, b: frozenset) -> bool:
        """Whether two branch-condition sets cannot hold together (``if x:`` vs ``else``, ``k == 'a'`` vs ``'b'``)."""
        if not a or not b:
            return False
        for item in a:
            for other in b:
                if item[0] != other[0]:
                    continue
                if item[0] == "t":
                    if item[2] != other[2] and (item[1] is other[1] or self.text(item[1]) == self.text(other[1])):
                        return True
                elif self.text(item[1]) == self.text(other[1]) and self.text(item[2]) != self.text(other[2]):
                    return True
        return False

    def report(self) -> None:
        for dropout, bn in self.hits.values():
            self.rule.report(
                bn.node,
                f"{dropout.label} feeds {bn.label} directly: the batch norm learns its running variance "
                "under dropout, which no longer holds at evaluation; put the dropout after the batch norm",
            )

    # ---- functions and classes as layer builders -------------------------------------------
    def function_return(self, fn: cst.FunctionDef, klass_attrs: dict | None = None) -> object:
        """Analyse a function (reporting what it holds) and return the join of what it returns."""
        key = id(fn)
        if key in self.function_returns:
            return self.function_returns[key]
        self.function_returns[key] = None  # recursion guard
        flow = _Flow(self, klass_attrs if klass_attrs is not None else {}, None)
        flow.params(fn)
        flow.block(statements(fn.body))
        result = flow.returned
        self.function_returns[key] = result
        return result

    def class_info(self, cls: cst.ClassDef) -> tuple[dict, object] | None:
        """(attributes -> layer values, the class's chain as a layer) for a class of this file."""
        key = id(cls)
        if key in self.class_infos:
            return self.class_infos[key]
        self.class_infos[key] = None  # recursion guard
        attrs: dict = {}
        is_seq = False
        for base in cls.bases:
            qual = self.ctx.qualname(base.value)
            if _nn_kind(qual) == "seq":
                is_seq = True
            name = dotted_name(base.value)
            if name in self.classes and self.classes[name] is not cls:
                info = self.class_info(self.classes[name])
                if info is not None:
                    attrs.update(info[0])
        methods = [s for s in cls.body.body if isinstance(s, cst.FunctionDef)]
        methods.sort(key=lambda m: m.name.value != "__init__")
        after_init: dict | None = None
        for method in methods:
            if after_init is None and method.name.value != "__init__":
                after_init = dict(attrs)
            flow = _Flow(self, attrs, cls)
            flow.params(method)
            if is_seq and method.name.value == "__init__":
                flow.env["self"] = _PASSTHROUGH
            flow.block(statements(method.body))
            for name, value in flow.env.items():
                if name.startswith("self.") and isinstance(value, (_Chain, _Factory)):
                    attrs[name] = value  # what the method left there, appends included
            if is_seq and method.name.value == "__init__" and isinstance(flow.env.get("self"), _Chain):
                attrs["self"] = flow.env["self"]
        # Second pass over the other methods if one of them set a layer attribute the others may use.
        changed = after_init is not None and (
            after_init.keys() != attrs.keys() or any(attrs[k] is not v for k, v in after_init.items())
        )
        for method in methods if changed else ():
            if method.name.value != "__init__":
                flow = _Flow(self, attrs, cls)
                flow.params(method)
                flow.block(statements(method.body))
        summary: object = attrs.get("self") if is_seq else None
        forward = next((m for m in methods if m.name.value == "forward"), None)
        if not is_seq and forward is not None:
            summary = self.method_summary(forward, attrs, cls)
        info = (attrs, summary)
        self.class_infos[key] = info
        return info

    def method_summary(self, forward: cst.FunctionDef, attrs: dict, cls: cst.ClassDef) -> _Chain | None:
        """A method that takes a tensor as a layer: what its first argument meets on the way out."""
        key = ("summary", id(forward))
        if key in self.function_returns:
            return self.function_returns[key]
        self.function_returns[key] = None  # recursion guard
        params = [p for p in forward.params.params]
        if len(params) < 2:
            return None
        flow = _Flow(self, attrs, cls)
        flow.params(forward)
        flow.env[params[1].name.value] = frozenset({_Tag(forward, "the input", frozenset(), True, _PROBE)})
        flow.block(statements(forward.body))
        out = flow.returned if isinstance(flow.returned, frozenset) else frozenset()
        passes = any(t.leaf == _PROBE for t in out)
        summary = _Chain(frozenset(flow.probe_heads), passes, frozenset(t for t in out if t.leaf != _PROBE))
        self.function_returns[key] = summary
        return summary


class _Flow:
    """Abstract interpretation of one function body (or the module's statements), in source order."""

    def __init__(self, analysis: _DropoutBnAnalysis, attrs: dict, klass: cst.ClassDef | None) -> None:
        self.a = analysis
        self.ctx = analysis.ctx
        self.attrs = attrs
        self.klass = klass
        self.env: dict = {}
        self.conds: frozenset = frozenset()
        self.returned: object = None
        self.probe_heads: list[_Tag] = []  # batch norms the forward() input reaches (class summaries)
        self.dead = False  # after return/raise: the rest of the block does not run
        self.defer: list | None = None  # collecting the pairs of an nn.ModuleList under construction

    # ---- helpers ---------------------------------------------------------------------------
    def params(self, fn: cst.FunctionDef) -> None:
        p = fn.params
        for param in [*p.posonly_params, *p.params, *p.kwonly_params]:
            if param.default is not None:
                value = self.value(param.default)
                if isinstance(value, _Factory):
                    self.env[param.name.value] = value

    def tag(self, node: cst.CSTNode, label: str, whole: bool = True) -> _Tag:
        return _Tag(node, label, self.conds, whole)

    def hit(self, dropout: _Tag, bn: _Tag) -> None:
        if dropout.leaf == _PROBE:
            self.probe_heads.append(bn)
            return
        self.a.hit(dropout, bn)

    def flush(self, chain: _Chain) -> None:
        """The code runs an ``nn.ModuleList`` in order: its waiting pairs are real."""
        for d, bn in chain.deferred:
            self.hit(d, bn)

    def compose(self, a: _Chain, b: _Chain) -> _Chain:
        unordered = a.unordered or self.defer is not None
        deferred = list(a.deferred) if unordered else []
        if not unordered:
            self.flush(a)
        if b.unordered and not unordered:
            self.flush(b)  # ``Sequential(*module_list)``
        else:
            deferred.extend(b.deferred)
        for d in a.tail:
            for bn in b.head:
                if unordered:
                    deferred.append((d, bn))
                else:
                    self.hit(d, bn)
        return _Chain(
            a.head | (b.head if a.passes else frozenset()),
            a.passes and b.passes,
            b.tail | (a.tail if b.passes else frozenset()),
            deferred=tuple(deferred),
            unordered=unordered,
        )

    def repeat(self, chain: _Chain) -> _Chain:
        """A block run one or more times in a row (loops, comprehensions)."""
        return self.compose(chain, chain)

    def lookup(self, name: str) -> object:
        if name in self.env:
            return self.env[name]
        if name.startswith("self.") and name in self.attrs:
            return self.attrs[name]
        if name in self.a.module_aliases:
            return self.a.module_aliases[name]
        return None

    def leaf(self, kind: str, node: cst.CSTNode, label: str) -> _Chain:
        if kind == "dropout":
            return _Chain(passes=True, tail=frozenset({self.tag(node, label)}), single=True)
        if kind == "bn":
            return _Chain(head=frozenset({self.tag(node, label)}), single=True)
        if kind == "pass":
            return _PASSTHROUGH
        return _OTHER

    def instantiate(self, chain: _Chain, node: cst.CSTNode, label: str, composite: bool = False) -> _Chain:
        """``chain`` seen from a use site: its dropouts and batch norms renamed after ``label`` at ``node``."""

        def rename(tags: frozenset, word: str) -> frozenset:
            out = set()
            for t in tags:
                leaf = t.leaf or t.label
                whole = t.whole and chain.single and not composite
                if whole:
                    text = label if leaf == label else f"{label} ({leaf})"
                else:
                    text = f"the {leaf} at the {word} of {label}"
                out.add(_Tag(node, text, self.conds | t.conds, whole, leaf))
            return frozenset(out)

        return _Chain(rename(chain.head, "start"), chain.passes, rename(chain.tail, "end"), chain.single and not composite)

    def as_chain(self, value: object) -> _Chain:
        return value if isinstance(value, _Chain) else _OTHER

    @staticmethod
    def as_data(value: object) -> frozenset:
        return value if isinstance(value, frozenset) else frozenset()

    # ---- expressions ---------------------------------------------------------------------------
    def value(self, node: cst.BaseExpression) -> object:  # noqa: C901 - one dispatch over node types
        kind = type(node)  # exact types: isinstance on libcst's abstract bases is slow
        if kind is cst.Name:
            found = self.lookup(node.value)
            if found is not None:
                return found
            return self.class_ref(node)
        if kind is cst.Attribute:
            name = self.a.dotted(node)
            if name is not None:
                found = self.lookup(name)
                if found is not None:
                    return found
                return self.class_ref(node)
            self.value(node.value)
            return None
        if kind is cst.Call:
            return self.call(node)
        if kind in _LEAF_EXPRESSIONS:
            return None
        if kind is cst.List:
            chain: _Chain = _PASSTHROUGH
            elem: _Chain | None = None
            for element in node.elements:
                item = self.as_chain(self.value(element.value))
                chain = self.compose(chain, item)
                if type(element) is cst.Element:
                    elem = _join_elems(elem, item)
                else:
                    elem = _join_elems(elem, item.elem)
            return _with_elem(chain, elem)
        if kind is cst.ListComp or kind is cst.GeneratorExp:
            for comp in walk_nodes(node.for_in, cst.CompFor):
                self.value(comp.iter)
            item = self.value(node.elt)
            return _with_elem(self.repeat(item), item) if isinstance(item, _Chain) else None
        if kind is cst.IfExp:
            self.value(node.test)
            body = _augment(self.value(node.body), _cond_items(node.test, True))
            orelse = _augment(self.value(node.orelse), _cond_items(node.test, False))
            return _join(body, orelse)
        if kind is cst.BooleanOperation:
            return _join(self.value(node.left), self.value(node.right))
        if kind is cst.BinaryOperation:
            left = self.value(node.left)
            right = self.value(node.right)
            if isinstance(left, _Chain) and type(node.operator) is cst.Add:
                right = self.as_chain(right)
                return _with_elem(self.compose(left, right), _join_elems(left.elem, right.elem))
            if isinstance(left, _Chain) and type(node.operator) is cst.Multiply and type(node.left) is cst.List:
                return self.repeat(left)
            return None  # data arithmetic (a residual add) ends the chain
        if kind is cst.Subscript:
            container = self.value(node.value)
            for element in node.slice:
                self.scan(element)
            if isinstance(container, _Chain) and container.elem is not None and type(node.slice[0].slice) is cst.Index:
                return container.elem  # ``self.bns[i]``: one of the layers
            return None
        if kind is cst.NamedExpr:
            result = self.value(node.value)
            name = dotted_name(node.target)
            if name:
                self.env[name] = result
            return result
        self.scan(node)
        return None

    def scan(self, node: cst.CSTNode) -> None:
        """Evaluate every expression inside ``node`` for the hits it holds."""
        if type(node) in _OPAQUE:
            return
        for child in children(node):
            if _is_expression(type(child)):
                self.value(child)
            else:
                self.scan(child)

    def class_ref(self, node: cst.BaseExpression) -> _Factory | None:
        kind = _nn_kind(self.a.qualname(node))
        if kind in ("dropout", "bn", "pass"):
            return _Factory(kind)
        return None

    def call(self, node: cst.Call) -> object:  # noqa: C901
        func = node.func
        callee_text = self.a.dotted(func)
        qual = self.a.qualname(func) if callee_text else None
        label = callee_text or "a layer"

        # A local module or factory called: ``self.drop(x)``, ``drop(x)``, ``norm_layer(c)``, ``self.bns[i](x)``.
        if callee_text:
            target = self.lookup(callee_text)
        elif type(func) is cst.Subscript:
            target = self.value(func)
            label = f"{self.a.dotted(func.value) or 'a layer'}[...]"
        else:
            target = None
        if isinstance(target, _Factory):
            self.scan_args(node)
            if target.kind == "dropout" and _is_zero(arg(node, 0, "p")):
                return _PASSTHROUGH
            return self.leaf(target.kind, node, label)
        if isinstance(target, _Chain):
            return self.apply(target, node, label)

        kind = _nn_kind(qual)
        if kind is not None:
            if kind == "seq":
                return self.sequential(node)
            if kind == "list":
                first = arg(node, 0, "modules")
                saved, self.defer = self.defer, []
                chain = self.as_chain(self.value(first)) if first is not None else _PASSTHROUGH
                self.defer = saved
                return _with_elem(
                    _Chain(chain.head, chain.passes, chain.tail, False, chain.deferred, unordered=True), chain.elem
                )
            self.scan_args(node)
            if kind == "dropout" and _is_zero(arg(node, 0, "p")):
                return _PASSTHROUGH
            return self.leaf(kind, node, label)

        fkind = _functional_kind(qual)
        if fkind is not None:
            data = self.as_data(self.value(node.args[0].value)) if node.args else frozenset()
            for a in node.args[1:]:
                self.value(a.value)
            if fkind == "dropout":
                p = arg(node, 1, "p")
                training = arg(node, 2, "training")
                if _is_zero(p) or (isinstance(training, cst.Name) and training.value == "False"):
                    return data
                return data | {self.tag(node, label)}
            if fkind == "bn":
                bn = self.tag(node, label)
                for d in data:
                    self.hit(d, bn)
                return frozenset()
            return data

        if qual and qual.rpartition(".")[2] == "partial" and node.args:
            ref = self.value(node.args[0].value)
            self.scan_args(node, skip_first=True)
            return ref if isinstance(ref, _Factory) else None

        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _PASSTHROUGH_METHODS or method in _MODULE_METHODS:
                receiver = self.value(func.value)
                self.scan_args(node)
                if isinstance(receiver, frozenset) and method in _PASSTHROUGH_METHODS:
                    return receiver
                if isinstance(receiver, _Chain) and method in _MODULE_METHODS:
                    return receiver
                return None
            if isinstance(func.value, cst.Call) and method == "__init__":
                self.scan_args(node)
                return None
            # ``self._make_layer(...)``: a method of this class that builds layers.
            if callee_text and callee_text.startswith("self.") and callee_text.count(".") == 1 and self.klass:
                helper = self.method(method)
                if helper is not None:
                    result = self.a.function_return(helper, self.attrs)
                    if isinstance(result, _Chain):
                        self.scan_args(node)
                        return self.instantiate(result, node, label, composite=True)
                    summary = self.a.method_summary(helper, self.attrs, self.klass)
                    if summary is not None:
                        return self.apply(summary, node, label, composite=True)
                self.scan_args(node)
                return None
            self.value(func.value)
        elif isinstance(func, cst.Name):
            name = func.value
            if name in self.a.classes and qual is None:
                self.scan_args(node)
                info = self.a.class_info(self.a.classes[name])
                if info is not None and isinstance(info[1], _Chain):
                    return self.instantiate(info[1], node, label, composite=True)
                return _OTHER
            if name in self.a.functions and qual is None:
                self.scan_args(node)
                result = self.a.function_return(self.a.functions[name])
                if isinstance(result, _Chain):
                    return self.instantiate(result, node, label, composite=True)
                return None
        else:
            self.value(func)
        self.scan_args(node)
        return None

    def method(self, name: str) -> cst.FunctionDef | None:
        for stmt in self.klass.body.body if self.klass else ():
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        return None

    def scan_args(self, node: cst.Call, skip_first: bool = False) -> None:
        for i, a in enumerate(node.args):
            if skip_first and i == 0:
                continue
            self.value(a.value)

    def apply(self, chain: _Chain, node: cst.Call, label: str, composite: bool = False) -> frozenset:
        """A module called on data: ``self.bn(x)``."""
        data = self.as_data(self.value(node.args[0].value)) if node.args else frozenset()
        for a in node.args[1:]:
            self.value(a.value)
        seen = self.instantiate(chain, node, label, composite)
        for d in data:
            for bn in seen.head:
                self.hit(d, bn)
        return seen.tail | (data if chain.passes else frozenset())

    def sequential(self, node: cst.Call) -> _Chain:
        saved, self.defer = self.defer, None
        try:
            return self._sequential(node)
        finally:
            self.defer = saved

    def _sequential(self, node: cst.Call) -> _Chain:
        chain: _Chain = _PASSTHROUGH
        items: list[object] = []
        for a in node.args:
            if a.keyword is not None:
                self.value(a.value)
                continue
            if isinstance(a.value, cst.Call) and dotted_name(a.value.func) in ("OrderedDict", "collections.OrderedDict"):
                items.extend(self.ordered_items(a.value))
                continue
            if isinstance(a.value, cst.Dict):
                items.extend(self.value(e.value) for e in a.value.elements if isinstance(e, cst.DictElement))
                continue
            items.append(self.value(a.value))
        for item in items:
            chain = self.compose(chain, self.as_chain(item))
        return chain

    def ordered_items(self, call: cst.Call) -> list[object]:
        items: list[object] = []
        for a in call.args:
            if a.keyword is not None:
                items.append(self.value(a.value))
            elif isinstance(a.value, (cst.List, cst.Tuple)):
                for element in a.value.elements:
                    pair = element.value
                    if isinstance(pair, cst.Tuple) and len(pair.elements) == 2:
                        items.append(self.value(pair.elements[1].value))
                    else:
                        items.append(self.value(pair))
            else:
                items.append(self.value(a.value))
        return items

    # ---- statements ----------------------------------------------------------------------------
    def block(self, stmts: list) -> None:
        for stmt in stmts:
            if self.dead:
                return
            self.statement(stmt)

    def assign(self, target: cst.BaseExpression, value: object) -> None:
        name = dotted_name(target)
        if name is not None:
            self.env[name] = value
            if name.startswith("self.") and isinstance(value, (_Chain, _Factory)):
                self.attrs[name] = _join(self.attrs.get(name), value) if name in self.attrs else value
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.assign(element.value, None)
        else:
            self.scan(target)

    def statement(self, stmt: cst.CSTNode) -> None:  # noqa: C901
        t = type(stmt)
        if t is cst.Assign:
            value = self.value(stmt.value)
            for target in stmt.targets:
                self.assign(target.target, value)
        elif t is cst.AnnAssign:
            if stmt.value is not None:
                self.assign(stmt.target, self.value(stmt.value))
        elif t is cst.AugAssign:
            name = dotted_name(stmt.target)
            current = self.lookup(name) if name else None
            value = self.value(stmt.value)
            if name is not None:
                if isinstance(current, _Chain) and isinstance(stmt.operator, cst.AddAssign):
                    value = self.as_chain(value)
                    self.env[name] = _with_elem(self.compose(current, value), _join_elems(current.elem, value.elem))
                else:
                    self.env[name] = None  # ``x += self.drop(y)``: a residual add ends the chain
        elif t is cst.Expr:
            if isinstance(stmt.value, cst.Call) and self.mutation(stmt.value):
                return
            self.value(stmt.value)
        elif t is cst.Return:
            if stmt.value is not None:
                value = self.value(stmt.value)
                self.returned = _join(self.returned, value) if self.returned is not None else value
            self.dead = True
        elif t is cst.Raise or t is cst.Continue or t is cst.Break:
            self.scan(stmt)
            self.dead = True
        elif t is cst.If:
            self.branch(stmt)
        elif t is cst.For or t is cst.While:
            self.loop(stmt)
        elif t is cst.With:
            for item in stmt.items:
                self.value(item.item)
            self.block(statements(stmt.body))
        elif t is cst.Try or t is cst.TryStar:
            before = dict(self.env)
            self.block(statements(stmt.body))
            after, all_dead = dict(self.env), self.dead
            for handler in stmt.handlers:
                self.env, self.dead = dict(before), False
                self.block(statements(handler.body))
                if not self.dead:
                    after = self.env if all_dead else _merge_envs(after, self.env)
                    all_dead = False
            self.env, self.dead = after, all_dead
            if stmt.orelse is not None:
                self.block(statements(stmt.orelse.body))
            if stmt.finalbody is not None:
                self.block(statements(stmt.finalbody.body))
        elif t in _OPAQUE:
            return
        elif t in _SKIPPED_STATEMENTS:
            return
        else:
            self.scan(stmt)

    def mutation(self, call: cst.Call) -> bool:
        """``layers.append(m)`` / ``extend`` / ``add_module`` / ``super().__init__(*layers)``: True if handled."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return False
        method = func.attr.value
        if method == "__init__" and self.klass is not None and "self" in self.env:
            receiver = func.value
            is_super = isinstance(receiver, cst.Call) and dotted_name(receiver.func) == "super"
            if is_super or _nn_kind(self.ctx.qualname(receiver)) == "seq":
                args = call.args if is_super else call.args[1:]
                chain = self.sequential(call.with_changes(args=args))
                self.env["self"] = chain
                return True
            return False
        if method not in ("append", "extend", "add_module", "insert"):
            return False
        name = dotted_name(func.value)
        if name is None:
            return False
        current = self.lookup(name)
        if method == "insert":
            self.scan_args(call)
            if isinstance(current, _Chain):
                self.env[name] = _OTHER
            return True
        if method == "add_module":
            module = arg(call, 1, "module")
            self.scan_args(call)
            item = self.as_chain(self.value(module)) if module is not None else _OTHER
        else:
            item_node = call.args[0].value if call.args else None
            value = self.value(item_node) if item_node is not None else None
            item = self.as_chain(value)
            if method == "extend" and not isinstance(value, _Chain):
                item = _OTHER
        elem = item if method in ("append", "add_module") else item.elem
        if isinstance(current, _Chain):
            self.env[name] = _with_elem(self.compose(current, item), _join_elems(current.elem, elem))
        elif current is None and (item.head or item.tail):
            # a list we did not see start: unknown before
            self.env[name] = _with_elem(self.compose(_OTHER, item), elem)
        return True

    def with_cond(self, items: frozenset, body: list) -> None:
        saved = self.conds
        self.conds = saved | items
        self.block(body)
        self.conds = saved

    def branch(self, stmt: cst.If) -> None:
        self.value(stmt.test)
        before = dict(self.env)
        yes = _cond_items(stmt.test, True)
        no = _cond_items(stmt.test, False)
        self.with_cond(yes, statements(stmt.body))
        after_body, body_dead = self._tagged_env(before, yes), self.dead
        self.env, self.dead = dict(before), False
        if stmt.orelse is not None:
            orelse = stmt.orelse
            self.with_cond(no, [orelse] if isinstance(orelse, cst.If) else statements(orelse.body))
        after_else, else_dead = self._tagged_env(before, no), self.dead
        if body_dead and not else_dead:
            self.env, self.dead = after_else, False
        elif else_dead and not body_dead:
            self.env, self.dead = after_body, False
        else:
            self.env, self.dead = _merge_envs(after_body, after_else), body_dead and else_dead

    def _tagged_env(self, before: dict, items: frozenset) -> dict:
        """The env after a branch, the values the branch set marked with the branch's conditions."""
        return {k: (v if before.get(k) is v else _augment(v, items)) for k, v in self.env.items()}

    def loop(self, stmt: cst.For | cst.While) -> None:
        if isinstance(stmt, cst.For):
            iterable = self.value(stmt.iter)
            if isinstance(iterable, _Chain):
                # ``for layer in self.layers: x = layer(x)``: the iterations apply the list in order. The
                # first pass stands for the whole list; the second sees no batch norm in ``layer`` (the
                # list's first layer does not follow its last) but does see the rest of the body again.
                self.flush(iterable)
                self.assign(stmt.target, iterable)
                second = _Chain(frozenset(), iterable.passes, iterable.tail)
            else:
                self.assign(stmt.target, None)
                second = None
        else:
            self.value(stmt.test)
            second = None
        before = dict(self.env)
        self.block(statements(stmt.body))
        first = before if self.dead else self.env
        self.env, self.dead = _merge_envs(before, first), False
        if isinstance(stmt, cst.For) and second is not None:
            self.assign(stmt.target, second)
        self.block(statements(stmt.body))  # the second iteration sees what the first left behind
        self.env = before if self.dead else _merge_envs(before, self.env)
        self.dead = False
        if stmt.orelse is not None:
            self.block(statements(stmt.orelse.body))


class DropoutBeforeBatchNorm(Rule):
    """Flags a dropout whose output goes straight into a batch norm.

    ## What it does
    Finds a dropout layer (`nn.Dropout`, `Dropout1d/2d/3d`, `AlphaDropout`, `FeatureAlphaDropout`,
    `F.dropout`, ...) whose output reaches a batch norm (`BatchNorm1d/2d/3d`, `SyncBatchNorm`,
    `LazyBatchNorm*`, `F.batch_norm`) with nothing in between but layers that pass values through
    unchanged or elementwise (`Identity`, `Flatten`, `view`/`reshape`/`transpose`, and elementwise
    activations such as `ReLU`/`GELU`: ReLU and dropout commute exactly, so `Dropout → ReLU → BN` is
    `ReLU → Dropout → BN`). It follows:

    - `nn.Sequential(...)` literals, including `OrderedDict` forms, nested Sequentials, and layers
      returned by helper functions or defined as classes in the same file;
    - lists of layers built up with `append`/`extend`/`+=`/`add_module` and passed as `*layers`,
      including across loop iterations (a dropout at the end of one iteration feeding the batch norm
      at the start of the next);
    - the execution order of `forward()` through the submodules assigned in `__init__`, over
      statement sequences, branches and nested calls.

    It stays silent when a weight layer (`Linear`, `Conv*`), a pooling layer, a residual addition
    (`x = x + self.drop(y); x = self.bn(x)`: the skip path carries the signal, as transformer-style
    blocks do by design) or a concatenation sits between the two, for dropouts with a literal `p=0`
    or `training=False`, for a `FrozenBatchNorm2d` (fixed statistics), and for dropouts and batch
    norms in mutually exclusive branches (`if use_bn: ... else: ...`). An `nn.ModuleList` counts as
    running in order only where the code runs it in order (`for layer in self.layers: x = layer(x)`).

    ## Why is this bad?
    Dropout scales the surviving units by `1/(1-p)` during training, so the batch norm after it
    learns running statistics of a higher-variance signal. At evaluation dropout is off, the variance
    is lower, and the batch norm normalises with the wrong statistics: the "variance shift" of Li et
    al., *Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift*.
    Accuracy at evaluation silently drops. Put dropout after the last batch norm instead.

    ## Example
    ```python
    head = nn.Sequential(
        nn.Linear(512, 256),
        nn.Dropout(0.5),
        nn.BatchNorm1d(256),
        nn.ReLU(),
    )
    ```

    ## Use instead
    ```python
    head = nn.Sequential(
        nn.Linear(512, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.5),
    )
    ```
    """

    code = "NN301"
    name = "dropout-before-batchnorm"
    message = "dropout output goes straight into a batch norm; put the dropout after the batch norm"
    requires = (("Dropout", "dropout"), ("BatchNorm", "batch_norm"))

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._classes: list[cst.ClassDef] = []
        self._functions: list[cst.FunctionDef] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(node)

    def leave_Module(self, node: cst.Module) -> None:
        analysis = _DropoutBnAnalysis(self, node)
        analysis.all_classes = self._classes
        analysis.all_functions = self._functions
        analysis.run()
        analysis.report()

    VALID = [
        # The textbook order: batch norm first, dropout last.
        """
        import torch.nn as nn

        classifier = nn.Sequential(
            nn.Linear(2048, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, 10),
        )
        """,
        # Dropout before LayerNorm / GroupNorm / InstanceNorm: no running statistics.
        """
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, d, p=0.1):
                super().__init__()
                self.drop = nn.Dropout(p)
                self.ln = nn.LayerNorm(d)
                self.gn = nn.GroupNorm(8, d)
                self.inorm = nn.InstanceNorm1d(d)

            def forward(self, x):
                x = self.ln(self.drop(x))
                x = self.gn(self.drop(x))
                return self.inorm(self.drop(x))
        """,
        # A weight layer between the dropout and the batch norm.
        """
        from torch import nn

        head = nn.Sequential(nn.Dropout(0.2), nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU())
        """,
        # The MLP loop: the dropout at the end of one block feeds the next block's Linear.
        """
        import torch.nn as nn

        def make_mlp(dims, p=0.3):
            layers = []
            for d_in, d_out in zip(dims[:-1], dims[1:]):
                layers += [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(), nn.Dropout(p)]
            return nn.Sequential(*layers)
        """,
        # Same with append, and a final Linear.
        """
        import torch.nn as nn

        class MLP(nn.Module):
            def __init__(self, sizes, dropout):
                super().__init__()
                layers = []
                for i in range(len(sizes) - 1):
                    layers.append(nn.Linear(sizes[i], sizes[i + 1]))
                    layers.append(nn.BatchNorm1d(sizes[i + 1]))
                    layers.append(nn.ReLU())
                    layers.append(nn.Dropout(dropout))
                layers.append(nn.Linear(sizes[-1], 1))
                self.net = nn.Sequential(*layers)

            def forward(self, x):
                return self.net(x)
        """,
        # forward(): the dropout output goes through a Linear before the batch norm.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 256)
                self.bn1 = nn.BatchNorm1d(256)
                self.drop = nn.Dropout(0.5)
                self.fc2 = nn.Linear(256, 128)
                self.bn2 = nn.BatchNorm1d(128)
                self.out = nn.Linear(128, 10)

            def forward(self, x):
                x = F.relu(self.bn1(self.fc1(x)))
                x = self.drop(x)
                x = F.relu(self.bn2(self.fc2(x)))
                x = self.drop(x)
                return self.out(x)
        """,
        # A residual add between the dropout and the batch norm.
        """
        import torch.nn as nn

        class ConvBlock(nn.Module):
            def __init__(self, c, p):
                super().__init__()
                self.conv = nn.Conv1d(c, c, 3, padding=1)
                self.drop = nn.Dropout(p)
                self.bn = nn.BatchNorm1d(c)

            def forward(self, x):
                x = x + self.drop(self.conv(x))
                x = self.bn(x)
                return x
        """,
        # A literal p=0 dropout is a no-op; functional dropout with training=False too.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        stem = nn.Sequential(nn.Conv2d(3, 32, 3), nn.Dropout2d(p=0.0), nn.BatchNorm2d(32), nn.ReLU())

        def head(x, bn):
            return bn(F.dropout(x, 0.5, training=False))
        """,
        # Batch norm and dropout are alternatives in one if/else, also inside the loop.
        """
        import torch.nn as nn

        def build(widths, use_bn=True, p=0.2):
            layers = []
            for w_in, w_out in zip(widths, widths[1:]):
                layers.append(nn.Linear(w_in, w_out))
                if use_bn:
                    layers.append(nn.BatchNorm1d(w_out))
                else:
                    layers.append(nn.Dropout(p))
                layers.append(nn.ReLU())
            return nn.Sequential(*layers)
        """,
        # Alternatives chosen by a string option.
        """
        import torch.nn as nn

        def regulariser(kind, c, p):
            layers = [nn.Conv2d(c, c, 3, padding=1)]
            for _ in range(3):
                if kind == "bn":
                    layers.append(nn.BatchNorm2d(c))
                elif kind == "dropout":
                    layers.append(nn.Dropout2d(p))
            return nn.Sequential(*layers)
        """,
        # The dropout and the batch norm work on different tensors.
        """
        import torch
        import torch.nn as nn

        class TwoTower(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.text_drop = nn.Dropout(0.1)
                self.image_bn = nn.BatchNorm1d(d)
                self.proj = nn.Linear(2 * d, d)

            def forward(self, text, image):
                t = self.text_drop(text)
                i = self.image_bn(image)
                return self.proj(torch.cat([t, i], dim=-1))
        """,
        # A float attribute named like a dropout, and an attention dropout before a matmul.
        """
        import torch.nn as nn

        class Attention(nn.Module):
            def __init__(self, dim, heads=8, dropout=0.1):
                super().__init__()
                self.dropout = dropout
                self.attn_drop = nn.Dropout(dropout)
                self.qkv = nn.Conv2d(dim, dim * 3, 1)
                self.bn = nn.BatchNorm2d(dim)

            def forward(self, x):
                q, k, v = self.qkv(x).chunk(3, dim=1)
                attn = self.attn_drop((q.transpose(-2, -1) @ k).softmax(dim=-1))
                out = v @ attn
                return self.bn(out)
        """,
        # Frozen batch norm keeps fixed statistics: no variance to learn under dropout.
        """
        import torch.nn as nn
        from torchvision.ops.misc import FrozenBatchNorm2d

        neck = nn.Sequential(nn.Dropout2d(0.1), FrozenBatchNorm2d(256), nn.ReLU())
        """,
        # Batch norm first in forward, dropout last, and a dropout at the end of a block.
        """
        import torch.nn as tnn

        class Head(tnn.Module):
            def __init__(self, c, n):
                super().__init__()
                self.bn = tnn.BatchNorm1d(c)
                self.drop = tnn.Dropout(0.3)
                self.fc = tnn.Linear(c, n)

            def forward(self, x):
                x = self.bn(x.flatten(1))
                x = self.drop(x)
                return self.fc(x)

        features = tnn.Sequential(
            tnn.Sequential(tnn.Conv2d(3, 64, 3), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.Dropout2d(0.1)),
            tnn.Sequential(tnn.Conv2d(64, 64, 3), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.Dropout2d(0.1)),
        )
        """,
        # Keras names are not PyTorch batch norms.
        """
        from tensorflow.keras import layers, models

        model = models.Sequential([layers.Dense(64), layers.Dropout(0.5), layers.BatchNormalization()])
        """,
        # A transformer-style conv module: the dropout feeds a residual add; the next norm is a LayerNorm.
        """
        import torch.nn as nn

        class ConformerConv(nn.Module):
            def __init__(self, d, p):
                super().__init__()
                self.pointwise = nn.Conv1d(d, d, 1)
                self.bn = nn.BatchNorm1d(d)
                self.act = nn.SiLU()
                self.dropout = nn.Dropout(p)
                self.norm = nn.LayerNorm(d)

            def forward(self, x):
                residual = x
                x = self.act(self.bn(self.pointwise(x)))
                x = self.dropout(x)
                x = residual + x
                return self.norm(x)
        """,
        # Dropout applied to a different variable than the one normalised.
        """
        import torch.nn.functional as F
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm1d(64)
                self.fc = nn.Linear(64, 64)

            def forward(self, x, y):
                y = F.dropout(y, p=0.2, training=self.training)
                x = self.bn(x)
                return self.fc(x) + y
        """,
        # fastai's LinBnDrop: batch norm and dropout swap places with the Linear under one flag.
        """
        import torch.nn as nn

        class LinBnDrop(nn.Sequential):
            def __init__(self, n_in, n_out, bn=True, p=0.0, act=None, lin_first=False):
                layers = [nn.BatchNorm1d(n_out if lin_first else n_in)] if bn else []
                if p != 0:
                    layers.append(nn.Dropout(p))
                lin = [nn.Linear(n_in, n_out, bias=not bn)]
                if act is not None:
                    lin.append(act)
                layers = lin + layers if lin_first else layers + lin
                super().__init__(*layers)

        class TabularHead(nn.Module):
            def __init__(self, sizes, ps, lin_first=True):
                super().__init__()
                blocks = [LinBnDrop(a, b, p=p, act=nn.ReLU(), lin_first=lin_first) for a, b, p in zip(sizes, sizes[1:], ps)]
                self.layers = nn.Sequential(*blocks)
        """,
        # Graph nets: dropout, then the next Linear, then the batch norm of that layer; early return.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class MLPNet(nn.Module):
            def __init__(self, h, depth, p):
                super().__init__()
                self.lins = nn.ModuleList([nn.Linear(h, h) for _ in range(depth)])
                self.bns = nn.ModuleList([nn.BatchNorm1d(h) for _ in range(depth)])
                self.drop = nn.Dropout(p)
                self.p = p

            def forward(self, x, return_hidden=False):
                for i in range(len(self.lins)):
                    x = F.dropout(x, p=self.p, training=self.training)
                    x = self.lins[i](x)
                    x = F.relu(self.bns[i](x))
                if return_hidden:
                    h = self.drop(x)
                    return h
                return self.bns[0](x)
        """,
        # The dropout ends the list of one model; another list starts with a batch norm.
        """
        import torch.nn as nn

        encoder_layers = [nn.Linear(32, 16), nn.ReLU(), nn.Dropout(0.2)]
        decoder_layers = [nn.BatchNorm1d(16), nn.Linear(16, 32)]
        encoder = nn.Sequential(*encoder_layers)
        decoder = nn.Sequential(*decoder_layers)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            head = nn.Sequential(
                nn.Linear(512, 256),
                nn.Dropout(0.5),
                nn.BatchNorm1d(256),
                nn.ReLU(),
            )
            """,
            line=7,
            message_contains="nn.Dropout feeds nn.BatchNorm1d",
        ),
        # Import aliases and names imported directly.
        Invalid(
            """
            from torch import nn as tnn
            from torch.nn import Dropout2d, BatchNorm2d as BN

            block = tnn.Sequential(tnn.Conv2d(3, 16, 3), Dropout2d(0.25), BN(16), tnn.ReLU())
            """,
            line=5,
            message_contains="Dropout2d feeds BN",
        ),
        # OrderedDict form.
        Invalid(
            """
            from collections import OrderedDict
            import torch.nn as nn

            classifier = nn.Sequential(OrderedDict([
                ("fc1", nn.Linear(1024, 256)),
                ("drop", nn.Dropout(p=0.4)),
                ("bn", nn.BatchNorm1d(256)),
                ("relu", nn.ReLU()),
            ]))
            """,
            line=8,
        ),
        # Nested Sequentials: one ends with dropout, the next starts with a batch norm.
        Invalid(
            """
            import torch.nn as nn

            def make_head(c, n, p):
                features = nn.Sequential(nn.Conv2d(c, c, 3), nn.ReLU(), nn.Dropout2d(p))
                norm = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
                return nn.Sequential(features, norm, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n))
            """,
            line=6,
            message_contains="nn.Dropout2d feeds nn.BatchNorm2d",
        ),
        # Dropout -> Flatten -> BatchNorm1d and a pass-through activation.
        Invalid(
            """
            import torch.nn as nn

            head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Dropout(0.3),
                nn.Flatten(),
                nn.BatchNorm1d(512),
                nn.Linear(512, 100),
            )
            proj = nn.Sequential(nn.Linear(100, 64), nn.Dropout(0.1), nn.ReLU(), nn.BatchNorm1d(64))
            """,
            count=2,
        ),
        # A list of layers built up with append and passed as *layers.
        Invalid(
            """
            import torch.nn as nn

            def build_classifier(in_dim, hidden, n_classes, p=0.5):
                layers = [nn.Linear(in_dim, hidden), nn.ReLU()]
                if p > 0:
                    layers.append(nn.Dropout(p))
                layers.append(nn.BatchNorm1d(hidden))
                layers.append(nn.Linear(hidden, n_classes))
                return nn.Sequential(*layers)
            """,
            line=8,
        ),
        # The dropout ending one loop iteration feeds the batch norm starting the next one.
        Invalid(
            """
            import torch.nn as nn

            class ResMLP(nn.Module):
                def __init__(self, dims, p):
                    super().__init__()
                    layers = []
                    for d_in, d_out in zip(dims[:-1], dims[1:]):
                        layers += [nn.BatchNorm1d(d_in), nn.Linear(d_in, d_out), nn.ReLU(), nn.Dropout(p)]
                    self.body = nn.Sequential(*layers)

                def forward(self, x):
                    return self.body(x)
            """,
            line=9,
        ),
        # The last iteration's dropout feeds the batch norm appended after the loop; extend form.
        Invalid(
            """
            import torch.nn as nn

            def mlp(sizes, dropout):
                modules = []
                for a, b in zip(sizes, sizes[1:]):
                    modules.extend([nn.Linear(a, b), nn.GELU(), nn.Dropout(dropout)])
                modules.append(nn.BatchNorm1d(sizes[-1]))
                return nn.Sequential(*modules)
            """,
            line=8,
        ),
        # forward(): a statement sequence through submodules from __init__.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self, p=0.5):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.dropout = nn.Dropout(p)
                    self.bn1 = nn.BatchNorm1d(256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    x = self.dropout(x)
                    x = self.bn1(x)
                    return self.fc2(x)
            """,
            line=16,
            message_contains="self.dropout (nn.Dropout) feeds self.bn1 (nn.BatchNorm1d)",
        ),
        # forward(): nested calls, an activation between, functional dropout.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Encoder(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.conv = nn.Conv1d(d, d, 5, padding=2)
                    self.norm = nn.BatchNorm1d(d)
                    self.p = 0.2

                def forward(self, x):
                    h = self.conv(x)
                    h = F.dropout(h, p=self.p, training=self.training)
                    return self.norm(F.relu(h))
            """,
            line=15,
            message_contains="F.dropout feeds self.norm",
        ),
        # Functional batch norm, and a dropout applied only in training mode.
        Invalid(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class FunctionalNet(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.w = nn.Parameter(torch.randn(d, d))
                    self.register_buffer("mean", torch.zeros(d))
                    self.register_buffer("var", torch.ones(d))
                    self.drop = nn.AlphaDropout(0.1)

                def forward(self, x):
                    x = x @ self.w
                    if self.training:
                        x = self.drop(x)
                    x = F.batch_norm(x, self.mean, self.var, training=self.training)
                    return x
            """,
            line=18,
        ),
        # A dropout that may be an Identity, a norm layer from a parameter default, a view between.
        Invalid(
            """
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self, c, n, drop_rate=0.0, norm_layer=nn.BatchNorm1d):
                    super().__init__()
                    self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
                    self.norm = norm_layer(c)
                    self.fc = nn.Linear(c, n)

                def forward(self, x):
                    x = self.drop(x).view(x.size(0), -1)
                    return self.fc(self.norm(x))
            """,
            line=13,
        ),
        # A helper function that ends with dropout, then a batch norm.
        Invalid(
            """
            import torch.nn as nn

            def fc_block(i, o, p):
                return nn.Sequential(nn.Linear(i, o), nn.ReLU(inplace=True), nn.Dropout(p))

            model = nn.Sequential(
                fc_block(784, 512, 0.3),
                nn.BatchNorm1d(512),
                fc_block(512, 256, 0.3),
                nn.Linear(256, 10),
            )
            """,
            line=9,
        ),
        # A module class of the same file that ends with dropout, used before a batch norm.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class DenseDrop(nn.Module):
                def __init__(self, i, o, p):
                    super().__init__()
                    self.fc = nn.Linear(i, o)
                    self.drop = nn.Dropout(p)

                def forward(self, x):
                    return self.drop(F.relu(self.fc(x)))

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.block = DenseDrop(128, 64, 0.5)
                    self.bn = nn.BatchNorm1d(64)
                    self.out = nn.Linear(64, 2)

                def forward(self, x):
                    return self.out(self.bn(self.block(x)))
            """,
            line=22,
            message_contains="at the end of self.block",
        ),
        # A Sequential subclass, add_module, and the less common variants.
        Invalid(
            """
            import torch.nn as nn

            class Stem(nn.Sequential):
                def __init__(self, c):
                    super().__init__(nn.Conv3d(1, c, 3), nn.Dropout3d(0.1), nn.BatchNorm3d(c))

            neck = nn.Sequential()
            neck.add_module("drop", nn.FeatureAlphaDropout(0.05))
            neck.add_module("bn", nn.SyncBatchNorm(64))
            lazy = nn.Sequential(nn.LazyLinear(32), nn.Dropout1d(0.1), nn.LazyBatchNorm1d())
            """,
            count=3,
        ),
        # A ModuleList run in order in forward.
        Invalid(
            """
            import torch.nn as nn

            class Tower(nn.Module):
                def __init__(self, d, depth, p):
                    super().__init__()
                    self.layers = nn.ModuleList()
                    for _ in range(depth):
                        self.layers.append(nn.Linear(d, d))
                        self.layers.append(nn.Dropout(p))
                        self.layers.append(nn.BatchNorm1d(d))

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
            """,
            line=11,
        ),
        # A ModuleList of batch norms indexed in forward().
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class GraphNet(nn.Module):
                def __init__(self, h, depth, dropout):
                    super().__init__()
                    self.lins = nn.ModuleList([nn.Linear(h, h) for _ in range(depth)])
                    self.bns = nn.ModuleList()
                    for _ in range(depth):
                        self.bns.append(nn.BatchNorm1d(h))
                    self.dropout = dropout

                def forward(self, x):
                    for i, lin in enumerate(self.lins):
                        x = F.relu(lin(x))
                        x = F.dropout(x, p=self.dropout, training=self.training)
                        x = self.bns[i](x)
                    return x
            """,
            line=18,
            message_contains="F.dropout feeds self.bns[...]",
        ),
        # Module-level script code, one statement at a time.
        Invalid(
            """
            import torch
            import torch.nn as nn

            layers = []
            layers.append(nn.Linear(20, 64))
            layers.append(nn.ReLU())
            layers.append(nn.Dropout(0.2))
            layers += [nn.BatchNorm1d(64), nn.Linear(64, 1)]
            model = nn.Sequential(*layers)
            opt = torch.optim.Adam(model.parameters())
            """,
            line=9,
        ),
    ]


# =============================================================================================
# NN302-NN317: shared vocabulary and a one-pass index of the file's scopes, classes and calls
# =============================================================================================

_WEIGHT_LAYER_RE = re.compile(r"(Lazy)?(Linear|Bilinear|Conv(Transpose)?[123]d)")
_BN_CLASS_RE = re.compile(r"(Lazy)?BatchNorm([123]d)|SyncBatchNorm")
_LAYER_DIM_RE = re.compile(r"([123])d$")
_NOT_MODULE_CLASSES = frozenset({"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"})
# Third-party base classes that are nn.Module subclasses (matched by their last name).
_KNOWN_MODULE_BASES = frozenset(
    {"LightningModule", "PreTrainedModel", "ModelMixin", "MessagePassing", "GradientCheckpointingLayer"}
)
_ACTIVATION_MODULES = {
    "Softmax": "softmax",
    "Softmax2d": "softmax",
    "LogSoftmax": "log_softmax",
    "Sigmoid": "sigmoid",
    "LogSigmoid": "logsigmoid",
}
_ACTIVATION_FUNCTIONS = {
    "torch.softmax": "softmax",
    "torch.nn.functional.softmax": "softmax",
    "torch.special.softmax": "softmax",
    "torch.log_softmax": "log_softmax",
    "torch.nn.functional.log_softmax": "log_softmax",
    "torch.special.log_softmax": "log_softmax",
    "torch.sigmoid": "sigmoid",
    "torch.nn.functional.sigmoid": "sigmoid",
    "torch.special.expit": "sigmoid",
    "torch.nn.functional.logsigmoid": "logsigmoid",
}
_ACTIVATION_METHODS = {"softmax": "softmax", "log_softmax": "log_softmax", "sigmoid": "sigmoid"}
# Tensor methods and functions that keep the meaning of the values (layout, dtype, device).
_LAYOUT_METHODS = frozenset(
    {
        "view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "float", "double", "half",
        "permute", "transpose", "to", "cuda", "cpu", "view_as", "reshape_as", "type_as", "clone", "bfloat16",
    }
)
_MODULE_CHAIN_METHODS = frozenset({"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_"})
_WRAPPER_MODULES = frozenset({"DataParallel", "DistributedDataParallel"})
_LOSS_CLASSES = {
    "CrossEntropyLoss": "ce",
    "NLLLoss": "nll",
    "BCELoss": "bce",
    "BCEWithLogitsLoss": "bce_logits",
}
_LOSS_FUNCTIONS = {
    "torch.nn.functional.cross_entropy": "ce",
    "torch.nn.functional.nll_loss": "nll",
    "torch.nn.functional.binary_cross_entropy": "bce",
    "torch.nn.functional.binary_cross_entropy_with_logits": "bce_logits",
    "torch.binary_cross_entropy_with_logits": "bce_logits",
}
_STAR_NAMES = {
    "torch.nn": frozenset(
        {*_ACTIVATION_MODULES, *_LOSS_CLASSES, "Module", "Sequential", "ModuleList", "ModuleDict", "Linear",
         "Conv1d", "Conv2d", "Conv3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Parameter", "Embedding"}
    ),
    "torch.nn.functional": frozenset(
        {"softmax", "log_softmax", "sigmoid", "logsigmoid", "cross_entropy", "nll_loss", "binary_cross_entropy",
         "binary_cross_entropy_with_logits", "dropout", "dropout1d", "dropout2d", "dropout3d"}
    ),
}
_LOGITS_NAME_RE = re.compile(r"(.*_)?logits?(_\d+)?")


def _qual(ctx, node: cst.BaseExpression) -> str | None:
    """``ctx.qualname`` with names from ``from torch.nn import *`` (and ``functional``) resolved."""
    qual = ctx.qualname(node)
    if qual is None and type(node) is cst.Name and ctx.imports.star_modules:
        for module in ctx.imports.star_modules:
            names = _STAR_NAMES.get(module)
            if names is not None and node.value in names:
                return f"{module}.{node.value}"
    return qual


def _torch_class(qual: str | None) -> str | None:
    """The class name of a ``torch.nn`` module class (``Linear`` for ``torch.nn.modules.linear.Linear``)."""
    if not qual or not qual.startswith("torch.nn."):
        return None
    last = qual.rpartition(".")[2]
    if not last[:1].isupper() or last in _NOT_MODULE_CLASSES:
        return None
    if qual.startswith(("torch.nn.utils.", "torch.nn.init.", "torch.nn.functional.")):
        return None
    return last


def _strip_parens(ctx, node: cst.BaseExpression) -> str:
    """Source text of ``node`` without its own parentheses (an edit keeps those in place)."""
    if getattr(node, "lpar", None):
        node = node.with_changes(lpar=[], rpar=[])
    return ctx.code(node)


_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString)


def _as_receiver(ctx, node: cst.BaseExpression) -> str:
    """``node``'s text usable before ``.method()``: parenthesised unless it is atomic."""
    text = _strip_parens(ctx, node)
    return text if isinstance(node, _ATOMIC) else f"({text})"


def _kwarg(name: str, value: str) -> cst.Arg:
    no_space = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
    return cst.Arg(value=cst.parse_expression(value), keyword=cst.Name(name), equal=no_space)


def _with_kwarg(call: cst.Call, new: cst.Arg) -> cst.Call:
    return with_arg(call, new)


def _indents_to(root: cst.CSTNode, target: cst.CSTNode) -> list[str] | None:
    """The indentation of the blocks between ``root`` (a module) and ``target``, outermost first."""
    path: list[cst.CSTNode] = []

    def find(node: cst.CSTNode) -> bool:
        if node is target:
            return True
        path.append(node)
        for child in children(node):
            if find(child):
                return True
        path.pop()
        return False

    if not find(root):
        return None
    default = root.default_indent if isinstance(root, cst.Module) else "    "
    return [b.indent if b.indent is not None else default for b in path if isinstance(b, cst.IndentedBlock)]


def _render(ctx, node: cst.CSTNode, at: cst.CSTNode) -> str:
    """Source text of a new ``node`` that replaces ``at``: continuation lines get the enclosing indentation."""
    indents = _indents_to(ctx.module, at)
    try:
        from libcst._nodes.internal import CodegenState
    except ImportError:  # pragma: no cover - libcst internals moved
        return ctx.module.code_for_node(node)
    state = CodegenState(default_indent=ctx.module.default_indent, default_newline=ctx.module.default_newline)
    state.indent_tokens = list(indents or [])
    node._codegen(state)
    return "".join(state.tokens)


def _add_kwarg_fix(rule: Rule, call: cst.Call, name: str, value: str) -> tuple[cst.CSTNode, str]:
    return call, _render(rule.ctx, _with_kwarg(call, _kwarg(name, value)), call)


def _is_self(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "self"


def _self_attr(node: cst.BaseExpression) -> str | None:
    """``x`` for ``self.x``."""
    if type(node) is cst.Attribute and _is_self(node.value):
        return node.attr.value
    return None


class _Assign:
    """One binding of a name: ``value`` is None where unknown (loop targets, tuple unpacking, ``+=``)."""

    __slots__ = ("end", "node", "start", "value")

    def __init__(self, start: int, value: cst.BaseExpression | None, node: cst.CSTNode) -> None:
        self.start = start
        self.end = start
        self.value = value
        self.node = node


class _Scope:
    """A function (or the module, or a class body): its bindings in source order."""

    __slots__ = ("assigns", "calls_init", "cls", "kind", "node", "params", "parent", "returned")

    def __init__(self, node: cst.CSTNode, kind: str, cls: _ClassInfo | None, parent: _Scope | None) -> None:
        self.node = node
        self.kind = kind  # 'module' | 'class' | 'function'
        self.cls = cls
        self.parent = parent
        self.assigns: dict[str, list[_Assign]] = {}
        self.params: set[str] = set()
        self.returned: set[str] = set()  # names returned by ``return name``
        self.calls_init = False  # calls some ``x.__init__(...)`` / ``__setstate__`` directly

    def reaching(self, name: str, use: int) -> _Assign | None:
        """The last binding of ``name`` completed before the node numbered ``use``."""
        best = None
        for a in self.assigns.get(name, ()):
            if a.end < use and (best is None or a.start > best.start):
                best = a
        return best


class _ClassInfo:
    __slots__ = (
        "_module", "bases", "calls", "methods", "name", "node", "scope", "self_assigns", "self_calls", "self_refs",
    )

    def __init__(self, node: cst.ClassDef, scope: _Scope) -> None:
        self.node = node
        self.name = node.name.value
        self.scope = scope  # where the class is defined
        self.bases = [b.value for b in node.bases if b.keyword is None and not b.star]
        self.methods: dict[str, cst.FunctionDef] = {}
        self.self_assigns: dict[str, list[tuple[cst.BaseExpression | None, _Scope, _Assign]]] = {}
        self.self_refs: dict[str, int] = {}
        self.self_calls: dict[str, int] = {}
        self.calls: list[cst.Call] = []
        self._module: bool | None = None


_END = object()
_INDEX_LEAVES = frozenset(
    {cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis, cst.Pass, cst.Break, cst.Continue}
)


class _Index:
    """What NN302-NN317 need of a file, collected in one walk: scopes and their bindings, classes and
    the ``self.x`` attributes they assign and use, and every call with its scope."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        module = ctx.module
        self.module_scope = _Scope(module, "module", None, None)
        self.classes: list[_ClassInfo] = []
        self.class_by_node: dict[int, _ClassInfo] = {}
        self.classes_by_name: dict[str, list[_ClassInfo]] = {}
        self.scope_of_fn: dict[int, _Scope] = {}
        self.calls: list[tuple[cst.Call, _Scope, int]] = []
        self.order: dict[int, int] = {}  # id(call or return) -> walk number, for reaching definitions
        self.names: dict[str, list[tuple[cst.BaseExpression | None, _Scope, _Assign]]] = {}
        self.attr_counts: dict[str, int] = {}  # every ``x.attr`` of the file, by attribute name
        self.strings: set[str] = set()  # the short string literals of the file
        self._binding_patterns: dict[str, re.Pattern] = {}
        self._walk(module)

    # ---- the walk ----------------------------------------------------------------------------
    def _walk(self, module: cst.Module) -> None:  # noqa: C901 - one dispatch over node types
        stack: list = [module]
        scope = self.module_scope
        cls: _ClassInfo | None = None
        order = 0
        calls = self.calls
        orders = self.order
        attr_counts = self.attr_counts
        strings = self.strings
        leaves = _INDEX_LEAVES
        while stack:
            node = stack.pop()
            t = type(node)
            if t is tuple:
                if node[0] is _END:
                    node[1].end = order
                else:  # leaving a function or class: back to the enclosing scope
                    scope, cls = node[1], node[2]
                continue
            order += 1
            if t in leaves:
                if t is cst.SimpleString and len(node.value) < 80:
                    strings.add(node.raw_value)
                continue
            if t is cst.Call:
                calls.append((node, scope, order))
                orders[id(node)] = order
                func = node.func
                if type(func) is cst.Attribute:
                    if func.attr.value == "__init__" or func.attr.value == "__setstate__":
                        scope.calls_init = True
                    if cls is not None and type(func.value) is cst.Name and func.value.value == "self":
                        key = func.attr.value
                        cls.self_calls[key] = cls.self_calls.get(key, 0) + 1
                if cls is not None:
                    cls.calls.append(node)
            elif t is cst.Attribute:
                key = node.attr.value
                attr_counts[key] = attr_counts.get(key, 0) + 1
                if cls is not None and type(node.value) is cst.Name and node.value.value == "self":
                    cls.self_refs[key] = cls.self_refs.get(key, 0) + 1
            elif t is cst.Return:
                orders[id(node)] = order
                if type(node.value) is cst.Name:
                    scope.returned.add(node.value.value)
            elif t is cst.ClassDef:
                info = _ClassInfo(node, scope)
                self.classes.append(info)
                self.class_by_node[id(node)] = info
                self.classes_by_name.setdefault(info.name, []).append(info)
                stack.append(("exit", scope, cls))
                scope = _Scope(node, "class", info, scope)
                cls = info
            elif t is cst.FunctionDef:
                fscope = _Scope(node, "function", cls, scope)
                self.scope_of_fn[id(node)] = fscope
                p = node.params
                for param in (*p.posonly_params, *p.params, *p.kwonly_params):
                    fscope.params.add(param.name.value)
                for star in (p.star_arg, p.star_kwarg):
                    if isinstance(star, cst.Param):
                        fscope.params.add(star.name.value)
                if scope.kind == "class" and cls is not None:
                    cls.methods.setdefault(node.name.value, node)
                stack.append(("exit", scope, cls))
                scope = fscope
            elif t is cst.Assign or t is cst.AnnAssign or t is cst.AugAssign or t is cst.NamedExpr:
                value = None if t is cst.AugAssign else node.value
                record = _Assign(order, value, node)
                targets = [tg.target for tg in node.targets] if t is cst.Assign else [node.target]
                for target in targets:
                    self._bind(target, record, scope, cls, value)
                stack.append((_END, record))
            elif t is cst.For or t is cst.CompFor:
                self._bind(node.target, _Assign(order, None, node), scope, cls, None)
            elif t is cst.AsName:
                self._bind(node.name, _Assign(order, None, node), scope, cls, None)
            elif t is cst.Import or t is cst.ImportFrom:
                continue
            stack.extend(reversed(_index_children(node, t)))

    def _bind(self, target: cst.BaseExpression, record: _Assign, scope: _Scope, cls, value) -> None:
        t = type(target)
        if t is cst.Name:
            name = target.value
            scope.assigns.setdefault(name, []).append(record)
            self.names.setdefault(name, []).append((value, scope, record))
        elif t is cst.Attribute:
            attr = _self_attr(target)
            if attr is not None and cls is not None:
                cls.self_assigns.setdefault(attr, []).append((value, scope, record))
            name = dotted_name(target)
            if name is not None:
                scope.assigns.setdefault(name, []).append(record)
        elif t is cst.Tuple or t is cst.List:
            for element in target.elements:
                inner = element.value
                if type(inner) is cst.StarredElement:
                    inner = inner.value
                self._bind(inner, _Assign(record.start, None, record.node), scope, cls, None)

    def file_bindings(self, name: str) -> list[tuple[cst.BaseExpression | None, _Scope, _Assign]] | None:
        """Every binding of ``name`` in the file, or None when the source holds assignments the index
        did not see (functions left out of the parse because no active rule needed them)."""
        bindings = self.names.get(name, [])
        pattern = self._binding_patterns.get(name)
        if pattern is None:
            pattern = self._binding_patterns[name] = re.compile(
                rf"^[ \t]*(?:[\w.\[\]]+[ \t]*,[ \t]*)*{re.escape(name)}[ \t]*(?::[^=\n]*)?=(?!=)", re.M
            )
        if len(pattern.findall(self.ctx.source)) > len(bindings):
            return None
        return bindings

    # ---- classes -------------------------------------------------------------------------------
    def local_class(self, node: cst.BaseExpression, scope: _Scope | None = None) -> _ClassInfo | None:
        """The class of this file a Name refers to (not shadowed by an import)."""
        if type(node) is not cst.Name or node.value in self.ctx.imports.aliases:
            return None
        found = self.classes_by_name.get(node.value)
        return found[-1] if found else None

    def is_module(self, info: _ClassInfo, depth: int = 0) -> bool:
        """Whether the class provably derives from ``nn.Module`` (through imports and local classes)."""
        if info._module is not None:
            return info._module
        info._module = False  # recursion guard
        result = False
        for base in info.bases:
            if depth < 8:
                local = self.local_class(base)
                if local is not None and local is not info:
                    if self.is_module(local, depth + 1):
                        result = True
                        break
                    continue
            qual = _qual(self.ctx, base)
            if _torch_class(qual) or qual in ("torch.jit.ScriptModule",):
                result = True
                break
            last = (qual or dotted_name(base) or "").rpartition(".")[2]
            if last in _KNOWN_MODULE_BASES:
                result = True
                break
        info._module = result
        return result

    def module_like(self, info: _ClassInfo) -> bool:
        """A provable module, or a class with unknown bases and a ``forward(self, ...)`` method."""
        if self.is_module(info):
            return True
        forward = info.methods.get("forward")
        if forward is None or not info.bases or _is_static(forward):
            return False
        for base in info.bases:
            qual = _qual(self.ctx, base) or ""
            if qual.startswith("torch.autograd") or (dotted_name(base) or "") in ("object", "Function"):
                return False
            local = self.local_class(base)
            if local is not None and not self.module_like(local):
                return False
        return True

    def class_of(self, node: cst.CSTNode) -> _ClassInfo | None:
        return self.class_by_node.get(id(node))

    def scope_of(self, fn: cst.FunctionDef | None) -> _Scope:
        if fn is None:
            return self.module_scope
        return self.scope_of_fn.get(id(fn), self.module_scope)


def _index_children(node: cst.CSTNode, t: type) -> list | tuple:
    """The children the index needs, in source order: the common node types by hand (no Arg, Element
    or annotation nodes, no attribute names), the rest through the walker."""
    if t is cst.Attribute:
        return (node.value,)
    if t is cst.Call:
        return [node.func, *[a.value for a in node.args]]
    if t is cst.SimpleStatementLine or t is cst.IndentedBlock:
        return node.body
    if t is cst.Expr:
        return (node.value,)
    if t is cst.Assign:
        return [*[tg.target for tg in node.targets], node.value]
    if t is cst.BinaryOperation:
        return (node.left, node.right)
    if t is cst.Subscript:
        out = [node.value]
        for element in node.slice:
            inner = element.slice
            if type(inner) is cst.Index:
                out.append(inner.value)
            else:
                out.append(inner)
        return out
    if t is cst.Tuple or t is cst.List or t is cst.Set:
        return [e.value for e in node.elements]
    if t is cst.Return:
        return (node.value,) if node.value is not None else ()
    if t is cst.UnaryOperation:
        return (node.expression,)
    if t is cst.Comparison:
        return [node.left, *[c.comparator for c in node.comparisons]]
    if t is cst.AnnAssign:
        return (node.target, node.value) if node.value is not None else (node.target,)
    if t is cst.FunctionDef:
        p = node.params
        defaults = [q.default for q in (*p.posonly_params, *p.params, *p.kwonly_params) if q.default is not None]
        return [*[d.decorator for d in node.decorators], *defaults, node.body]
    return children(node)


def _is_static(fn: cst.FunctionDef) -> bool:
    for d in fn.decorators:
        name = dotted_name(d.decorator) or ""
        if name.rpartition(".")[2] in ("staticmethod", "classmethod"):
            return True
    return False


def _index(ctx) -> _Index:
    index = getattr(ctx, "_nn3_index", None)
    if index is None or index.ctx is not ctx:
        index = _Index(ctx)
        ctx._nn3_index = index
    return index


class _Kinds:
    """What a tensor expression holds, through variables, modules and model classes of the file:
    'softmax', 'log_softmax', 'sigmoid', 'logsigmoid', 'linear' (the raw output of a Linear layer), or
    None where unknown. Also which loss a call computes."""

    _MAX_DEPTH = 8

    def __init__(self, index: _Index) -> None:
        self.index = index
        self.ctx = index.ctx
        self._class_out: dict[int, tuple[str, str] | None] = {}

    # ---- tensors ---------------------------------------------------------------------------
    def of(self, expr, scope: _Scope, use: int, subscripts: bool = True, depth: int = 0) -> tuple[str, str] | None:
        """(kind, label of where it comes from) for a tensor expression, else None."""
        if depth > self._MAX_DEPTH:
            return None
        t = type(expr)
        if t is cst.Name:
            found = scope.reaching(expr.value, use)
            if found is None or found.value is None:
                return None
            return self.of(found.value, scope, found.start, subscripts, depth + 1)
        if t is cst.Subscript:
            return self.of(expr.value, scope, use, subscripts, depth + 1) if subscripts else None
        if t is cst.Call:
            return self._call(expr, scope, use, subscripts, depth)
        return None

    def _call(self, call: cst.Call, scope: _Scope, use: int, subscripts: bool, depth: int) -> tuple[str, str] | None:
        func = call.func
        qual = _qual(self.ctx, func)
        if qual in _ACTIVATION_FUNCTIONS:
            return _ACTIVATION_FUNCTIONS[qual], self.ctx.code(func)
        if type(func) is cst.Attribute and qual is None:
            method = func.attr.value
            receiver = func.value
            if not _is_self(receiver):
                if method in _ACTIVATION_METHODS and call.args:
                    return _ACTIVATION_METHODS[method], f".{method}()"
                if method == "sigmoid" and not call.args:
                    return "sigmoid", ".sigmoid()"
                if method in _LAYOUT_METHODS:
                    return self.of(receiver, scope, use, subscripts, depth + 1)
        elif qual is not None and type(func) is cst.Attribute and func.attr.value in _LAYOUT_METHODS:
            return None
        if type(func) is cst.Call:
            return self.module_kind(func, scope, use, depth + 1)
        if type(func) in (cst.Name, cst.Attribute) and not (qual and qual.startswith("torch.")):
            return self.module_kind(func, scope, use, depth + 1)
        return None

    # ---- modules -----------------------------------------------------------------------------
    def resolve(self, expr, scope: _Scope, use: int, depth: int, ctor) -> object:
        """The value ``ctor`` gives the module constructor ``expr`` refers to (through names, ``self.x``
        attributes and ``.to(device)`` chains); None unless every binding gives the same value."""
        if depth > self._MAX_DEPTH:
            return None
        t = type(expr)
        if t is cst.Call:
            func = expr.func
            if type(func) is cst.Attribute and func.attr.value in _MODULE_CHAIN_METHODS and _qual(self.ctx, func) is None:
                return self.resolve(func.value, scope, use, depth + 1, ctor)
            return ctor(expr, scope, depth)
        if t is cst.Name:
            found = scope.reaching(expr.value, use)
            if found is not None:
                if found.value is None:
                    return None
                return self.resolve(found.value, scope, found.start, depth + 1, ctor)
            bindings = self.index.file_bindings(expr.value)
            if not bindings or len(bindings) > 8:
                return None
            return self._same([(v, s, r.start) for v, s, r in bindings], depth, ctor)
        attr = _self_attr(expr)
        if attr is not None and scope.cls is not None:
            bindings = scope.cls.self_assigns.get(attr)
            if not bindings or len(bindings) > 8:
                return None
            return self._same([(v, s, r.start) for v, s, r in bindings], depth, ctor)
        return None

    def _same(self, bindings: list, depth: int, ctor) -> object:
        result = None
        for value, scope, start in bindings:
            if value is None:
                return None
            got = self.resolve(value, scope, start, depth + 1, ctor)
            if got is None or (result is not None and got != result):
                return None
            result = got
        return result

    def module_kind(self, expr, scope: _Scope, use: int, depth: int = 0) -> tuple[str, str] | None:
        return self.resolve(expr, scope, use, depth, self._module_ctor)  # type: ignore[return-value]

    def _module_ctor(self, call: cst.Call, scope: _Scope, depth: int) -> tuple[str, str] | None:
        cls = _torch_class(_qual(self.ctx, call.func))
        if cls is not None:
            if cls in _ACTIVATION_MODULES:
                return _ACTIVATION_MODULES[cls], self.ctx.code(call.func)
            if cls in ("Linear", "LazyLinear", "Bilinear"):
                return "linear", self.ctx.code(call.func)
            if cls == "Sequential":
                last = [a for a in call.args if a.keyword is None]
                if len(last) >= 1 and not last[-1].star:
                    return self.resolve(last[-1].value, scope, 10**9, depth + 1, self._module_ctor)  # type: ignore[return-value]
                return None
            if cls in _WRAPPER_MODULES and call.args:
                return self.resolve(call.args[0].value, scope, 10**9, depth + 1, self._module_ctor)  # type: ignore[return-value]
            return None
        info = self.index.local_class(call.func)
        if info is not None and self.index.is_module(info):
            out = self.class_output(info)
            if out is not None:
                return out[0], f"{info.name}.forward (it returns {out[1]} output)"
        return None

    def class_output(self, info: _ClassInfo) -> tuple[str, str] | None:
        """What every ``return`` of the class's ``forward`` gives, when they all agree."""
        key = id(info)
        if key in self._class_out:
            return self._class_out[key]
        self._class_out[key] = None  # recursion guard
        forward = info.methods.get("forward")
        result = None
        if forward is not None:
            scope = self.index.scope_of(forward)
            returns = list(_returns(forward))
            for ret in returns:
                if ret.value is None:
                    result = None
                    break
                got = self.of(ret.value, scope, self.index.order.get(id(ret), 10**9), subscripts=False)
                if got is None or (result is not None and got[0] != result[0]):
                    result = None
                    break
                result = got
        self._class_out[key] = result
        return result

    # ---- losses ------------------------------------------------------------------------------
    def loss(self, call: cst.Call, scope: _Scope, use: int) -> str | None:
        """'ce' / 'nll' / 'bce' / 'bce_logits' for a call computing that loss, else None."""
        qual = _qual(self.ctx, call.func)
        if qual in _LOSS_FUNCTIONS:
            return _LOSS_FUNCTIONS[qual]
        if qual is not None and qual.startswith("torch."):
            return None
        return self.resolve(call.func, scope, use, 0, self._loss_ctor)  # type: ignore[return-value]

    def _loss_ctor(self, call: cst.Call, scope: _Scope, depth: int) -> str | None:
        return _LOSS_CLASSES.get(_torch_class(_qual(self.ctx, call.func)) or "")


def _returns(fn: cst.FunctionDef):
    """The ``return`` statements of ``fn`` itself (not of nested functions, lambdas or classes)."""
    pending: list[cst.CSTNode] = [fn.body]
    while pending:
        node = pending.pop()
        t = type(node)
        if t is cst.Return:
            yield node
            continue
        if t is cst.FunctionDef or t is cst.ClassDef or t is cst.Lambda:
            continue
        if isinstance(node, cst.BaseExpression):
            continue
        pending.extend(reversed(children(node)))


def _kinds(ctx) -> _Kinds:
    kinds = getattr(ctx, "_nn3_kinds", None)
    if kinds is None or kinds.ctx is not ctx:
        kinds = _Kinds(_index(ctx))
        ctx._nn3_kinds = kinds
    return kinds


def _loss_bound_names(index: _Index) -> tuple[set[str], set[str]]:
    """Names and ``self`` attributes bound anywhere to a loss module (cheap prefilter for loss calls)."""
    names: set[str] = set()
    attrs: set[str] = set()

    def is_loss(value) -> bool:
        while type(value) is cst.Call and type(value.func) is cst.Attribute and value.func.attr.value in _MODULE_CHAIN_METHODS:
            value = value.func.value
        return type(value) is cst.Call and (_torch_class(_qual(index.ctx, value.func)) or "") in _LOSS_CLASSES

    for name, bindings in index.names.items():
        if any(is_loss(v) for v, _, _ in bindings):
            names.add(name)
    for info in index.classes:
        for attr, bindings in info.self_assigns.items():
            if any(is_loss(v) for v, _, _ in bindings):
                attrs.add(attr)
    return names, attrs


class _LossInputRule(Rule):
    """Shared driver: every call of the given losses, with the tensor passed as its input."""

    _losses: frozenset = frozenset()

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        kinds = _kinds(self.ctx)
        names, attrs = _loss_bound_names(index)
        for call, scope, order in index.calls:
            func = call.func
            t = type(func)
            if t is cst.Name and func.value not in names and _qual(self.ctx, func) not in _LOSS_FUNCTIONS:
                continue
            if t is cst.Attribute:
                attr = _self_attr(func)
                if attr is not None:
                    if attr not in attrs:
                        continue
                elif func.attr.value not in self._function_names:
                    continue
            elif t is not cst.Name and t is not cst.Call:
                continue
            loss = kinds.loss(call, scope, order)
            if loss is None or loss not in self._losses:
                continue
            value = arg(call, 0, "input")
            if value is None:
                continue
            self.check(call, loss, value, scope, order, kinds)

    _function_names = frozenset(
        {"cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
    )

    def check(self, call: cst.Call, loss: str, value, scope: _Scope, use: int, kinds: _Kinds) -> None:
        raise NotImplementedError

    def unwrap_fix(self, value, description: str):
        """An unsafe fix replacing a direct activation call by its input (``F.softmax(z, 1)`` -> ``z``)."""
        if type(value) is not cst.Call:
            return None
        func = value.func
        qual = _qual(self.ctx, func)
        inner = None
        if qual in _ACTIVATION_FUNCTIONS:
            inner = arg(value, 0, "input")
        elif type(func) is cst.Attribute and qual is None and func.attr.value in _ACTIVATION_METHODS:
            inner = func.value
        elif type(func) is cst.Call and (_torch_class(_qual(self.ctx, func.func)) or "") in _ACTIVATION_MODULES:
            inner = arg(value, 0, "input")
        if inner is None or any(a.star for a in value.args):
            return None
        return self.fix("unsafe", (value, _strip_parens(self.ctx, inner)), description=description)


_LOSS_LABELS = {
    "ce": "cross_entropy",
    "nll": "nll_loss",
    "bce": "binary_cross_entropy",
    "bce_logits": "binary_cross_entropy_with_logits",
}


class SoftmaxBeforeCrossEntropy(_LossInputRule):
    """Flags softmax probabilities passed to a loss that expects logits or log-probabilities.

    ## What it does
    Finds the input of `nn.CrossEntropyLoss` / `F.cross_entropy` that is the output of a softmax or
    log-softmax (`F.softmax`, `torch.softmax`, `F.log_softmax`, `x.softmax(dim)`, `nn.Softmax()`,
    `nn.LogSoftmax()`), and the input of `nn.NLLLoss` / `F.nll_loss` that is a softmax output (it expects
    log-probabilities). It follows the tensor directly (`F.cross_entropy(F.softmax(z, 1), y)`), through
    variables of the same function, through `view`/`reshape`/`float` and indexing, through module
    attributes (`self.softmax = nn.Softmax(dim=1)`), and through models of the same file whose `forward`
    returns a softmax or log-softmax on every path (`return F.log_softmax(x, dim=1)`), called as
    `model(x)` where `model` is bound to that class (`model = Net().to(device)`, also in another
    function of the file when every binding of the name agrees), or an `nn.Sequential` ending in
    `nn.Softmax`.

    It stays silent for `nn.NLLLoss` after `log_softmax` (the correct pairing), for softmax applied to
    the *target* (soft labels, distillation), for softmax used for metrics or `argmax`, for models whose
    `forward` returns logits in training and probabilities only on some paths, and for losses it cannot
    identify.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` to its input itself. Fed probabilities, it computes
    `log_softmax(softmax(z))`: the probabilities are squashed into `[0, 1]`, so the loss can never get
    near zero, its gradients are tiny, and training stalls or converges to a worse model, without any
    error. Fed log-probabilities, the extra `log_softmax` is harmless only by accident; the model's
    output no longer means what the code says. `NLLLoss` on probabilities (not their log) optimises
    the wrong objective altogether.

    ## Example
    ```python
    class Net(nn.Module):
        def forward(self, x):
            x = self.fc2(F.relu(self.fc1(x)))
            return F.log_softmax(x, dim=1)

    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(images), labels)
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))  # logits

    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(images), labels)
    ```

    ## Fix safety
    Where the softmax call is written inside the loss call, the fix passes its input instead
    (`F.cross_entropy(F.softmax(z, 1), y)` becomes `F.cross_entropy(z, y)`). It is unsafe: the loss
    values and gradients change (that is the point), and so does any code that relies on them.
    """

    code = "NN302"
    name = "softmax-before-cross-entropy"
    message = "softmax output passed to cross_entropy, which applies log_softmax itself; pass the raw logits"
    # The words of the last entry keep the model classes (their ``forward`` ends in a softmax) and the
    # training functions (``criterion(model(x), y)``) in the parse.
    requires = (
        ("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss"),
        ("loss", "criterion", "cross_entropy", "softmax", "Softmax", "model"),
    )
    fixable = True
    _losses = frozenset({"ce", "nll"})

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return ("softmax" in text or "Softmax" in text) and super().applies_to(text)

    def check(self, call, loss, value, scope, use, kinds) -> None:
        got = kinds.of(value, scope, use)
        if got is None:
            return
        kind, label = got
        if loss == "ce" and kind in ("softmax", "log_softmax"):
            message = (
                f"{kind} output ({label}) passed to cross-entropy, which applies log_softmax itself; "
                "pass the raw logits"
            )
        elif loss == "nll" and kind == "softmax":
            message = f"softmax output ({label}) passed to nll_loss, which expects log-probabilities; use log_softmax"
        else:
            return
        fix = None
        if loss == "ce":
            fix = self.unwrap_fix(value, f"pass the logits to the loss instead of the {kind}")
        elif type(value) is cst.Call:
            fix = self._log_softmax_fix(value)
        self.report(value, message, fix=fix)

    def _log_softmax_fix(self, value: cst.Call):
        func = value.func
        qual = _qual(self.ctx, func)
        if qual in ("torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax") and type(func) is cst.Attribute:
            return self.fix("unsafe", (func.attr, "log_softmax"), description="use log_softmax")
        if qual is None and type(func) is cst.Attribute and func.attr.value == "softmax":
            return self.fix("unsafe", (func.attr, "log_softmax"), description="use log_softmax")
        return None

    VALID = [
        # The correct pairings: logits into CrossEntropyLoss, log_softmax into NLLLoss.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                x = F.relu(self.fc1(x))
                return F.log_softmax(self.fc2(x), dim=1)

        def train(model, loader, optimizer):
            for data, target in loader:
                optimizer.zero_grad()
                output = model(data)
                loss = F.nll_loss(output, target)
                loss.backward()
                optimizer.step()
        """,
        # Softmax for metrics only; the loss gets the logits.
        """
        import torch
        import torch.nn as nn

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y):
            logits = model(x)
            probs = torch.softmax(logits, dim=1)
            loss = criterion(logits, y)
            acc = (probs.argmax(dim=1) == y).float().mean()
            return loss, acc
        """,
        # Soft targets: the softmax is on the target side (distillation).
        """
        import torch.nn.functional as F

        def distill_loss(student_logits, teacher_logits, T=4.0):
            soft_targets = F.softmax(teacher_logits / T, dim=-1)
            return F.cross_entropy(student_logits / T, soft_targets) * T * T
        """,
        # The variable is reassigned to logits before the loss.
        """
        import torch.nn.functional as F

        def evaluate(model, x, y):
            out = F.softmax(model(x), dim=1)
            confidence = out.max(dim=1).values
            out = model.head(x)
            return F.cross_entropy(out, y), confidence
        """,
        # A model that returns logits in training and probabilities only at inference.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Classifier(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.fc = nn.Linear(d, n)

            def forward(self, x):
                logits = self.fc(x)
                if self.training:
                    return logits
                return F.softmax(logits, dim=-1)

        model = Classifier(128, 10)
        criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

        def train_step(x, y):
            return criterion(model(x), y)
        """,
        # log of softmax into NLLLoss (another rule's business), and an unrelated Softmax attribute.
        """
        import torch
        import torch.nn as nn

        class Attn(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.softmax = nn.Softmax(dim=-1)
                self.out = nn.Linear(d, 10)

            def forward(self, q, k, v):
                w = self.softmax(q @ k.transpose(-2, -1))
                return self.out(w @ v)

        model = Attn(64)
        criterion = nn.CrossEntropyLoss()
        nll = nn.NLLLoss()

        def loss_fn(q, k, v, y, p):
            return criterion(model(q, k, v), y) + nll(torch.log(p), y)
        """,
        # The name is bound to different models in different places: unknown, silent.
        """
        import torch.nn as nn
        import torch.nn.functional as F
        from torchvision.models import resnet18

        class Small(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 2)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=1)

        def build(small):
            if small:
                model = Small()
            else:
                model = resnet18(num_classes=2)
            return model

        def train(model, x, y):
            criterion = nn.CrossEntropyLoss()
            return criterion(model(x), y)
        """,
        # Keras: categorical cross-entropy on softmax outputs is the convention there.
        """
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.layers.Dense(10), tf.keras.layers.Softmax()])
        loss = tf.keras.losses.CategoricalCrossentropy()(y_true, model(x))
        """,
        # A tuple of (logits, probs): the loss gets the logits.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(32, 5)

            def forward(self, x):
                logits = self.fc(x)
                return logits, F.softmax(logits, dim=-1)

        head = Head()
        ce = nn.CrossEntropyLoss()

        def loss_of(x, y):
            logits, probs = head(x)
            return ce(logits, y)
        """,
        # The fixed forms of the INVALID cases below.
        """
        import torch.nn.functional as F

        def loss_fn(logits, labels):
            return F.cross_entropy(logits, labels)

        def nll(logits, labels):
            return F.nll_loss(F.log_softmax(logits, dim=1), labels)
        """,
        """
        import torch
        import torch.nn as nn

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y):
            out = model(x)
            return criterion(out, y)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn.functional as F

            def loss_fn(logits, labels):
                return F.cross_entropy(F.softmax(logits, dim=1), labels)
            """,
            line=5,
            message_contains="softmax output (F.softmax)",
            fixed="""
            import torch.nn.functional as F

            def loss_fn(logits, labels):
                return F.cross_entropy(logits, labels)
            """,
        ),
        # NLLLoss on probabilities: the fix takes the log.
        Invalid(
            """
            import torch.nn.functional as F

            def nll(logits, labels):
                return F.nll_loss(F.softmax(logits, dim=1), labels)
            """,
            message_contains="expects log-probabilities",
            fixed="""
            import torch.nn.functional as F

            def nll(logits, labels):
                return F.nll_loss(F.log_softmax(logits, dim=1), labels)
            """,
        ),
        # The method form, through a criterion object and a variable.
        Invalid(
            """
            import torch
            import torch.nn as nn

            criterion = nn.CrossEntropyLoss()

            def step(model, x, y):
                out = model(x).softmax(dim=1)
                return criterion(out, y)
            """,
            line=9,
        ),
        # The MNIST-style model ends in log_softmax but is trained with CrossEntropyLoss.
        Invalid(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(1, 32, 3, 1)
                    self.fc1 = nn.Linear(5408, 10)

                def forward(self, x):
                    x = F.relu(self.conv1(x))
                    x = torch.flatten(x, 1)
                    x = self.fc1(x)
                    output = F.log_softmax(x, dim=1)
                    return output

            def train(model, device, train_loader, optimizer, criterion):
                model.train()
                for data, target in train_loader:
                    data, target = data.to(device), target.to(device)
                    optimizer.zero_grad()
                    output = model(data)
                    loss = criterion(output, target)
                    loss.backward()
                    optimizer.step()

            def main():
                device = torch.device("cuda")
                model = Net().to(device)
                criterion = nn.CrossEntropyLoss()
                optimizer = torch.optim.Adam(model.parameters())
                train(model, device, None, optimizer, criterion)
            """,
            line=25,
            message_contains="Net.forward",
        ),
        # A Sequential model ending in nn.Softmax, with an aliased import.
        Invalid(
            """
            from torch import nn as tnn

            model = tnn.Sequential(tnn.Linear(20, 64), tnn.ReLU(), tnn.Linear(64, 3), tnn.Softmax(dim=1))
            loss_fn = tnn.CrossEntropyLoss()
            for x, y in loader:
                loss = loss_fn(model(x), y)
            """,
            line=7,
        ),
        # A softmax module attribute inside a model class, and a loss attribute.
        Invalid(
            """
            import torch.nn as nn

            class Model(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.fc = nn.Linear(d, n)
                    self.softmax = nn.Softmax(dim=-1)
                    self.loss = nn.CrossEntropyLoss()

                def forward(self, x, y=None):
                    probs = self.softmax(self.fc(x))
                    if y is not None:
                        return self.loss(probs, y)
                    return probs
            """,
            line=14,
        ),
        # torch.softmax, a reshape in between, and the keyword form.
        Invalid(
            """
            import torch
            from torch.nn.functional import cross_entropy

            def seq_loss(logits, targets, vocab):
                probs = torch.softmax(logits, dim=-1)
                return cross_entropy(input=probs.view(-1, vocab), target=targets.view(-1))
            """,
            line=7,
        ),
        # nn.Softmax called inline inside a Lightning module.
        Invalid(
            """
            import pytorch_lightning as pl
            import torch.nn as nn

            class Lit(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Linear(10, 4)
                    self.criterion = nn.CrossEntropyLoss()

                def training_step(self, batch, batch_idx):
                    x, y = batch
                    loss = self.criterion(nn.Softmax(dim=1)(self.net(x)), y)
                    return loss
            """,
            line=13,
            fixed="""
            import pytorch_lightning as pl
            import torch.nn as nn

            class Lit(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Linear(10, 4)
                    self.criterion = nn.CrossEntropyLoss()

                def training_step(self, batch, batch_idx):
                    x, y = batch
                    loss = self.criterion(self.net(x), y)
                    return loss
            """,
        ),
        # A model attribute of a class whose forward ends in softmax.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(512, 100)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)

            class Trainer:
                def __init__(self):
                    self.model = Backbone().cuda()
                    self.criterion = nn.CrossEntropyLoss()

                def step(self, x, y):
                    out = self.model(x)
                    return self.criterion(out, y)
            """,
            line=20,
        ),
    ]


class SigmoidBeforeBceWithLogits(_LossInputRule):
    """Flags a sigmoid output passed to `BCEWithLogitsLoss`, which applies the sigmoid itself.

    ## What it does
    Finds the input of `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` that is the output
    of a sigmoid (`torch.sigmoid`, `F.sigmoid`, `x.sigmoid()`, `nn.Sigmoid()`), directly, through
    variables of the same function, `view`/`squeeze`/indexing, module attributes, or a model of the
    same file whose `forward` returns a sigmoid on every path (also an `nn.Sequential` ending in
    `nn.Sigmoid`).

    ## Why is this bad?
    `BCEWithLogitsLoss` computes `sigmoid` of its input itself (in a numerically stable way). A
    sigmoid before it squashes the input into `[0, 1]`, so the second sigmoid only ever sees values
    between 0.5 and 0.73: the loss cannot approach zero and its gradients are small and distorted.
    Training runs without any error and converges to a worse model.

    ## Example
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(torch.sigmoid(model(x)), y)
    ```

    ## Use instead
    ```python
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(model(x), y)  # apply torch.sigmoid only for predictions
    ```

    ## Fix safety
    Where the sigmoid call is written inside the loss call, the fix passes its input instead. It is
    unsafe: the loss values and gradients change (that is the point).
    """

    code = "NN303"
    name = "sigmoid-before-bce-with-logits"
    message = "sigmoid output passed to BCEWithLogitsLoss, which applies the sigmoid itself; pass the raw logits"
    requires = (
        ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss"),
        ("loss", "criterion", "binary_cross_entropy_with_logits", "sigmoid", "Sigmoid", "model"),
    )
    fixable = True
    _losses = frozenset({"bce_logits"})

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return ("sigmoid" in text or "Sigmoid" in text) and super().applies_to(text)

    def check(self, call, loss, value, scope, use, kinds) -> None:
        got = kinds.of(value, scope, use)
        if got is None or got[0] != "sigmoid":
            return
        message = (
            f"sigmoid output ({got[1]}) passed to BCEWithLogitsLoss, which applies the sigmoid itself; "
            "pass the raw logits"
        )
        self.report(value, message, fix=self.unwrap_fix(value, "pass the logits to the loss instead of the sigmoid"))

    VALID = [
        """
        import torch
        import torch.nn as nn

        criterion = nn.BCEWithLogitsLoss()

        def step(model, x, y):
            logits = model(x)
            loss = criterion(logits, y)
            preds = (torch.sigmoid(logits) > 0.5).float()
            return loss, preds
        """,
        # Sigmoid into plain BCELoss is the correct pairing.
        """
        import torch
        import torch.nn as nn

        bce = nn.BCELoss()

        def step(model, x, y):
            return bce(torch.sigmoid(model(x)), y)
        """,
        # The sigmoid output is the target (self-distillation).
        """
        import torch.nn.functional as F

        def consistency(student_logits, teacher_logits):
            target = teacher_logits.sigmoid().detach()
            return F.binary_cross_entropy_with_logits(student_logits, target)
        """,
        # A gate: sigmoid multiplies the features; the loss gets logits.
        """
        import torch
        import torch.nn as nn

        class Gated(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.gate = nn.Linear(d, d)
                self.head = nn.Linear(d, 1)

            def forward(self, x):
                x = x * torch.sigmoid(self.gate(x))
                return self.head(x)

        model = Gated(32)
        criterion = nn.BCEWithLogitsLoss(pos_weight=None)

        def train_step(x, y):
            return criterion(model(x).squeeze(-1), y)
        """,
        # A model whose forward applies the sigmoid only at inference.
        """
        import torch
        import torch.nn as nn

        class Detector(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 1)

            def forward(self, x, apply_sigmoid=False):
                out = self.fc(x)
                if apply_sigmoid:
                    return torch.sigmoid(out)
                return out

        model = Detector()
        loss_fn = nn.BCEWithLogitsLoss()

        def step(x, y):
            return loss_fn(model(x), y)
        """,
        # The variable is the logits again by the time the loss runs.
        """
        import torch
        import torch.nn.functional as F

        def loss_of(head, x, y):
            out = torch.sigmoid(head(x))
            mask = out > 0.5
            out = head(x)
            return F.binary_cross_entropy_with_logits(out[mask], y[mask])
        """,
        # A different loss attribute from the one bound to BCEWithLogits.
        """
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 1)
                self.bce = nn.BCELoss()
                self.bce_logits = nn.BCEWithLogitsLoss()

            def forward(self, x, y):
                logits = self.fc(x)
                return self.bce(torch.sigmoid(logits), y) + self.bce_logits(logits, y)
        """,
        # Fixed form.
        """
        import torch
        import torch.nn.functional as F

        def loss_fn(logits, y):
            return F.binary_cross_entropy_with_logits(logits, y)
        """,
        # A discriminator ending in nn.Sigmoid trained with plain BCELoss.
        """
        import torch.nn as nn

        netD = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Sigmoid())
        criterion = nn.BCELoss()
        for real, label in loader:
            err = criterion(netD(real).view(-1), label)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def loss_fn(logits, y):
                return F.binary_cross_entropy_with_logits(torch.sigmoid(logits), y)
            """,
            line=6,
            fixed="""
            import torch
            import torch.nn.functional as F

            def loss_fn(logits, y):
                return F.binary_cross_entropy_with_logits(logits, y)
            """,
        ),
        # The method form through a variable and a criterion.
        Invalid(
            """
            import torch.nn as nn

            criterion = nn.BCEWithLogitsLoss()

            def train_step(model, x, y, opt):
                preds = model(x).sigmoid()
                loss = criterion(preds, y)
                loss.backward()
                opt.step()
            """,
            line=8,
        ),
        # A model whose forward ends in torch.sigmoid.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Disc(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(784, 1)

                def forward(self, x):
                    return torch.sigmoid(self.fc(x))

            D = Disc().cuda()
            adversarial_loss = torch.nn.BCEWithLogitsLoss()

            def d_step(real, valid):
                return adversarial_loss(D(real), valid)
            """,
            line=17,
        ),
        # A Sequential ending in nn.Sigmoid, squeezed.
        Invalid(
            """
            import torch.nn as nn
            from torch.nn import BCEWithLogitsLoss

            net = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
            loss_fct = BCEWithLogitsLoss()
            for xb, yb in loader:
                loss = loss_fct(net(xb).squeeze(1), yb)
            """,
            line=8,
        ),
        # nn.Sigmoid module attribute, keyword input.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class MultiLabel(nn.Module):
                def __init__(self, d, k):
                    super().__init__()
                    self.fc = nn.Linear(d, k)
                    self.act = nn.Sigmoid()

                def loss(self, x, y):
                    scores = self.act(self.fc(x))
                    return F.binary_cross_entropy_with_logits(input=scores, target=y.float())
            """,
            line=13,
        ),
        # torch.nn.functional.sigmoid through the torch alias, inline.
        Invalid(
            """
            import torch

            def seg_loss(mask_logits, masks):
                return torch.nn.functional.binary_cross_entropy_with_logits(
                    torch.nn.functional.sigmoid(mask_logits), masks, reduction="mean"
                )
            """,
            line=6,
        ),
        # nn.Sigmoid()(x) inline with a pos_weight criterion attribute.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Trainer:
                def __init__(self, pos_weight):
                    self.criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))

                def loss(self, out, y):
                    return self.criterion(nn.Sigmoid()(out), y)
            """,
            line=10,
            fixed="""
            import torch
            import torch.nn as nn

            class Trainer:
                def __init__(self, pos_weight):
                    self.criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))

                def loss(self, out, y):
                    return self.criterion(out, y)
            """,
        ),
        # A DCGAN discriminator ending in nn.Sigmoid, trained with BCEWithLogitsLoss in a script loop.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self, nc, ndf):
                    super().__init__()
                    self.main = nn.Sequential(
                        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                        nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(ndf, 1, 4, 1, 0, bias=False),
                        nn.Sigmoid(),
                    )

                def forward(self, x):
                    output = self.main(x)
                    return output.view(-1, 1).squeeze(1)

            netD = Discriminator(3, 64).to("cuda")
            criterion = nn.BCEWithLogitsLoss()
            for real, _ in dataloader:
                label = torch.ones(real.size(0), device="cuda")
                errD_real = criterion(netD(real), label)
            """,
            line=23,
        ),
    ]
class ProbabilityLossOnLogits(_LossInputRule):
    """Flags raw logits passed to a loss that expects probabilities or log-probabilities.

    ## What it does
    Finds `nn.BCELoss` / `F.binary_cross_entropy` (which expect probabilities in `[0, 1]`) and
    `nn.NLLLoss` / `F.nll_loss` (which expect log-probabilities) whose input is provably raw logits:
    the direct output of an `nn.Linear` layer (`self.fc(x)`, through variables, `view`/`squeeze` and
    models of the same file whose `forward` returns a Linear output on every path), or a variable
    named `logits` / `*_logits` that is not the output of an activation.

    It stays silent when a sigmoid / log_softmax is applied anywhere on the way (`torch.sigmoid`,
    `F.log_softmax`, `nn.Sigmoid`, ...) and when it cannot tell what the input is.

    ## Why is this bad?
    `BCELoss` takes `log(input)` and `log(1 - input)`: logits outside `[0, 1]` make it raise on CUDA
    (a device-side assert) or produce NaN, and logits that happen to be in range train the wrong
    objective. `NLLLoss` just picks `-input[target]`: on logits it rewards making the target logit
    large without normalising over classes, so the loss goes to minus infinity and the model learns
    nothing useful, with no error at all.

    ## Example
    ```python
    criterion = nn.BCELoss()
    logits = model(x)
    loss = criterion(logits, y)
    ```

    ## Use instead
    ```python
    criterion = nn.BCEWithLogitsLoss()
    logits = model(x)
    loss = criterion(logits, y)
    ```
    """

    code = "NN304"
    name = "probability-loss-on-logits"
    message = "raw logits passed to a loss that expects probabilities; use BCEWithLogitsLoss / cross_entropy"
    requires = (
        ("binary_cross_entropy", "BCELoss", "nll_loss", "NLLLoss"),
        ("loss", "criterion", "BCE", "nll", "binary_cross_entropy", "model"),
    )
    _losses = frozenset({"bce", "nll"})

    def check(self, call, loss, value, scope, use, kinds) -> None:
        got = kinds.of(value, scope, use)
        if got is not None:
            if got[0] != "linear":
                return
            source = f"the output of {got[1]}"
        else:
            name = value.attr.value if type(value) is cst.Attribute else value.value if type(value) is cst.Name else None
            if name is None or not _LOGITS_NAME_RE.fullmatch(name):
                return
            if type(value) is cst.Name:
                found = scope.reaching(name, use)
                if found is None and name not in scope.params:
                    return
                if found is not None and not self._model_output(found.value):
                    return
            source = f"'{name}'"
        if loss == "bce":
            message = (
                f"raw logits ({source}) passed to binary_cross_entropy, which expects probabilities; "
                "use BCEWithLogitsLoss / binary_cross_entropy_with_logits"
            )
        else:
            message = (
                f"raw logits ({source}) passed to nll_loss, which expects log-probabilities; "
                "use cross_entropy (or apply log_softmax first)"
            )
        self.report(value, message)

    def _model_output(self, value) -> bool:
        """``logits = model(x)`` / ``self.head(h)`` / ``out.logits``: a name that still means what it says."""
        if type(value) is cst.Attribute:
            return True
        if type(value) is not cst.Call:
            return False
        qual = _qual(self.ctx, value.func)
        return qual is None or not qual.startswith("torch")

    VALID = [
        # Sigmoid before BCE, log_softmax before NLL: correct.
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(20, 1)

            def forward(self, x):
                return torch.sigmoid(self.fc(x))

        model = Net()
        criterion = nn.BCELoss()

        def step(x, y):
            return criterion(model(x), y)

        def nll(logits, y):
            return F.nll_loss(F.log_softmax(logits, dim=-1), y)
        """,
        # 'logits' reassigned to probabilities before the loss.
        """
        import torch
        import torch.nn.functional as F

        def loss_fn(head, x, y):
            logits = head(x)
            logits = torch.sigmoid(logits)
            return F.binary_cross_entropy(logits, y)
        """,
        # Logits into the logits losses.
        """
        import torch.nn as nn

        class Clf(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 5)
                self.loss = nn.CrossEntropyLoss()
                self.bce = nn.BCEWithLogitsLoss()

            def forward(self, x, y, multi):
                logits = self.fc(x)
                return self.bce(logits, multi) if y is None else self.loss(logits, y)
        """,
        # Probabilities of unknown origin: silent.
        """
        import torch.nn as nn

        bce = nn.BCELoss()

        def step(model, x, y):
            pred = model(x)
            return bce(pred, y)
        """,
        # A model whose forward applies the sigmoid on its last layer.
        """
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
        loss_fn = nn.BCELoss()

        def train(x, y):
            return loss_fn(model(x).squeeze(), y)
        """,
        # log_softmax module at the end of the model, NLLLoss.
        """
        import torch.nn as nn

        class Tagger(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.proj = nn.Linear(d, n)
                self.log_softmax = nn.LogSoftmax(dim=-1)

            def forward(self, h):
                return self.log_softmax(self.proj(h))

        tagger = Tagger(100, 17)
        loss_function = nn.NLLLoss()

        def step(h, tags):
            return loss_function(tagger(h), tags)
        """,
        # A probability named like logits is not taken from the name when its source is an activation.
        """
        import torch.nn.functional as F

        def loss(student_logits, teacher_logits, y):
            student_logits = F.log_softmax(student_logits, dim=-1)
            return F.nll_loss(student_logits, y)
        """,
        # A log-sigmoid named like logits.
        """
        import torch
        from torch.nn import NLLLoss, Sigmoid

        class SigmoidLoss:
            def __init__(self):
                self.nll_loss = NLLLoss()
                self.sigmoid = Sigmoid()

            def __call__(self, input, target):
                log_sigmoided_logits = torch.log(self.sigmoid(input))
                return self.nll_loss(log_sigmoided_logits, target)
        """,
        # A global named logits of unknown origin in a helper: not a parameter, not bound here.
        """
        import torch.nn.functional as F

        def probs_loss(y):
            return F.binary_cross_entropy(logit_probs, y)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            criterion = nn.BCELoss()

            def train_step(model, x, y):
                logits = model(x)
                return criterion(logits, y)
            """,
            line=8,
            message_contains="expects probabilities",
        ),
        # A model whose forward returns the Linear output, trained with BCELoss.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc1 = nn.Linear(d, 64)
                    self.fc2 = nn.Linear(64, 1)

                def forward(self, x):
                    x = torch.relu(self.fc1(x))
                    return self.fc2(x)

            model = Net(30)
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for xb, yb in loader:
                out = model(xb).squeeze(1)
                loss = criterion(out, yb)
            """,
            line=20,
            message_contains="Net.forward",
        ),
        # NLLLoss on the output of a Linear layer.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Tagger(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.hidden2tag = nn.Linear(d, n)

                def forward(self, h, tags):
                    tag_space = self.hidden2tag(h)
                    return F.nll_loss(tag_space, tags)
            """,
            line=12,
            message_contains="expects log-probabilities",
        ),
        # A parameter named *_logits into F.binary_cross_entropy.
        Invalid(
            """
            import torch.nn.functional as F

            def mask_loss(mask_logits, gt_masks):
                return F.binary_cross_entropy(mask_logits, gt_masks.float(), reduction="mean")
            """,
            line=5,
        ),
        # nn.Sequential model without a final activation, NLLLoss criterion attribute.
        Invalid(
            """
            import torch.nn as nn

            class Trainer:
                def __init__(self):
                    self.model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
                    self.criterion = nn.NLLLoss()

                def step(self, x, y):
                    out = self.model(x)
                    return self.criterion(out, y)
            """,
            line=11,
        ),
        # The direct output of a Linear attribute, inline.
        Invalid(
            """
            import torch.nn as nn

            class Disc(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(784, 128)
                    self.out = nn.Linear(128, 1)
                    self.loss = nn.BCELoss()

                def forward(self, x, y):
                    return self.loss(self.out(self.body(x)).view(-1), y)
            """,
            line=12,
        ),
        # 'logits' as an attribute of a model output.
        Invalid(
            """
            import torch.nn.functional as F

            def step(model, batch):
                outputs = model(**batch)
                return F.binary_cross_entropy(outputs.logits, batch["labels"])
            """,
            line=6,
        ),
        # BCELoss constructed inline.
        Invalid(
            """
            import torch.nn as nn

            def loss_of(logits, y):
                return nn.BCELoss()(logits, y)
            """,
            line=5,
        ),
    ]


class SoftmaxWithMultilabelBce(_LossInputRule):
    """Flags softmax probabilities passed to a binary (multi-label) cross-entropy.

    ## What it does
    Finds the input of `nn.BCELoss` / `F.binary_cross_entropy` / `nn.BCEWithLogitsLoss` /
    `F.binary_cross_entropy_with_logits` that is a whole softmax output (`F.softmax(z, dim=1)`,
    `z.softmax(-1)`, `nn.Softmax`, a model of the same file ending in softmax), directly or through
    variables. Selecting one column of a two-class softmax (`probs[:, 1]`) is left alone.

    ## Why is this bad?
    Binary cross-entropy treats every output as an independent yes/no probability: that is a
    multi-label problem, which needs a sigmoid per output. A softmax makes the outputs compete (they
    sum to one), so an example with several positive labels can never get them all right, and the
    loss pushes the wrong way. With `BCEWithLogitsLoss` the softmax output is squashed by a second
    sigmoid as well.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = F.binary_cross_entropy(probs, multi_hot_targets)
    ```

    ## Use instead
    ```python
    loss = F.binary_cross_entropy_with_logits(model(x), multi_hot_targets)
    ```
    """

    code = "NN316"
    name = "softmax-with-multilabel-bce"
    message = "softmax output passed to binary cross-entropy; use a sigmoid per label (BCEWithLogitsLoss on logits)"
    requires = (
        ("binary_cross_entropy", "BCELoss", "BCEWithLogitsLoss"),
        ("loss", "criterion", "binary_cross_entropy", "softmax", "Softmax", "model"),
    )
    _losses = frozenset({"bce", "bce_logits"})

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return ("softmax" in text or "Softmax" in text) and super().applies_to(text)

    def check(self, call, loss, value, scope, use, kinds) -> None:
        got = kinds.of(value, scope, use, subscripts=False)
        if got is None or got[0] != "softmax":
            return
        message = (
            f"softmax output ({got[1]}) passed to binary cross-entropy: the labels compete instead of being "
            "independent; use BCEWithLogitsLoss on the logits (a sigmoid per label)"
        )
        self.report(value, message)

    VALID = [
        # Two-class softmax: one column is a proper probability.
        """
        import torch.nn.functional as F

        def loss_fn(logits, y):
            probs = F.softmax(logits, dim=1)
            return F.binary_cross_entropy(probs[:, 1], y.float())
        """,
        # Sigmoid per label: correct.
        """
        import torch
        import torch.nn as nn

        criterion = nn.BCELoss()

        def step(model, x, y):
            return criterion(torch.sigmoid(model(x)), y)
        """,
        # Softmax with cross-entropy-style losses is another rule's business.
        """
        import torch
        import torch.nn.functional as F

        def kl(student, teacher):
            return F.kl_div(F.log_softmax(student, -1), F.softmax(teacher, -1), reduction="batchmean")
        """,
        # Softmax as the target of BCE (soft labels).
        """
        import torch.nn.functional as F

        def soft_bce(logits, teacher_logits):
            return F.binary_cross_entropy_with_logits(logits, F.softmax(teacher_logits, dim=-1))
        """,
        # An attention softmax inside the model; the loss gets logits.
        """
        import torch.nn as nn

        class Tagger(nn.Module):
            def __init__(self, d, k):
                super().__init__()
                self.attn = nn.Linear(d, 1)
                self.out = nn.Linear(d, k)
                self.loss = nn.BCEWithLogitsLoss()

            def forward(self, h, y):
                w = self.attn(h).softmax(dim=1)
                pooled = (w * h).sum(1)
                return self.loss(self.out(pooled), y)
        """,
        # A variable that held softmax output is reassigned.
        """
        import torch
        import torch.nn.functional as F

        def loss_fn(head, x, y):
            p = torch.softmax(head(x), dim=-1)
            entropy = -(p * p.log()).sum(-1).mean()
            p = torch.sigmoid(head(x))
            return F.binary_cross_entropy(p, y) + 0.1 * entropy
        """,
        # Gumbel-softmax-like sampling, then a BCE on a selected slice.
        """
        import torch
        import torch.nn as nn

        bce = nn.BCELoss()

        def step(scores, target):
            p = torch.softmax(scores, dim=-1)
            return bce(p[..., 0], target)
        """,
        # log_softmax output into a BCE is not this rule's pattern; a sigmoid per label is right.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Tagger(nn.Module):
            def __init__(self, d, k):
                super().__init__()
                self.fc = nn.Linear(d, k)

            def forward(self, x):
                return F.sigmoid(self.fc(x))

        model = Tagger(300, 12)
        criterion = nn.BCELoss()

        def step(x, y):
            return criterion(model(x), y)
        """,
        # A softmax over a different tensor than the one passed to the loss.
        """
        import torch
        import torch.nn.functional as F

        def loss(logits, attn_scores, y):
            weights = torch.softmax(attn_scores, dim=-1)
            pooled = (weights * logits).sum(1)
            return F.binary_cross_entropy_with_logits(pooled, y)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn.functional as F

            def multilabel_loss(logits, targets):
                probs = F.softmax(logits, dim=1)
                return F.binary_cross_entropy(probs, targets)
            """,
            line=6,
        ),
        # Softmax into BCEWithLogitsLoss, inline method form.
        Invalid(
            """
            import torch.nn as nn

            criterion = nn.BCEWithLogitsLoss()

            def step(model, x, y):
                return criterion(model(x).softmax(dim=-1), y)
            """,
            line=7,
        ),
        # A model ending in nn.Softmax trained with BCELoss.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, n_labels):
                    super().__init__()
                    self.fc = nn.Linear(2048, n_labels)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    return self.softmax(self.fc(x))

            model = Net(20)
            criterion = nn.BCELoss()
            for images, labels in loader:
                loss = criterion(model(images), labels)
            """,
            line=16,
        ),
        # torch.softmax through a variable, a criterion attribute.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.loss_fn = nn.BCELoss(reduction="sum")

                def step(self, x, y):
                    scores = torch.softmax(self.model(x), 1)
                    return self.loss_fn(scores, y)
            """,
            line=12,
        ),
        # A Sequential ending in softmax and the functional loss.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            head = nn.Sequential(nn.Linear(512, 80), nn.Softmax(dim=-1))

            def loss(feats, multi_hot):
                return F.binary_cross_entropy(head(feats), multi_hot)
            """,
            line=8,
        ),
        # nn.Softmax()(x) inline, keyword input.
        Invalid(
            """
            import torch.nn as nn
            from torch.nn.functional import binary_cross_entropy_with_logits as bce

            def loss(out, y):
                return bce(input=nn.Softmax(dim=1)(out), target=y)
            """,
            line=6,
        ),
        # Inline F.softmax into F.binary_cross_entropy, with the torch alias.
        Invalid(
            """
            import torch

            def tag_loss(scores, tags):
                return torch.nn.functional.binary_cross_entropy(torch.nn.functional.softmax(scores, dim=-1), tags)
            """,
            line=5,
        ),
        # A multi-label model class whose forward returns torch.softmax, trained in a script loop.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class MultiLabelNet(nn.Module):
                def __init__(self, d, k):
                    super().__init__()
                    self.fc = nn.Linear(d, k)

                def forward(self, x):
                    return torch.softmax(self.fc(x), dim=1)

            model = MultiLabelNet(300, 12).cuda()
            criterion = nn.BCELoss()
            for x, y in loader:
                out = model(x.cuda())
                loss = criterion(out, y.cuda().float())
            """,
            line=17,
        ),
    ]
class LogWithoutEpsilon(Rule):
    """Flags `log` of a softmax or sigmoid output: use `log_softmax` / `logsigmoid`.

    ## What it does
    Finds `torch.log(p)` / `p.log()` where `p` is the output of a softmax or sigmoid (`F.softmax`,
    `torch.softmax`, `x.softmax(dim)`, `nn.Softmax`, `torch.sigmoid`, `x.sigmoid()`, `nn.Sigmoid`,
    or a model of the same file ending in one), directly, through variables of the same function and
    through indexing (`torch.log(probs[range(n), y])`). It stays silent when an epsilon or a clamp
    sits in between (`torch.log(p + 1e-8)`, `p.clamp(min=eps).log()`): that is a (weaker) fix already.

    ## Why is this bad?
    Softmax and sigmoid underflow to exactly 0 in float32 (float16: much sooner) for confident
    predictions; `log(0)` is `-inf`, and the loss and gradients become `inf`/NaN, which then
    spreads through the weights. `log_softmax` and `logsigmoid` compute the same values in one
    numerically stable step (the log-sum-exp trick) and never produce `-inf` for finite inputs.

    ## Example
    ```python
    log_probs = torch.log(F.softmax(logits, dim=-1))
    loss = -log_probs[range(n), y].mean()
    ```

    ## Use instead
    ```python
    log_probs = F.log_softmax(logits, dim=-1)
    loss = -log_probs[range(n), y].mean()
    ```

    ## Fix safety
    Where the softmax call is written inside the log (`torch.log(F.softmax(z, -1))`,
    `z.softmax(-1).log()`, `torch.log(torch.sigmoid(z))`), the fix rewrites it as `F.log_softmax` /
    `torch.log_softmax` / `z.log_softmax(-1)` / `F.logsigmoid`. It is unsafe: the result differs in the
    last bits (it is more accurate), and where the old code produced `-inf` the new one gives a finite
    value.
    """

    code = "NN317"
    name = "log-without-epsilon"
    message = "log of a softmax/sigmoid output underflows to -inf; use log_softmax / logsigmoid"
    requires = ("log(",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return "log(" in text and ("softmax" in text or "sigmoid" in text or "Softmax" in text or "Sigmoid" in text)

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        kinds = None
        for call, scope, order in index.calls:
            func = call.func
            if type(func) is not cst.Attribute or func.attr.value != "log":
                continue
            qual = _qual(self.ctx, func)
            if qual == "torch.log":
                value = arg(call, 0, "input")
                if value is None or len(call.args) != 1:
                    continue
                method = False
            elif qual is None and not call.args:
                value = func.value
                method = True
            else:
                continue
            kinds = kinds or _kinds(self.ctx)
            got = kinds.of(value, scope, order)
            if got is None or got[0] not in ("softmax", "sigmoid"):
                continue
            kind, label = got
            better = "log_softmax" if kind == "softmax" else "F.logsigmoid"
            message = (
                f"log of a {kind} output ({label}) underflows to -inf for confident predictions; "
                f"use {better} instead"
            )
            self.report(call, message, fix=self._fix(call, value, method))

    def _fix(self, call: cst.Call, value, method: bool):
        if type(value) is not cst.Call:
            return None
        func = value.func
        qual = _qual(self.ctx, func)
        kind = _ACTIVATION_FUNCTIONS.get(qual or "")
        code = self.ctx.code
        if kind == "softmax" and type(func) is cst.Attribute and qual in ("torch.softmax", "torch.nn.functional.softmax"):
            new = code(value.with_changes(func=func.with_changes(attr=cst.Name("log_softmax")), lpar=[], rpar=[]))
        elif kind is None and qual is None and type(func) is cst.Attribute and func.attr.value == "softmax" and value.args:
            new = code(value.with_changes(func=func.with_changes(attr=cst.Name("log_softmax")), lpar=[], rpar=[]))
        elif kind == "sigmoid" or (qual is None and type(func) is cst.Attribute and func.attr.value == "sigmoid"):
            functional = self._functional_alias()
            inner = arg(value, 0, "input") if kind == "sigmoid" else func.value
            if functional is None or inner is None or (kind == "sigmoid" and len(value.args) != 1):
                return None
            if kind is None and value.args:
                return None
            new = f"{functional}.logsigmoid({_strip_parens(self.ctx, inner)})"
        else:
            return None
        return self.fix("unsafe", (call, new), description="use the log-space function")

    def _functional_alias(self) -> str | None:
        aliases = self.ctx.imports.aliases
        for local, target in aliases.items():
            if target == "torch.nn.functional":
                return local
        for local, target in aliases.items():
            if target == "torch.nn":
                return f"{local}.functional"
            if target == "torch":
                return f"{local}.nn.functional"
        return None

    VALID = [
        """
        import torch.nn.functional as F

        def nll(logits, y):
            log_probs = F.log_softmax(logits, dim=-1)
            return -log_probs.gather(1, y[:, None]).mean()
        """,
        # An epsilon or a clamp is already there.
        """
        import torch

        def entropy(logits):
            p = torch.softmax(logits, dim=-1)
            return -(p * torch.log(p + 1e-8)).sum(-1)

        def bce(logits, y):
            p = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
            return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
        """,
        # log of something else.
        """
        import torch

        def log_var(x):
            var = x.var(dim=0)
            return torch.log(var.clamp_min(1e-5))

        def loss(dist, y):
            return -torch.log(dist.gather(1, y)).mean()
        """,
        # The variable is reassigned before the log.
        """
        import torch

        def f(logits, counts):
            p = torch.softmax(logits, -1)
            top = p.argmax(-1)
            p = counts / counts.sum()
            return torch.log(p), top
        """,
        # numpy log of a numpy softmax.
        """
        import numpy as np
        from scipy.special import softmax

        def log_probs(x):
            return np.log(softmax(x, axis=-1))
        """,
        # log_softmax then exp, logsigmoid.
        """
        import torch.nn.functional as F

        def probs_and_logs(z):
            logp = F.log_softmax(z, -1)
            return logp.exp(), F.logsigmoid(z)
        """,
        # A softmax whose log is taken through a tensor method on another tensor.
        """
        import torch

        def kl(p_logits, q):
            p = torch.softmax(p_logits, -1)
            return (p * (q.log() - torch.log_softmax(p_logits, -1))).sum()
        """,
        # Fixed forms.
        """
        import torch
        import torch.nn.functional as F

        def a(logits):
            return F.log_softmax(logits, dim=-1)

        def b(z):
            return z.log_softmax(-1)

        def c(z):
            return F.logsigmoid(z)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def a(logits):
                return torch.log(F.softmax(logits, dim=-1))
            """,
            line=6,
            fixed="""
            import torch
            import torch.nn.functional as F

            def a(logits):
                return F.log_softmax(logits, dim=-1)
            """,
        ),
        Invalid(
            """
            def b(z):
                return z.softmax(-1).log()
            """,
            fixed="""
            def b(z):
                return z.log_softmax(-1)
            """,
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F

            def c(z):
                return torch.log(torch.sigmoid(z))
            """,
            fixed="""
            import torch
            import torch.nn.functional as F

            def c(z):
                return F.logsigmoid(z)
            """,
        ),
        # Manual NLL on softmax probabilities through a variable and indexing.
        Invalid(
            """
            import torch

            def manual_ce(logits, y):
                probs = torch.softmax(logits, dim=1)
                return -torch.log(probs[torch.arange(len(y)), y]).mean()
            """,
            line=6,
        ),
        # Entropy of a policy without epsilon.
        Invalid(
            """
            import torch.nn.functional as F

            class Policy:
                def entropy(self, logits):
                    probs = F.softmax(logits, dim=-1)
                    return -(probs * probs.log()).sum(-1)
            """,
            line=7,
        ),
        # Hand-written BCE on sigmoid outputs.
        Invalid(
            """
            import torch

            def bce(logits, y):
                p = torch.sigmoid(logits)
                return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
            """,
            line=6,
        ),
        # A model attribute nn.Softmax and its log.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.fc = nn.Linear(d, n)
                    self.sm = nn.Softmax(dim=1)

                def forward(self, x):
                    return torch.log(self.sm(self.fc(x)))
            """,
            line=12,
        ),
        # A model that ends in softmax, its output logged in the training loop.
        Invalid(
            """
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3), nn.Softmax(dim=-1))

            for x, y in data:
                out = model(x)
                loss = -torch.log(out[torch.arange(len(y)), y]).mean()
            """,
            line=9,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN305-NN311: model classes
# ---------------------------------------------------------------------------------------------


def _strip_chain(value):
    """``Net(...)`` for ``Net(...).to(device).eval()``."""
    while type(value) is cst.Call and type(value.func) is cst.Attribute and value.func.attr.value in _MODULE_CHAIN_METHODS:
        value = value.func.value
    return value


def _ctor(index: _Index, value) -> tuple[str, object] | None:
    """('torch', class name) / ('local', _ClassInfo) for a module constructor call, else None."""
    value = _strip_chain(value)
    if type(value) is not cst.Call:
        return None
    cls = _torch_class(_qual(index.ctx, value.func))
    if cls is not None:
        return "torch", cls
    info = index.local_class(value.func)
    if info is not None and index.is_module(info):
        return "local", info
    return None


def _nn_alias(ctx, name: str) -> str | None:
    """How this file can spell ``torch.nn.<name>`` (``nn.ModuleList``, ``torch.nn.ModuleList``), else None."""
    aliases = ctx.imports.aliases
    for local, target in aliases.items():
        if target == f"torch.nn.{name}":
            return local
    for local, target in aliases.items():
        if target == "torch.nn":
            return f"{local}.{name}"
    for local, target in aliases.items():
        if target == "torch":
            return f"{local}.nn.{name}"
    return None


_BIAS_INDEX = {"Linear": 2, "Bilinear": 3, "LazyLinear": 1}


def _bias_index(cls: str) -> int:
    if cls in _BIAS_INDEX:
        return _BIAS_INDEX[cls]
    return 6 if cls.startswith("Lazy") else 7


def _layer_dim(cls: str) -> str | None:
    found = _LAYER_DIM_RE.search(cls)
    return found.group(1) if found else ("1" if "Linear" in cls else None)


class BiasBeforeBatchNorm(Rule):
    """Flags a convolution or linear layer with a bias that feeds a batch norm directly.

    ## What it does
    Finds `nn.Linear` / `nn.Conv1d/2d/3d` / `nn.ConvTranspose*d` / `nn.Bilinear` (and their lazy
    forms) created with a bias (the default, or `bias=True`) whose output goes straight into a
    `BatchNorm1d/2d/3d` / `SyncBatchNorm` of the matching dimension:

    - next to each other in `nn.Sequential(...)` (also the `OrderedDict` form and `nn.Sequential`
      subclasses calling `super().__init__(...)`), in a list of layers that is unpacked into a
      `Sequential` or returned (`layers += [conv, nn.BatchNorm2d(c)]`), or appended / `add_module`d
      one after the other;
    - in a module's methods: `self.bn(self.conv(x))`, or `x = self.conv(x)` directly followed by
      `x = self.bn(x)`, where `self.conv` is called nowhere else.

    It stays silent when the bias is off (`bias=False`, or any non-literal value such as
    `bias=not use_bn`), when anything sits between the two (an activation, a residual add, a
    branch), when the batch norm is optional (`nn.BatchNorm2d(c) if bn else nn.Identity()`, or
    appended under an `if`), when a layer variable is also used without the batch norm (torchvision's
    VGG builds `conv2d` once for both branches), and for `FrozenBatchNorm2d`.

    ## Why is this bad?
    Batch norm subtracts the per-channel mean of its input, so a constant per-channel bias added just
    before it cancels out exactly: in training (batch mean) and at evaluation (the running mean
    absorbs it). The bias parameters receive zero gradient, cost memory, optimizer state and weight
    decay for nothing, and make the model look larger than it is. Batch norm's own `beta` already
    provides the shift.

    ## Example
    ```python
    block = nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
    )
    ```

    ## Use instead
    ```python
    block = nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
    )
    ```

    ## Fix safety
    The fix adds `bias=False` (or turns a literal `bias=True` into `False`). It is safe: the model
    computes the same function class and trains the same way. It is marked unsafe where the file
    accesses `.bias` without an `is not None` guard (`nn.init.zeros_(m.bias)` would get `None`).
    Note that checkpoints saved before the change hold a `conv.bias` entry that the new model does
    not have: load them with `strict=False` or retrain.
    """

    code = "NN305"
    name = "bias-before-batchnorm"
    message = "layer bias feeds a batch norm directly, which cancels it; pass bias=False"
    requires = ("BatchNorm",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files with a batch norm and a weight layer built without ``bias=False`` nearby."""
        if "BatchNorm" not in text:
            return False
        for found in _WEIGHT_LAYER_CALL_RE.finditer(text):
            depth, end, limit = 1, found.end(), min(len(text), found.end() + 600)
            while end < limit and depth:
                ch = text[end]
                depth += (ch == "(") - (ch == ")")
                end += 1
            call = text[found.end(): end]
            if "bias" not in call or "True" in call:
                return True
        return False

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        self._hits: dict[int, tuple[cst.Call, str, str]] = {}
        self._safe: bool | None = None
        star_names: dict[int, tuple[_Scope, set[str]]] = {}
        self_calls: dict[int, list[cst.Call]] = {}
        for call, scope, _ in index.calls:
            func = call.func
            t = type(func)
            if t is cst.Attribute:
                name = func.attr.value
                if scope.cls is not None and type(func.value) is cst.Name and func.value.value == "self":
                    self_calls.setdefault(id(scope.cls), []).append(call)
            elif t is cst.Name:
                name = func.value
            else:
                continue
            for a in call.args:
                if a.star == "*" and type(a.value) is cst.Name:
                    star_names.setdefault(id(scope), (scope, set()))[1].add(a.value.value)
            if name == "Sequential":
                if _torch_class(_qual(self.ctx, func)) == "Sequential":
                    self._sequence(self._sequential_items(call), scope)
            elif name == "__init__" and type(func.value) is cst.Call and dotted_name(func.value.func) == "super":
                info = scope.cls
                if info is not None and scope.kind == "function" and self._is_sequential_class(info):
                    self._sequence(self._sequential_items(call), scope)
        for scope in index.scope_of_fn.values():
            if scope.returned:
                star_names.setdefault(id(scope), (scope, set()))[1].update(scope.returned)
        for _, names in star_names.values():
            names.discard("self")
        for info in index.classes:
            init = info.methods.get("__init__")
            if init is not None and self._is_sequential_class(info):
                scope = index.scope_of(init)
                star_names.setdefault(id(scope), (scope, set()))[1].add("self")
        for scope, names in star_names.values():
            if names:
                self._layer_lists(scope, names)
        for info in index.classes:
            calls = self_calls.get(id(info))
            if calls and index.module_like(info):
                self._forward_pairs(info, calls)
        for call, layer, bn in self._hits.values():
            self._report(call, layer, bn)

    # ---- what a layer expression is ---------------------------------------------------------------
    def _layer(self, expr, scope: _Scope | None) -> tuple[cst.Call, str] | None:
        """(constructor call, class) for a bias-carrying weight layer, resolving a once-used variable."""
        if type(expr) is cst.Name and scope is not None:
            bound = scope.assigns.get(expr.value, ())
            if len(bound) != 1 or bound[0].value is None or self._uses(scope, expr.value) != 2:
                return None
            expr = bound[0].value
        if type(expr) is not cst.Call:
            return None
        cls = _torch_class(_qual(self.ctx, expr.func))
        if cls is None or not _WEIGHT_LAYER_RE.fullmatch(cls):
            return None
        if any(a.star == "**" for a in expr.args):
            return None
        bias = arg(expr, _bias_index(cls), "bias")
        if bias is not None and not (type(bias) is cst.Name and bias.value == "True"):
            return None
        return expr, cls

    def _bn(self, expr) -> str | None:
        if type(expr) is not cst.Call:
            return None
        cls = _torch_class(_qual(self.ctx, expr.func))
        if cls is None or not _BN_CLASS_RE.fullmatch(cls):
            return None
        return cls

    def _uses(self, scope: _Scope, name: str) -> int:
        cache = self.__dict__.setdefault("_use_counts", {})
        key = id(scope.node)
        counts = cache.get(key)
        if counts is None:
            counts = {}
            for n in walk_nodes(scope.node, cst.Name):
                counts[n.value] = counts.get(n.value, 0) + 1
            cache[key] = counts
        return counts.get(name, 0)

    def _pair(self, first, second, scope: _Scope | None) -> None:
        layer = self._layer(first, scope)
        if layer is None:
            return
        bn = self._bn(second)
        if bn is None:
            return
        call, cls = layer
        dim = _layer_dim(cls)
        bn_dim = _layer_dim(bn)
        if bn_dim is not None and dim is not None and bn_dim != dim:
            return
        self._hits.setdefault(id(call), (call, cls, bn))

    def _sequence(self, items: list, scope: _Scope | None) -> None:
        for first, second in zip(items, items[1:], strict=False):
            self._pair(first, second, scope)

    # ---- Sequential(...) and its subclasses --------------------------------------------------------
    def _sequential_items(self, call: cst.Call) -> list:
        items: list = []
        for a in call.args:
            if a.keyword is not None:
                continue
            value = a.value
            if a.star == "*" and type(value) in (cst.List, cst.Tuple):
                items.extend(e.value for e in value.elements)
            elif a.star:
                items.append(None)
            elif type(value) is cst.Call and (dotted_name(value.func) or "").rpartition(".")[2] == "OrderedDict":
                pairs = value.args[0].value if value.args else None
                if type(pairs) in (cst.List, cst.Tuple):
                    for e in pairs.elements:
                        pair = e.value
                        ok = type(pair) is cst.Tuple and len(pair.elements) == 2
                        items.append(pair.elements[1].value if ok else None)
            else:
                items.append(value)
        return items

    def _is_sequential_class(self, info: _ClassInfo) -> bool:
        return any(_torch_class(_qual(self.ctx, b)) == "Sequential" for b in info.bases)

    # ---- lists of layers -----------------------------------------------------------------------------
    def _layer_list_scopes(self, index: _Index) -> list[_Scope]:
        """Scopes that build a list of layers: they unpack a list into a call or return a name."""
        out = []
        seen: set[int] = set()
        for call, scope, _ in index.calls:
            if id(scope) in seen:
                continue
            if any(a.star == "*" and type(a.value) is cst.Name for a in call.args):
                seen.add(id(scope))
                out.append(scope)
        for scope in index.scope_of_fn.values():
            if id(scope) not in seen and any(type(r.value) is cst.Name for r in _returns(scope.node)):
                seen.add(id(scope))
                out.append(scope)
        return out

    def _layer_lists(self, scope: _Scope, sequence_names: set[str]) -> None:
        """``layers = [conv, bn]`` / ``layers += [...]`` / consecutive ``layers.append(conv)``,
        ``layers.append(bn)`` in a scope that unpacks or returns the list."""
        body = scope.node.body if isinstance(scope.node, cst.FunctionDef) else scope.node
        for stmts in _blocks(body):
            previous = None
            for stmt in stmts:
                t = type(stmt)
                value = None
                if t is cst.Assign and len(stmt.targets) == 1:
                    name = dotted_name(stmt.targets[0].target)
                    value = stmt.value if name in sequence_names else None
                elif t is cst.AugAssign and type(stmt.operator) is cst.AddAssign:
                    name = dotted_name(stmt.target)
                    value = stmt.value if name in sequence_names else None
                elif t is cst.Expr and type(stmt.value) is cst.Call and type(stmt.value.func) is cst.Attribute:
                    call = stmt.value
                    name = dotted_name(call.func.value)
                    method = call.func.attr.value
                    if name in sequence_names and method == "extend" and call.args:
                        value = call.args[0].value
                    elif name in sequence_names and method in ("append", "add_module"):
                        item = arg(call, 0 if method == "append" else 1, "module")
                        if previous is not None and previous[0] == (name, method) and item is not None:
                            self._pair(previous[1], item, scope)
                        previous = ((name, method), item)
                        continue
                previous = None
                if type(value) in (cst.List, cst.Tuple):
                    self._sequence([e.value for e in value.elements], scope)
                elif type(value) is cst.BinaryOperation:
                    for side in (value.left, value.right):
                        if type(side) in (cst.List, cst.Tuple):
                            self._sequence([e.value for e in side.elements], scope)

    # ---- forward(): self.bn(self.conv(x)) and x = self.conv(x); x = self.bn(x) ---------------------
    def _forward_pairs(self, info: _ClassInfo, calls: list[cst.Call]) -> None:
        layers: dict[str, tuple[cst.Call, str]] = {}
        bns: dict[str, str] = {}
        for attr, bindings in info.self_assigns.items():
            if info.self_calls.get(attr) is None:
                continue
            values = [v for v, _, _ in bindings]
            if len(values) == 1 and values[0] is not None and info.self_calls.get(attr) == 1:
                layer = self._layer(values[0], None)
                if layer is not None:
                    layers[attr] = layer
            kinds = {self._bn(v) for v in values}
            if len(kinds) == 1 and None not in kinds:
                bns[attr] = kinds.pop()
        if not layers or not bns:
            return
        for call in calls:
            bn_attr = _self_attr(call.func)
            if bn_attr not in bns or not call.args:
                continue
            inner = call.args[0].value
            if type(inner) is cst.Call and _self_attr(inner.func) in layers:
                self._forward_hit(layers[_self_attr(inner.func)], bns[bn_attr])
        for method in info.methods.values():
            for stmts in _blocks(method.body):
                for first, second in zip(stmts, stmts[1:], strict=False):
                    pair = self._consecutive(first, second, layers, bns)
                    if pair is not None:
                        self._forward_hit(*pair)

    @staticmethod
    def _consecutive(first, second, layers: dict, bns: dict):
        if type(first) is not cst.Assign or len(first.targets) != 1 or type(first.targets[0].target) is not cst.Name:
            return None
        var = first.targets[0].target.value
        if type(first.value) is not cst.Call or _self_attr(first.value.func) not in layers:
            return None
        if type(second) is cst.Assign and len(second.targets) == 1:
            target = second.targets[0].target
            if type(target) is not cst.Name or target.value != var:
                return None
            value = second.value
        elif type(second) is cst.Return and second.value is not None:
            value = second.value
        else:
            return None
        if type(value) is not cst.Call or _self_attr(value.func) not in bns or len(value.args) != 1:
            return None
        inner = value.args[0].value
        if type(inner) is not cst.Name or inner.value != var:
            return None
        return layers[_self_attr(first.value.func)], bns[_self_attr(value.func)]

    def _forward_hit(self, layer: tuple[cst.Call, str], bn: str) -> None:
        call, cls = layer
        dim, bn_dim = _layer_dim(cls), _layer_dim(bn)
        if dim is not None and bn_dim is not None and dim != bn_dim:
            return
        self._hits.setdefault(id(call), (call, cls, bn))

    # ---- report and fix ------------------------------------------------------------------------------
    def _report(self, call: cst.Call, cls: str, bn: str) -> None:
        if self._safe is None:
            self._safe = _bias_accesses_guarded(self.ctx.module)
        bias = arg(call, _bias_index(cls), "bias")
        if bias is None:
            edit = _add_kwarg_fix(self, call, "bias", "False")
        else:
            edit = (bias, "False")
        fix = self.fix("safe" if self._safe else "unsafe", edit, description="bias=False")
        message = (
            f"{cls} with a bias feeds {bn} directly: the batch norm subtracts the mean and cancels the bias; "
            "pass bias=False"
        )
        self.report(call, message, fix=fix)

    VALID = [
        # bias=False before the batch norm; bias kept where an activation comes first.
        """
        import torch.nn as nn

        block = nn.Sequential(
            nn.Conv2d(64, 128, 3, padding=1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(128),
        )
        """,
        # A non-literal bias flag, and a norm that does not subtract the channel mean.
        """
        import torch.nn as nn

        def conv_bn(cin, cout, use_bn=True):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=not use_bn), nn.BatchNorm2d(cout))

        head = nn.Sequential(nn.Linear(256, 128), nn.LayerNorm(128), nn.GELU())
        gn = nn.Sequential(nn.Conv2d(3, 32, 3), nn.GroupNorm(8, 32))
        """,
        # torchvision's VGG: the same conv layer is used with and without batch norm.
        """
        import torch.nn as nn

        def make_layers(cfg, batch_norm=False):
            layers = []
            in_channels = 3
            for v in cfg:
                if v == "M":
                    layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
                else:
                    conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                    if batch_norm:
                        layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                    else:
                        layers += [conv2d, nn.ReLU(inplace=True)]
                    in_channels = v
            return nn.Sequential(*layers)
        """,
        # An optional batch norm: the bias matters when it is an Identity.
        """
        import torch.nn as nn

        class ConvBlock(nn.Module):
            def __init__(self, cin, cout, norm=True):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, padding=1)
                self.bn = nn.BatchNorm2d(cout) if norm else nn.Identity()

            def forward(self, x):
                return self.bn(self.conv(x)).relu()
        """,
        # The batch norm is appended under a condition.
        """
        import torch.nn as nn

        def mlp(sizes, bn):
            layers = []
            for a, b in zip(sizes, sizes[1:]):
                layers.append(nn.Linear(a, b))
                if bn:
                    layers.append(nn.BatchNorm1d(b))
                layers.append(nn.ReLU())
            return nn.Sequential(*layers)
        """,
        # forward(): the conv output is also used without the batch norm (a residual path).
        """
        import torch.nn as nn

        class Res(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                y = self.conv(x)
                out = self.bn(y)
                return out + y
        """,
        # forward(): the conv is called twice, once without the batch norm.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Shared(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(32, 32)
                self.bn = nn.BatchNorm1d(32)

            def forward(self, x, y):
                return self.bn(self.fc(x)), F.relu(self.fc(y))
        """,
        # Frozen batch norm (fixed statistics), and a dimension mismatch (another reshaping in between).
        """
        import torch.nn as nn
        from torchvision.ops import FrozenBatchNorm2d

        stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3), FrozenBatchNorm2d(64), nn.ReLU())
        odd = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm1d(8))
        """,
        # Linear with bias into batch norm, but in separate lists of a ModuleList (not run in order).
        """
        import torch.nn as nn

        class GNN(nn.Module):
            def __init__(self, h, n):
                super().__init__()
                self.lins = nn.ModuleList([nn.Linear(h, h) for _ in range(n)])
                self.norms = nn.ModuleList([nn.BatchNorm1d(h) for _ in range(n)])

            def forward(self, x):
                for lin, norm in zip(self.lins, self.norms):
                    x = norm(lin(x).relu())
                return x
        """,
        # The fixed forms.
        """
        import torch.nn as nn

        head = nn.Sequential(nn.Linear(512, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU())
        stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, 1, 1, False), nn.BatchNorm2d(32))
        """,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(
                    3,
                    64,
                    kernel_size=3,
                    bias=False,
                )
                self.bn1 = nn.BatchNorm2d(64)

            def forward(self, x):
                return self.bn1(self.conv1(x)).relu()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            head = nn.Sequential(nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU())
            stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, 1, 1, True), nn.BatchNorm2d(32))
            """,
            count=2,
            fixed="""
            import torch.nn as nn

            head = nn.Sequential(nn.Linear(512, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU())
            stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, 1, 1, False), nn.BatchNorm2d(32))
            """,
        ),
        # forward(): nested call, a multi-line constructor.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(
                        3,
                        64,
                        kernel_size=3,
                    )
                    self.bn1 = nn.BatchNorm2d(64)

                def forward(self, x):
                    return self.bn1(self.conv1(x)).relu()
            """,
            line=7,
            message_contains="Conv2d with a bias feeds BatchNorm2d",
            fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(
                        3,
                        64,
                        kernel_size=3,
                        bias=False,
                    )
                    self.bn1 = nn.BatchNorm2d(64)

                def forward(self, x):
                    return self.bn1(self.conv1(x)).relu()
            """,
        ),
        # forward(): consecutive statements.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class MLP(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256, bias=True)
                    self.bn1 = nn.BatchNorm1d(256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    x = self.fc1(x)
                    x = self.bn1(x)
                    x = F.relu(x)
                    return self.fc2(x)
            """,
            line=8,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F

            class MLP(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256, bias=False)
                    self.bn1 = nn.BatchNorm1d(256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    x = self.fc1(x)
                    x = self.bn1(x)
                    x = F.relu(x)
                    return self.fc2(x)
            """,
        ),
        # A list of layers built with += and unpacked.
        Invalid(
            """
            import torch.nn as nn

            def make_encoder(channels):
                layers = []
                for cin, cout in zip(channels, channels[1:]):
                    layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
                return nn.Sequential(*layers)
            """,
            line=7,
        ),
        # Consecutive appends; the init code guards .bias, so the fix is safe.
        Invalid(
            """
            import torch.nn as nn

            class Tower(nn.Module):
                def __init__(self, dims):
                    super().__init__()
                    layers = []
                    for a, b in zip(dims, dims[1:]):
                        layers.append(nn.Linear(a, b))
                        layers.append(nn.BatchNorm1d(b))
                        layers.append(nn.ReLU())
                    self.net = nn.Sequential(*layers)
                    for m in self.modules():
                        if isinstance(m, nn.Linear) and m.bias is not None:
                            nn.init.zeros_(m.bias)

                def forward(self, x):
                    return self.net(x)
            """,
            line=9,
        ),
        # OrderedDict form, a Sequential subclass, add_module.
        Invalid(
            """
            from collections import OrderedDict
            from torch import nn

            features = nn.Sequential(OrderedDict([
                ("conv0", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)),
                ("norm0", nn.BatchNorm2d(64)),
                ("relu0", nn.ReLU(inplace=True)),
            ]))

            class ConvBN(nn.Sequential):
                def __init__(self, cin, cout, k=3):
                    super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout))

            class Transition(nn.Sequential):
                def __init__(self, cin, cout):
                    super().__init__()
                    self.add_module("conv", nn.Conv2d(cin, cout, 1))
                    self.add_module("norm", nn.BatchNorm2d(cout))
            """,
            count=3,
        ),
        # A once-used variable, 3-D convolutions, aliased imports.
        Invalid(
            """
            from torch.nn import Conv3d, BatchNorm3d, Sequential, ReLU

            def block3d(cin, cout):
                conv = Conv3d(cin, cout, kernel_size=3, padding=1)
                return Sequential(conv, BatchNorm3d(cout), ReLU())
            """,
            line=5,
        ),
        # Transposed convolution in a generator (DCGAN-style), SyncBatchNorm.
        Invalid(
            """
            import torch.nn as nn

            class Generator(nn.Module):
                def __init__(self, nz, ngf):
                    super().__init__()
                    self.main = nn.Sequential(
                        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0),
                        nn.SyncBatchNorm(ngf * 8),
                        nn.ReLU(True),
                        nn.ConvTranspose2d(ngf * 8, 3, 4, 2, 1, bias=False),
                        nn.Tanh(),
                    )

                def forward(self, z):
                    return self.main(z)
            """,
            line=8,
        ),
        # The init code touches m.bias unguarded: the fix is offered as unsafe.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, 10)
                    self.bn = nn.BatchNorm1d(10)
                    nn.init.zeros_(self.fc.bias)

                def forward(self, x):
                    h = self.fc(x)
                    return self.bn(h)
            """,
            line=7,
            fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, 10, bias=False)
                    self.bn = nn.BatchNorm1d(10)
                    nn.init.zeros_(self.fc.bias)

                def forward(self, x):
                    h = self.fc(x)
                    return self.bn(h)
            """,
        ),
    ]


def _bias_accesses_guarded(module: cst.Module) -> bool:
    """Whether every ``.bias`` read in the file sits under an ``is not None`` check of a ``.bias``."""
    guarded_ranges: list[cst.CSTNode] = []
    comparisons: set[int] = set()
    for node in walk_nodes(module, (cst.If, cst.IfExp, cst.Comparison, cst.BooleanOperation)):
        t = type(node)
        if t is cst.Comparison and any(type(c.comparator) is cst.Name and c.comparator.value == "None" for c in node.comparisons):
            for inner in walk_nodes(node.left, cst.Attribute):
                comparisons.add(id(inner))
        elif (t is cst.If or t is cst.IfExp) and any(
            type(a) is cst.Attribute and a.attr.value == "bias" for a in walk_nodes(node.test, cst.Attribute)
        ):
            guarded_ranges.append(node)
        elif t is cst.BooleanOperation and any(
            type(a) is cst.Attribute and a.attr.value == "bias" for a in walk_nodes(node.left, cst.Attribute)
        ):
            guarded_ranges.append(node.right)
    guarded: set[int] = set(comparisons)
    for root in guarded_ranges:
        for inner in walk_nodes(root, cst.Attribute):
            guarded.add(id(inner))
    for node in walk_nodes(module, cst.Attribute):
        if node.attr.value == "bias" and id(node) not in guarded:
            return False
    return True


def _blocks(body: cst.CSTNode):
    """The statement lists of ``body`` and of the compound statements in it (not of nested defs)."""
    pending = [body]
    while pending:
        block = pending.pop()
        stmts = statements(block)
        yield stmts
        for stmt in stmts:
            t = type(stmt)
            if t is cst.FunctionDef or t is cst.ClassDef or not isinstance(stmt, cst.BaseCompoundStatement):
                continue
            if t is cst.If:
                pending.append(stmt.body)
                orelse = stmt.orelse
                while type(orelse) is cst.If:
                    pending.append(orelse.body)
                    orelse = orelse.orelse
                if orelse is not None:
                    pending.append(orelse.body)
                continue
            body_ = getattr(stmt, "body", None)
            if isinstance(body_, cst.BaseSuite):
                pending.append(body_)
            for handler in getattr(stmt, "handlers", ()):
                pending.append(handler.body)
            for extra in ("orelse", "finalbody"):
                part = getattr(stmt, extra, None)
                if part is not None and isinstance(getattr(part, "body", None), cst.BaseSuite):
                    pending.append(part.body)


_INIT_DEF_RE = re.compile(r"^([ \t]*)def __init__\(", re.M)
_DROPOUT_CALL_RE = re.compile(r"dropout[123]?d?\(")


def _functional_dropout_ends(text: str):
    """End offsets of ``F.dropout(`` / ``functional.dropout2d(`` / bare ``dropout(`` calls (not methods).
    The regex starts with a literal, so the engine skips ahead; what precedes is checked by hand."""
    for found in _DROPOUT_CALL_RE.finditer(text):
        at = found.start()
        prev = text[at - 1] if at else ""
        if not (prev.isalnum() or prev in "_."):
            yield found.end()
        elif prev == "." and (text.endswith("functional", 0, at - 1) or _word_before(text, at - 1) == "F"):
            yield found.end()
_LAYER_CONTAINER_RE = re.compile(
    r"self\.\w+\s*=\s*[\[{]\s*(?:[\w\"'.]+\s*:\s*)?(?:\w+\.)*[A-Z]\w*\("  # self.x = [nn.Linear(...
)
_SELF_APPEND_RE = re.compile(r"self\.(\w+)\.(?:append|extend|insert)\(\s*(?:\w+\s*,\s*)?\[?\s*(?:\w+\.)*[A-Z]\w*\(")
# Both start with a literal so the regex engine can skip ahead; the name before them is checked by hand.
_APPEND_LAYER_RE = re.compile(r"\.(?:append|extend)\(\s*\[?\s*(?:\w+\.)*[A-Z]\w*\(")
_NORMAL_CALL_RE = re.compile(r"normal(_?)\(")


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:end]


def _local_append_names(text: str) -> set[str]:
    """``name`` of every ``name.append(Layer(...))`` / ``name.extend([Layer(...)])`` (a plain local name)."""
    names = set()
    for found in _APPEND_LAYER_RE.finditer(text):
        name = _word_before(text, found.start())
        before = found.start() - len(name) - 1
        if name and (before < 0 or text[before] != "."):
            names.add(name)
    return names


def _unit_normal_ends(text: str):
    """End offsets of ``x.normal_(`` / ``x.normal(`` / bare ``normal_(`` calls."""
    for found in _NORMAL_CALL_RE.finditer(text):
        at = found.start()
        prev = text[at - 1] if at else ""
        if prev == "." or (found.group(1) and not (prev.isalnum() or prev in "_.")):
            yield found.end()
_WEIGHT_LAYER_CALL_RE = re.compile(r"(?:Conv(?:Transpose)?[123]d|Linear|Bilinear)\(")
_STD_ONE_RE = re.compile(r"std\s*=\s*1(?:\.0*)?\b(?!\.)")
_CHECKPOINT_CALL_RE = re.compile(r"(?<![\w])checkpoint(?:_sequential)?\(")
_LOG_ONE_PLUS_WORDS = ("1 +", "1. +", "1.0 +", "1+", "1.+", "+ 1)", "+ 1.)", "+ 1.0)", "+1)", "+1.)", "+1.0)")
_DIRECT_FORWARD_RE = re.compile(r"(?<!super\(\))(?<!\bself)\.forward\(")


def _first_statement_fix(rule: Rule, fn: cst.FunctionDef, text: str, description: str):
    """An unsafe fix inserting ``text`` as the first statement of ``fn`` (after its docstring)."""
    body = fn.body
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    indents = _indents_to(rule.ctx.module, body.body[0])
    if indents is None:
        return None
    indent = "".join(indents)
    first = body.body[0]
    if (
        type(first) is cst.SimpleStatementLine
        and type(first.body[0]) is cst.Expr
        and type(first.body[0].value) in (cst.SimpleString, cst.ConcatenatedString)
    ):
        doc = first.body[-1]
        return rule.fix("unsafe", (doc, f"{rule.ctx.code(doc).rstrip()}\n{indent}{text}"), description=description)
    if type(first) is not cst.SimpleStatementLine:
        return None
    small = first.body[0]
    return rule.fix("unsafe", (small, f"{text}\n{indent}{rule.ctx.code(small)}"), description=description)


class MissingSuperInit(Rule):
    """Flags an `nn.Module` subclass whose `__init__` never calls the base class's `__init__`.

    ## What it does
    Finds classes that derive from `nn.Module` (through `torch.nn` imports, other module classes of the
    file, and well-known bases such as Lightning's `LightningModule`) and define `__init__` without
    any call of a base initialiser: `super().__init__(...)`, `super(Net, self).__init__(...)`,
    `nn.Module.__init__(self)` or `Base.__init__(self, ...)` all count, anywhere in `__init__`.
    An `__init__` that only raises is left alone.

    ## Why is this bad?
    `nn.Module.__init__` creates the registries for parameters, buffers, submodules and hooks.
    Without it, assigning a layer (`self.fc = nn.Linear(...)`) raises `AttributeError: cannot
    assign module before Module.__init__() call`, and a module with no layers fails later, far from
    the cause, the first time it is called, moved with `.to()` or saved.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(10, 2)
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 2)
    ```

    ## Fix safety
    The fix inserts `super().__init__()` as the first statement of `__init__` (after its
    docstring). It is unsafe: a base class whose `__init__` needs arguments must get them by hand.
    """

    code = "NN306"
    name = "missing-super-init"
    message = "nn.Module subclass __init__ never calls super().__init__(); call it before assigning layers"
    requires = ("__init__",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files with an ``__init__`` that calls no ``x.__init__(...)`` at all (a text check that keeps
        the parser away from the classes of every other file)."""
        if "__init__" not in text or ("Module" not in text and "Sequential" not in text):
            return False
        for found in _INIT_DEF_RE.finditer(text):
            indent = found.group(1)
            start = found.end()
            end = len(text)
            for stop in (f"\n{indent}def ", f"\n{indent}async def ", f"\n{indent}@", "\nclass "):
                at = text.find(stop, start)
                if at != -1 and at < end:
                    end = at
            body = text[start:end]
            if ".__init__(" not in body and "__setstate__" not in body:
                return True
        return False

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        for info in index.classes:
            init = info.methods.get("__init__")
            if init is None or _is_static(init) or not index.is_module(info):
                continue
            if self._calls_base_init(init, index.scope_of(init)):
                continue
            message = (
                f"{info.name} derives from nn.Module but its __init__ never calls super().__init__(); "
                "call it first, before assigning layers"
            )
            fix = _first_statement_fix(self, init, "super().__init__()", "call super().__init__()")
            self.report(init.name, message, fix=fix)

    @staticmethod
    def _calls_base_init(init: cst.FunctionDef, scope: _Scope) -> bool:
        only_raise = True
        for stmt in statements(init.body):
            t = type(stmt)
            if t is cst.Expr and type(stmt.value) in (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis):
                continue
            if t is not cst.Raise and t is not cst.Pass:
                only_raise = False
        if only_raise or scope.calls_init:
            return True
        # A nested function of __init__ calling the base initialiser (rare) is found by a walk.
        nested = [n for n in walk_nodes(init.body, (cst.FunctionDef, cst.Lambda)) if n is not init]
        for fn in nested:
            for call in walk_nodes(fn, cst.Call):
                func = call.func
                if type(func) is cst.Attribute and func.attr.value in ("__init__", "__setstate__"):
                    return True
        return False

    VALID = [
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 2)
        """,
        # The older spellings.
        """
        import torch
        import torch.nn as nn

        class A(nn.Module):
            def __init__(self, d):
                super(A, self).__init__()
                self.fc = nn.Linear(d, d)

        class B(torch.nn.Module):
            def __init__(self):
                torch.nn.Module.__init__(self)

        class C(A):
            def __init__(self, d, k):
                A.__init__(self, d)
                self.k = k
        """,
        # super().__init__ with arguments, after some computation, inside a branch.
        """
        from torch import nn

        class Block(nn.Sequential):
            def __init__(self, c, depth, norm=True):
                layers = [nn.Conv2d(c, c, 3) for _ in range(depth)]
                if norm:
                    super().__init__(*layers, nn.BatchNorm2d(c))
                else:
                    super().__init__(*layers)
        """,
        # Not an nn.Module: plain classes, datasets, autograd Functions.
        """
        import torch
        from torch.utils.data import Dataset

        class Config:
            def __init__(self, lr):
                self.lr = lr

        class Data(Dataset):
            def __init__(self, xs):
                self.xs = xs

        class Square(torch.autograd.Function):
            def __init__(self):
                self.saved = None
        """,
        # An abstract __init__ that only raises, and a module without __init__.
        """
        import torch.nn as nn

        class Base(nn.Module):
            def __init__(self):
                raise NotImplementedError

        class Plain(nn.Module):
            def forward(self, x):
                return x
        """,
        # Unknown base classes are not assumed to be modules.
        """
        from mylib import Layer

        class Dense(Layer):
            def __init__(self, units):
                self.units = units
        """,
        # A module restoring its state through __setstate__ in __init__.
        """
        import torch.nn as nn

        class Restored(nn.Module):
            def __init__(self, state):
                self.__setstate__(state)
        """,
        # The fixed form.
        """
        import torch.nn as nn

        class Encoder(nn.Module):
            \"\"\"Encodes.\"\"\"

            def __init__(self, d):
                \"\"\"Build.\"\"\"
                super().__init__()
                self.fc = nn.Linear(d, d)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    self.fc = nn.Linear(10, 2)

                def forward(self, x):
                    return self.fc(x)
            """,
            line=5,
            fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(10, 2)

                def forward(self, x):
                    return self.fc(x)
            """,
        ),
        # After a docstring; torch.nn.Module spelled out.
        Invalid(
            """
            import torch.nn as nn

            class Encoder(nn.Module):
                \"\"\"Encodes.\"\"\"

                def __init__(self, d):
                    \"\"\"Build.\"\"\"
                    self.fc = nn.Linear(d, d)
            """,
            line=7,
            fixed="""
            import torch.nn as nn

            class Encoder(nn.Module):
                \"\"\"Encodes.\"\"\"

                def __init__(self, d):
                    \"\"\"Build.\"\"\"
                    super().__init__()
                    self.fc = nn.Linear(d, d)
            """,
        ),
        # A subclass of a module class of the same file, with the import spelled out.
        Invalid(
            """
            import torch

            class Base(torch.nn.Module):
                def __init__(self):
                    super().__init__()

            class Child(Base):
                def __init__(self, scale):
                    self.scale = scale

                def forward(self, x):
                    return x * self.scale
            """,
            line=9,
        ),
        # from torch.nn import Module; only plain attributes (fails at the first call).
        Invalid(
            """
            from torch.nn import Module

            class Scale(Module):
                def __init__(self, s):
                    self.s = s

                def forward(self, x):
                    return x * self.s
            """,
            line=5,
        ),
        # A Lightning module.
        Invalid(
            """
            import lightning.pytorch as pl
            import torch.nn as nn

            class LitModel(pl.LightningModule):
                def __init__(self, lr=1e-3):
                    self.save_hyperparameters()
                    self.net = nn.Linear(28 * 28, 10)
            """,
            line=6,
        ),
        # nn.Sequential subclass that builds its layers but forgets the base call.
        Invalid(
            """
            import torch.nn as nn

            class MLP(nn.Sequential):
                def __init__(self, dims):
                    layers = []
                    for a, b in zip(dims, dims[1:]):
                        layers += [nn.Linear(a, b), nn.ReLU()]
                    self.layers = layers
            """,
            line=5,
        ),
        # The base is called on another object, not on the class being built.
        Invalid(
            """
            import torch.nn as nn

            class Wrapper(nn.Module):
                def __init__(self, inner):
                    self.inner = inner
                    inner.register_forward_hook(print)
            """,
            line=5,
        ),
        # Nested class inside a function.
        Invalid(
            """
            import torch.nn as nn

            def make_head(n):
                class Head(nn.Module):
                    def __init__(self):
                        self.fc = nn.Linear(64, n)

                    def forward(self, x):
                        return self.fc(x)

                return Head()
            """,
            line=6,
            fixed="""
            import torch.nn as nn

            def make_head(n):
                class Head(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.fc = nn.Linear(64, n)

                    def forward(self, x):
                        return self.fc(x)

                return Head()
            """,
        ),
    ]


def _method_of(scope: _Scope) -> tuple[cst.FunctionDef | None, _Scope | None]:
    """The method (of a class body) that holds ``scope``, and its scope."""
    while scope is not None and scope.kind == "function":
        parent = scope.parent
        if parent is not None and parent.kind == "class":
            return scope.node, scope  # type: ignore[return-value]
        scope = parent  # type: ignore[assignment]
    return None, None


_DYNAMIC_MODULE_ACCESS = frozenset({"children", "named_children", "modules", "named_modules", "_modules", "__dict__"})
# NN307's text prefilter: ``self.x = Ctor(`` (possibly annotated or parenthesised), every ``.x``, and
# every ``.x =`` / ``.x: T =`` (a superset of the bindings the rule counts).
_SELF_CTOR_ASSIGN_RE = re.compile(r"self\.(\w+)\s*(?::[^=\n]+)?=[\s\\(]*[\w.]+\s*\(")
_DOT_ATTR_RE = re.compile(r"\.\s*(\w+)")
_DOT_ATTR_ASSIGN_RE = re.compile(r"\.\s*(\w+)\s*(?::[^=\n]+)?=(?!=)")
_INIT_METHODS = re.compile(r"__init__|_?init\w*|reset_parameters|_?build\w*")


class UnusedSubmodule(Rule):
    """Flags a submodule created in `__init__` and never used anywhere else.

    ## What it does
    Finds `self.x = nn.Linear(...)` (any `torch.nn` module or module class of the file) assigned in
    `__init__` of an `nn.Module` subclass, where `x` is never read again: not in `forward` or any
    other method, not by another class or function of the file (`model.x`), not through a string
    (`getattr(self, "x")`). Classes with bases from other files (which may use the attribute), and
    classes that run their children dynamically (`self.children()`, `self._modules`, `getattr(self, ...)`
    outside `__init__`) are skipped.

    This rule is off by default. Whether an attribute is used is a whole-program question: a
    subclass or a caller in another file may use it (speechbrain's `TransformerASR` uses the
    `decoder` its base class builds; about 1 in 5 findings on other libraries were such uses), and
    most real hits in timm and transformers are deliberate leftovers kept so that published
    checkpoints still load. Enable it (`--select NN307`) as a review aid on your own models.

    ## Why is this bad?
    An unused layer still has parameters: they get no gradient (under `DistributedDataParallel`
    with the default `find_unused_parameters=False` the backward pass errors out), take memory and
    optimizer state, and are saved into every checkpoint. More often it is a bug: the layer was meant
    to be applied (a dropout or a norm the `forward` forgot).

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)
            self.dropout = nn.Dropout(0.5)
            self.fc2 = nn.Linear(256, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)
            self.dropout = nn.Dropout(0.5)
            self.fc2 = nn.Linear(256, 10)

        def forward(self, x):
            return self.fc2(self.dropout(F.relu(self.fc1(x))))
    ```
    """

    code = "NN307"
    name = "unused-submodule"
    message = "submodule is created in __init__ but never used; remove it or call it in forward"
    requires = ("__init__",)
    default_enabled = False

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files where some ``self.x = Ctor(...)`` attribute is never mentioned outside assignments:
        the rule reports an attribute only when every ``.x`` of the file is one of its bindings."""
        if "__init__" not in text or "Module" not in text:
            return False
        candidates = {a for a in _SELF_CTOR_ASSIGN_RE.findall(text) if not a.startswith("__")}
        if not candidates:
            return False
        mentions = Counter(_DOT_ATTR_RE.findall(text))
        assignments = Counter(_DOT_ATTR_ASSIGN_RE.findall(text))
        return any(mentions[attr] <= assignments[attr] for attr in candidates)

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        dynamic: set[int] = set()
        for call, scope, _ in index.calls:
            info = scope.cls
            if info is None:
                continue
            func = call.func
            name = dotted_name(func)
            method, _ = _method_of(scope)
            in_init = method is not None and _INIT_METHODS.fullmatch(method.name.value) is not None
            if name in ("getattr", "setattr", "vars") and call.args and _is_self(call.args[0].value) and not in_init:
                dynamic.add(id(info))
            attr = _self_attr(func)
            if attr in _DYNAMIC_MODULE_ACCESS and not in_init:
                dynamic.add(id(info))
            if attr is None and type(func) is cst.Attribute and _self_attr(func.value) in _DYNAMIC_MODULE_ACCESS and not in_init:
                dynamic.add(id(info))
        strings = index.strings
        source = self.ctx.source
        for info in index.classes:
            if id(info) in dynamic or not self._own_class(index, info):
                continue
            init = info.methods.get("__init__")
            if init is None:
                continue
            for attr, bindings in info.self_assigns.items():
                if attr.startswith("__") or attr in strings:
                    continue
                if index.attr_counts.get(attr, 0) != len(bindings):
                    continue
                # Uses in parts of the file the parse left out count too.
                if len(re.findall(rf"\.\s*{re.escape(attr)}\b", source)) > len(bindings) or re.search(
                    rf"[\"']{re.escape(attr)}[\"']", source
                ):
                    continue
                if not all(v is not None and s.node is init and _ctor(index, v) is not None for v, s, _ in bindings):
                    continue
                record = bindings[0][2]
                target = next(
                    (t.target for t in getattr(record.node, "targets", ()) if _self_attr(t.target) == attr),
                    getattr(record.node, "target", record.node),
                )
                made = _ctor(index, bindings[0][0])
                if made is not None and made[0] == "torch" and _PARAMETER_FREE.fullmatch(made[1]):
                    message = f"self.{attr} ({made[1]}) is created in __init__ but never applied; call it in forward or remove it"
                else:
                    message = (
                        f"self.{attr} is created in __init__ but never used: its parameters get no gradient "
                        "(DDP errors out) and waste memory; remove it or use it in forward"
                    )
                self.report(target, message)

    @staticmethod
    def _own_class(index: _Index, info: _ClassInfo) -> bool:
        """A module class whose bases are all torch.nn classes or such classes of this file."""
        if not index.is_module(info):
            return False
        for base in info.bases:
            local = index.local_class(base)
            if local is not None:
                if local is info or not UnusedSubmodule._own_class(index, local):
                    return False
                continue
            if _torch_class(_qual(index.ctx, base)) is None:
                return False
        return True

    VALID = [
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 256)
                self.drop = nn.Dropout(0.5)
                self.fc2 = nn.Linear(256, 10)

            def forward(self, x):
                return self.fc2(self.drop(F.relu(self.fc1(x))))
        """,
        # Used in another method, by a subclass, by name, and from outside.
        """
        import torch.nn as nn

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(64, 10)
                self.aux = nn.Linear(64, 2)
                self.proj = nn.Linear(64, 64)
                self.extra = nn.Linear(64, 64)

            def forward_head(self, x):
                return self.head(x)

        class Child(Base):
            def forward(self, x):
                return self.forward_head(self.aux(x))

        def layer(model, name):
            return getattr(model, "proj")

        model = Base()
        print(model.extra)
        """,
        # Children run dynamically in forward.
        """
        import torch.nn as nn

        class Stack(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(8, 8)
                self.b = nn.Linear(8, 8)

            def forward(self, x):
                for m in self.children():
                    x = m(x)
                return x
        """,
        # A base class from another file may use the attribute.
        """
        import torch.nn as nn
        from .base import BaseModel

        class Model(BaseModel):
            def __init__(self):
                super().__init__()
                self.classifier = nn.Linear(128, 10)
        """,
        # Not a module: plain attributes and configs.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.d = d
                self.fc = nn.Linear(d, d)

            def forward(self, x):
                return self.fc(x)
        """,
        # Assigned again in another method and used there.
        """
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Identity()

            def reset_classifier(self, n):
                self.head = nn.Linear(512, n)

            def forward(self, x):
                return self.head(x)
        """,
        # Used through a string in the file (checkpoint-compatibility lists).
        """
        import torch.nn as nn

        class Model(nn.Module):
            _keys_to_ignore_on_load_missing = ["legacy_proj"]

            def __init__(self):
                super().__init__()
                self.legacy_proj = nn.Linear(8, 8)
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                return self.fc(x)
        """,
        # Called from a method other than forward, and in a subclass of the file.
        """
        import torch.nn as nn

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(8, 8)
                self.pool = nn.AdaptiveAvgPool1d(1)

            def encode(self, x):
                return self.pool(self.proj(x))
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.dropout = nn.Dropout(0.5)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    return self.fc2(F.relu(self.fc1(x)))
            """,
            line=9,
            message_contains="self.dropout",
        ),
        # A layer of a local module class, with the weights initialised in __init__ only.
        Invalid(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

                def forward(self, x):
                    return self.fc(x)

            class Model(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.block1 = Block(d)
                    self.block2 = Block(d)
                    for m in self.modules():
                        if isinstance(m, nn.Linear):
                            nn.init.xavier_uniform_(m.weight)

                def forward(self, x):
                    return self.block1(x)
            """,
            line=16,
        ),
        # An unused norm created next to the used one.
        Invalid(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.norm1 = nn.LayerNorm(d)
                    self.norm2 = nn.LayerNorm(d)
                    self.mlp = nn.Linear(d, d)

                def forward(self, x):
                    return x + self.mlp(self.norm1(x))
            """,
            line=8,
            message_contains="self.norm2",
        ),
        # A conv head left over from an experiment, torch.nn spelled out.
        Invalid(
            """
            import torch

            class Seg(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = torch.nn.Conv2d(3, 64, 3)
                    self.aux_head = torch.nn.Conv2d(64, 21, 1)
                    self.head = torch.nn.Conv2d(64, 21, 1)

                def forward(self, x):
                    return self.head(self.backbone(x))
            """,
            line=8,
        ),
        # A Sequential that is built but never applied.
        Invalid(
            """
            from torch import nn

            class Classifier(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.features = nn.Sequential(nn.Linear(d, d), nn.ReLU())
                    self.out = nn.Linear(d, n)

                def forward(self, x):
                    return self.out(x)
            """,
            line=7,
        ),
        # from torch.nn import ...; an unused activation module.
        Invalid(
            """
            from torch.nn import GELU, Linear, Module

            class MLP(Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = Linear(d, d)
                    self.act = GELU()

                def forward(self, x):
                    return self.fc(x).relu()
            """,
            line=8,
        ),
        # Unused in a Lightning module-like subclass chain of the file.
        Invalid(
            """
            import torch.nn as nn

            class Base(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = nn.GRU(32, 64)

            class Model(Base):
                def __init__(self):
                    super().__init__()
                    self.decoder = nn.GRU(64, 32)
                    self.dropout = nn.Dropout(0.2)

                def forward(self, x):
                    h, _ = self.encoder(x)
                    return self.decoder(h)[0]
            """,
            line=13,
        ),
        # An embedding nobody looks up.
        Invalid(
            """
            import torch.nn as nn

            class Tagger(nn.Module):
                def __init__(self, vocab, tags, d):
                    super().__init__()
                    self.word_emb = nn.Embedding(vocab, d)
                    self.char_emb = nn.Embedding(128, 16)
                    self.out = nn.Linear(d, tags)

                def forward(self, words):
                    return self.out(self.word_emb(words))
            """,
            line=8,
        ),
    ]


_HARMLESS_CONSUMERS = frozenset(
    {"len", "enumerate", "zip", "reversed", "range", "iter", "print", "isinstance", "sorted", "min", "max", "sum", "any", "all"}
)
_PARAMETER_CLASSES = frozenset({"Parameter"})
_PARAMETER_FREE = re.compile(
    r"\w*Loss|\w*Dropout\w*|Identity|Flatten|Unflatten|\w*Pool\d?d|Upsample\w*|Pixel(Un)?Shuffle|Softmax\w*|"
    r"LogSoftmax|ReLU6?|LeakyReLU|RReLU|ELU|CELU|SELU|GELU|SiLU|Mish|Sigmoid|LogSigmoid|Tanh|Hardtanh|"
    r"Hardswish|Hardsigmoid|Softplus|Softsign|Tanhshrink|Threshold|GLU|Hardshrink|Softshrink|ZeroPad\d?d|"
    r"\w*Pad\d?d|ChannelShuffle|Fold|Unfold"
)


class LayersInPlainList(Rule):
    """Flags layers kept in a plain Python list or dict on an `nn.Module`.

    ## What it does
    Finds, in an `nn.Module` subclass, an attribute holding newly built layers in a plain container:
    `self.layers = [nn.Linear(...), ...]`, a list comprehension of layers, a tuple,
    `self.blocks = []` followed by `self.blocks.append(Block(...))`, a local list of layers assigned
    to `self.x`, a dict of layers (`{"a": nn.Linear(...)}`), and lists of `nn.Parameter`s. Layers are
    `torch.nn` modules and module classes of the same file.

    It stays silent when the container is handed on to something that registers it
    (`nn.Sequential(*self.layers)`, `nn.ModuleList(self.layers)`, any call other than
    `len`/`zip`/`enumerate`/...), when the class registers modules by hand (`add_module`,
    `register_module`, `register_parameter`, `setattr(self, ...)`), and for containers of existing
    modules (`[self.conv1, self.conv2]`, which are registered as attributes already, or a teacher
    model hidden on purpose).

    ## Why is this bad?
    `nn.Module` only registers modules and parameters assigned as attributes or held by
    `nn.ModuleList` / `nn.ModuleDict` / `nn.ParameterList`. Layers in a plain list are invisible:
    their parameters are not in `model.parameters()` (the optimizer never updates them, so they
    stay at their random initialisation), `model.to(device)` / `.cuda()` / `.half()` leave them
    behind, `model.eval()` does not reach them, and `state_dict()` does not save them. Training runs
    without an error and the model silently underperforms.

    ## Example
    ```python
    class MLP(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    ```

    ## Use instead
    ```python
    class MLP(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    ```

    ## Fix safety
    The fix wraps the container in `nn.ModuleList(...)` / `nn.ModuleDict(...)` /
    `nn.ParameterList(...)` (spelled through the file's own `torch.nn` import; no fix without one).
    It is unsafe: the parameters start being trained, moved and saved, which changes the results
    and the checkpoint keys, and code that uses list-only methods on the attribute (`sort`, `+` with
    a list, non-module items) needs adjusting.
    """

    code = "NN308"
    name = "layers-in-plain-list"
    message = "layers kept in a plain list are not registered (not trained, moved or saved); use nn.ModuleList"
    requires = ("__init__",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files that put a constructor call (a capitalised name: a layer class) into a container."""
        if ("Module" not in text and "Sequential" not in text) or not super().applies_to(text):
            return False
        if _LAYER_CONTAINER_RE.search(text) is not None:
            return True
        if ".append(" not in text and ".extend(" not in text and ".insert(" not in text:
            return False  # the regexes below start at every word: skip them when they cannot match
        # ``self.blocks = []`` and ``self.blocks.append(Block(...))``.
        attrs = {m.group(1) for m in _SELF_APPEND_RE.finditer(text)}
        if any(re.search(rf"self\.{re.escape(attr)}\s*=\s*(?:\[\s*\]|list\(\s*\)|\{{\s*\}}|dict\(\s*\))", text) for attr in attrs):
            return True
        # ``blocks.append(Block(...))`` and later ``self.blocks = blocks``.
        names = _local_append_names(text)
        return any(re.search(rf"self\.\w+\s*=\s*{re.escape(name)}\s*$", text, re.M) for name in names)

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        for info in index.classes:
            if not info.self_assigns or not index.module_like(info):
                continue
            self._check_class(index, info)

    def _check_class(self, index: _Index, info: _ClassInfo) -> None:
        registers = False
        consumed: set[str] = set()
        appended: dict[str, list] = {}
        for call in info.calls:
            func = call.func
            name = dotted_name(func) or ""
            last = name.rpartition(".")[2]
            if last in ("add_module", "register_module", "register_parameter") or name == "setattr":
                registers = True
                break
            receiver_attr = _self_attr(func.value) if type(func) is cst.Attribute else None
            if receiver_attr is not None and last in ("append", "extend", "insert"):
                item = call.args[-1].value if call.args else None
                appended.setdefault(receiver_attr, []).append((last, item))
                continue
            for a in call.args:
                attr = _self_attr(a.value)
                if attr is not None and (a.star or last not in _HARMLESS_CONSUMERS):
                    consumed.add(attr)
        if registers:
            return
        for attr, bindings in info.self_assigns.items():
            if attr in consumed:
                continue
            verdicts = [self._container(index, value, scope, record, appended.get(attr, ())) for value, scope, record in bindings]
            if not verdicts or any(v is None for v in verdicts):
                continue
            for (value, _, _), verdict in zip(bindings, verdicts, strict=True):
                if verdict[0] != "none":
                    self._report(attr, value, verdict)

    def _container(self, index: _Index, value, scope: _Scope, record: _Assign, appended) -> tuple[str, str] | None:
        """(kind, wrapper) for a container of new layers: kind 'list'/'dict'/'none' (not a container of
        layers, harmless), wrapper 'ModuleList'/'ModuleDict'/'ParameterList'/'' (no fix); None: anything
        else (the attribute is something else at times: leave it alone)."""
        if value is None:
            return None
        t = type(value)
        if t is cst.List or t is cst.Tuple:
            items = [e.value for e in value.elements]
            if not items:
                added = [self._item_kind(index, item, scope) for method, item in appended if method != "extend"]
                added += [
                    k for method, item in appended if method == "extend" and type(item) in (cst.List, cst.Tuple)
                    for k in (self._item_kind(index, e.value, scope) for e in item.elements)
                ]
                if not added or "layer" not in added and "param" not in added:
                    return "none", ""
                return "list", self._wrapper(added, "list")
            kinds = [self._item_kind(index, item, scope) for item in items]
            if "layer" not in kinds and "param" not in kinds:
                return "none", ""
            return "list", self._wrapper(kinds, "list")
        if t is cst.ListComp:
            kind = self._item_kind(index, value.elt, scope)
            return ("list", self._wrapper([kind], "list")) if kind in ("layer", "param") else ("none", "")
        if t is cst.Dict:
            pairs = [e for e in value.elements if type(e) is cst.DictElement]
            kinds = [self._item_kind(index, e.value, scope) for e in pairs]
            if "layer" not in kinds:
                return "none", ""
            keys_ok = len(pairs) == len(value.elements) and all(
                type(e.key) is cst.SimpleString and "." not in (string_value(e.key) or ".") for e in pairs
            )
            return "dict", self._wrapper(kinds, "dict") if keys_ok else ""
        if t is cst.DictComp:
            kind = self._item_kind(index, value.value, scope)
            return ("dict", "") if kind == "layer" else ("none", "")
        if t is cst.Name:
            found = scope.reaching(value.value, record.start)
            if found is None or found.value is None or type(found.value) not in (cst.List, cst.ListComp):
                return "none", ""
            local_appended = self._local_appends(scope, value.value)
            inner = self._container(index, found.value, scope, found, local_appended)
            if inner is None or inner[0] != "list":
                return inner if inner is None else ("none", "")
            return inner
        if t in (cst.Call, cst.Attribute, cst.Subscript) and _ctor(index, value) is None:
            return None  # built elsewhere: unknown
        return "none", ""

    def _local_appends(self, scope: _Scope, name: str) -> list:
        out = []
        for call in walk_nodes(scope.node, cst.Call):
            func = call.func
            if type(func) is cst.Attribute and type(func.value) is cst.Name and func.value.value == name:
                if func.attr.value in ("append", "extend", "insert") and call.args:
                    out.append((func.attr.value, call.args[-1].value))
        return out

    def _item_kind(self, index: _Index, item, scope: _Scope) -> str:
        if type(item) is not cst.Call:
            return "other"
        cls = _torch_class(_qual(index.ctx, item.func))
        if cls is not None:
            if cls in _PARAMETER_CLASSES:
                return "param"
            if _PARAMETER_FREE.fullmatch(cls):
                return "other"  # no parameters to lose: a list of activations or losses is harmless
            return "layer"
        if _qual(index.ctx, item.func) in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return "param"
        info = index.local_class(item.func)
        if info is not None and index.is_module(info):
            return "layer"
        return "other"

    @staticmethod
    def _wrapper(kinds: list[str], container: str) -> str:
        if container == "dict":
            return "ModuleDict" if all(k == "layer" for k in kinds) else ""
        if all(k == "layer" for k in kinds):
            return "ModuleList"
        if all(k == "param" for k in kinds):
            return "ParameterList"
        return ""

    def _report(self, attr: str, value, verdict: tuple[str, str]) -> None:
        kind, wrapper = verdict
        container = "dict" if kind == "dict" else "list"
        shown = wrapper or ("nn.ModuleDict" if kind == "dict" else "nn.ModuleList")
        shown = shown if shown.startswith("nn.") else f"nn.{shown}"
        message = (
            f"self.{attr} keeps layers in a plain {container}: their parameters are not registered "
            f"(not trained, not moved by .to(), not saved); use {shown}"
        )
        fix = None
        spelled = _nn_alias(self.ctx, wrapper) if wrapper else None
        if spelled is not None:
            inner = _strip_parens(self.ctx, value)
            if type(value) in (cst.List, cst.Tuple) and not value.elements:
                inner = ""
            fix = self.fix("unsafe", (value, f"{spelled}({inner})"), description=f"wrap in {shown}")
        self.report(value, message, fix=fix)

    VALID = [
        """
        import torch.nn as nn

        class MLP(nn.Module):
            def __init__(self, sizes):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
                self.heads = nn.ModuleDict({"cls": nn.Linear(8, 2), "reg": nn.Linear(8, 1)})

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return self.heads["cls"](x)
        """,
        # A plain list handed to Sequential, or wrapped afterwards.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = [nn.Conv2d(3, 16, 3), nn.ReLU()]
                self.body = nn.Sequential(*self.blocks)
                self.heads = [nn.Linear(16, 2) for _ in range(3)]
                self.heads = nn.ModuleList(self.heads)

            def forward(self, x):
                return self.body(x)
        """,
        # Registered by hand.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.layers = [nn.Linear(8, 8) for _ in range(n)]
                for i, layer in enumerate(self.layers):
                    self.add_module(f"layer{i}", layer)
        """,
        # A list of existing modules (already registered) and a hidden teacher.
        """
        import torch.nn as nn

        class Student(nn.Module):
            def __init__(self, teacher):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3)
                self.conv2 = nn.Conv2d(8, 8, 3)
                self.convs = [self.conv1, self.conv2]
                self._teacher = [teacher]
                self.sizes = [8, 16, 32]
        """,
        # Not a module: a trainer may hold models in a list.
        """
        import torch.nn as nn

        class Ensemble:
            def __init__(self, n):
                self.models = [nn.Linear(10, 1) for _ in range(n)]
        """,
        # A local list turned into a ModuleList.
        """
        import torch.nn as nn

        class Tower(nn.Module):
            def __init__(self, depth):
                super().__init__()
                layers = []
                for _ in range(depth):
                    layers.append(nn.Linear(32, 32))
                self.layers = nn.ModuleList(layers)
                self.names = [f"layer{i}" for i in range(depth)]
        """,
        # Parameter-free modules (losses, activations) in a dict lose nothing.
        """
        import torch.nn as nn

        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.losses = {"l1": nn.SmoothL1Loss(reduction="none"), "ce": nn.CrossEntropyLoss()}
                self.acts = [nn.ReLU(), nn.GELU(), nn.Identity()]
        """,
        # A list of layer classes (factories), not of layers.
        """
        import torch.nn as nn

        class Search(nn.Module):
            def __init__(self):
                super().__init__()
                self.candidates = [nn.Conv2d, nn.Identity]
                self.acts = {"relu": nn.ReLU, "gelu": nn.GELU}
        """,
        # An attribute that holds a ModuleList elsewhere.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, blocks=None):
                super().__init__()
                self.blocks = []
                if blocks is not None:
                    self.blocks = nn.ModuleList(blocks)
        """,
        # The fixed forms.
        """
        import torch
        import torch.nn as nn

        class MLP(nn.Module):
            def __init__(self, sizes):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])
                self.blocks = nn.ModuleList()
                for s in sizes:
                    self.blocks.append(nn.Linear(s, s))
                self.scales = nn.ParameterList([nn.Parameter(torch.ones(s)) for s in sizes])
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
            """,
            line=7,
            fixed="""
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
            """,
        ),
        # An empty list filled with append.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.blocks = []
                    for s in sizes:
                        self.blocks.append(nn.Linear(s, s))

                def forward(self, x):
                    for b in self.blocks:
                        x = b(x)
                    return x
            """,
            line=7,
            fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.blocks = nn.ModuleList()
                    for s in sizes:
                        self.blocks.append(nn.Linear(s, s))

                def forward(self, x):
                    for b in self.blocks:
                        x = b(x)
                    return x
            """,
        ),
        # A literal list of layers, indexed in forward.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class CNN(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.convs = [nn.Conv2d(1, 16, 3), nn.Conv2d(16, 32, 3)]
                    self.fc = nn.Linear(32, 10)

                def forward(self, x):
                    x = torch.relu(self.convs[0](x))
                    x = torch.relu(self.convs[1](x))
                    return self.fc(x.mean((2, 3)))
            """,
            line=8,
        ),
        # A local list of blocks of a local module class assigned to self.
        Invalid(
            """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

                def forward(self, x):
                    return x + self.fc(x)

            class Model(nn.Module):
                def __init__(self, d, depth):
                    super().__init__()
                    blocks = []
                    for _ in range(depth):
                        blocks.append(Block(d))
                    self.blocks = blocks

                def forward(self, x):
                    for blk in self.blocks:
                        x = blk(x)
                    return x
            """,
            line=18,
            fixed="""
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

                def forward(self, x):
                    return x + self.fc(x)

            class Model(nn.Module):
                def __init__(self, d, depth):
                    super().__init__()
                    blocks = []
                    for _ in range(depth):
                        blocks.append(Block(d))
                    self.blocks = nn.ModuleList(blocks)

                def forward(self, x):
                    for blk in self.blocks:
                        x = blk(x)
                    return x
            """,
        ),
        # A dict of heads: ModuleDict.
        Invalid(
            """
            from torch import nn

            class MultiTask(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.heads = {"age": nn.Linear(d, 1), "gender": nn.Linear(d, 2)}

                def forward(self, x):
                    return {k: h(x) for k, h in self.heads.items()}
            """,
            line=7,
            fixed="""
            from torch import nn

            class MultiTask(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.heads = nn.ModuleDict({"age": nn.Linear(d, 1), "gender": nn.Linear(d, 2)})

                def forward(self, x):
                    return {k: h(x) for k, h in self.heads.items()}
            """,
        ),
        # A list of parameters: ParameterList, with only `import torch`.
        Invalid(
            """
            import torch

            class Mixture(torch.nn.Module):
                def __init__(self, k, d):
                    super().__init__()
                    self.means = [torch.nn.Parameter(torch.randn(d)) for _ in range(k)]

                def forward(self, x):
                    return torch.stack([((x - m) ** 2).sum(-1) for m in self.means], -1)
            """,
            line=7,
            fixed="""
            import torch

            class Mixture(torch.nn.Module):
                def __init__(self, k, d):
                    super().__init__()
                    self.means = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(d)) for _ in range(k)])

                def forward(self, x):
                    return torch.stack([((x - m) ** 2).sum(-1) for m in self.means], -1)
            """,
        ),
        # A tuple of layers and extend.
        Invalid(
            """
            import torch.nn as nn

            class Pyramid(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lateral = (nn.Conv2d(256, 64, 1), nn.Conv2d(512, 64, 1))
                    self.out = []
                    self.out.extend([nn.Conv2d(64, 64, 3), nn.Conv2d(64, 64, 3)])

                def forward(self, feats):
                    return [o(l(f)) for o, l, f in zip(self.out, self.lateral, feats)]
            """,
            count=2,
        ),
        # A Lightning module with a dict comprehension of heads (no fix: the keys are not literal).
        Invalid(
            """
            import pytorch_lightning as pl
            import torch.nn as nn

            class Lit(pl.LightningModule):
                def __init__(self, tasks):
                    super().__init__()
                    self.backbone = nn.Linear(32, 32)
                    self.heads = {t: nn.Linear(32, 1) for t in tasks}

                def forward(self, x):
                    h = self.backbone(x)
                    return {t: head(h) for t, head in self.heads.items()}
            """,
            line=9,
        ),
    ]


_FUNCTIONAL_DROPOUTS = frozenset(
    {
        "torch.nn.functional.dropout",
        "torch.nn.functional.dropout1d",
        "torch.nn.functional.dropout2d",
        "torch.nn.functional.dropout3d",
    }
)


class FunctionalDropoutAlwaysOn(Rule):
    """Flags `F.dropout` in a module without `training=self.training`.

    ## What it does
    Finds calls of `F.dropout` / `F.dropout1d` / `F.dropout2d` / `F.dropout3d` (however imported)
    inside the methods of an `nn.Module` subclass that do not pass `training` (as a keyword or as the
    third positional argument). Any explicit value is accepted (`training=self.training`,
    `training=False`, `training=True` for Monte Carlo dropout, `training=is_train`). Calls that only
    run in training mode (under `if self.training:`, in `x if self.training else y`, after
    `if not self.training: return x`) are left alone, as are `nn.Dropout` modules, functional code
    outside module classes, and `F.alpha_dropout` / `F.feature_alpha_dropout`, whose `training`
    default is `False`.

    ## Why is this bad?
    Unlike `nn.Dropout`, which follows `model.train()` / `model.eval()`, the functional form
    defaults to `training=True`: the dropout stays on at evaluation and inference. Predictions are
    noisy and systematically worse, validation metrics are too pessimistic, and nothing warns about
    it.

    ## Example
    ```python
    class Net(nn.Module):
        def forward(self, x):
            x = F.relu(self.fc1(x))
            x = F.dropout(x, p=0.5)
            return self.fc2(x)
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def forward(self, x):
            x = F.relu(self.fc1(x))
            x = F.dropout(x, p=0.5, training=self.training)
            return self.fc2(x)
    ```

    ## Fix safety
    The fix adds `training=self.training`. It is safe: training behaves exactly as before, and the
    only change is what the code evidently meant, dropout switching off under `model.eval()`. Code
    that relies on dropout at evaluation (Monte Carlo dropout) should say so with `training=True`.
    No fix is offered in static methods, which have no `self`.
    """

    code = "NN309"
    name = "functional-dropout-always-on"
    message = "F.dropout without training=self.training stays on at evaluation; pass training=self.training"
    requires = (("dropout(", "dropout1d(", "dropout2d(", "dropout3d("),)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files with a functional dropout call that may lack ``training`` (the next lines do not
        mention it)."""
        if not super().applies_to(text):
            return False
        return any("training" not in text[end: end + 400] for end in _functional_dropout_ends(text))

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        for call, scope, _ in index.calls:
            if scope.cls is None or scope.kind != "function":
                continue
            func = call.func
            last = func.attr.value if type(func) is cst.Attribute else func.value if type(func) is cst.Name else ""
            if not last.startswith("dropout"):
                continue
            qual = _qual(self.ctx, func)
            if qual not in _FUNCTIONAL_DROPOUTS:
                continue
            if any(a.star for a in call.args) or arg(call, 2, "training") is not None:
                continue
            if not index.module_like(scope.cls):
                continue
            method, _ = _method_of(scope)
            if method is not None and _training_guarded(method, call):
                continue
            fix = None
            if method is not None and not _is_static(method):
                params = method.params.params
                if params:
                    self_name = params[0].name.value
                    fix = self.fix("safe", _add_kwarg_fix(self, call, "training", f"{self_name}.training"),
                                   description="training=self.training")
            self.report(
                call,
                f"{self.ctx.code(func)} without training= stays on at evaluation (the functional form defaults to "
                "training=True); pass training=self.training",
                fix=fix,
            )

    VALID = [
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 256)
                self.fc2 = nn.Linear(256, 10)

            def forward(self, x):
                x = F.dropout(F.relu(self.fc1(x)), p=0.5, training=self.training)
                return self.fc2(x)
        """,
        # Positional training flag, explicit True (MC dropout), a flag variable.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x, mc=False):
                x = F.dropout(x, 0.2, self.training)
                x = F.dropout2d(x, 0.1, training=True)
                return F.dropout(x, p=0.3, training=self.training or mc)
        """,
        # nn.Dropout modules follow train()/eval().
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.drop = nn.Dropout(0.5)

            def forward(self, x):
                return self.drop(x)
        """,
        # Functional code outside a module passes the flag itself.
        """
        import torch.nn.functional as F

        def mlp(params, x, train):
            x = F.relu(x @ params["w1"])
            x = F.dropout(x, 0.5, train)
            return x @ params["w2"]

        def augment(x):
            return F.dropout(x, 0.1)
        """,
        # Keyword arguments forwarded, alpha dropout (its default is training=False).
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def forward(self, x, **kw):
                x = F.dropout(x, **kw)
                return F.alpha_dropout(x, 0.1)
        """,
        # A method named dropout of another object.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.cfg = cfg

            def forward(self, x):
                return self.cfg.dropout(x)
        """,
        # Applied only in training mode.
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class APPNP(nn.Module):
            def forward(self, x, edge_weight):
                if self.dropout > 0 and self.training:
                    edge_weight = F.dropout(edge_weight, p=self.dropout)
                x = F.dropout(x, self.p) if self.training else x
                return x * edge_weight

        class Drop(nn.Module):
            def forward(self, x):
                if not self.training:
                    return x
                return F.dropout(x, 0.5)
        """,
        # Not a module: an autograd Function's forward.
        """
        import torch
        import torch.nn.functional as F

        class Noise(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return F.dropout(x, 0.1)
        """,
        # The fixed forms.
        """
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.nn.functional import dropout2d

        class Net(nn.Module):
            def forward(self, x):
                x = F.dropout(x, p=0.5, training=self.training)
                return dropout2d(x, 0.2, training=self.training)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def forward(self, x):
                    x = F.dropout(x, p=0.5)
                    return x
            """,
            line=7,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def forward(self, x):
                    x = F.dropout(x, p=0.5, training=self.training)
                    return x
            """,
        ),
        # Imported directly; positional p.
        Invalid(
            """
            import torch.nn as nn
            from torch.nn.functional import dropout2d

            class Net(nn.Module):
                def forward(self, x):
                    return dropout2d(x, 0.2)
            """,
            fixed="""
            import torch.nn as nn
            from torch.nn.functional import dropout2d

            class Net(nn.Module):
                def forward(self, x):
                    return dropout2d(x, 0.2, training=self.training)
            """,
        ),
        # torch.nn.functional spelled out, default p, in a helper method.
        Invalid(
            """
            import torch

            class Encoder(torch.nn.Module):
                def embed(self, tokens):
                    return torch.nn.functional.dropout(self.emb(tokens))
            """,
            line=6,
        ),
        # Nested closure inside forward, a Lightning module.
        Invalid(
            """
            import pytorch_lightning as pl
            import torch.nn.functional as F

            class Lit(pl.LightningModule):
                def forward(self, x):
                    def block(h):
                        return F.dropout(F.relu(h), 0.3)

                    return block(x)
            """,
            line=8,
        ),
        # A multi-line call with a trailing comma.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class GCN(nn.Module):
                def forward(self, x, adj):
                    x = F.dropout(
                        x,
                        self.p,
                    )
                    return adj @ x
            """,
            line=7,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F

            class GCN(nn.Module):
                def forward(self, x, adj):
                    x = F.dropout(
                        x,
                        self.p,
                        training=self.training,
                    )
                    return adj @ x
            """,
        ),
        # Subclass of a module class of the file; inplace given but not training.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Base(nn.Module):
                pass

            class Head(Base):
                def forward(self, x):
                    return F.dropout(x, p=0.1, inplace=True)
            """,
            line=10,
        ),
        # A class with an unknown base but a forward method.
        Invalid(
            """
            import torch.nn.functional as F
            from .layers import BaseLayer

            class Attention(BaseLayer):
                def forward(self, q, k, v):
                    attn = (q @ k.transpose(-2, -1)).softmax(-1)
                    attn = F.dropout(attn, self.attn_p)
                    return attn @ v
            """,
            line=8,
        ),
        # A static method: reported, no fix.
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                @staticmethod
                def regularise(x):
                    return F.dropout3d(x, 0.2)
            """,
            line=8,
        ),
    ]


def _mentions_training(test) -> bool:
    """Whether a condition holds when the module is in training mode (``self.training``, ``p > 0 and
    self.training``), not when it is not (``not self.training``)."""
    if type(test) is cst.UnaryOperation and type(test.operator) is cst.Not:
        return False
    if type(test) is cst.BooleanOperation:
        if type(test.operator) is cst.And:
            return _mentions_training(test.left) or _mentions_training(test.right)
        return _mentions_training(test.left) and _mentions_training(test.right)
    return any(a.attr.value == "training" for a in walk_nodes(test, cst.Attribute))


def _training_guarded(method: cst.FunctionDef, call: cst.Call) -> bool:
    """The call runs only in training mode: under ``if self.training:`` (or ``x if self.training else
    y``), or after ``if not self.training: return ...``."""
    path = _path_to(method, call)
    if path is None:
        return False
    for i, node in enumerate(path):
        below = path[i + 1] if i + 1 < len(path) else call
        t = type(node)
        if (t is cst.If or t is cst.IfExp) and below is node.body and _mentions_training(node.test):
            return True
        if t is cst.BooleanOperation and type(node.operator) is cst.And and below is node.right:
            if _mentions_training(node.left):
                return True
    for stmt in statements(method.body):
        if type(stmt) is cst.If and type(stmt.test) is cst.UnaryOperation and type(stmt.test.operator) is cst.Not:
            body = statements(stmt.body)
            if body and type(body[-1]) is cst.Return and any(
                a.attr.value == "training" for a in walk_nodes(stmt.test, cst.Attribute)
            ):
                return True
    return False


_MODULE_NAME_RE = re.compile(
    r"(model|module|backbone|encoder|decoder|generator|discriminator|teacher|student)"
    r"|\w+_(model|encoder|decoder|backbone)|model_\w+"
)
# Libraries whose constructors and factories return nn.Modules.
_MODEL_LIBRARIES = ("torch.nn.", "torchvision.models", "timm.", "transformers.", "torch.hub.load", "diffusers.")
_MODULE_CONTAINERS = frozenset({"ModuleList", "Sequential", "ModuleDict"})


class ForwardCalledDirectly(Rule):
    """Flags `module.forward(x)` called instead of `module(x)`.

    ## What it does
    Finds calls of `.forward(...)` on an object that is an `nn.Module`: a `self.x` attribute assigned
    a layer, a module class of the file or a model from torchvision/timm/transformers
    (`from_pretrained`), a variable bound to one (`model = Net().to(device)`, also in another
    function of the file when every binding agrees), an item of an `nn.ModuleList` /
    `nn.Sequential` (`self.blocks[i]`, `for blk in self.blocks`), or, when nothing else is known, a
    name or attribute that says it is a model (`model`, `encoder`, `decoder`, `backbone`, `teacher`,
    `teacher_model`, ...). It leaves alone `super().forward(x)`, `Base.forward(self, x)`,
    `self.forward(x)` (a class calling its own forward from another method), `.forward` passed
    around without being called, and objects of other kinds that have a `forward` method: OpenCV's
    `cv2.dnn` networks, skorch's `NeuralNet`, classes of the file that are not modules (a bare `net`
    is not taken for a module on its name alone).

    ## Why is this bad?
    `module(x)` runs `Module.__call__`, which runs forward pre-hooks and hooks, and through them the
    machinery built on hooks: `DistributedDataParallel` gradient synchronisation, FSDP parameter
    gathering, `torch.compile`'d modules, quantisation observers, pruning masks, activation
    checkpointing wrappers and feature-extraction hooks. `module.forward(x)` skips all of it: the
    results can be silently wrong (unsynchronised gradients, unpruned weights) or slow.

    ## Example
    ```python
    logits = model.forward(images)
    ```

    ## Use instead
    ```python
    logits = model(images)
    ```

    ## Fix safety
    The fix replaces `x.forward(args)` with `x(args)`. It is unsafe: hooks registered on the module
    start running, which is the point but can change results.
    """

    code = "NN310"
    name = "forward-called-directly"
    message = "module.forward() skips hooks (DDP, FSDP, torch.compile, pruning); call the module: module(x)"
    requires = (".forward(",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return ".forward(" in text and _DIRECT_FORWARD_RE.search(text) is not None

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        for call, scope, order in index.calls:
            func = call.func
            if type(func) is not cst.Attribute or func.attr.value != "forward":
                continue
            receiver = func.value
            if type(receiver) not in (cst.Name, cst.Attribute) or _is_self(receiver):
                continue
            if call.args and _is_self(call.args[0].value):
                continue  # ``Base.forward(self, x)``
            if not self._is_module(index, receiver, scope, order):
                continue
            text = self.ctx.code(receiver)
            fix = self.fix("unsafe", (func, _strip_parens(self.ctx, receiver)), description="call the module")
            self.report(
                call,
                f"{text}.forward(...) skips the module's hooks (DDP, FSDP, torch.compile, pruning); call {text}(...)",
                fix=fix,
            )

    def _is_module(self, index: _Index, receiver, scope: _Scope, order: int) -> bool:
        qual = _qual(self.ctx, receiver)
        if qual is not None:
            return False  # an imported name: a class or a function, not an instance
        attr = _self_attr(receiver)
        if attr is not None:
            bindings = scope.cls.self_assigns.get(attr, ()) if scope.cls is not None else ()
            verdict = self._verdict(index, [v for v, _, _ in bindings], scope)
            if verdict is not None:
                return verdict
            return _MODULE_NAME_RE.fullmatch(attr) is not None
        if type(receiver) is not cst.Name or index.local_class(receiver) is not None:
            return False
        name = receiver.value
        found = scope.reaching(name, order)
        if found is not None:
            if found.value is not None:
                verdict = self._verdict(index, [found.value], scope)
                if verdict is not None:
                    return verdict
            elif type(found.node) is cst.For and self._iterates_modules(index, found.node.iter, scope):
                return True
        else:
            # Bound elsewhere in the file (a parameter, a global): every binding must agree.
            verdicts = {self._verdict(index, [v], s) for v, s, _ in index.file_bindings(name) or ((None, scope, None),)}
            if len(verdicts) == 1 and None not in verdicts:
                return verdicts.pop()
            if False in verdicts:
                return False
        return _MODULE_NAME_RE.fullmatch(name) is not None

    def _verdict(self, index: _Index, values: list, scope: _Scope) -> bool | None:
        """True: one of the values builds a module; False: they are built by something else of known
        origin (``cv2.dnn.readNet(...)``, a non-module class); None: unknown."""
        verdict = None
        for value in values:
            if value is None:
                return None
            value = _strip_chain(value)
            if _ctor(index, value) is not None or self._module_item(index, value, scope):
                return True
            if type(value) is cst.Call:
                qual = _qual(self.ctx, value.func)
                if qual is not None:
                    if qual.startswith(_MODEL_LIBRARIES) or (
                        type(value.func) is cst.Attribute and value.func.attr.value == "from_pretrained"
                    ):
                        return True
                    verdict = False
                elif index.local_class(value.func) is not None:
                    verdict = False  # a class of this file that is not a module
        return verdict

    def _module_item(self, index: _Index, value, scope: _Scope) -> bool:
        """``self.blocks[i]`` of an ``nn.ModuleList`` / ``nn.Sequential`` / ``nn.ModuleDict``."""
        return type(value) is cst.Subscript and self._container(index, value.value, scope)

    def _container(self, index: _Index, expr, scope: _Scope) -> bool:
        if type(expr) is cst.Call and type(expr.func) is cst.Attribute and expr.func.attr.value == "values":
            expr = expr.func.value
        attr = _self_attr(expr)
        if attr is None or scope.cls is None:
            return False
        for value, _, _ in scope.cls.self_assigns.get(attr, ()):
            made = _ctor(index, value) if value is not None else None
            if made is not None and made[0] == "torch" and made[1] in _MODULE_CONTAINERS:
                return True
        return False

    def _iterates_modules(self, index: _Index, it, scope: _Scope) -> bool:
        if type(it) is cst.Call and dotted_name(it.func) in ("enumerate", "reversed") and it.args:
            it = it.args[0].value
        return self._container(index, it, scope)

    VALID = [
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Linear(10, 10)

            def forward(self, x):
                return self.encoder(x)

        model = Net()
        out = model(x)
        """,
        # super().forward, Base.forward(self, ...), self.forward from another method.
        """
        import torch.nn as nn

        class Base(nn.Module):
            def forward(self, x):
                return x

        class Child(Base):
            def forward(self, x):
                y = super().forward(x)
                return Base.forward(self, y)

            def predict(self, x):
                return self.forward(x).argmax(-1)
        """,
        # .forward passed, not called (checkpointing, hooks).
        """
        import torch.utils.checkpoint as cp
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.mlp = nn.Linear(8, 8)

            def forward(self, x):
                return cp.checkpoint(self.mlp.forward, x, use_reentrant=False)

        old_forward = Block.forward
        """,
        # Objects that are not modules: a data pipeline, a Keras-like API, a class method.
        """
        import torch.nn as nn

        class Pipeline:
            def forward(self, x):
                return x

        pipe = Pipeline()
        out = pipe.forward(1)
        sched = Scheduler()
        sched.forward(step=3)
        nn.Linear.forward(layer, x)
        """,
        # A class of the file called on its forward (unbound).
        """
        import torch.nn as nn

        class Net(nn.Module):
            def forward(self, x):
                return x

        y = Net.forward(net_instance, x)
        """,
        # A variable bound to a non-module.
        """
        def run(data):
            stream = open_stream(data)
            return stream.forward(10)
        """,
        # The fixed form.
        """
        import torch.nn as nn

        class Wrapper(nn.Module):
            def __init__(self, backbone):
                super().__init__()
                self.backbone = backbone

            def forward(self, x):
                return self.backbone(x)
        """,
        # Monkey-patching forward is not a call.
        """
        def patch(model, fn):
            model.forward = fn
            return model
        """,
        # A local class that is not a module, held in a variable named like a model.
        """
        class ModelRunner:
            def forward(self, batch):
                return batch

        model = ModelRunner()
        result = model.forward([1, 2])
        """,
        # OpenCV's dnn networks and skorch's NeuralNet have their own forward.
        """
        import cv2
        from skorch import NeuralNetClassifier

        class Detector:
            def __init__(self, weights):
                self.net = cv2.dnn.readNetFromONNX(weights)

            def __call__(self, blob):
                self.net.setInput(blob)
                return self.net.forward()

        def check(net, X):
            return net.forward(X)

        net = NeuralNetClassifier(module=None)
        y = net.forward(X)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    for x, y in loader:
                        logits = model.forward(x)
            """,
            line=8,
            fixed="""
            import torch

            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    for x, y in loader:
                        logits = model(x)
            """,
        ),
        # A submodule attribute called through forward.
        Invalid(
            """
            import torch.nn as nn

            class Wrapper(nn.Module):
                def __init__(self, backbone):
                    super().__init__()
                    self.backbone = backbone
                    self.head = nn.Linear(512, 10)

                def forward(self, x):
                    return self.head.forward(self.backbone.forward(x))
            """,
            count=2,
            fixed="""
            import torch.nn as nn

            class Wrapper(nn.Module):
                def __init__(self, backbone):
                    super().__init__()
                    self.backbone = backbone
                    self.head = nn.Linear(512, 10)

                def forward(self, x):
                    return self.head(self.backbone(x))
            """,
        ),
        # A variable bound to a module class of the file.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    return x

            clf = Net().cuda()
            out = clf.forward(inputs)
            """,
            line=9,
        ),
        # A teacher model in distillation.
        Invalid(
            """
            import torch

            def distill_step(student, teacher_model, x):
                with torch.no_grad():
                    t = teacher_model.forward(x)
                return student(x), t
            """,
            line=6,
        ),
        # A torchvision model variable.
        Invalid(
            """
            import torchvision

            net = torchvision.models.resnet18()
            features = net.forward(batch)
            """,
            line=5,
        ),
        # Keyword arguments and a method of a trainer class.
        Invalid(
            """
            class Trainer:
                def __init__(self, model):
                    self.model = model

                def step(self, batch):
                    out = self.model.forward(input_ids=batch["ids"], attention_mask=batch["mask"])
                    return out.loss
            """,
            line=7,
        ),
        # nn.Sequential held in a variable.
        Invalid(
            """
            from torch import nn

            mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
            y = mlp.forward(x)
            """,
            line=5,
        ),
        # An encoder parameter in a helper function.
        Invalid(
            """
            def encode(encoder, tokens):
                return encoder.forward(tokens)[0]
            """,
            line=3,
        ),
        # An item of an nn.ModuleList, by index and in a loop.
        Invalid(
            """
            import torch.nn as nn

            class HRHead(nn.Module):
                def __init__(self, chans):
                    super().__init__()
                    self.downs = nn.ModuleList([nn.Conv2d(c, c, 3) for c in chans])

                def forward(self, feats):
                    y = feats[0]
                    for i, down in enumerate(self.downs):
                        y = down.forward(y)
                    first = self.downs[0]
                    return first.forward(y)
            """,
            count=2,
        ),
        # A parameter named net, bound to a module class elsewhere in the file.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    return x

            def train(net, loader):
                for x, y in loader:
                    out = net.forward(x)

            net = Net()
            train(net, [])
            """,
            line=10,
        ),
    ]


_NORMAL_INITS = frozenset({"torch.nn.init.normal_", "torch.nn.init.normal"})
_EMBEDDING_LIKE = re.compile(r"(?i).*(emb|token|pos|cls|query|queries|codebook|prompt|latent|mask|proto|center|anchor|code).*")
_WEIGHT_NAME_RE = re.compile(r"(w|weights?|kernel)\d*(_\w+)?|\w+_(w|weights?|kernel)\d*|W\w*")
_RANDN = frozenset({"torch.randn"})
_UNSHAPED_FACTORIES = frozenset({"torch.empty", "torch.Tensor", "torch.FloatTensor", "torch.zeros", "torch.randn", "torch.rand"})


def _is_one(node) -> bool:
    value = number_value(node)
    return value is not None and value == 1.0


def _size_rank(ctx, call: cst.Call) -> int:
    """How many dimensions (other than literal 1s) a ``torch.randn(a, b)`` / ``torch.empty((a, b))``
    call creates (0: unknown)."""
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in positional):
        return 0
    if len(positional) == 1 and type(positional[0].value) in (cst.Tuple, cst.List):
        dims = [e.value for e in positional[0].value.elements]
    elif len(positional) == 1 and type(positional[0].value) is not cst.Integer and type(positional[0].value) is not cst.Name:
        return 0
    else:
        dims = [a.value for a in positional]
        size = arg(call, None, "size")
        if not dims and size is not None and type(size) in (cst.Tuple, cst.List):
            dims = [e.value for e in size.elements]
    return sum(1 for d in dims if not (type(d) is cst.Integer and d.value == "1"))


class UnitNormalInit(Rule):
    """Flags layer weights initialised from a unit normal (std = 1).

    ## What it does
    Finds weight initialisations that draw from `N(0, 1)`:

    - `nn.init.normal_(layer.weight)` without `std` (it defaults to 1), with `std=1`, or positional
      `(w, 0, 1)`; and `layer.weight.data.normal_()` / `.normal_(0, 1)`, where `layer` is an
      `nn.Linear` / `nn.Conv*` / `nn.Bilinear` (a `self.x` attribute, a variable, or a loop variable
      checked with `isinstance(m, nn.Linear)` / `type(m) == nn.Conv2d`), or the same on a
      `self.weight`-like `nn.Parameter` of two or more dimensions;
    - `nn.Parameter(torch.randn(fan_in, fan_out))` (two or more dimensions, unscaled) assigned to a
      weight-like attribute (`self.weight`, `self.W`, `self.W_q`, `self.w1`, ...), and
      `W = torch.randn(784, 10, requires_grad=True)` in from-scratch code.

    It stays silent for any other `std` (`std=0.02` as in GPT/BERT, `math.sqrt(2 / fan_in)`),
    scaled tensors (`torch.randn(a, b) * 0.02`, `/ math.sqrt(d)`), embeddings (`nn.Embedding`
    weights and embedding-, token-, position- or query-like parameters, for which `N(0, 1)` is the
    convention), biases, parameters with at most one dimension other than 1 (a `(d, 1)` scoring
    vector), weights the class normalises before use (cosine classifiers: `F.normalize(self.weight)`
    makes the scale irrelevant), and `randn` parameters that the class or file re-initialises
    (`nn.init.xavier_uniform_(self.W)`, an init loop over `self.parameters()`).

    ## Why is this bad?
    With unit-variance weights each layer multiplies the activation variance by `fan_in` (a
    512-wide layer: by 512). A few layers deep, activations and gradients overflow or saturate
    (tanh/sigmoid), attention logits explode, and training diverges or stalls. Xavier/Glorot or
    Kaiming/He initialisation (the PyTorch defaults for `nn.Linear`/`nn.Conv*`), or a small
    `std` such as `1 / sqrt(fan_in)`, keep the variance constant through depth.

    ## Example
    ```python
    for m in self.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight)
    self.W_q = nn.Parameter(torch.randn(d_model, d_k))
    ```

    ## Use instead
    ```python
    for m in self.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
    self.W_q = nn.Parameter(torch.randn(d_model, d_k) / math.sqrt(d_model))
    ```
    """

    code = "NN311"
    name = "unit-normal-init"
    message = "weights drawn from N(0, 1) make activations grow with fan-in; use Xavier/Kaiming or std ~ 1/sqrt(fan_in)"
    requires = (("normal_(", "normal(", "randn("),)

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files with a ``normal_(`` call that may lack ``std``, or a ``randn`` parameter."""
        if "normal" not in text and "randn(" not in text:
            return False
        if "randn(" in text and ("Parameter" in text or "requires_grad=True" in text):
            return True
        for end in _unit_normal_ends(text):
            after = text[end: end + 160]
            if "std" not in after or _STD_ONE_RE.search(after):
                return True
        return False

    def leave_Module(self, node: cst.Module) -> None:
        index = _index(self.ctx)
        self._generic_init: bool | None = None
        for call, scope, order in index.calls:
            func = call.func
            last = func.attr.value if type(func) is cst.Attribute else func.value if type(func) is cst.Name else ""
            if last in ("normal_", "normal"):
                self._normal(index, call, scope, order)
            elif last == "randn":
                self._randn(index, call, scope)

    # ---- nn.init.normal_(w) / w.data.normal_() -----------------------------------------------------
    def _normal(self, index: _Index, call: cst.Call, scope: _Scope, order: int) -> None:
        func = call.func
        qual = _qual(self.ctx, func)
        if qual in _NORMAL_INITS:
            target = arg(call, 0, "tensor")
            std = arg(call, 2, "std")
        elif qual is None and type(func) is cst.Attribute and func.attr.value == "normal_":
            target = func.value
            std = arg(call, 1, "std")
        else:
            return
        if target is None or any(a.star for a in call.args):
            return
        if std is not None and not _is_one(std):
            return
        what = self._weight_of(index, target, scope, order, call)
        if what is None:
            return
        self.report(
            call,
            f"{what} initialised from N(0, 1): activations grow with fan-in layer after layer; use "
            "nn.init.xavier_normal_/kaiming_normal_ or std ~ 1/sqrt(fan_in)",
        )

    def _weight_of(self, index: _Index, target, scope: _Scope, order: int, call: cst.Call) -> str | None:
        """A label for a weight-layer weight (``self.fc.weight``), else None."""
        if type(target) is cst.Attribute and target.attr.value == "data":
            target = target.value
        if type(target) is not cst.Attribute:
            return None
        attr = _self_attr(target)
        if attr is not None:
            if scope.cls is None or not self._weight_param(index, scope.cls, attr):
                return None
            return f"self.{attr}"
        if target.attr.value == "weight":
            owner = target.value
            layer = self._layer_class(index, owner, scope, order, call)
            if layer is not None:
                return f"{self.ctx.code(target)} ({layer})"
        return None

    def _layer_class(self, index: _Index, owner, scope: _Scope, order: int, call: cst.Call) -> str | None:
        attr = _self_attr(owner)
        if attr is not None:
            if scope.cls is None:
                return None
            values = [v for v, _, _ in scope.cls.self_assigns.get(attr, ())]
            classes = {self._weight_layer(index, v) for v in values}
            return classes.pop() if len(classes) == 1 and None not in classes else None
        if type(owner) is not cst.Name:
            return None
        found = scope.reaching(owner.value, order)
        if found is not None and found.value is not None:
            layer = self._weight_layer(index, found.value)
            if layer is not None:
                return layer
        return self._narrowed(index, owner.value, scope, call)

    def _weight_layer(self, index: _Index, value) -> str | None:
        if value is None:
            return None
        made = _ctor(index, value)
        if made is None or made[0] != "torch" or not _WEIGHT_LAYER_RE.fullmatch(made[1]):
            return None
        return made[1]

    def _narrowed(self, index: _Index, name: str, scope: _Scope, call: cst.Call) -> str | None:
        """The weight layer class(es) an enclosing ``isinstance(name, ...)`` / ``type(name) == ...`` test
        admits, when every one is a weight layer."""
        path = _path_to(scope.node, call)
        if path is None:
            return None
        for node in reversed(path):
            if type(node) is not cst.If:
                continue
            inside_body = any(p is node.body for p in path)
            if not inside_body:
                continue
            classes = self._tested_classes(index, node.test, name)
            if classes is None:
                continue
            if classes and all(_WEIGHT_LAYER_RE.fullmatch(c) for c in classes):
                return "/".join(classes)
            return None
        return None

    def _tested_classes(self, index: _Index, test, name: str) -> list[str] | None:
        if type(test) is cst.BooleanOperation and type(test.operator) is cst.And:
            return self._tested_classes(index, test.left, name) or self._tested_classes(index, test.right, name)
        by_name = self._class_name_test(test)
        if by_name is not None:
            return by_name
        types = None
        if type(test) is cst.Call and dotted_name(test.func) == "isinstance" and len(test.args) == 2:
            subject, types = test.args[0].value, test.args[1].value
            if type(subject) is not cst.Name or subject.value != name:
                return None
        elif type(test) is cst.Comparison and len(test.comparisons) == 1:
            left, right = test.left, test.comparisons[0].comparator
            if type(test.comparisons[0].operator) not in (cst.Equal, cst.Is):
                return None
            if type(left) is cst.Call and dotted_name(left.func) == "type" and left.args:
                subject = left.args[0].value
                if type(subject) is cst.Name and subject.value == name:
                    types = right
        if types is None:
            return None
        elements = [e.value for e in types.elements] if type(types) in (cst.Tuple, cst.List) else [types]
        out = []
        for element in elements:
            cls = _torch_class(_qual(self.ctx, element))
            if cls is None:
                return []
            out.append(cls)
        return out

    @staticmethod
    def _class_name_test(test) -> list[str] | None:
        """The DCGAN idiom ``classname.find('Conv') != -1`` / ``'Linear' in classname`` /
        ``classname.startswith('Conv')``: the layer classes it admits by name, else None."""
        text = None
        if type(test) is cst.Comparison and len(test.comparisons) == 1:
            left, op, right = test.left, test.comparisons[0].operator, test.comparisons[0].comparator
            if type(op) is cst.In and type(left) is cst.SimpleString:
                text = string_value(left)
            elif (
                type(left) is cst.Call
                and type(left.func) is cst.Attribute
                and left.func.attr.value == "find"
                and type(op) is cst.NotEqual
                and number_value(right) == -1.0
                and left.args
            ):
                text = string_value(left.args[0].value)
        elif type(test) is cst.Call and type(test.func) is cst.Attribute and test.func.attr.value == "startswith":
            text = string_value(test.args[0].value) if test.args else None
        if text is None:
            return None
        if text.startswith("Conv") or text in ("Linear", "Bilinear"):
            return [text if _WEIGHT_LAYER_RE.fullmatch(text) else ("Conv2d" if text.startswith("Conv") else "Linear")]
        return []

    def _weight_param(self, index: _Index, info: _ClassInfo, attr: str) -> bool:
        if not _WEIGHT_NAME_RE.fullmatch(attr) or _EMBEDDING_LIKE.fullmatch(attr) or _EMBEDDING_LIKE.fullmatch(info.name):
            return False
        values = [v for v, _, _ in info.self_assigns.get(attr, ())]
        if len(values) != 1 or type(values[0]) is not cst.Call:
            return False
        value = values[0]
        if _qual(self.ctx, value.func) not in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return False
        inner = arg(value, 0, "data")
        if type(inner) is not cst.Call or _qual(self.ctx, inner.func) not in _UNSHAPED_FACTORIES:
            return False
        return _size_rank(self.ctx, inner) >= 2 and not _normalised(info, attr)

    # ---- nn.Parameter(torch.randn(a, b)) ------------------------------------------------------------
    def _randn(self, index: _Index, call: cst.Call, scope: _Scope) -> None:
        if _qual(self.ctx, call.func) not in _RANDN or _size_rank(self.ctx, call) < 2:
            return
        if any(a.keyword is not None and a.keyword.value in ("generator", "out") for a in call.args):
            return
        # Where does it go?  nn.Parameter(torch.randn(...)) bound to a weight-like self attribute, or a
        # requires_grad=True tensor bound to a weight-like name.
        owner = None
        for attr, bindings in (scope.cls.self_assigns.items() if scope.cls is not None else ()):
            for value, _, _ in bindings:
                if (
                    type(value) is cst.Call
                    and _qual(self.ctx, value.func) in ("torch.nn.Parameter", "torch.nn.parameter.Parameter")
                    and arg(value, 0, "data") is call
                ):
                    owner = ("attr", attr, scope.cls)
        if owner is None:
            requires_grad = arg(call, None, "requires_grad")
            if not (type(requires_grad) is cst.Name and requires_grad.value == "True"):
                return
            for name, bindings in scope.assigns.items():
                if any(r.value is call for r in bindings):
                    owner = ("name", name, None)
        if owner is None:
            return
        _, name, info = owner
        if not _WEIGHT_NAME_RE.fullmatch(name) or _EMBEDDING_LIKE.fullmatch(name):
            return
        if info is not None and (_EMBEDDING_LIKE.fullmatch(info.name) or _normalised(info, name)):
            return
        if self._reinitialised(index, name, info):
            return
        self.report(
            call,
            f"{'self.' if info is not None else ''}{name} = torch.randn(...) draws weights from N(0, 1): activations grow "
            "with fan-in; scale it (/ math.sqrt(fan_in)) or use nn.init.xavier_uniform_/kaiming_uniform_",
        )

    def _reinitialised(self, index: _Index, name: str, info: _ClassInfo | None) -> bool:
        """The weight is re-initialised somewhere: an ``nn.init`` call or an in-place method on it, or a
        generic initialisation over parameters or modules in the file."""
        if self._generic_init is None:
            self._generic_init = False
            for call, _, _ in index.calls:
                qual = _qual(self.ctx, call.func) or ""
                if qual.startswith("torch.nn.init.") and call.args:
                    target = call.args[0].value
                    while type(target) is cst.Attribute and target.attr.value == "data":
                        target = target.value
                    if type(target) is cst.Name:
                        self._generic_init = True
                        break
        if self._generic_init:
            return True
        for call, scope, _ in index.calls:
            if info is not None and scope.cls is not info:
                continue
            func = call.func
            qual = _qual(self.ctx, func) or ""
            targets = []
            if qual.startswith("torch.nn.init.") and call.args:
                targets.append(call.args[0].value)
            elif type(func) is cst.Attribute and func.attr.value.endswith("_") and qual == "":
                targets.append(func.value)
            for target in targets:
                while type(target) is cst.Attribute and target.attr.value == "data":
                    target = target.value
                if info is not None and _self_attr(target) == name:
                    return True
                if info is None and type(target) is cst.Name and target.value == name:
                    return True
        return False

    VALID = [
        # Small std (GPT/BERT style), Kaiming by hand, Xavier.
        """
        import math
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(768, 768)
                self.conv = nn.Conv2d(3, 64, 3)
                nn.init.normal_(self.fc.weight, mean=0.0, std=0.02)
                n = 3 * 3 * 64
                self.conv.weight.data.normal_(0, math.sqrt(2.0 / n))
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)
        """,
        # Embeddings: N(0, 1) is the convention.
        """
        import torch
        import torch.nn as nn

        class Embed(nn.Module):
            def __init__(self, n, d):
                super().__init__()
                self.tok = nn.Embedding(n, d)
                nn.init.normal_(self.tok.weight)
                self.pos_embed = nn.Parameter(torch.randn(1, 197, d))
                self.cls_token = nn.Parameter(torch.randn(1, 1, d))
                for m in self.modules():
                    if isinstance(m, nn.Embedding):
                        m.weight.data.normal_()
        """,
        # Scaled randn parameters, 1-D parameters, biases.
        """
        import math
        import torch
        import torch.nn as nn

        class Attn(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.W_q = nn.Parameter(torch.randn(d, d) / math.sqrt(d))
                self.W_k = nn.Parameter(torch.randn(d, d) * 0.02)
                self.scale = nn.Parameter(torch.randn(d))
                self.fc = nn.Linear(d, d)
                nn.init.normal_(self.fc.bias)
        """,
        # randn weights re-initialised in reset_parameters.
        """
        import torch
        import torch.nn as nn

        class MyLinear(nn.Module):
            def __init__(self, i, o):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(o, i))
                self.reset_parameters()

            def reset_parameters(self):
                nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        """,
        # A generic init over all parameters (the Annotated Transformer).
        """
        import torch
        import torch.nn as nn

        class Proj(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.W = nn.Parameter(torch.randn(d, d))

        def make_model(d):
            model = Proj(d)
            for p in model.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
            return model
        """,
        # A cosine classifier normalises its weight; a (d, 1) scoring vector scaled later.
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class AMSoftmax(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(d, n), requires_grad=True)
                self.w_g = nn.Parameter(torch.randn(d, 1))

            def forward(self, h):
                w = F.normalize(self.weight, dim=0)
                return F.normalize(h, dim=1) @ w
        """,
        # Unit normal for data, noise and latents, not weights.
        """
        import torch

        z = torch.randn(64, 100, 1, 1)
        noise = torch.randn(batch, 3, 32, 32) * sigma
        x = torch.randn(8, 16, requires_grad=True)
        """,
        # A layer whose type is not known to be a weight layer; a norm layer's weight.
        """
        import torch.nn as nn

        def init_weights(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight)
            elif isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, 1.0, 0.02)

        def init_any(layer):
            nn.init.normal_(layer.weight)
        """,
        # The DCGAN idiom as published (std=0.02), and a name test that admits norm layers.
        """
        import torch.nn as nn

        def weights_init(m):
            classname = m.__class__.__name__
            if classname.find("Conv") != -1:
                nn.init.normal_(m.weight.data, 0.0, 0.02)
            if "Norm" in classname:
                nn.init.normal_(m.weight.data)
        """,
        # The weight of the else branch is not the tested type.
        """
        import torch.nn as nn

        def init(m):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            else:
                nn.init.normal_(m.weight)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.Sequential(nn.Linear(512, 512), nn.Tanh(), nn.Linear(512, 10))
                    for m in self.modules():
                        if isinstance(m, nn.Linear):
                            nn.init.normal_(m.weight)
                            nn.init.zeros_(m.bias)
            """,
            line=10,
        ),
        # Positional std 1, a self attribute.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 300)
                    nn.init.normal_(self.fc1.weight, 0, 1)
            """,
            line=8,
        ),
        # The method form on .data, in an init function applied to the model.
        Invalid(
            """
            import torch.nn as nn

            def weights_init(m):
                if type(m) == nn.Conv2d:
                    m.weight.data.normal_(0.0, 1.0)

            net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3))
            net.apply(weights_init)
            """,
            line=6,
        ),
        # From-scratch attention weights.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class SelfAttention(nn.Module):
                def __init__(self, d_model, d_k):
                    super().__init__()
                    self.W_q = nn.Parameter(torch.randn(d_model, d_k))
                    self.W_k = nn.Parameter(torch.randn(d_model, d_k))
                    self.W_v = nn.Parameter(torch.randn(d_model, d_k))

                def forward(self, x):
                    q, k, v = x @ self.W_q, x @ self.W_k, x @ self.W_v
                    return torch.softmax(q @ k.transpose(-2, -1), -1) @ v
            """,
            count=3,
        ),
        # A custom linear layer with a tuple size.
        Invalid(
            """
            import torch
            from torch import nn

            class MyLinear(nn.Module):
                def __init__(self, in_features, out_features):
                    super().__init__()
                    self.weight = nn.Parameter(torch.randn((out_features, in_features)))
                    self.bias = nn.Parameter(torch.zeros(out_features))

                def forward(self, x):
                    return x @ self.weight.t() + self.bias
            """,
            line=8,
        ),
        # From-scratch training code: requires_grad weights.
        Invalid(
            """
            import torch

            W1 = torch.randn(784, 256, requires_grad=True)
            b1 = torch.zeros(256, requires_grad=True)
            W2 = torch.randn(256, 10, requires_grad=True)
            """,
            count=2,
        ),
        # A variable bound to a Linear; keyword std=1.0.
        Invalid(
            """
            import torch.nn as nn

            def make_layer(i, o):
                layer = nn.Linear(i, o)
                nn.init.normal_(layer.weight, mean=0.0, std=1.0)
                return layer
            """,
            line=6,
        ),
        # The DCGAN weights_init idiom with the std left out.
        Invalid(
            """
            import torch.nn as nn

            def weights_init(m):
                classname = m.__class__.__name__
                if classname.find("Conv") != -1:
                    nn.init.normal_(m.weight.data)
                elif classname.find("BatchNorm") != -1:
                    nn.init.normal_(m.weight.data, 1.0, 0.02)
                    nn.init.constant_(m.bias.data, 0)
            """,
            line=7,
        ),
        # A custom weight parameter filled with normal_() in place.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class GraphConv(nn.Module):
                def __init__(self, i, o):
                    super().__init__()
                    self.weight = nn.Parameter(torch.empty(i, o))
                    self.weight.data.normal_()
            """,
            line=9,
        ),
    ]


def _normalised(info: _ClassInfo, attr: str) -> bool:
    """The class normalises ``self.<attr>`` before use (a cosine classifier): its scale does not matter."""
    for call in info.calls:
        func = call.func
        name = func.attr.value if type(func) is cst.Attribute else func.value if type(func) is cst.Name else ""
        if name not in ("normalize", "norm", "renorm", "weight_norm", "normalize_"):
            continue
        if type(func) is cst.Attribute and _self_attr(func.value) == attr:
            return True
        if any(_self_attr(a.value) == attr for a in call.args):
            return True
    return False


def _path_to(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The nodes from ``root`` down to ``target``'s parent, else None."""
    path: list[cst.CSTNode] = []

    def find(node: cst.CSTNode) -> bool:
        if node is target:
            return True
        path.append(node)
        for child in children(node):
            if find(child):
                return True
        path.pop()
        return False

    return path if find(root) else None


_GRAD_TYPOS = frozenset({"require_grad", "require_grads", "requires_grads", "require_gradient", "requires_gradient"})


class RequireGradTypo(Rule):
    """Flags `x.require_grad = ...` and other misspellings of `requires_grad`.

    ## What it does
    Finds assignments to `.require_grad`, `.require_grads`, `.requires_grads`, `.require_gradient`,
    `.requires_gradient` and to the method name `.requires_grad_` (`p.requires_grad_ = False`). An
    attribute that the file also reads (a class's own `self.require_grad` flag, read back elsewhere,
    or a `"require_grad"` string) is a deliberate name and is left alone.

    ## Why is this bad?
    Tensors accept arbitrary new attributes, so the typo silently creates one and changes nothing:
    the layers meant to be frozen keep training (and take optimizer memory), or the ones meant to
    be trained stay frozen. Assigning to `requires_grad_` replaces the tensor's method by a bool
    instead of calling it.

    ## Example
    ```python
    for p in model.backbone.parameters():
        p.require_grad = False
    ```

    ## Use instead
    ```python
    for p in model.backbone.parameters():
        p.requires_grad = False
    ```

    ## Fix safety
    The fix renames the attribute to `requires_grad`. It is safe on parameters (a loop over
    `.parameters()` / `.named_parameters()`, or a `.weight` / `.bias`): the code then does what it
    says. Elsewhere it is marked unsafe: setting `requires_grad` on a non-leaf tensor raises at run
    time, where the typo silently did nothing.
    """

    code = "NN312"
    name = "require-grad-typo"
    message = "misspelled requires_grad: the assignment creates a new attribute and changes nothing; use requires_grad"
    requires = (("require_grad", "requires_grads", "require_gradient", "requires_gradient", "requires_grad_ ",
                 "requires_grad_="),)
    fixable = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._targets: list[tuple[cst.Attribute, cst.CSTNode]] = []
        self._reads: dict[str, int] = {}
        self._loop_params: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if type(t) is cst.Attribute and (t.attr.value in _GRAD_TYPOS or t.attr.value == "requires_grad_"):
                self._targets.append((t, node))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = node.attr.value
        if name in _GRAD_TYPOS:
            self._reads[name] = self._reads.get(name, 0) + 1

    def visit_For(self, node: cst.For) -> None:
        it = node.iter
        if type(it) is cst.Call and type(it.func) is cst.Attribute and it.func.attr.value in ("parameters", "named_parameters"):
            target = node.target
            if type(target) is cst.Name:
                self._loop_params.add(target.value)
            elif type(target) is cst.Tuple and target.elements and type(target.elements[-1].value) is cst.Name:
                self._loop_params.add(target.elements[-1].value.value)

    def leave_Module(self, node: cst.Module) -> None:
        assigned: dict[str, int] = {}
        for t, _ in self._targets:
            assigned[t.attr.value] = assigned.get(t.attr.value, 0) + 1
        source = self.ctx.source
        for t, _ in self._targets:
            name = t.attr.value
            if name != "requires_grad_":
                if self._reads.get(name, 0) > assigned[name] or f'"{name}"' in source or f"'{name}'" in source:
                    continue
            owner = t.value
            on_param = (type(owner) is cst.Name and owner.value in self._loop_params) or (
                type(owner) is cst.Attribute and owner.attr.value in ("weight", "bias")
            )
            fix = self.fix("safe" if on_param else "unsafe", (t.attr, "requires_grad"), description="requires_grad")
            if name == "requires_grad_":
                message = (
                    "assigning to .requires_grad_ replaces the method with a value and changes nothing; "
                    "assign .requires_grad or call .requires_grad_(flag)"
                )
            else:
                message = (
                    f".{name} is a typo of .requires_grad: the assignment creates a new attribute and the "
                    "gradient setting is unchanged; use .requires_grad"
                )
            self.report(t, message, fix=fix)

    VALID = [
        """
        def freeze(model):
            for p in model.backbone.parameters():
                p.requires_grad = False
            model.head.weight.requires_grad_(True)
        """,
        # A module's own flag named require_grad, read back.
        """
        import torch.nn as nn

        class Adapter(nn.Module):
            def __init__(self, require_grad=True):
                super().__init__()
                self.require_grad = require_grad
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                if not self.require_grad:
                    x = x.detach()
                return self.fc(x)
        """,
        # A config object with the attribute read through a string.
        """
        class Cfg:
            pass

        cfg = Cfg()
        cfg.requires_grads = ["encoder", "decoder"]
        names = getattr(cfg, "requires_grads")
        """,
        # Reading requires_grad, calling requires_grad_.
        """
        def trainable(model):
            return [p for p in model.parameters() if p.requires_grad]

        def unfreeze(model):
            for p in model.parameters():
                p.requires_grad_()
        """,
        # A keyword argument of the same name is not an attribute.
        """
        import torch

        x = torch.zeros(3, requires_grad=True)
        y = make_tensor(require_grad=True)
        """,
        # requires_grad_ read, not assigned.
        """
        def mark(t):
            fn = t.requires_grad_
            return fn(True)
        """,
        # The dictionary key spelled that way.
        """
        opts = {}
        opts["require_grad"] = False
        """,
        # Fixed form.
        """
        def freeze(model):
            for name, p in model.named_parameters():
                if "encoder" in name:
                    p.requires_grad = False
        """,
    ]
    INVALID = [
        Invalid(
            """
            def freeze(model):
                for p in model.backbone.parameters():
                    p.require_grad = False
            """,
            line=4,
            fixed="""
            def freeze(model):
                for p in model.backbone.parameters():
                    p.requires_grad = False
            """,
        ),
        Invalid(
            """
            def freeze(model):
                for name, p in model.named_parameters():
                    if "encoder" in name:
                        p.requires_grads = False
            """,
            fixed="""
            def freeze(model):
                for name, p in model.named_parameters():
                    if "encoder" in name:
                        p.requires_grad = False
            """,
        ),
        # On a weight attribute; a tensor of unknown kind (unsafe fix).
        Invalid(
            """
            import torch

            model.fc.weight.require_grad = True
            x = torch.randn(3)
            x.require_grad = True
            """,
            count=2,
        ),
        # Assigning to the method name.
        Invalid(
            """
            def unfreeze(layer):
                for p in layer.parameters():
                    p.requires_grad_ = True
            """,
            message_contains="replaces the method",
            fixed="""
            def unfreeze(layer):
                for p in layer.parameters():
                    p.requires_grad = True
            """,
        ),
        # Inside a module's method, on a parameter attribute.
        Invalid(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = nn.Embedding(100, 16)
                    self.emb.weight.require_grad = False
            """,
            line=8,
        ),
        # Chained assignment and another misspelling.
        Invalid(
            """
            def freeze_all(*layers):
                for layer in layers:
                    layer.weight.require_gradient = layer.bias.require_gradient = False
            """,
            count=2,
        ),
        # A loop over a list of parameters.
        Invalid(
            """
            params = list(model.parameters())
            for param in params[:-2]:
                param.require_grad = False
            """,
            line=4,
        ),
        # Tuple-unpacking named_parameters in a comprehension-free loop with enumerate-like names.
        Invalid(
            """
            import torch

            class Trainer:
                def freeze_bn(self):
                    for n, p in self.model.named_parameters():
                        if "bn" in n:
                            p.require_grad = False
            """,
            line=8,
        ),
    ]


def _is_literal_one(node) -> bool:
    value = number_value(node)
    return value is not None and value == 1.0 and type(node) is not cst.UnaryOperation


class LogOfOnePlus(Rule):
    """Flags `torch.log(1 + x)`: use `torch.log1p(x)`.

    ## What it does
    Finds `torch.log(1 + x)`, `torch.log(x + 1)` (also `1.`/`1.0`) and the method form
    `(1 + x).log()`.

    ## Why is this bad?
    For small `x`, `1 + x` rounds away most of `x`'s digits before the log is taken (in float32,
    `1 + 1e-8 == 1`, so the result is 0 instead of `1e-8`). `torch.log1p` computes the same value
    without that cancellation. Such terms are common in losses and transforms (`log(1 + exp(z))`,
    `log(1 + count)`, Poisson/NB likelihoods).

    ## Example
    ```python
    y = torch.log(1 + x)
    ```

    ## Use instead
    ```python
    y = torch.log1p(x)
    ```

    ## Fix safety
    The fix rewrites the call as `torch.log1p(x)` / `x.log1p()`. It is safe: the function is the
    same, only more accurate for small `x`.
    """

    code = "NN313"
    name = "log-of-one-plus"
    message = "torch.log(1 + x) loses precision for small x; use torch.log1p(x)"
    requires = ("log(",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return "log(" in text and any(word in text for word in _LOG_ONE_PLUS_WORDS)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if type(func) is not cst.Attribute or func.attr.value != "log":
            return
        qual = _qual(self.ctx, func)
        if qual == "torch.log":
            if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
                return
            operand = self._other(node.args[0].value)
            if operand is None:
                return
            new = node.with_changes(
                func=func.with_changes(attr=cst.Name("log1p")),
                args=[node.args[0].with_changes(value=operand.with_changes(lpar=[], rpar=[]) if getattr(operand, "lpar", None) else operand)],
            )
            fix = self.fix("safe", (node, self.ctx.code(new.with_changes(lpar=[], rpar=[]))), description="use torch.log1p")
            self.report(node, fix=fix)
        elif qual is None and not node.args:
            operand = self._other(func.value)
            if operand is None:
                return
            new = f"{_as_receiver(self.ctx, operand)}.log1p()"
            self.report(node, "(1 + x).log() loses precision for small x; use x.log1p()",
                        fix=self.fix("safe", (node, new), description="use log1p"))

    @staticmethod
    def _other(value):
        """``x`` for ``1 + x`` / ``x + 1``."""
        if type(value) is not cst.BinaryOperation or type(value.operator) is not cst.Add:
            return None
        if _is_literal_one(value.left):
            return value.right
        if _is_literal_one(value.right) and type(value.left) is not cst.BinaryOperation:
            return value.left
        if _is_literal_one(value.right) and type(value.left.operator) not in (cst.Add, cst.Subtract):
            return value.left
        return None

    VALID = [
        """
        import torch

        y = torch.log1p(x)
        z = torch.log(x + 1e-8)
        w = torch.log(2 + x)
        """,
        # numpy / math are not torch.
        """
        import math
        import numpy as np

        a = np.log(1 + x)
        b = math.log(1 + rate)
        """,
        # Other arithmetic around the 1.
        """
        import torch

        a = torch.log(1 - p)
        c = torch.log((1 + x) / 2)
        d = torch.log(x * 1)
        """,
        # Subtraction mixed in: (a - b) + 1 is left alone (rewriting would regroup it).
        """
        import torch

        r = torch.log(a - b + 1)
        """,
        # A log method of a non-sum.
        """
        import torch

        y = (x * 2).log()
        z = x.log()
        """,
        # out= or other arguments.
        """
        import torch

        torch.log(1 + x, out=buf)
        """,
        # A different library's log.
        """
        import jax.numpy as jnp

        y = jnp.log(1 + x)
        """,
        # Fixed forms.
        """
        import torch

        a = torch.log1p(x)
        b = torch.log1p(torch.exp(-z.abs()))
        c = x.log1p()
        d = (a * b).log1p()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            a = torch.log(1 + x)
            """,
            fixed="""
            import torch

            a = torch.log1p(x)
            """,
        ),
        Invalid(
            """
            import torch

            b = torch.log(1.0 + torch.exp(-z.abs()))
            """,
            fixed="""
            import torch

            b = torch.log1p(torch.exp(-z.abs()))
            """,
        ),
        Invalid(
            """
            import torch

            c = (1 + x).log()
            """,
            fixed="""
            import torch

            c = x.log1p()
            """,
        ),
        Invalid(
            """
            import torch

            d = (a * b + 1).log()
            """,
            fixed="""
            import torch

            d = (a * b).log1p()
            """,
        ),
        # x + 1 form in a loss.
        Invalid(
            """
            import torch

            def poisson_nll(rate, counts):
                return (rate - counts * torch.log(rate + 1)).mean()
            """,
            line=5,
            fixed="""
            import torch

            def poisson_nll(rate, counts):
                return (rate - counts * torch.log1p(rate)).mean()
            """,
        ),
        # An aliased torch import.
        Invalid(
            """
            import torch as th

            y = th.log(1. + counts.float())
            """,
            fixed="""
            import torch as th

            y = th.log1p(counts.float())
            """,
        ),
        # Parenthesised operand.
        Invalid(
            """
            import torch

            y = torch.log((1 + x))
            """,
            fixed="""
            import torch

            y = torch.log1p(x)
            """,
        ),
        # Inside a model method.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class LogTransform(nn.Module):
                def forward(self, x):
                    return torch.log(x.clamp(min=0) + 1)
            """,
            line=7,
        ),
    ]


class ExpMinusOne(Rule):
    """Flags `torch.exp(x) - 1`: use `torch.expm1(x)`.

    ## What it does
    Finds `torch.exp(x) - 1` (also `1.`/`1.0`) and `x.exp() - 1`.

    ## Why is this bad?
    For small `x`, `exp(x)` is close to 1 and the subtraction cancels most of its significant
    digits (in float32, `exp(1e-8) - 1 == 0`). `torch.expm1` computes the same value accurately.
    It is common in ELU-like activations, Box-Cox transforms and log-normal statistics.

    ## Example
    ```python
    y = torch.exp(x) - 1
    ```

    ## Use instead
    ```python
    y = torch.expm1(x)
    ```

    ## Fix safety
    The fix rewrites the expression as `torch.expm1(x)` / `x.expm1()`. It is safe: the function is
    the same, only more accurate for small `x`.
    """

    code = "NN314"
    name = "exp-minus-one"
    message = "torch.exp(x) - 1 loses precision for small x; use torch.expm1(x)"
    requires = ("exp(",)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        return "exp(" in text and ("- 1" in text or "-1" in text)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if type(node.operator) is not cst.Subtract or not _is_literal_one(node.right):
            return
        left = node.left
        if type(left) is not cst.Call or type(left.func) is not cst.Attribute or left.func.attr.value != "exp":
            return
        if getattr(left, "lpar", None):
            return
        func = left.func
        qual = _qual(self.ctx, func)
        if qual == "torch.exp":
            if len(left.args) != 1 or left.args[0].keyword is not None or left.args[0].star:
                return
            new = self.ctx.code(left.with_changes(func=func.with_changes(attr=cst.Name("expm1"))))
        elif qual is None and not left.args:
            new = self.ctx.code(left.with_changes(func=func.with_changes(attr=cst.Name("expm1"))))
        else:
            return
        if node.lpar:
            new = new  # the parentheses of the whole expression stay in place
        self.report(node, fix=self.fix("safe", (node, new), description="use expm1"))

    VALID = [
        """
        import torch

        y = torch.expm1(x)
        z = torch.exp(x) - 2
        w = 1 - torch.exp(x)
        """,
        # numpy is not torch.
        """
        import numpy as np

        y = np.exp(x) - 1
        """,
        # The subtraction is not of the exp itself.
        """
        import torch

        a = 2 * torch.exp(x) - 1
        b = torch.exp(x) * y - 1
        c = torch.exp(x - 1)
        """,
        # exp of something, then another term.
        """
        import torch

        d = torch.exp(x) + 1
        e = torch.exp(x, out=buf) - 1
        """,
        # A scalar variable one.
        """
        import torch

        one = 1
        f = torch.exp(x) - one
        """,
        # math.exp is not a tensor op.
        """
        import math

        g = math.exp(t) - 1
        """,
        # A method on a non-tensor exp with arguments.
        """
        import torch

        h = dist.exp(2) - 1
        """,
        # Fixed forms.
        """
        import torch

        a = torch.expm1(x)
        b = x.expm1()
        c = torch.expm1(x) + y
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            a = torch.exp(x) - 1
            """,
            fixed="""
            import torch

            a = torch.expm1(x)
            """,
        ),
        Invalid(
            """
            import torch

            b = x.exp() - 1.0
            """,
            fixed="""
            import torch

            b = x.expm1()
            """,
        ),
        # The left-associative sum: (exp - 1) + y.
        Invalid(
            """
            import torch

            c = torch.exp(x) - 1 + y
            """,
            fixed="""
            import torch

            c = torch.expm1(x) + y
            """,
        ),
        # ELU by hand.
        Invalid(
            """
            import torch

            def elu(x, alpha=1.0):
                return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))
            """,
            fixed="""
            import torch

            def elu(x, alpha=1.0):
                return torch.where(x > 0, x, alpha * (torch.expm1(x)))
            """,
        ),
        # Log-normal mean/variance.
        Invalid(
            """
            import torch

            def lognormal_var(mu, sigma2):
                return (torch.exp(sigma2) - 1.) * torch.exp(2 * mu + sigma2)
            """,
            line=5,
        ),
        # Aliased torch, inside a module.
        Invalid(
            """
            import torch as T
            import torch.nn as nn

            class BoxCoxInverse(nn.Module):
                def forward(self, y):
                    return T.exp(y) - 1
            """,
            line=7,
        ),
        # Method form on an expression.
        Invalid(
            """
            import torch

            r = (a * b).exp() - 1
            """,
            fixed="""
            import torch

            r = (a * b).expm1()
            """,
        ),
        # In a loss with the 1 written as 1.0.
        Invalid(
            """
            import torch

            def loss(z):
                return (torch.exp(z) - 1.0).mean()
            """,
            line=5,
        ),
    ]


_CHECKPOINT_FUNCTIONS = frozenset({"torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential"})


class CheckpointWithoutUseReentrant(Rule):
    """Flags `torch.utils.checkpoint.checkpoint` without an explicit `use_reentrant`.

    ## What it does
    Finds calls of `torch.utils.checkpoint.checkpoint` and `checkpoint_sequential` (however
    imported) that do not pass `use_reentrant=` (and no `**kwargs` that might).

    ## Why is this bad?
    The default is the old reentrant implementation, which PyTorch is phasing out (it warns on every
    call since 2.4, and the default is to change). Reentrant checkpointing silently produces no
    gradients for the checkpointed segment when none of its *inputs* requires grad (a frozen
    embedding feeding the first block: the block's weights never train), does not support
    `torch.autograd.grad`, keyword arguments or nested structures, and does not record
    autocast/RNG state the same way. `use_reentrant=False` is the recommended setting.

    ## Example
    ```python
    from torch.utils.checkpoint import checkpoint

    x = checkpoint(self.block, x)
    ```

    ## Use instead
    ```python
    from torch.utils.checkpoint import checkpoint

    x = checkpoint(self.block, x, use_reentrant=False)
    ```

    ## Fix safety
    The fix adds `use_reentrant=False`. It is unsafe: the non-reentrant implementation differs in
    edge cases (it produces gradients where the reentrant one silently did not, handles RNG and
    detached tensors differently), which can change training results.
    """

    code = "NN315"
    name = "checkpoint-without-use-reentrant"
    message = "torch.utils.checkpoint without use_reentrant=: the reentrant default drops gradients; pass use_reentrant=False"
    requires = (("checkpoint(", "checkpoint_sequential(", "checkpoint as"),)
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files importing torch's checkpointing with a call that may lack ``use_reentrant``."""
        if "utils.checkpoint" not in text and "utils import checkpoint" not in text:
            return False
        if "checkpoint as" in text:
            return True
        return any("use_reentrant" not in text[m.end(): m.end() + 600] for m in _CHECKPOINT_CALL_RE.finditer(text))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if type(func) is cst.Attribute else func.value if type(func) is cst.Name else ""
        if not last.startswith("checkpoint") and type(func) is not cst.Name:
            return
        qual = _qual(self.ctx, func)
        if qual not in _CHECKPOINT_FUNCTIONS:
            return
        if arg(node, None, "use_reentrant") is not None or any(a.star == "**" for a in node.args):
            return
        name = qual.rpartition(".")[2]
        fix = self.fix("unsafe", _add_kwarg_fix(self, node, "use_reentrant", "False"), description="use_reentrant=False")
        self.report(
            node,
            f"{name}() without use_reentrant=: the reentrant default silently drops gradients when no input "
            "requires grad and is being phased out; pass use_reentrant=False",
            fix=fix,
        )

    VALID = [
        """
        from torch.utils.checkpoint import checkpoint

        def run(block, x):
            return checkpoint(block, x, use_reentrant=False)
        """,
        # An explicit True is a decision.
        """
        import torch.utils.checkpoint as cp

        def run(block, x):
            return cp.checkpoint(block, x, use_reentrant=True)
        """,
        # Keyword arguments forwarded.
        """
        import torch

        def run(fn, *args, **ckpt_kwargs):
            return torch.utils.checkpoint.checkpoint(fn, *args, **ckpt_kwargs)
        """,
        # Other checkpoint functions: DeepSpeed, model saving, Lightning callbacks.
        """
        import deepspeed
        from pytorch_lightning.callbacks import ModelCheckpoint

        out = deepspeed.checkpointing.checkpoint(block, x)
        cb = ModelCheckpoint(dirpath="ckpt")
        """,
        # A partial with the keyword set once.
        """
        import functools
        from torch.utils.checkpoint import checkpoint

        ckpt = functools.partial(checkpoint, use_reentrant=False)
        y = ckpt(block, x)
        """,
        # A local function named checkpoint.
        """
        def checkpoint(model, path):
            model.save(path)

        checkpoint(model, "out.pt")
        """,
        # checkpoint_sequential with the keyword.
        """
        from torch.utils.checkpoint import checkpoint_sequential

        y = checkpoint_sequential(model, 4, x, use_reentrant=False)
        """,
        # Fixed forms.
        """
        import torch
        from torch.utils.checkpoint import checkpoint

        def run(block, x, mask):
            return checkpoint(
                block,
                x,
                mask,
                use_reentrant=False,
            )
        """,
    ]
    INVALID = [
        Invalid(
            """
            from torch.utils.checkpoint import checkpoint

            def run(block, x):
                return checkpoint(block, x)
            """,
            line=5,
            fixed="""
            from torch.utils.checkpoint import checkpoint

            def run(block, x):
                return checkpoint(block, x, use_reentrant=False)
            """,
        ),
        # Module alias.
        Invalid(
            """
            import torch.utils.checkpoint as cp

            def run(blocks, x):
                for blk in blocks:
                    x = cp.checkpoint(blk, x)
                return x
            """,
            line=6,
        ),
        # Spelled out through torch.
        Invalid(
            """
            import torch
            import torch.nn as nn

            class Encoder(nn.Module):
                def forward(self, x):
                    for layer in self.layers:
                        if self.grad_ckpt and self.training:
                            x = torch.utils.checkpoint.checkpoint(layer, x)
                        else:
                            x = layer(x)
                    return x
            """,
            line=9,
        ),
        # checkpoint_sequential.
        Invalid(
            """
            from torch.utils.checkpoint import checkpoint_sequential

            def forward(model, x):
                return checkpoint_sequential(model, 4, x)
            """,
            fixed="""
            from torch.utils.checkpoint import checkpoint_sequential

            def forward(model, x):
                return checkpoint_sequential(model, 4, x, use_reentrant=False)
            """,
        ),
        # A multi-line call.
        Invalid(
            """
            import torch
            from torch.utils.checkpoint import checkpoint

            def run(block, x, mask):
                return checkpoint(
                    block,
                    x,
                    mask,
                )
            """,
            fixed="""
            import torch
            from torch.utils.checkpoint import checkpoint

            def run(block, x, mask):
                return checkpoint(
                    block,
                    x,
                    mask,
                    use_reentrant=False,
                )
            """,
        ),
        # *args forwarded, preserve_rng_state given.
        Invalid(
            """
            from torch.utils import checkpoint

            def ckpt(fn, *args):
                return checkpoint.checkpoint(fn, *args, preserve_rng_state=False)
            """,
            fixed="""
            from torch.utils import checkpoint

            def ckpt(fn, *args):
                return checkpoint.checkpoint(fn, *args, preserve_rng_state=False, use_reentrant=False)
            """,
        ),
        # Aliased function name.
        Invalid(
            """
            from torch.utils.checkpoint import checkpoint as ckpt

            def run(f, x):
                return ckpt(f, x)
            """,
            line=5,
        ),
        # A lambda as the function.
        Invalid(
            """
            import torch.utils.checkpoint

            def run(attn, q, k, v):
                return torch.utils.checkpoint.checkpoint(lambda a, b, c: attn(a, b, c), q, k, v)
            """,
            line=5,
        ),
    ]
