"""Rules: layout."""

from __future__ import annotations

from fractions import Fraction

import libcst as cst

from nnlint.astutil import dotted_name, int_value, walk_nodes
from nnlint.rule import Invalid, Rule

# --------------------------------------------------------------------------------------------------
# Symbolic sizes: a dimension is a monomial over shape symbols (``H * W``, ``C // nh``, ``3 * C``).
# --------------------------------------------------------------------------------------------------


class Mono:
    """``c * s1**e1 * s2**e2 ...``: a coefficient and exponents (whole, or 1/2 for a square root) over symbols."""

    __slots__ = ("c", "e", "_h")

    def __init__(self, c: Fraction, e: tuple[tuple[int, int | Fraction], ...] = ()) -> None:
        self.c = c
        self.e = e
        self._h = hash((c, e))

    @staticmethod
    def sym(s: int) -> Mono:
        return Mono(Fraction(1), ((s, 1),))

    def _combine(self, other: Mono, sign: int) -> Mono:
        exps = dict(self.e)
        for s, x in other.e:
            v = exps.get(s, 0) + sign * x
            if v:
                exps[s] = v
            else:
                exps.pop(s, None)
        if other.c == 1:
            c = self.c
        else:
            c = self.c * other.c if sign > 0 else self.c / other.c
        return Mono(c, tuple(sorted(exps.items())))

    def __mul__(self, other: Mono) -> Mono:
        return self._combine(other, 1)

    def __truediv__(self, other: Mono) -> Mono:
        return self._combine(other, -1)

    def power(self, n: int | Fraction) -> Mono:
        c = self.c ** int(n) if n == int(n) else self.c  # fractional powers only of whole symbols
        return Mono(c, tuple((s, x * n) for s, x in self.e))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mono) and self.c == other.c and self.e == other.e

    def __hash__(self) -> int:
        return self._h

    def nonneg(self) -> bool:
        return all(x > 0 for _, x in self.e)


ONE = Mono(Fraction(1))


class Star:
    """Zero or more dimensions of unknown number (the rank of the tensor is not known)."""

    __slots__ = ("sym",)

    def __init__(self, sym: int) -> None:
        self.sym = sym

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Star) and other.sym == self.sym

    def __hash__(self) -> int:
        return hash(("*", self.sym))


MINUS = object()  # the ``-1`` of a view target
_SQRT = frozenset({"math.sqrt", "math.isqrt", "numpy.sqrt"})
_PADS = frozenset({"torch.nn.functional.pad", "torch.cat", "torch.concat", "torch.concatenate"})
_FACTORIES = frozenset({"torch.randn", "torch.rand", "torch.zeros", "torch.ones", "torch.empty"})
_LIKE_FUNCS = frozenset({"torch.zeros_like", "torch.ones_like", "torch.randn_like", "torch.rand_like", "torch.empty_like"})

_VIEW_NAMES = frozenset({"view", "reshape"})
_RESHAPE_FUNCS = frozenset({"torch.reshape", "numpy.reshape", "jax.numpy.reshape"})
_SCOPE_BREAKS = (cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp, cst.FunctionDef, cst.ClassDef)
_STATEMENTS = (cst.BaseSmallStatement, cst.BaseCompoundStatement)
# Methods that return a tensor of the receiver's shape.
_SAME_METHODS = frozenset(
    {
        "contiguous", "clone", "detach", "float", "half", "double", "bfloat16", "cuda", "cpu", "to", "type_as",
        "requires_grad_", "detach_", "sigmoid", "tanh", "relu", "softmax", "log_softmax", "masked_fill",
        "masked_fill_", "exp", "abs", "neg", "sqrt", "rsqrt", "pin_memory", "sin", "cos", "square", "gelu",
        "silu", "clamp", "clamp_", "clip", "nan_to_num", "round", "floor", "ceil", "sign", "log",
    }
)
_SAME_FUNCS = frozenset(
    {
        "torch.sigmoid", "torch.tanh", "torch.relu", "torch.exp", "torch.abs", "torch.softmax", "torch.log_softmax",
        "torch.sqrt", "torch.rsqrt", "torch.clamp", "torch.clip", "torch.nn.functional.relu",
        "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.nn.functional.softmax",
        "torch.nn.functional.log_softmax", "torch.nn.functional.dropout", "torch.nn.functional.layer_norm",
        "torch.nn.functional.normalize", "torch.nn.functional.sigmoid", "torch.nn.functional.tanh",
        "torch.nn.functional.leaky_relu", "torch.nn.functional.elu", "torch.nn.functional.mish",
        "torch.nn.functional.hardswish", "torch.nn.functional.relu6", "torch.nn.functional.rms_norm",
    }
)
# In-place methods that change the receiver's shape.
_RESHAPE_INPLACE = frozenset(
    {"transpose_", "t_", "squeeze_", "unsqueeze_", "resize_", "resize_as_", "swapaxes_", "swapdims_", "set_",
     "as_strided_", "permute_"}
)
_TORCH_NN = "torch.nn."
_SAME_MODULES = frozenset(
    {
        "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "LayerNorm", "RMSNorm", "Identity",
        "GELU", "ReLU", "ReLU6", "SiLU", "Tanh", "Sigmoid", "Softmax", "LeakyReLU", "ELU", "Mish", "Hardswish",
        "LogSoftmax", "PReLU",
    }
)
_LINEAR_MODULES = frozenset({"Linear", "LazyLinear"})
_RNN_MODULES = frozenset({"LSTM", "GRU", "RNN"})
_TERMINATORS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


