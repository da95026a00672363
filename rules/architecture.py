"""Rules: architecture."""

from __future__ import annotations

import functools
import re

import libcst as cst

from nnlint.astutil import arg, dotted_name, number_value, statements, walk_nodes
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