def _is_number(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def _blocks(stmt: cst.BaseCompoundStatement) -> list:
    """The suites directly inside a compound statement."""
    out: list = []
    if isinstance(stmt, cst.If):
        out.append(stmt.body)
        orelse = stmt.orelse
        while isinstance(orelse, cst.If):
            out.append(orelse.body)
            orelse = orelse.orelse
        if orelse is not None:
            out.append(orelse.body)
    elif isinstance(stmt, (cst.For, cst.While)):
        out.append(stmt.body)
        if stmt.orelse is not None:
            out.append(stmt.orelse.body)
    elif isinstance(stmt, cst.With):
        out.append(stmt.body)
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        out.append(stmt.body)
        out.extend(h.body for h in stmt.handlers)
        if stmt.orelse is not None:
            out.append(stmt.orelse.body)
        if stmt.finalbody is not None:
            out.append(stmt.finalbody.body)
    elif isinstance(stmt, cst.Match):
        out.extend(case.body for case in stmt.cases)
    return out


def _assignments(suite: cst.BaseSuite) -> list[cst.Assign]:
    """The assignments of a function body, through if/for/with/try blocks (not nested functions)."""
    out: list[cst.Assign] = []
    pending: list = [suite]
    while pending:
        block = pending.pop()
        if isinstance(block, cst.SimpleStatementSuite):
            out.extend(s for s in block.body if isinstance(s, cst.Assign))
            continue
        for stmt in block.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                out.extend(s for s in stmt.body if isinstance(s, cst.Assign))
            elif isinstance(stmt, cst.BaseCompoundStatement) and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                pending.extend(_blocks(stmt))
    return out


def _whole(q: Mono) -> bool:
    return q.c.denominator == 1 and q.nonneg()


def _subst(m: Mono, mapping: dict[int, Mono]) -> Mono:
    if not any(s in mapping for s, _ in m.e):
        return m
    out = Mono(m.c, tuple((s, x) for s, x in m.e if s not in mapping))
    for s, x in m.e:
        if s in mapping:
            out = out * mapping[s].power(x)
    return out


def _part_of(q: Mono, d: Mono) -> bool:
    """Whether every exponent of ``q`` lies between 0 and that of ``d`` (``a // g`` is part of ``S * a // g``)."""
    if not any(x > 0 for _, x in q.e):
        return False
    de = dict(d.e)
    for s, x in q.e:
        y = de.get(s, 0)
        if not (0 < x <= y or y <= x < 0):
            return False
    return q.c.denominator == 1 or d.c.denominator % q.c.denominator == 0


class _Analysis:
    """Walk one function body in order, tracking symbolic tensor shapes, and check every view/reshape."""

    def __init__(
        self, rule: ViewAsPermute, marks: dict[int, list[cst.Call]], klass: cst.ClassDef | None, func_name: str
    ) -> None:
        self.rule = rule
        self.effects = rule._effects
        self.func_name = func_name
        self.next_stmt: cst.CSTNode | None = None
        self.ctx_stmt: cst.CSTNode | None = None
        self.remaining = 0
        self.padded: set[str] = set()  # names last assigned a padded or concatenated tensor
        self.ctx = rule.ctx
        self.marks = marks
        self.klass = klass
        self.names: list[str] = []  # symbol id -> display name
        self.free: set[int] = set()  # symbols a view may solve for (a Linear's output width, a split)
        self.expand: dict[int, tuple] = {}  # star symbol -> the dims it stands for
        self.subst: dict[int, Mono] = {}  # symbol -> value (expanded stars, solved widths)
        self.env: dict[str, tuple[str, object]] = {}  # name -> ("t", shape) | ("i", Mono) | ("s", shape) | ("u", sym)
        self.versions: dict[str, int] = {}
        self.outer: dict[tuple, int] = {}  # free names/attributes -> symbol
        self.cache: dict[int, object] = {}
        self.quotients: set[Mono] = set()
        self.stars: set[int] = set()  # symbols that stand for dims of unknown number

    # ---- symbols ---------------------------------------------------------------------------------
    def new_sym(self, name: str, free: bool = False) -> int:
        self.names.append(name)
        s = len(self.names) - 1
        if free:
            self.free.add(s)
        return s

    def new_star(self) -> Star:
        star = Star(self.new_sym("..."))
        self.stars.add(star.sym)
        return star

    def outer_sym(self, text: str) -> Mono:
        parts = text.replace("[", ".").split(".")
        key = (text, tuple(self.versions.get(".".join(parts[: i + 1]), 0) for i in range(len(parts))))
        s = self.outer.get(key)
        if s is None:
            s = self.outer[key] = self.new_sym(text)
        return Mono.sym(s)

    def norm_mono(self, m: Mono) -> Mono:
        if not self.subst or not any(s in self.subst for s, _ in m.e):
            return m
        out = Mono(m.c, tuple((s, x) for s, x in m.e if s not in self.subst))
        for s, x in m.e:
            if s in self.subst:
                out = out * self.norm_mono(self.subst[s]).power(x)
        return out

    def norm(self, shape: tuple) -> tuple:
        if not self.subst:
            return shape
        out: list = []
        for it in shape:
            if type(it) is Star:
                sub = self.expand.get(it.sym)
                if sub is None:
                    out.append(it)
                else:
                    out.extend(self.norm(sub))
            else:
                out.append(self.norm_mono(it))
        return tuple(out)

    def set_expansion(self, star: Star, dims: tuple) -> None:
        self.expand[star.sym] = dims
        prod = ONE
        for d in dims:
            prod = prod * (Mono.sym(d.sym) if type(d) is Star else d)
        self.subst[star.sym] = prod

    def display(self, m: Mono) -> str:
        def factor(s: int, x: Fraction | int) -> str:
            name = "?" if self.names[s] == "-1" else self.names[s]
            return name if x == 1 else f"sqrt({name})" if x == Fraction(1, 2) else f"{name}**{x}"

        num = [factor(s, x) for s, x in m.e if x > 0]
        den = [factor(s, -x) for s, x in m.e if x < 0]
        if m.c.numerator != 1 or not num:
            num.insert(0, str(m.c.numerator))
        if m.c.denominator != 1:
            den.insert(0, str(m.c.denominator))
        text = "*".join(num)
        if den:
            text += "//" + (den[0] if len(den) == 1 else "(" + "*".join(den) + ")")
        return text

    def show(self, shape: tuple) -> str:
        return "(" + ", ".join("..." if type(d) is Star else self.display(d) for d in shape) + ")"

    # ---- shapes of names -------------------------------------------------------------------------
    def tensor(self, name: str, create: bool) -> tuple | None:
        v = self.env.get(name)
        if v is not None and v[0] == "t":
            return self.norm(v[1])  # type: ignore[arg-type]
        if not create or (v is not None and v[0] in ("i", "s")):
            return None
        shape = (self.new_star(),)
        self.env[name] = ("t", shape)
        return shape

    def dim_at(self, shape: tuple, i: int) -> Mono | None:
        """The size of dim ``i`` (negative from the end), refining an unknown rank where needed."""
        stars = [k for k, d in enumerate(shape) if type(d) is Star]
        if i >= 0:
            first = stars[0] if stars else len(shape)
            if i < first:
                return shape[i]
            if not stars:
                return None
            fresh = tuple(Mono.sym(self.new_sym("?")) for _ in range(i - first + 1))
            self.set_expansion(shape[first], fresh + (self.new_star(),))
            return fresh[-1]
        last = stars[-1] if stars else -1
        after = len(shape) - last - 1
        if -i <= after:
            return shape[i]
        if not stars:
            return None
        fresh = tuple(Mono.sym(self.new_sym("?")) for _ in range(-i - after))
        self.set_expansion(shape[last], (self.new_star(),) + fresh)
        return fresh[0]

    def unpack_shape(self, shape: tuple, n_before: int, n_after: int | None) -> tuple | None:
        """Split a shape for ``a, b, *rest, c = shape``: (before, middle or None, after); n_after None: no star."""
        stars = [k for k, d in enumerate(shape) if type(d) is Star]
        if n_after is None:
            if not stars:
                return (shape, None, ()) if len(shape) == n_before else None
            if len(stars) > 1:
                return None
            k = stars[0]
            extra = n_before - (len(shape) - 1)
            if extra < 0:
                return None
            fresh = tuple(Mono.sym(self.new_sym("?")) for _ in range(extra))
            self.set_expansion(shape[k], fresh)
            return (self.norm(shape), None, ())
        dims = []
        for i in range(n_before):
            d = self.dim_at(self.norm(shape), i)
            if d is None:
                return None
            dims.append(d)
        tail = []
        for i in range(n_after, 0, -1):
            d = self.dim_at(self.norm(shape), -i)
            if d is None:
                return None
            tail.append(d)
        shape = self.norm(shape)
        if not any(type(d) is Star for d in shape) and len(shape) < n_before + n_after:
            return None
        middle = shape[n_before: len(shape) - n_after]
        return (tuple(dims), middle, tuple(tail))

    # ---- expressions -----------------------------------------------------------------------------
    def eval_int(self, node: cst.BaseExpression) -> Mono | None:
        if isinstance(node, cst.Integer):
            v = int(node.evaluated_value)
            return Mono(Fraction(v)) if v > 0 else None
        if isinstance(node, cst.Name):
            v = self.env.get(node.value)
            if v is None:
                if node.value in ("True", "False", "None"):
                    return None
                return self.outer_sym(node.value)
            if v[0] == "i":
                return v[1]  # type: ignore[return-value]
            if v[0] == "u":
                return Mono.sym(v[1])  # type: ignore[arg-type]
            return None
        if isinstance(node, cst.Attribute):
            text = dotted_name(node)
            if text is None or self.env.get(text.split(".", 1)[0], ("u",))[0] != "u":
                return None  # ``x.ndim`` of a tensor is no size
            if self.ctx.qualname(node) is not None:
                return None  # torch.float16 and other module members are not sizes
            return self.outer_sym(text)
        if isinstance(node, cst.BinaryOperation):
            op = node.operator
            if isinstance(op, cst.Power):
                n = int_value(node.right)
                if n is None and isinstance(node.right, cst.Float) and node.right.value in ("0.5", ".5"):
                    n = Fraction(1, 2)
                base = self.eval_int(node.left)
                if base is None or n is None or not 0 < n < 5 or (n != int(n) and base.c != 1):
                    return None
                return base.power(n)
            if not isinstance(op, (cst.Multiply, cst.FloorDivide, cst.Divide)):
                return None
            a = self.eval_int(node.left)
            b = self.eval_int(node.right) if a is not None else None
            if a is None or b is None:
                return None
            if isinstance(op, cst.Multiply):
                return a * b
            q = a / b
            self.quotients.add(q)  # the code divides: it holds ``a // b`` for a whole number
            return q
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Name) and func.value in ("int", "round") and len(node.args) == 1:
                return self.eval_int(node.args[0].value)
            if self.ctx.qualname(func) in _SQRT and len(node.args) == 1:
                m = self.eval_int(node.args[0].value)
                return m.power(Fraction(1, 2)) if m is not None and m.c == 1 else None
            if isinstance(func, cst.Attribute) and func.attr.value == "size" and len(node.args) == 1:
                i = int_value(node.args[0].value)
                shape = self.eval_tensor(func.value, create=True)
                return self._named(self.dim_at(shape, i), node) if shape is not None and i is not None else None
            return None
        if isinstance(node, cst.Subscript):
            i = self._index(node)
            if i is None:
                return None
            shape = self.eval_shape_tuple(node.value)
            if shape is not None:
                return self._named(self.dim_at(shape, i), node)
            base = dotted_name(node.value)
            if base is not None and base.split(".", 1)[0] not in self.env and self.ctx.qualname(node.value) is None:
                return self.outer_sym(f"{base}[{i}]")
            if isinstance(node.value, cst.Name) and self.env.get(node.value.value, ("",))[0] == "u":
                return self.outer_sym(f"{node.value.value}[{i}]")
            return None
        return None

    def _named(self, m: Mono | None, node: cst.CSTNode) -> Mono | None:
        """Name a size the code reads inline (``x.size(1)``) after that expression, when it has no name."""
        if m is not None and len(m.e) == 1 and self.names[m.e[0][0]] == "?":
            self._name_sym(m, self.ctx.code(node))
        return m

    @staticmethod
    def _index(node: cst.Subscript) -> int | None:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        return int_value(node.slice[0].slice.value)

    @staticmethod
    def _slice(node: cst.Subscript) -> tuple[int | None, int | None] | None:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
            return None
        sl = node.slice[0].slice
        if sl.step is not None:
            return None
        lo = int_value(sl.lower) if sl.lower is not None else None
        hi = int_value(sl.upper) if sl.upper is not None else None
        if (sl.lower is not None and lo is None) or (sl.upper is not None and hi is None):
            return None
        return lo, hi

    def eval_shape_tuple(self, node: cst.BaseExpression) -> tuple | None:
        """A shape value: ``x.shape``, ``x.size()``, ``x.shape[:2]``, a tuple of sizes, ``shape`` names."""
        if isinstance(node, cst.Attribute) and node.attr.value == "shape":
            return self.eval_tensor(node.value, create=True)
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "size" and not node.args:
                return self.eval_tensor(func.value, create=True)
            if isinstance(func, cst.Name) and func.value in ("list", "tuple") and len(node.args) == 1:
                return self.eval_shape_tuple(node.args[0].value)
            if self.ctx.qualname(func) == "torch.Size" and len(node.args) == 1:
                return self.eval_shape_tuple(node.args[0].value)
            return None
        if isinstance(node, cst.Name):
            v = self.env.get(node.value)
            return self.norm(v[1]) if v is not None and v[0] == "s" else None  # type: ignore[arg-type]
        if isinstance(node, (cst.Tuple, cst.List)):
            out: list = []
            for el in node.elements:
                if isinstance(el, cst.StarredElement):
                    sub = self.eval_shape_tuple(el.value)
                    if sub is None:
                        return None
                    out.extend(sub)
                else:
                    m = self.eval_int(el.value)
                    if m is None:
                        return None
                    out.append(m)
            return tuple(out)
        if isinstance(node, cst.Subscript):
            bounds = self._slice(node)
            if bounds is None:
                return None
            shape = self.eval_shape_tuple(node.value)
            if shape is None:
                return None
            lo, hi = bounds
            for b in (lo, hi):
                if b is not None and self.dim_at(shape, b if b < 0 else b - 1 if b > 0 else 0) is None and b != 0:
                    return None
            shape = self.norm(shape)
            if any(type(d) is Star for d in shape):
                stars = [k for k, d in enumerate(shape) if type(d) is Star]
                lo_ok = lo is None or (lo >= 0 and lo <= stars[0]) or (lo < 0 and len(shape) + lo > stars[-1])
                hi_ok = hi is None or (hi >= 0 and hi <= stars[0]) or (hi < 0 and len(shape) + hi > stars[-1])
                if not (lo_ok and hi_ok):
                    return None
            return shape[lo:hi]
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            a = self.eval_shape_tuple(node.left)
            b = self.eval_shape_tuple(node.right) if a is not None else None
            return a + b if a is not None and b is not None else None
        return None

    def view_target(self, call: cst.Call, first: int) -> list | None:
        """The requested sizes of a view/reshape (Mono, MINUS, or Star), or None when not readable."""
        args = list(call.args[first:])
        if any(a.keyword is not None and a.keyword.value not in ("shape", "size") for a in args):
            return None
        if len(args) == 1 and not args[0].star:
            node = args[0].value
            if isinstance(node, (cst.Tuple, cst.List)):
                return self._sizes([(el.value, isinstance(el, cst.StarredElement)) for el in node.elements])
            if isinstance(node, (cst.Name, cst.Attribute, cst.Subscript, cst.Call, cst.BinaryOperation)):
                shape = self.eval_shape_tuple(node)
                if shape is not None:
                    return list(shape)
                if not isinstance(node, (cst.Integer, cst.BinaryOperation)):
                    v = self.env.get(node.value) if isinstance(node, cst.Name) else None
                    if not (v is not None and v[0] == "i") and not isinstance(node, cst.Subscript):
                        return None
        return self._sizes([(a.value, a.star == "*") for a in args])

    def _sizes(self, items: list[tuple[cst.BaseExpression, bool]]) -> list | None:
        out: list = []
        for node, starred in items:
            if starred:
                sub = self.eval_shape_tuple(node)
                if sub is None:
                    return None
                out.extend(sub)
            elif int_value(node) == -1:
                out.append(MINUS)
            else:
                m = self.eval_int(node)
                if m is None:
                    return None
                out.append(m)
        return out

    def eval_tensor(self, node: cst.BaseExpression, create: bool = False) -> tuple | None:
        key = id(node)
        if key in self.cache:
            hit = self.cache[key]
            return self.norm(hit) if hit is not None else None  # type: ignore[arg-type]
        if isinstance(node, cst.Name):
            return self.tensor(node.value, create)
        out = self._eval_tensor(node)
        self.cache[key] = out
        return self.norm(out) if out is not None else None

    def _eval_tensor(self, node: cst.BaseExpression) -> tuple | None:
        if isinstance(node, cst.Call):
            return self._eval_call(node)
        if isinstance(node, cst.BinaryOperation):
            op = node.operator
            if isinstance(op, cst.MatrixMultiply):
                return self._matmul(node.left, node.right)
            if isinstance(op, (cst.Multiply, cst.Add, cst.Subtract, cst.Divide)):
                a = self.eval_tensor(node.left)
                b = self.eval_tensor(node.right)
                if a is not None and b is not None:
                    return a if a == b else None
                known, other = (a, node.right) if a is not None else (b, node.left)
                if known is not None and self._scalar_like(other):
                    return known
            return None
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return self.eval_tensor(node.expression)
        if isinstance(node, cst.Subscript):
            i = self._index(node)
            shape = self.eval_tensor(node.value) if i is not None and i >= 0 else None
            if shape is not None and len(shape) > 1 and type(shape[0]) is not Star:
                return shape[1:]
            return None
        if isinstance(node, cst.Attribute):
            if node.attr.value == "data":
                return self.eval_tensor(node.value)
            if node.attr.value in ("T", "mT"):
                shape = self.eval_tensor(node.value)
                if shape is None or any(type(d) is Star for d in shape):
                    return None
                if node.attr.value == "T":
                    return tuple(reversed(shape))
                return shape[:-2] + (shape[-1], shape[-2]) if len(shape) >= 2 else None
        return None

    def _scalar_like(self, node: cst.BaseExpression) -> bool:
        if _is_number(node):
            return True
        if isinstance(node, cst.Attribute):
            return dotted_name(node) is not None
        if isinstance(node, cst.Name):
            v = self.env.get(node.value)
            return v is not None and v[0] == "i"
        if isinstance(node, cst.Call):
            q = self.ctx.qualname(node.func) or ""
            return q.startswith("math.")
        if isinstance(node, cst.BinaryOperation):
            return self._scalar_like(node.left) and self._scalar_like(node.right)
        return False

    def _matmul(self, left: cst.BaseExpression, right: cst.BaseExpression) -> tuple | None:
        a = self.eval_tensor(left)
        b = self.eval_tensor(right)
        if a is None or b is None or any(type(d) is Star for d in a + b) or len(a) < 2 or len(b) < 2:
            return None
        if len(b) == 2:
            return a[:-1] + b[-1:]
        if len(a) == len(b) and a[:-2] == b[:-2]:
            return a[:-1] + b[-1:]
        return None

    def _free_last(self, shape: tuple | None) -> tuple | None:
        if shape is None or not shape or type(shape[-1]) is Star:
            return None
        return shape[:-1] + (Mono.sym(self.new_sym("?", free=True)),)

    def _module_kind(self, func: cst.BaseExpression) -> str | None:
        text = dotted_name(func)
        if text is None or not text.startswith("self.") or text.count(".") != 1:
            return None
        return self.rule.module_kinds(self.klass).get(text[5:]) if self.klass is not None else None

    def _eval_call(self, call: cst.Call) -> tuple | None:
        func = call.func
        qual = self.ctx.qualname(func)
        if qual is not None:
            return self._eval_function(call, qual)
        kind = self._module_kind(func)
        if kind is not None:
            if not call.args or call.args[0].keyword is not None or call.args[0].star:
                return None
            src = self.eval_tensor(call.args[0].value)
            if kind == "same":
                return src
            if kind == "linear":
                return self._free_last(src)
            if kind == "embedding" and src is not None:
                return src + (Mono.sym(self.new_sym("?", free=True)),)
            return None
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        if method in _VIEW_NAMES:
            return self._view_result(call, func.value, 0)
        if method in _SAME_METHODS:
            return self.eval_tensor(func.value)
        if method in ("permute", "transpose", "swapaxes", "swapdims", "t", "flatten", "unflatten", "unsqueeze",
                      "squeeze"):
            return self._layout(method, self.eval_tensor(func.value), call, 0)
        return None

    def _eval_function(self, call: cst.Call, qual: str) -> tuple | None:
        if qual in _RESHAPE_FUNCS:
            return self._view_result(call, call.args[0].value if call.args else None, 1)
        pos = [a.value for a in call.args if a.keyword is None and not a.star]
        if qual in _SAME_FUNCS or qual in _LIKE_FUNCS:
            return self.eval_tensor(pos[0]) if pos else None
        if qual in _FACTORIES:
            # ``torch.randn(B, T, C)``, ``torch.zeros((B, C, H, W), device=...)``
            if any(a.star for a in call.args):
                return None
            if len(pos) == 1 and isinstance(pos[0], (cst.Tuple, cst.List, cst.Attribute, cst.Call, cst.Name)):
                shape = self.eval_shape_tuple(pos[0])
                if shape is not None or not isinstance(pos[0], cst.Name):
                    return shape
            sizes = [self.eval_int(p) for p in pos]
            return tuple(sizes) if sizes and all(m is not None for m in sizes) else None
        if qual.startswith("torch.") and qual[6:] in ("permute", "transpose", "swapaxes", "swapdims", "t", "flatten",
                                                        "unflatten", "unsqueeze", "squeeze"):
            return self._layout(qual[6:], self.eval_tensor(pos[0]) if pos else None, call, 1)
        if qual in ("torch.matmul", "torch.bmm") and len(pos) == 2:
            return self._matmul(pos[0], pos[1])
        if qual == "torch.nn.functional.linear" and pos:
            return self._free_last(self.eval_tensor(pos[0]))
        if qual == "torch.nn.functional.scaled_dot_product_attention" and len(pos) >= 3:
            q = self.eval_tensor(pos[0])
            v = self.eval_tensor(pos[2])
            if q is None or not q or type(q[-1]) is Star:
                return None
            if v is not None and v and type(v[-1]) is not Star:
                return q[:-1] + v[-1:]
            return q
        return None

    def _ints(self, call: cst.Call, first: int) -> list[int] | None:
        args = call.args[first:]
        if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)) and args[0].keyword is None:
            vals = [int_value(el.value) for el in args[0].value.elements]
        else:
            if any(a.star for a in args):
                return None
            vals = [int_value(a.value) for a in args]
        return None if any(v is None for v in vals) else vals  # type: ignore[return-value]

    def _layout(self, op: str, shape: tuple | None, call: cst.Call, first: int) -> tuple | None:
        if shape is None or any(type(d) is Star for d in shape):
            return None
        n = len(shape)
        if op == "flatten":
            if any(a.keyword is not None and a.keyword.value not in ("start_dim", "end_dim") for a in call.args):
                return None
            start, end = 0, -1
            vals = []
            for a in call.args[first:]:
                v = int_value(a.value)
                if v is None:
                    return None
                if a.keyword is not None:
                    if a.keyword.value == "start_dim":
                        start = v
                    else:
                        end = v
                else:
                    vals.append(v)
            if vals:
                start = vals[0]
            if len(vals) > 1:
                end = vals[1]
            start, end = start % n if n else 0, end % n if n else 0
            if n == 0 or start > end:
                return None
            merged = ONE
            for d in shape[start: end + 1]:
                merged = merged * d
            return shape[:start] + (merged,) + shape[end + 1:]
        if any(a.keyword is not None for a in call.args[first:]) and op not in ("unflatten",):
            if op in ("transpose", "swapaxes", "swapdims", "unsqueeze", "squeeze", "permute"):
                vals_kw = {a.keyword.value: int_value(a.value) for a in call.args[first:] if a.keyword is not None}
                pos_vals = [int_value(a.value) for a in call.args[first:] if a.keyword is None]
                if op == "permute" and "dims" in vals_kw:
                    return None
                if op in ("transpose", "swapaxes", "swapdims"):
                    ordered = pos_vals + [vals_kw.get("dim0"), vals_kw.get("dim1")]
                    ordered = [v for v in ordered if v is not None]
                    if len(ordered) != 2:
                        return None
                    return self._swap(shape, ordered[0], ordered[1])
                if "dim" in vals_kw and vals_kw["dim"] is not None and not pos_vals:
                    return self._squeeze(op, shape, vals_kw["dim"])
            return None
        if op == "t":
            return tuple(reversed(shape)) if n <= 2 else None
        if op == "unflatten":
            return None
        vals = self._ints(call, first)
        if vals is None:
            return None
        if op == "permute":
            if sorted(v % n for v in vals) != list(range(n)) or len(vals) != n:
                return None
            return tuple(shape[v % n] for v in vals)
        if op in ("transpose", "swapaxes", "swapdims"):
            return self._swap(shape, *vals) if len(vals) == 2 else None
        if len(vals) == 1:
            return self._squeeze(op, shape, vals[0])
        return None

    @staticmethod
    def _swap(shape: tuple, a: int, b: int) -> tuple | None:
        n = len(shape)
        if not (-n <= a < n and -n <= b < n):
            return None
        out = list(shape)
        out[a % n], out[b % n] = out[b % n], out[a % n]
        return tuple(out)

    @staticmethod
    def _squeeze(op: str, shape: tuple, d: int) -> tuple | None:
        n = len(shape)
        if op == "unsqueeze":
            if not -n - 1 <= d <= n:
                return None
            d = d % (n + 1)
            return shape[:d] + (ONE,) + shape[d:]
        if not -n <= d < n:
            return None
        d = d % n
        return shape[:d] + shape[d + 1:] if shape[d] == ONE else None

    def _view_result(self, call: cst.Call, receiver: cst.BaseExpression | None, first: int) -> tuple | None:
        if receiver is None:
            return None
        target = self.view_target(call, first)
        if target is None:
            return None
        src = self.eval_tensor(receiver)
        out: list = []
        minus = None
        if MINUS in target and target.count(MINUS) == 1 and src is not None:
            rest = ONE
            for d in target:
                if d is not MINUS:
                    rest = rest * (Mono.sym(d.sym) if type(d) is Star else d)
            total = ONE
            for d in src:
                total = total * (Mono.sym(d.sym) if type(d) is Star else d)
            minus = total / rest
        for d in target:
            if d is MINUS:
                out.append(minus if minus is not None else Mono.sym(self.new_sym("-1")))
            else:
                out.append(d)
        return tuple(out)

    # ---- the check -------------------------------------------------------------------------------
    def check(self, call: cst.Call) -> None:
        func = call.func
        qual = self.ctx.qualname(func)
        if qual is not None:
            if qual not in _RESHAPE_FUNCS or not call.args or call.args[0].keyword is not None:
                return
            receiver, first = call.args[0].value, 1
        elif isinstance(func, cst.Attribute):
            receiver, first = func.value, 0
        else:
            return
        if any(a.keyword is not None and a.keyword.value == "order" for a in call.args):
            return
        target = self.view_target(call, first)  # first: ``x.size(1)`` in the target refines what x is
        if target is None or len(target) < 2 or target.count(MINUS) > 1:
            return
        src = self.eval_tensor(receiver)
        if src is None or len(src) < 2:
            return
        src = self.norm(src)
        dims = [Mono.sym(d.sym) if type(d) is Star else d for d in src]
        tgt = [self.norm_mono(Mono.sym(d.sym)) if type(d) is Star else (d if d is MINUS else self.norm_mono(d)) for d in target]
        total = ONE
        for d in dims:
            total = total * d
        rest = ONE
        for d in tgt:
            if d is not MINUS:
                rest = rest * d
        if MINUS in tgt:
            inferred = total / rest
            tgt = [inferred if d is MINUS else d for d in tgt]
        elif rest != total:
            # One unknown width (a Linear's output, a split) or unknown trailing dims: the view fixes them.
            stars = {d.sym for d in src if type(d) is Star}
            open_syms = [s for s, x in total.e if (s in self.free or s in stars) and x == 1]
            if not open_syms:
                # ``B, N, C = x.shape`` then ``x.view(B, C, H, W)``: the view only runs if N == H * W.
                held = {s for d in dims for s, _ in d.e}
                ratio = total / rest
                ups = [(s, x) for s, x in ratio.e if x > 0]
                if (
                    ratio.c != 1 or len(ups) != 1 or ups[0][1] != 1 or ups[0][0] in self.stars
                    or any(x < 0 and s in held for s, x in ratio.e)
                ):
                    return
                open_syms = [ups[0][0]]
            if len(open_syms) != 1:
                return
            s = open_syms[0]
            solved = rest / (total / Mono.sym(s))
            if not (solved.nonneg() and solved.c.denominator == 1) and solved not in tgt:
                return
            total = rest
            if s in self.free:
                self.subst[s] = solved
            dims = [solved if d == Mono.sym(s) else self.norm_mono(d) for d in dims]
            src = tuple(solved if type(d) is Star and d.sym == s else d for d in src)
            if solved == ONE and s not in self.free:  # the unknown trailing dims are none at all
                dims = [d for d, o in zip(dims, src, strict=True) if not (type(o) is not Star and o == ONE and d == ONE)]
                src = tuple(dims)
        # A size the view names that the tensor's shape does not hold, and that no other requested size
        # cancels (``nh`` of ``view(B, nh, T, -1)``), cannot be placed: it may divide any axis.
        held = {s for d in dims for s, _ in d.e}
        if any(s not in held for s, _ in rest.e) or (total.c / rest.c).denominator != 1:
            return  # so is a literal factor the shape does not show (``reshape(-1, 2)`` of (N, 4))
        if tgt == dims or self._regroups(dims, tgt):
            return
        # Unknown trailing dims may be none at all, and a dim the code left unnamed (``_``) may be one
        # of the sizes the view asks for: if either makes the view a plain regrouping, say nothing.
        stars = {d.sym for d in src if type(d) is Star}
        variants = [dict.fromkeys(stars, ONE)] if stars else []
        anonymous = {s for d in dims for s, _ in d.e if self.names[s] in ("?", "_")}
        sizes = {d for d in tgt if _whole(d)}
        variants.extend({a: c} for a in anonymous for c in sizes if all(s != a for s, _ in c.e))
        for mapping in variants:
            if self._regroups([_subst(d, mapping) for d in dims], [_subst(d, mapping) for d in tgt]):
                return
        if self._deliberate_shift(call, dims, tgt):
            return
        where = self.ctx.code(receiver)
        where = where if len(where) <= 40 and "\n" not in where else "the tensor"
        asked = ", ".join(self.ctx.code(a.value) if not a.star else "*" + self.ctx.code(a.value) for a in call.args[first:])
        if len(call.args[first:]) == 1 and isinstance(call.args[first].value, (cst.Tuple, cst.List)):
            asked = asked[1:-1]
        name = func.attr.value if isinstance(func, cst.Attribute) else "reshape"
        self.rule.report(
            call,
            f"`{name}` reorders axes: `{where}` has order {self.show(src)}, but the {name} asks for ({asked}); "
            f"{name} only splits and merges adjacent dims in memory order and moves no data: use "
            "permute/transpose (then .contiguous()/.reshape) to reorder axes",
        )

    def _deliberate_shift(self, call: cst.Call, dims: list, tgt: list) -> bool:
        """The relative-shift idiom (Transformer-XL, XLNet, Longformer, Funnel): sizes swapped on purpose to
        skew the memory, in a function named for it, on a just-padded tensor, or right before slicing."""
        if len(dims) != len(tgt) or sorted(map(hash, dims)) != sorted(map(hash, tgt)):
            return False
        name = self.func_name.lower()
        if any(word in name for word in ("shift", "skew", "diagonal")):
            return True
        receiver = call.func.value if isinstance(call.func, cst.Attribute) and self.ctx.qualname(call.func) is None else (
            call.args[0].value if call.args else None)
        if isinstance(receiver, cst.Name) and receiver.value in self.padded:
            return True  # Longformer: pad, then reinterpret the padded rows as columns
        stmt = self.ctx_stmt
        if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0].target, cst.Name):
            return False
        target = stmt.targets[0].target.value
        for node in walk_nodes(self.next_stmt, cst.Subscript) if self.next_stmt is not None else ():
            if isinstance(node.value, cst.Name) and node.value.value == target and any(
                isinstance(el.slice, cst.Slice) and el.slice.lower is not None for el in node.slice
            ):
                return True
        return False

    def _regroups(self, src: list, tgt: list) -> bool:
        """Whether every boundary of ``tgt`` falls inside or at a boundary of ``src`` (merges and splits only)."""
        known = [d for d in src + tgt if not d.nonneg() or d.c.denominator != 1]
        known.extend(self.norm_mono(q) for q in self.quotients)
        prefix_s = [ONE]
        for d in src:
            prefix_s.append(prefix_s[-1] * d)
        prefix_t = [ONE]
        for d in tgt:
            prefix_t.append(prefix_t[-1] * d)
        at_boundary = set(prefix_s)
        for k in range(1, len(tgt)):
            p = prefix_t[k]
            if p in at_boundary:
                continue
            if any(_whole(p / prefix_s[j]) and _whole(prefix_s[j + 1] / p) for j in range(len(src))):
                continue
            if any(self._plausible(p / prefix_s[j], known) and self._plausible(prefix_s[j + 1] / p, known)
                   for j in range(len(src))):
                continue
            # Literal sizes only, between the nearest boundaries both sides share: no axis meaning to judge.
            lo = max(i for i in range(k) if prefix_t[i] in prefix_s)
            hi = min(i for i in range(k + 1, len(tgt) + 1) if prefix_t[i] in prefix_s)
            s_lo, s_hi = prefix_s.index(prefix_t[lo]), prefix_s.index(prefix_t[hi])
            if all(not d.e for d in tgt[lo:hi] + src[s_lo:s_hi]):
                continue
            return False
        return True

    def _plausible(self, q: Mono, known: list, depth: int = 3) -> bool:
        """Whether ``q`` can be a whole number: a whole monomial, times sizes the code itself wrote."""
        if q.c.denominator == 1 and q.nonneg():
            return True
        if depth == 0:
            return False
        if any(_part_of(q, d) and all(s in self.stars for s, _ in (d / q).e) for d in known):
            return True  # ``a // g`` of ``(rest * a) // g`` where ``rest`` is dims of unknown number
        neg = {s for s, x in q.e if x < 0}
        for d in known:
            if (
                any(x < 0 and s in neg for s, x in d.e) or (q.c.denominator != 1 and d.c.denominator != 1)
            ) and self._plausible(q / d, known, depth - 1):
                return True
        return False

    # ---- statements ------------------------------------------------------------------------------
    def run_block(self, stmts) -> bool:
        """Process statements in order; True when the block ends in return/raise/continue/break."""
        for k, stmt in enumerate(stmts):
            self.next_stmt = stmts[k + 1] if k + 1 < len(stmts) else None
            if isinstance(stmt, (cst.SimpleStatementLine, _Line)):
                for small in stmt.body:
                    self.ctx_stmt = small
                    self.small(small)
                if stmt.body and isinstance(stmt.body[-1], _TERMINATORS):
                    return True
            else:
                self.compound(stmt)
        return False

    def body_of(self, suite) -> list:
        if isinstance(suite, cst.SimpleStatementSuite):
            return [_Line(suite.body)]
        return list(suite.body)

    def checks_for(self, node: cst.CSTNode) -> None:
        calls = self.marks.get(id(node))
        if calls:
            for call in calls:
                self.check(call)
            self.remaining -= len(calls)
            if self.remaining <= 0:
                raise _Done  # nothing left to check in this function: skip the rest of it

    def run(self, stmts: list, count: int) -> None:
        self.remaining = count
        try:
            self.run_block(stmts)
        except _Done:
            pass

    def small(self, stmt: cst.BaseSmallStatement) -> None:
        self.cache = {}
        self.checks_for(stmt)
        if isinstance(stmt, cst.Assign):
            for t in stmt.targets:
                self.bind(t.target, stmt.value)
        elif isinstance(stmt, cst.AnnAssign):
            if stmt.value is not None:
                self.bind(stmt.target, stmt.value)
        elif isinstance(stmt, cst.AugAssign):
            name = stmt.target.value if isinstance(stmt.target, cst.Name) else None
            if name is not None:
                v = self.env.get(name)
                keep = (
                    v is not None and v[0] == "t" and isinstance(stmt.operator, (cst.MultiplyAssign, cst.AddAssign,
                                                                                 cst.SubtractAssign, cst.DivideAssign))
                    and (self._scalar_like(stmt.value) or self.eval_tensor(stmt.value) == self.tensor(name, False))
                )
                if not keep:
                    self.kill(stmt.target)
            else:
                self.kill(stmt.target)
        elif isinstance(stmt, cst.Del):
            self.kill(stmt.target)
        elif isinstance(stmt, cst.Assert):
            self.learn(stmt.test)
        self.inplace(stmt)

    def learn(self, test: cst.BaseExpression) -> None:
        """``assert L == H * W``, ``assert last_dim == 1``: the size is now known in those terms."""
        if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
                and isinstance(test.comparisons[0].operator, cst.Equal)):
            return
        left, right = test.left, test.comparisons[0].comparator
        for a, b in ((left, right), (right, left)):
            if isinstance(a, cst.Name):
                m = self.eval_int(a) if self.env.get(a.value, ("",))[0] in ("i", "u") else None
                m = self.norm_mono(m) if m is not None else None
                if m is None or len(m.e) != 1 or m.e[0][1] != 1 or m.c != 1:
                    continue
                value = self.eval_int(b) if not (isinstance(b, cst.Integer) and int(b.evaluated_value) == 1) else ONE
                if value is not None and all(s != m.e[0][0] for s, _ in self.norm_mono(value).e):
                    self.subst[m.e[0][0]] = value
                    return

    def inplace(self, stmt: cst.CSTNode) -> None:
        """Forget a name whose shape an in-place method such as ``x.transpose_()`` changes, or a walrus binds."""
        for target in self.effects.get(id(stmt), ()):
            self.kill(target)

    def kill(self, target: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self.kill(el.value)
            return
        if isinstance(target, cst.StarredElement):
            self.kill(target.value)
            return
        if isinstance(target, cst.Name):
            self.env[target.value] = ("u", self.new_sym(target.value))
            self.versions[target.value] = self.versions.get(target.value, 0) + 1
            return
        text = dotted_name(target)
        if text is not None:
            self.versions[text] = self.versions.get(text, 0) + 1

    def bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            self.bind_many(target, value)
            return
        if isinstance(target, cst.Name):
            name = target.value
            if isinstance(value, cst.Call) and self.ctx.qualname(value.func) in _PADS:
                self.padded.add(name)
            else:
                self.padded.discard(name)
            shape = self.eval_tensor(value)
            if shape is not None:
                self.env[name] = ("t", shape)
                self.versions[name] = self.versions.get(name, 0) + 1
                return
            tup = self.eval_shape_tuple(value)
            if tup is not None:
                self.env[name] = ("s", tup)
                self.versions[name] = self.versions.get(name, 0) + 1
                return
            if isinstance(value, cst.Integer):
                # A named constant (``B = 4``) keeps its own identity: a literal 4 elsewhere is not tied to it.
                self.env[name] = ("i", Mono.sym(self.new_sym(name)))
                self.versions[name] = self.versions.get(name, 0) + 1
                return
            if isinstance(value, (cst.Name, cst.Attribute)) and not self._known_int(value):
                # ``nh = self.n_head``: the same size as the attribute, or a tensor we know nothing about.
                m = self.eval_int(value)
                if m is not None and len(m.e) == 1 and m.c == 1:
                    self.env[name] = ("u", m.e[0][0])
                    self.versions[name] = self.versions.get(name, 0) + 1
                    return
                m = None
            else:
                m = self.eval_int(value)
            if m is not None:
                self._name_sym(m, name)
                self.env[name] = ("i", m)
                self.versions[name] = self.versions.get(name, 0) + 1
                return
        self.kill(target)

    def _known_int(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Name):
            v = self.env.get(value.value)
            return v is not None and v[0] == "i"
        return False

    def _name_sym(self, m: Mono, name: str) -> None:
        """Give an unnamed size the name the code uses for it (a variable wins over ``x.size(1)``)."""
        if len(m.e) == 1 and m.e[0][1] == 1 and m.c == 1:
            old = self.names[m.e[0][0]]
            if old == "?" or (("(" in old or "[" in old) and name.isidentifier()):
                self.names[m.e[0][0]] = name

    def bind_many(self, target: cst.Tuple | cst.List, value: cst.BaseExpression) -> None:
        elements = [el.value if not isinstance(el, cst.StarredElement) else el for el in target.elements]
        stars = [k for k, el in enumerate(elements) if isinstance(el, cst.StarredElement)]
        if isinstance(value, (cst.Tuple, cst.List)) and not stars and len(value.elements) == len(elements) and not any(
            isinstance(el, cst.StarredElement) for el in value.elements
        ):
            values = [el.value for el in value.elements]
            shapes = [self.eval_tensor(v) for v in values]
            ints = [
                Mono.sym(self.new_sym(t.value)) if isinstance(v, cst.Integer) and isinstance(t, cst.Name)
                else self.eval_int(v) if s is None else None
                for v, s, t in zip(values, shapes, elements, strict=True)
            ]
            for t, s, m in zip(elements, shapes, ints, strict=True):
                if isinstance(t, cst.Name) and s is not None:
                    self.env[t.value] = ("t", s)
                elif isinstance(t, cst.Name) and m is not None:
                    self._name_sym(m, t.value)
                    self.env[t.value] = ("i", m)
                else:
                    self.kill(t)
            return
        if len(stars) > 1:
            self.kill(target)
            return
        tup = self.eval_shape_tuple(value)
        if tup is not None:
            n_before = stars[0] if stars else len(elements)
            n_after = len(elements) - n_before - 1 if stars else None
            parts = self.unpack_shape(tup, n_before, n_after)
            if parts is None:
                if isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name):
                    self.kill(value.value)
                self.kill(target)
                return
            before, middle, after = parts
            for t, m in zip(elements[:n_before], before, strict=False):
                self._bind_int(t, m)
            if stars:
                star_t = elements[stars[0]].value
                if isinstance(star_t, cst.Name) and middle is not None:
                    self.env[star_t.value] = ("s", middle)
                else:
                    self.kill(star_t)
                for t, m in zip(elements[n_before + 1:], after, strict=False):
                    self._bind_int(t, m)
            return
        results = self.eval_multi(value, len(elements)) if not stars else None
        if results is not None:
            for t, s in zip(elements, results, strict=False):
                if isinstance(t, cst.Name) and s is not None:
                    self.env[t.value] = ("t", s)
                    self.versions[t.value] = self.versions.get(t.value, 0) + 1
                else:
                    self.kill(t)
            return
        self.kill(target)

    def _bind_int(self, t: cst.BaseExpression, m: object) -> None:
        if isinstance(t, cst.Name) and type(m) is Mono:
            if t.value != "_":
                self._name_sym(m, t.value)
            self.env[t.value] = ("i", m)
            self.versions[t.value] = self.versions.get(t.value, 0) + 1
        else:
            self.kill(t)

    def eval_multi(self, value: cst.BaseExpression, n: int) -> list | None:
        """Shapes of the parts of ``x.split(...)``, ``x.chunk(n, dim)``, ``x.unbind(d)``, ``self.lstm(x)``."""
        if not isinstance(value, cst.Call):
            return None
        func = value.func
        kind = self._module_kind(func)
        if kind == "rnn" and value.args and value.args[0].keyword is None:
            out = self._free_last(self.eval_tensor(value.args[0].value))
            return [out] + [None] * (n - 1) if out is not None and n == 2 else None
        qual = self.ctx.qualname(func)
        if qual is not None:
            if qual not in ("torch.split", "torch.chunk", "torch.unbind", "torch.tensor_split") or not value.args:
                return None
            method, src_node, first = qual[6:], value.args[0].value, 1
        elif isinstance(func, cst.Attribute):
            method, src_node, first = func.attr.value, func.value, 0
        else:
            return None
        if method not in ("split", "chunk", "unbind", "tensor_split"):
            return None
        src = self.eval_tensor(src_node)
        if src is None or any(type(d) is Star for d in src):
            return None
        args = value.args[first:]
        dim_node = next((a.value for a in args if a.keyword is not None and a.keyword.value == "dim"), None)
        pos = [a.value for a in args if a.keyword is None]
        if method == "unbind":
            dim_node = dim_node or (pos[0] if pos else None)
        elif dim_node is None and len(pos) > 1:
            dim_node = pos[1]
        d = int_value(dim_node) if dim_node is not None else 0
        if d is None or not -len(src) <= d < len(src):
            return None
        d %= len(src)
        if method == "unbind":
            return [src[:d] + src[d + 1:]] * n
        if method == "chunk" and pos and int_value(pos[0]) == n:
            part = src[d] / Mono(Fraction(n))
            return [src[:d] + (part,) + src[d + 1:]] * n
        return [src[:d] + (Mono.sym(self.new_sym("?", free=True)),) + src[d + 1:] for _ in range(n)]

    def assigned_names(self, node: cst.CSTNode) -> set[str]:
        """Names a statement (and the blocks inside it) may rebind, read from the statements only."""
        out: set[str] = set()
        pending: list = [node]
        while pending:
            n = pending.pop()
            targets: list = list(self.effects.get(id(n), ()))
            if isinstance(n, (cst.SimpleStatementLine, _Line)):
                pending.extend(n.body)
            elif isinstance(n, cst.Assign):
                targets.extend(t.target for t in n.targets)
            elif isinstance(n, (cst.AnnAssign, cst.AugAssign)):
                targets.append(n.target)
            elif isinstance(n, cst.Del):
                targets.append(n.target)
            elif isinstance(n, (cst.FunctionDef, cst.ClassDef)):
                targets.append(n.name)
            elif isinstance(n, cst.BaseCompoundStatement):
                if isinstance(n, cst.For):
                    targets.append(n.target)
                elif isinstance(n, cst.With):
                    targets.extend(item.asname.name for item in n.items if item.asname is not None)
                for block in _blocks(n):
                    pending.extend(self.body_of(block))
                if isinstance(n, (cst.Try, cst.TryStar)):
                    targets.extend(h.name.name for h in n.handlers if h.name is not None)
            while targets:
                t = targets.pop()
                if isinstance(t, (cst.Tuple, cst.List)):
                    targets.extend(el.value for el in t.elements)
                elif isinstance(t, cst.StarredElement):
                    targets.append(t.value)
                else:
                    text = dotted_name(t)
                    if text is not None:
                        out.add(text)
        return out

    def forget(self, names: set[str]) -> None:
        for name in names:
            if "." in name:
                self.versions[name] = self.versions.get(name, 0) + 1
            else:
                self.kill(cst.Name(name))

    def join(self, envs: list[dict]) -> None:
        merged = {}
        for name in set().union(*envs):
            vals = [e.get(name) for e in envs]
            if all(v == vals[0] for v in vals) and vals[0] is not None:
                merged[name] = vals[0]
            else:
                merged[name] = ("u", self.new_sym(name))
                self.versions[name] = self.versions.get(name, 0) + 1
        self.env = merged

    def branches(self, blocks: list, include_pre: bool) -> None:
        pre = dict(self.env)
        outs = [pre] if include_pre else []
        for block in blocks:
            self.env = dict(pre)
            if not self.run_block(block):
                outs.append(self.env)
        if not outs:
            self.env = pre  # every branch leaves; what follows is unreachable from them
            return
        self.join(outs)

    def compound(self, stmt: cst.BaseCompoundStatement) -> None:
        self.cache = {}
        self.ctx_stmt = stmt
        self.checks_for(stmt)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self.kill(stmt.name)
            return
        if isinstance(stmt, cst.If):
            blocks = [self.body_of(stmt.body)]
            orelse = stmt.orelse
            while isinstance(orelse, cst.If):
                self.cache = {}
                self.checks_for(orelse)
                blocks.append(self.body_of(orelse.body))
                orelse = orelse.orelse
            if orelse is not None:
                blocks.append(self.body_of(orelse.body))
            self.branches(blocks, include_pre=orelse is None)
            return
        if isinstance(stmt, (cst.For, cst.While)):
            names = self.assigned_names(stmt)
            self.forget(names)
            if isinstance(stmt, cst.For):
                self.kill(stmt.target)
            self.run_block(self.body_of(stmt.body))
            self.forget(names)
            if stmt.orelse is not None:
                self.run_block(self.body_of(stmt.orelse.body))
            return
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    self.kill(item.asname.name)
            self.run_block(self.body_of(stmt.body))
            return
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            names = self.assigned_names(stmt.body)
            pre = dict(self.env)
            ended = self.run_block(self.body_of(stmt.body))
            if stmt.orelse is not None and not ended:
                ended = self.run_block(self.body_of(stmt.orelse.body))
            outs = [] if ended else [self.env]
            for handler in stmt.handlers:
                self.env = dict(pre)
                self.forget(names)
                if handler.name is not None:
                    self.kill(handler.name.name)
                if not self.run_block(self.body_of(handler.body)):
                    outs.append(self.env)
            if outs:
                self.join(outs)
            else:
                self.env = pre
            if stmt.finalbody is not None:
                self.run_block(self.body_of(stmt.finalbody.body))
            return
        if isinstance(stmt, cst.Match):
            self.branches([self.body_of(case.body) for case in stmt.cases], include_pre=True)
            self.forget(self.assigned_names(stmt))
            return
        # Anything else: forget what it may assign.
        self.forget(self.assigned_names(stmt))


class _Done(Exception):
    """Every view/reshape of the function has been checked."""


class _Line:
    """A one-line suite (``if c: x = 1``) seen as a statement line."""

    def __init__(self, body) -> None:
        self.body = body


class ViewAsPermute(Rule):
    """## What it does
    Flags a `.view()` or `.reshape()` (method or `torch.reshape`) whose target lists the shape
    symbols of a tensor in an order the tensor does not have: `x.view(B, C, H * W)` on a tensor
    known to be `(B, H * W, C)`, `x.view(T, B, C)` on `(B, T, C)`, attention heads split into
    `(B, nh, T, C // nh)` from `(B, T, C)`. The rule tracks the sizes the code itself names
    (`B, T, C = x.size()`, `x.shape[i]`, `x.size(i)`, earlier view/permute/transpose/flatten results,
    `nn.Linear` outputs, `q @ k.transpose(-2, -1)`) and only reports when every size in the target
    can be tied to the tensor's known order. A view is accepted when it only merges adjacent dims and
    splits dims in place (`view(b, -1)`, `view(b, c, h * w)`, `view(B, T, nh, C // nh)`).

    It stays silent where it cannot be sure: a tensor whose shape is unknown (the result of a module
    or helper it does not know, a loop-carried or branch-dependent value), sizes it cannot tie to the
    tensor (function parameters used alone, `x.view(*shape)`, a `-1` absorbing a size the tensor does
    not show), literal-only reshapes, and the deliberate relative-shift trick of Transformer-XL-style
    attention.

    ## Why is this bad?
    `view` and `reshape` reinterpret the same memory in row-major order: they can split a dim in
    place or merge adjacent dims, but they never move data from one axis to another. Asking for the
    axes in a different order gives a tensor of the right shape whose contents are scrambled (each
    "channel" now holds a mix of positions, often across examples of the batch). Nothing raises: the
    model trains, only worse.

    ## Example
    ```python
    B, T, C = x.size()
    q = self.query(x).view(B, self.n_head, T, C // self.n_head)  # heads before the split
    h = feats.view(B, C, H * W)  # feats is (B, H * W, C)
    ```

    ## Use instead
    ```python
    B, T, C = x.size()
    q = self.query(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
    h = feats.transpose(1, 2).reshape(B, C, H * W)
    ```
    """

    code = "NN101"
    name = "view-as-permute"
    message = "`view`/`reshape` used to reorder axes; use permute/transpose (then .contiguous()/.reshape) instead"
    requires = ((".view(", "reshape("),)

    VALID = [
        # nanoGPT's causal self-attention, done right.
        """
        import torch.nn as nn
        import torch.nn.functional as F
        class CausalSelfAttention(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
                self.c_proj = nn.Linear(config.n_embd, config.n_embd)
                self.n_head = config.n_head
                self.n_embd = config.n_embd
            def forward(self, x):
                B, T, C = x.size()
                q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
                k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = F.softmax(att, dim=-1)
                y = att @ v
                y = y.transpose(1, 2).contiguous().view(B, T, C)
                return self.c_proj(y)
        """,
        # Flattening keeps the order.
        """
        def forward(self, x):
            b, c, h, w = x.shape
            y = x.view(b, -1)
            z = x.view(b, c, h * w)
            return x.reshape(b, c * h * w), y, z
        """,
        # timm window partition / reverse.
        """
        def window_partition(x, window_size):
            B, H, W, C = x.shape
            x = x.view(B, H // window_size[0], window_size[0], W // window_size[1], window_size[1], C)
            windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size[0], window_size[1], C)
            return windows

        def window_reverse(windows, window_size, H, W):
            C = windows.shape[-1]
            x = windows.view(-1, H // window_size[0], W // window_size[1], window_size[0], window_size[1], C)
            x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)
            return x
        """,
        # Channels last via permute, then flatten to tokens.
        """
        def to_tokens(x):
            B, C, H, W = x.shape
            x = x.permute(0, 2, 3, 1).reshape(B, H * W, C)
            return x.reshape(B, H, W, C).permute(0, 3, 1, 2)
        """,
        # Tokens back to an image after a transpose.
        """
        def forward(self, x, H, W):
            B, N, C = x.shape
            x = x.transpose(1, 2).view(B, C, H, W)
            return self.proj(x).flatten(2).transpose(1, 2)
        """,
        # .contiguous().view of a transposed tensor in the order it has.
        """
        def merge(x):
            B, T, C = x.shape
            x = x.view(B, T, 4, C // 4)
            x = x.transpose(1, 2)
            return x.contiguous().view(B * 4, T, C // 4)
        """,
        # Sizes that come from elsewhere cannot be tied to an order.
        """
        def forward(self, x, batch_size, seq_len):
            return x.view(seq_len, batch_size, -1)
        """,
        # Literal sizes, -1, view_as.
        """
        import torch
        def f(x, y):
            a = x.view(-1)
            b = x.reshape(4, 3, 2)
            c = torch.reshape(x, (2, 12))
            return a, b, c, x.view_as(y)
        """,
        # The name is rebound to something of unknown shape before the view.
        """
        def forward(self, x):
            B, C, H, W = x.shape
            x = self.blocks(x)
            return x.view(B, H * W, C)
        """,
        # Batch-first swap done with transpose.
        """
        def forward(self, x):
            B, T, C = x.shape
            x = x.transpose(0, 1).contiguous()
            return x.view(T, B, C), x.view(T * B, C)
        """,
        # Split in place then permute, torch.reshape function form, keyword shape.
        """
        import torch
        def forward(self, x):
            B, N, C = x.shape
            qkv = torch.reshape(x, (B, N, 3, self.num_heads, C // self.num_heads)).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            out = (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v
            return out.transpose(1, 2).reshape(B, N, C)
        """,
        # Different branches give the name different shapes: unknown after the if.
        """
        def forward(self, x):
            B, C, H, W = x.shape
            if self.channels_last:
                x = x.permute(0, 2, 3, 1)
            return x.reshape(B, H, W, C)
        """,
        # Pixel shuffle / space-to-depth (timm).
        """
        class SpaceToDepth:
            def forward(self, x):
                N, C, H, W = x.size()
                x = x.view(N, C, H // self.bs, self.bs, W // self.bs, self.bs)
                x = x.permute(0, 3, 5, 1, 2, 4).contiguous()
                x = x.view(N, C * self.bs * self.bs, H // self.bs, W // self.bs)
                y = x.view(N, self.bs, self.bs, C, H // self.bs, W // self.bs)
                return x, y
        """,
        # Sizes read with x.size(i) and a flatten kept in order.
        """
        def forward(self, x):
            bs = x.size(0)
            seq = x.size(1)
            return x.view(bs * seq, -1), x.view(bs, seq, 2, -1)
        """,
        # The tensor is reassigned inside a loop: unknown in the loop.
        """
        def forward(self, x):
            B, C, H, W = x.shape
            for blk in self.blocks:
                x = blk(x)
                y = x.view(B, H * W, C)
            return y
        """,
        # Unpacked from a different tensor than the one viewed.
        """
        def forward(self, x, feats):
            B, C, H, W = x.shape
            return feats.view(B, H * W, C)
        """,
        # RNN output viewed in its own order.
        """
        import torch.nn as nn
        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(32, 64, batch_first=True)
                self.fc = nn.Linear(64, 10)
            def forward(self, x):
                B, T, _ = x.shape
                out, _ = self.rnn(x)
                return self.fc(out.reshape(B * T, -1)).view(B, T, -1)
        """,
        # numpy-style order= keyword and a square image.
        """
        def f(x):
            b, h, w = x.shape
            a = x.reshape(b, w, h, order="F")
            return a, x.reshape(b, h * w)
        """,
        # Merge heads after scaled_dot_product_attention and transpose back.
        """
        import torch.nn.functional as F
        def forward(self, x):
            B, T, C = x.size()
            q = x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, q, q, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return y
        """,
        # The relative-shift idiom of Transformer-XL / XLNet / Funnel: the skew is the point.
        """
        import torch
        def rel_shift(x, klen=-1):
            x_size = x.shape
            x = x.reshape(x_size[1], x_size[0], x_size[2], x_size[3])
            x = x[1:, ...]
            return x.reshape(x_size[0], x_size[1] - 1, x_size[2], x_size[3])

        def relative_gather(positional_attn, shift):
            batch_size, n_head, seq_len, max_rel_len = positional_attn.shape
            positional_attn = torch.reshape(positional_attn, [batch_size, n_head, max_rel_len, seq_len])
            positional_attn = positional_attn[:, :, shift:, :]
            return positional_attn
        """,
        # Unknown leading dim that is in fact the literal the view asks for; unnamed dims may be empty.
        """
        import math
        def get_abs_pos(abs_pos):
            num_position = abs_pos.shape[1]
            size = int(math.sqrt(num_position))
            return abs_pos.reshape(1, size, size, -1)

        def pairs(key_pos, keylen_from):
            batch = key_pos.size(0)
            keylen = key_pos.size(1)
            return key_pos.view(batch, -1, keylen)
        """,
        # A LayerNorm keeps the channels-last order; the tokens view is then right.
        """
        import torch.nn as nn
        class Block(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.norm = nn.LayerNorm(dim)
                self.qkv = nn.Linear(dim, dim * 3)
                self.num_heads = 8
                self.head_dim = dim // 8
            def forward(self, x):
                B, C, H, W = x.shape
                x = x.permute(0, 2, 3, 1)
                x = self.norm(x)
                x = x.reshape(B, H * W, C)
                qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
                return qkv
        """,
        # Video frames folded into the batch and back; channel shuffle (ShuffleNet).
        """
        import torch
        def frames(x, groups):
            B, T, C, H, W = x.shape
            y = x.view(B * T, C, H, W)
            y = y.view(B, T, C, H, W)
            z = y.view(B * T, groups, C // groups, H, W)
            z = torch.transpose(z, 1, 2).contiguous().view(B * T, C, H, W)
            return z
        """,
        # A shape tuple, a size() tuple indexed, and a star-splat of the leading dims.
        """
        def heads(self, x):
            new_shape = x.size()[:-1] + (self.num_heads, self.head_size)
            x = x.view(new_shape)
            x = x.permute(0, 2, 1, 3)
            size = x.size()
            return x.reshape(size[0], size[1], -1), x.view(*x.shape[:2], -1)
        """,
        # Padding or an unknown helper changes the shape: nothing is known about the result.
        """
        import torch.nn.functional as F
        def pad_windows(x, ws):
            B, H, W, C = x.shape
            x = F.pad(x, (0, 0, 0, ws, 0, ws))
            x = window_partition(x, ws)
            return x.view(-1, ws * ws, C), x.view(B, C, -1)
        """,
        # The view shape is a variable the rule cannot read: ``x.view(*shape)``.
        """
        def restore(x, shape):
            B, N, C = x.shape
            x = x.view(*shape)
            return x.view(B, C, -1)
        """,
        # A training script: flatten images, flatten logits and targets for the loss.
        """
        import torch
        import torch.nn.functional as F
        for images, labels in loader:
            images = images.view(images.size(0), -1)
            logits = model(images)
            B, T, V = logits.shape
            loss = F.cross_entropy(logits.view(B * T, V), labels.view(-1))
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
            loss.backward()
        """,
        # In-place transpose changes what the name holds.
        """
        def f(x):
            B, T, C = x.shape
            x.transpose_(0, 1)
            return x.view(T, B, C)
        """,
    ]
    INVALID = [
        Invalid(
            """
            def forward(self, x):
                B, C, H, W = x.shape
                x = x.permute(0, 2, 3, 1).reshape(B, H * W, C)
                return x.view(B, C, H * W)
            """,
            line=5,
            message_contains="(B, H*W, C)",
        ),
        Invalid(
            """
            def forward(self, x):
                B, T, C = x.shape
                return x.view(T, B, C)
            """,
            line=4,
        ),
        Invalid(
            """
            def forward(self, x):
                b, c, h, w = x.shape
                return x.reshape(b, h, w, c)
            """,
            line=4,
        ),
        Invalid(
            """
            import torch.nn as nn
            class CausalSelfAttention(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
                    self.n_head = config.n_head
                    self.n_embd = config.n_embd
                def forward(self, x):
                    B, T, C = x.size()
                    q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
                    k = k.view(B, self.n_head, T, C // self.n_head)
                    return k
            """,
            line=12,
        ),
        Invalid(
            """
            def forward(self, x):
                B, N, C = x.shape
                q = x.view(B, self.num_heads, N, C // self.num_heads)
                return q
            """,
            line=4,
        ),
        # Merging heads without moving them back.
        Invalid(
            """
            def forward(self, x):
                B, T, C = x.size()
                q = x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                att = (q @ q.transpose(-2, -1)).softmax(dim=-1)
                y = att @ q
                return y.contiguous().view(B, T, C)
            """,
            line=7,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            def forward(self, q, k, v):
                B, T, C = q.size()
                q = q.view(B, T, 8, C // 8).transpose(1, 2)
                y = F.scaled_dot_product_attention(q, q, q, is_causal=True)
                y = y.reshape(B, T, C)
                return y
            """,
            line=7,
        ),
        # (B, C, H, W) -> tokens with -1 in the wrong place.
        Invalid(
            """
            def forward(self, x):
                B, C, H, W = x.shape
                tokens = x.view(B, -1, C)
                return tokens
            """,
            line=4,
        ),
        # Tokens back to an image without transposing.
        Invalid(
            """
            def forward(self, x):
                B, H, W, C = x.shape
                x = x.view(B, H * W, C)
                return x.reshape(B, C, H, W)
            """,
            line=5,
        ),
        # Sizes from x.size(i) / x.shape[i] (batch/time swap in RNN code).
        Invalid(
            """
            def forward(self, x):
                batch_size = x.size(0)
                seq_len = x.size(1)
                x = x.view(seq_len, batch_size, -1)
                return self.rnn(x)
            """,
            line=5,
        ),
        Invalid(
            """
            def forward(self, x):
                n = x.shape[0]
                t = x.shape[1]
                return self.lstm(x.reshape(t, n, -1))
            """,
            line=5,
        ),
        # torch.reshape function form with a tuple, alias import.
        Invalid(
            """
            import torch as th
            def f(x):
                b, c, h, w = x.shape
                return th.reshape(x, (b, h * w, c))
            """,
            line=5,
        ),
        # Channels-last move with view after a chained op.
        Invalid(
            """
            def forward(self, x):
                N, C, H, W = x.size()
                y = x.contiguous().view(N, H, W, C)
                return y
            """,
            line=4,
        ),
        # Swin window partition with the wrong order.
        Invalid(
            """
            def window_partition(x, ws):
                B, H, W, C = x.shape
                x = x.view(B, H // ws, ws, W // ws, ws, C)
                return x.view(-1, ws, ws, C)
            """,
            line=5,
        ),
        # Linear output reshaped with the head axis before the sequence.
        Invalid(
            """
            import torch.nn as nn
            class Attn(nn.Module):
                def __init__(self, dim, heads):
                    super().__init__()
                    self.heads = heads
                    self.to_q = nn.Linear(dim, dim)
                def forward(self, x):
                    b, n, d = x.shape
                    q = self.to_q(x)
                    q = q.reshape(b, self.heads, n, d // self.heads)
                    return q
            """,
            line=11,
        ),
        # Shape tuple built from x.size() and a head split in the wrong place.
        Invalid(
            """
            def transpose_for_scores(self, x):
                bsz, seq, dim = x.size()
                shape = (bsz, self.num_heads, seq, dim // self.num_heads)
                return x.view(shape)
            """,
            line=5,
        ),
        # Unpacked with *_ and a patch embedding flattened in the wrong order.
        Invalid(
            """
            def forward(self, x):
                *_, C, H, W = x.shape
                B = x.shape[0]
                return x.view(B, -1, C)
            """,
            line=5,
        ),
        # Tokens to an image with sizes passed in: N must be H * W, and C must move first.
        Invalid(
            """
            def forward(self, x, H, W):
                B, N, C = x.shape
                x = x.view(B, C, H, W)
                return self.dwconv(x)
            """,
            line=4,
        ),
        # Fused qkv projection split with heads before the tokens.
        Invalid(
            """
            from torch.nn import Linear
            class Attention:
                def __init__(self, dim, num_heads):
                    self.qkv = Linear(dim, dim * 3)
                    self.num_heads = num_heads
                def forward(self, x):
                    B, N, C = x.shape
                    qkv = self.qkv(x).reshape(B, 3, self.num_heads, N, C // self.num_heads)
                    return qkv
            """,
            line=9,
        ),
        # Video clip: channels moved in front of time with view.
        Invalid(
            """
            def forward(self, clip):
                B, T, C, H, W = clip.shape
                x = clip.view(B, C, T, H, W)
                return self.conv3d(x)
            """,
            line=4,
        ),
        # A tensor made with named sizes at module level.
        Invalid(
            """
            import torch
            B, T, C = 4, 16, 32
            x = torch.randn(B, T, C)
            y = x.reshape(B, C, T)
            """,
            line=5,
        ),
        # Sizes read inline from the tensor itself, axes swapped.
        Invalid(
            """
            def forward(self, x):
                x = self.encoder(x)
                x = x.view(x.size(0), x.size(2), x.size(1))
                return x
            """,
            line=4,
            message_contains="(x.size(0), x.size(1), x.size(2))",
        ),
        # Tokens of a square grid back to an image without moving channels (ViT neck).
        Invalid(
            """
            import math
            def to_image(x):
                B, N, C = x.shape
                H = W = int(math.sqrt(N))
                return x.reshape(B, C, H, W)
            """,
            line=6,
        ),
        # Unpacked from a shape name, spatial axes swapped.
        Invalid(
            """
            def forward(self, x):
                shape = x.shape
                B, C, H, W = shape
                return x.view(B, C, W, H)
            """,
            line=5,
        ),
    ]

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self._marks: dict[int, list[cst.Call]] = {}  # statement id -> the view/reshape calls it holds
        self._effects: dict[int, list[cst.Name]] = {}  # statement id -> names a walrus or ``x.t_()`` changes
        self._counts: list[int] = [0]  # view/reshape calls per enclosing function (module level first)
        self._kinds: dict[int, dict[str, str]] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._counts.append(0)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method in _RESHAPE_INPLACE:
            self._effect(func.value)
        if method not in _VIEW_NAMES:
            return
        for anc in reversed(self.ctx.stack):
            if isinstance(anc, _SCOPE_BREAKS):
                return
            if isinstance(anc, _STATEMENTS):
                self._marks.setdefault(id(anc), []).append(node)
                self._counts[-1] += 1
                return

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._effect(node.target)

    def _effect(self, target: cst.BaseExpression) -> None:
        """Record that the statement being visited rebinds or reshapes ``target`` (a walrus, ``x.t_()``)."""
        if not isinstance(target, cst.Name):
            return
        for anc in reversed(self.ctx.stack):
            if isinstance(anc, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return
            if isinstance(anc, _STATEMENTS):
                self._effects.setdefault(id(anc), []).append(target)
                return

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        count = self._counts.pop()
        if count:
            body = list(node.body.body) if isinstance(node.body, cst.IndentedBlock) else [_Line(node.body.body)]
            _Analysis(self, self._marks, self.ctx.klass, node.name.value).run(body, count)

    def leave_Module(self, node: cst.Module) -> None:
        if self._counts[0]:
            body = [s for s in node.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
            _Analysis(self, self._marks, None, "").run(body, self._counts[0])

    def module_kinds(self, klass: cst.ClassDef) -> dict[str, str]:
        """What a class assigns to ``self.<attr>``: 'linear', 'rnn', 'embedding' or 'same' (keeps the shape)."""
        kinds = self._kinds.get(id(klass))
        if kinds is not None:
            return kinds
        kinds = {}
        seen: set[str] = set()
        for stmt in klass.body.body:
            if not isinstance(stmt, cst.FunctionDef):
                continue
            for assign in _assignments(stmt.body):
                for t in assign.targets:
                    text = dotted_name(t.target)
                    if text is None or not text.startswith("self.") or text.count(".") != 1:
                        continue
                    attr = text[5:]
                    value = assign.value
                    qual = self.ctx.qualname(value.func) if isinstance(value, cst.Call) else None
                    kind = None
                    if qual is not None and qual.startswith(_TORCH_NN) and qual.count(".") == 2:
                        short = qual[len(_TORCH_NN):]
                        kind = (
                            "linear" if short in _LINEAR_MODULES
                            else "rnn" if short in _RNN_MODULES
                            else "embedding" if short == "Embedding"
                            else "same" if short in _SAME_MODULES else None
                        )
                    if attr in seen and kinds.get(attr) != kind:
                        kinds.pop(attr, None)
                    elif attr not in seen and kind is not None:
                        kinds[attr] = kind
                    seen.add(attr)
        self._kinds[id(klass)] = kinds
        return kinds
