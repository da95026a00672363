"""Rules: performance (NN5xx): Tensor Core friendly sizes, data loading, host-device traffic, cuDNN autotuning.

Helpers are grouped per rule and prefixed with its theme (``_size_*`` for NN501, ``_loader_*`` for
NN502/NN503, ``_move_*`` for NN504, ``_entry_*`` for NN505/NN506 and the NN6xx rules that import them);
the shared ones (argument building, CUDA evidence, loops) come first.
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
    string_value,
    with_arg,
)
from nnlint.engine import render_in_place
from nnlint.rule import Invalid, Rule, Valid
from nnlint.walker import children

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

_NO_SPACE = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def kwarg(name: str, value: cst.BaseExpression | str) -> cst.Arg:
    """``name=value`` as an argument node (no spaces around ``=``)."""
    if isinstance(value, str):
        value = cst.parse_expression(value)
    return cst.Arg(value=value, keyword=cst.Name(name), equal=_NO_SPACE)


def indent_tokens(ctx, stack: list[cst.CSTNode] | None = None) -> list[str]:
    """The indentation of the blocks around the current node (for ``render``), outermost first."""
    default = ctx.module.default_indent
    return [b.indent if b.indent is not None else default for b in (stack if stack is not None else ctx.stack)
            if isinstance(b, cst.IndentedBlock)]


def render(ctx, node: cst.CSTNode, indent: list[str] | None = None) -> str:
    """Source text of a (new) node as it will sit in place (see ``nnlint.engine.render_in_place``)."""
    return render_in_place(ctx.module, node, tuple(indent if indent is not None else indent_tokens(ctx)))


def has_star_args(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


def all_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    pending = [root]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(reversed(children(node)))


# Text that shows a file runs on a CUDA device: ``.cuda()``, a "cuda..." string, an availability check.
_CUDA_TEXT = re.compile(r"\.cuda\(|[\"']cuda\b|cuda\.is_available\(|cuda\.device_count\(|cuda\.set_device\(")


def uses_cuda(source: str) -> bool:
    return _CUDA_TEXT.search(source) is not None


_TEST_PATH = re.compile(r"(^|[\\/])(tests?|testing)[\\/]|(^|[\\/])(test_[^\\/]*|[^\\/]*_test|conftest)\.py$")


def is_test_path(path: str) -> bool:
    return _TEST_PATH.search(path) is not None


def in_loop(stack: list[cst.CSTNode], node: cst.CSTNode, skip_init: bool = False) -> bool:
    """Whether ``node`` runs once per iteration of a loop of its own function (body of a for/while, a
    comprehension's element); ``skip_init``: not when that function is an ``__init__``."""
    child = node
    looped = False
    for anc in reversed(stack):
        if isinstance(anc, (cst.ClassDef, cst.Lambda)):
            return looped
        if isinstance(anc, cst.FunctionDef):
            return looped and not (skip_init and anc.name.value == "__init__")
        if not looped:
            if isinstance(anc, cst.For) and child is anc.body:
                looped = True
            elif isinstance(anc, cst.While) and (child is anc.body or child is anc.test):
                looped = True
            elif isinstance(anc, (cst.ListComp, cst.SetComp, cst.GeneratorExp)) and child is anc.elt:
                looped = True
            elif isinstance(anc, cst.DictComp) and (child is anc.key or child is anc.value):
                looped = True
        child = anc
    return looped


def resolved_last(ctx, call: cst.Call, names) -> str | None:
    """The last part of the callee's qualified name when it is in ``names`` (``L`` for ``from torch.nn
    import Linear as L`` gives ``Linear``), else None; the qualified name is checked by the caller."""
    name = call_name(call)
    if name in names:
        return name
    if isinstance(call.func, cst.Name):
        target = ctx.imports.aliases.get(call.func.value)
        if target:
            last = target.rsplit(".", 1)[-1]
            if last in names:
                return last
    return None


def torch_name(ctx) -> str | None:
    """The local name bound to the ``torch`` module, if any (``torch``, or an alias)."""
    aliases = ctx.imports.aliases
    if aliases.get("torch") == "torch":
        return "torch"
    for local, target in aliases.items():
        if target == "torch":
            return local
    return None


# ---------------------------------------------------------------------------------------------
# Entry points (NN505, and the NN6xx rules): ``if __name__ == "__main__":`` and the like
# ---------------------------------------------------------------------------------------------


def main_guard(module: cst.Module) -> cst.If | None:
    for stmt in module.body:
        if isinstance(stmt, cst.If) and isinstance(stmt.test, cst.Comparison):
            test = stmt.test
            names = {dotted_name(test.left)} | {dotted_name(c.comparator) for c in test.comparisons}
            strings = {string_value(test.left)} | {string_value(c.comparator) for c in test.comparisons}
            if "__name__" in names and "__main__" in strings:
                return stmt
    return None


class EntryInfo:
    """What a file does at its top: is it a script, where its training loop is, where to report."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.guard = main_guard(module)
        self.functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
        self.module_calls_local = False  # a module-level ``main()`` call: the file runs as a script
        self.module_backward: cst.CSTNode | None = None  # a module-level statement running backward()
        for stmt in module.body:
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) or stmt is self.guard:
                continue
            for node in expr_nodes(stmt):
                if isinstance(node, cst.Call):
                    name = call_name(node)
                    if isinstance(node.func, cst.Name) and name in self.functions:
                        self.module_calls_local = True
                    if name == "backward" and self.module_backward is None:
                        self.module_backward = stmt

    @property
    def is_script(self) -> bool:
        return self.guard is not None or self.module_calls_local or self.module_backward is not None

    def anchor(self, fallback: cst.CSTNode | None = None) -> cst.CSTNode | None:
        """Where to report a whole-file finding: the ``__main__`` guard, else ``def main``, else ``fallback``."""
        if self.guard is not None:
            return self.guard.test
        for name in ("main", "train", "run"):
            if name in self.functions:
                return self.functions[name].name
        if self.module_backward is not None:
            return self.module_backward
        return fallback


# ---------------------------------------------------------------------------------------------
# NN501 tensor-core-unfriendly-size
# ---------------------------------------------------------------------------------------------

_CONV = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
_LAZY_CONV = ("LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
              "LazyConvTranspose3d")
_RNN = ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell")
# Layer class -> (the sizes it produces: (position, keyword, label)), (the size it consumes).
_SIZE_LAYERS: dict[str, tuple[tuple[tuple[int, str, str], ...], tuple[int, str] | None]] = {
    "Linear": (((1, "out_features", "out_features"),), (0, "in_features")),
    "LazyLinear": (((0, "out_features", "out_features"),), None),
    **{c: (((1, "out_channels", "out_channels"),), (0, "in_channels")) for c in _CONV},
    **{c: (((0, "out_channels", "out_channels"),), None) for c in _LAZY_CONV},
    "Embedding": (((0, "num_embeddings", "num_embeddings"), (1, "embedding_dim", "embedding_dim")), None),
    "EmbeddingBag": (((0, "num_embeddings", "num_embeddings"), (1, "embedding_dim", "embedding_dim")), None),
    **{c: (((1, "hidden_size", "hidden_size"),), (0, "input_size")) for c in _RNN},
}
# Layers that only take a width from the layer before them (renamed with it by the fix).
_SIZE_CONSUMERS: dict[str, tuple[int, str]] = {
    "BatchNorm1d": (0, "num_features"), "BatchNorm2d": (0, "num_features"), "BatchNorm3d": (0, "num_features"),
    "SyncBatchNorm": (0, "num_features"), "InstanceNorm1d": (0, "num_features"),
    "InstanceNorm2d": (0, "num_features"), "InstanceNorm3d": (0, "num_features"),
    "LayerNorm": (0, "normalized_shape"), "RMSNorm": (0, "normalized_shape"), "GroupNorm": (1, "num_channels"),
}
_SIZE_ALL = frozenset(_SIZE_LAYERS) | frozenset(_SIZE_CONSUMERS)
# A lookup table is a gather: only a vocabulary (tied to, or as large as, an output projection) matters.
_SIZE_VOCAB_MIN = 1024


_SIZE_LITERAL_CALL = re.compile(
    r"(?:Linear|Conv[123]d|ConvTranspose[123]d|Embedding|EmbeddingBag|LSTM|GRU|RNN|Cell)\(\s*"
    r"(?:\w+\s*=\s*)?(?:[\w.]+\s*,\s*(?:\w+\s*=\s*)?)?\d"
)


def _size_padded(value: int) -> int:
    step = 64 if value >= 1024 else 8
    return -(-value // step) * step


def _size_layer(ctx, call: cst.Call) -> str | None:
    """The torch.nn class name of a layer call we judge sizes of (or that consumes a size), else None."""
    name = resolved_last(ctx, call, _SIZE_ALL)
    if name is None:
        return None
    qual = ctx.qualname(call.func)
    if not qual or not qual.startswith("torch.nn.") or qual.rsplit(".", 1)[-1] != name:
        return None
    return name


def _size_literals(ctx, scope: cst.CSTNode, value: int) -> list[cst.Integer]:
    """Every layer-size literal equal to ``value`` in ``scope``: produced and consumed widths."""
    out: list[cst.Integer] = []
    for node in all_nodes(scope):
        if not isinstance(node, cst.Call):
            continue
        layer = _size_layer(ctx, node)
        if layer is None:
            continue
        slots = list(_SIZE_LAYERS[layer][0]) if layer in _SIZE_LAYERS else []
        consumer = _SIZE_LAYERS[layer][1] if layer in _SIZE_LAYERS else _SIZE_CONSUMERS[layer]
        positions = [(i, kw) for i, kw, _ in slots] + ([consumer] if consumer else [])
        for index, keyword in positions:
            lit = arg(node, index, keyword)
            if isinstance(lit, cst.Integer) and int_value(lit) == value:
                out.append(lit)
    return out


class TensorCoreUnfriendlySize(Rule):
    """Flags layer widths written as literals that are not multiples of 8.

    ## What it does
    Reads the literal sizes a layer produces: `out_features` of `nn.Linear`/`nn.LazyLinear`,
    `out_channels` of `nn.Conv1d/2d/3d` and `nn.ConvTranspose*d`, `hidden_size` of
    `nn.LSTM`/`nn.GRU`/`nn.RNN` (and their cells), `embedding_dim` and the vocabulary size
    `num_embeddings` of `nn.Embedding`/`nn.EmbeddingBag`. A size that is not a multiple of 8 is
    reported with the padded value: the next multiple of 64 from 1024 up (50257 -> 50304, as in
    nanoGPT), else the next multiple of 8.

    Input widths (`in_features`, `in_channels`, `input_size`) are not judged: they are either the data
    (an RGB stem, a 300-d word vector) or the output of the layer before, which is judged there. Also
    silent: sizes below `min-size` (classifier heads with 10 or 100 classes, small convs), sizes that
    are not integer literals, grouped/depthwise convolutions (`groups=` other than 1), vocabularies
    below 1024 (a small lookup table is a gather, not a matmul), and classes that only share a name
    with `torch.nn` layers.

    ## Why is this bad?
    Tensor Cores multiply tiles whose sides are multiples of 8 elements in 16-bit precision (16 bytes).
    A GEMM or convolution with an odd dimension runs padded internally or falls back to slower
    kernels: a GPT-2 head with 50257 outputs is measurably slower than one with 50304. Padding a
    width costs a few parameters and leaves the results of the used units unchanged.

    ## Example
    ```python
    self.wte = nn.Embedding(50257, 768)
    self.lm_head = nn.Linear(768, 50257, bias=False)
    ```

    ## Use instead
    ```python
    self.wte = nn.Embedding(50304, 768)  # padded vocabulary; the extra rows are never looked up
    self.lm_head = nn.Linear(768, 50304, bias=False)
    ```

    ## Options
    - `min-size` (default 128): sizes below it are not reported (small heads and layers whose cost
      does not matter).

    ## Fix safety
    Unsafe: padding changes the model (its parameter count, checkpoints, and the width of a
    classifier's output). The fix replaces the literal in the reported layer and every layer-size
    literal with the same value in the same function (the next layer's `in_features`, a
    `BatchNorm1d`/`LayerNorm` width), so the model stays shape-consistent.
    """

    code = "NN501"
    name = "tensor-core-unfriendly-size"
    message = "layer size is not a multiple of 8, so Tensor Core kernels run padded; pad it"
    requires = (
        (
            "Linear(", "Conv1d(", "Conv2d(", "Conv3d(", "ConvTranspose", "Embedding(", "EmbeddingBag(", "LSTM(",
            "GRU(", "RNN(", "Cell(",
        ),
    )
    options = {"min-size": 128}
    fixable = True

    @classmethod
    def applies_to(cls, text: str) -> bool:
        # Cheaper than parsing every model class: a layer call with a number in its first two arguments.
        return super().applies_to(text) and _SIZE_LITERAL_CALL.search(text) is not None

    def visit_Call(self, node: cst.Call) -> None:
        name = _size_layer(self.ctx, node)
        if name not in _SIZE_LAYERS or any(a.star == "*" for a in node.args):
            return
        if name in _CONV or name in _LAZY_CONV:
            groups = arg(node, 6 if name in _CONV else 5, "groups")
            if groups is not None and int_value(groups) != 1:
                return
        minimum = int(self.config.get("min-size", 128))
        for index, keyword, label in _SIZE_LAYERS[name][0]:
            if name in _LAZY_CONV or name == "LazyLinear":
                index = 0
            lit = arg(node, index, keyword)
            value = int_value(lit) if isinstance(lit, cst.Integer) else None
            if value is None or value % 8 == 0 or value < minimum:
                continue
            if keyword == "num_embeddings" and value < _SIZE_VOCAB_MIN:
                continue
            padded = _size_padded(value)
            scope = self.ctx.function or self.ctx.klass or self.ctx.module
            edits = [(lit_node, str(padded)) for lit_node in _size_literals(self.ctx, scope, value)]
            if not any(e[0] is lit for e in edits):
                edits.append((lit, str(padded)))
            self.report(
                lit,
                f"nn.{name} {label}={value} is not a multiple of 8, so its Tensor Core kernels run padded "
                f"or fall back; pad it to {padded}",
                fix=self.fix("unsafe", *edits, description=f"pad {value} to {padded}"),
            )

    VALID = [
        # Aligned sizes: 768/3072/1000/50304, an MLP with 1000-3000 units.
        """
        import torch.nn as nn

        class GPTBlock(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(50304, 768)
                self.fc = nn.Linear(768, 3072)
                self.proj = nn.Linear(3072, 768)
                self.mlp = nn.Sequential(nn.Linear(1000, 3000), nn.ReLU(), nn.Linear(3000, 1000))
        """,
        # Small classifier heads and LeNet-sized convs: below min-size.
        """
        import torch.nn as nn

        class LeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 6, 5)
                self.conv2 = nn.Conv2d(6, 16, 5)
                self.fc1 = nn.Linear(16 * 5 * 5, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)
        """,
        # Input widths are the data's (MNIST 784 pixels, a 3-channel stem, 300-d GloVe vectors).
        """
        import torch.nn as nn

        encoder = nn.LSTM(300, 256, batch_first=True)
        stem = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        mlp = nn.Sequential(nn.Linear(781, 512), nn.ReLU(), nn.Linear(512, 10))
        """,
        # Sizes that are not literals.
        """
        import torch.nn as nn

        class Head(nn.Module):
            def __init__(self, hidden_size, vocab_size):
                super().__init__()
                self.dense = nn.Linear(hidden_size, hidden_size)
                self.decoder = nn.Linear(hidden_size, vocab_size)
                self.emb = nn.Embedding(vocab_size, hidden_size)
        """,
        # A depthwise conv: the alignment is per group.
        """
        from torch import nn

        dw = nn.Conv2d(200, 200, 3, padding=1, groups=200)
        """,
        # A small lookup table (categorical feature with 500 values) and an aligned embedding dim.
        """
        import torch.nn as nn

        store_embedding = nn.Embedding(500, 16)
        """,
        # Not torch.nn: a user class and another library.
        """
        import torch.nn as nn
        from mylib.layers import Linear

        proj = Linear(768, 50257)
        """,
        # min-size raised: 500 hidden units are left alone.
        Valid(
            """
            import torch.nn as nn

            net = nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 10))
            """,
            options={"min-size": 1024},
        ),
        # The fixed forms.
        """
        import torch.nn as nn

        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(50304, 768)
                self.lm_head = nn.Linear(768, 50304, bias=False)
        """,
        """
        import torch.nn as nn

        net = nn.Sequential(nn.Linear(784, 504), nn.BatchNorm1d(504), nn.ReLU(), nn.Linear(504, 10))
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            class GPT(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.wte = nn.Embedding(50257, 768)
                    self.lm_head = nn.Linear(768, 50257, bias=False)
            """,
            count=2,
            message_contains="pad it to 50304",
            fixed="""
            import torch.nn as nn

            class GPT(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.wte = nn.Embedding(50304, 768)
                    self.lm_head = nn.Linear(768, 50304, bias=False)
            """,
        ),
        # A hidden width of 500: the next layer's in_features and the batch norm follow the fix.
        Invalid(
            """
            import torch.nn as nn

            net = nn.Sequential(nn.Linear(784, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Linear(500, 10))
            """,
            line=4,
            message_contains="out_features=500",
            fixed="""
            import torch.nn as nn

            net = nn.Sequential(nn.Linear(784, 504), nn.BatchNorm1d(504), nn.ReLU(), nn.Linear(504, 10))
            """,
        ),
        # Keyword forms, an alias import, a conv output of 255 channels (a YOLO head).
        Invalid(
            """
            from torch import nn as tnn

            head = tnn.Conv2d(in_channels=256, out_channels=255, kernel_size=1)
            """,
            line=4,
            message_contains="pad it to 256",
        ),
        # Imported class, LSTM hidden size, BERT's vocabulary as a keyword.
        Invalid(
            """
            from torch.nn import LSTM, Embedding

            class Encoder:
                def __init__(self):
                    self.embed = Embedding(num_embeddings=30522, embedding_dim=768)
                    self.rnn = LSTM(768, 650, num_layers=2)
            """,
            count=2,
        ),
        # An embedding dim of 300 in a text classifier.
        Invalid(
            """
            import torch.nn as nn

            class TextCNN(nn.Module):
                def __init__(self, vocab_size):
                    super().__init__()
                    self.embedding = nn.Embedding(vocab_size, 300)
                    self.fc = nn.Linear(300, 2)
            """,
            line=7,
            fixed="""
            import torch.nn as nn

            class TextCNN(nn.Module):
                def __init__(self, vocab_size):
                    super().__init__()
                    self.embedding = nn.Embedding(vocab_size, 304)
                    self.fc = nn.Linear(304, 2)
            """,
        ),
        # A wide hidden layer: next multiple of 64 from 1024 up.
        Invalid(
            """
            import torch.nn as nn

            def make_mlp():
                return nn.Sequential(nn.Linear(1024, 1500), nn.GELU(), nn.Linear(1500, 1024))
            """,
            message_contains="pad it to 1536",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN502 dataloader-without-workers / NN503 dataloader-without-pin-memory
# ---------------------------------------------------------------------------------------------

_LOADER_QUALNAMES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_MOVE_DEVICE_WORD = re.compile(r"(^|_)(device|dev|gpu|cuda|rank)(_|$|\d)", re.IGNORECASE)


def device_like(ctx, expr: cst.BaseExpression | None) -> bool:
    """Whether an argument of ``.to(...)`` names a GPU device (not a dtype, not "cpu")."""
    if expr is None:
        return False
    text = string_value(expr)
    if text is not None:
        return text.startswith(("cuda", "mps", "xpu"))
    if isinstance(expr, cst.FormattedString):
        first = expr.parts[0] if expr.parts else None
        return isinstance(first, cst.FormattedStringText) and first.value.startswith("cuda")
    if isinstance(expr, cst.Integer):
        return True
    if isinstance(expr, cst.Call):
        if ctx.qualname(expr.func) != "torch.device":
            return False
        first = string_value(arg(expr, 0, "type"))
        return first is None or first != "cpu"
    if isinstance(expr, cst.Attribute):
        last = expr.attr.value
    elif isinstance(expr, cst.Name):
        last = expr.value
    else:
        return False
    return bool(_MOVE_DEVICE_WORD.search(last)) and "dtype" not in last.lower()


def moves_to_device(ctx, expr: cst.CSTNode) -> bool:
    """Whether ``expr`` holds a ``.cuda()``/``.to(<device>)`` call or a ``device=`` argument."""
    for node in expr_nodes(expr):
        if isinstance(node, cst.Call):
            name = call_name(node)
            if name == "cuda" and isinstance(node.func, cst.Attribute):
                return True
            if name == "to" and isinstance(node.func, cst.Attribute):
                if device_like(ctx, arg(node, 0, "device")):
                    return True
        elif isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == "device":
            return True
    return False


def _loader_dataset_on_device(ctx, call: cst.Call) -> bool:
    """The loader's dataset holds tensors already on the GPU (``TensorDataset(x.cuda(), ...)``): workers
    cannot touch them and they cannot be pinned."""
    dataset = arg(call, 0, "dataset")
    if dataset is None:
        return False
    scope = ctx.function or ctx.module
    pending, seen = [dataset], set()
    for _ in range(3):
        names: list[str] = []
        for expr in pending:
            if moves_to_device(ctx, expr):
                return True
            names.extend(n.value for n in expr_nodes(expr) if isinstance(n, cst.Name) and n.value not in seen)
        if not names:
            return False
        seen.update(names)
        pending = []
        for node in expr_nodes(scope) if scope is not ctx.module else all_nodes(scope):
            if isinstance(node, cst.Assign) and any(dotted_name(t.target) in names for t in node.targets):
                pending.append(node.value)
    return False


def _loader_in_memory(ctx, call: cst.Call) -> bool:
    """The loader reads a ``TensorDataset`` (tensors already in memory: indexing them is cheap, and
    worker processes would only add inter-process copies)."""
    dataset = arg(call, 0, "dataset")
    if isinstance(dataset, cst.Call):
        return resolved_last(ctx, dataset, ("TensorDataset",)) is not None
    name = dotted_name(dataset) if dataset is not None else None
    if name is None:
        return False
    scope = ctx.function or ctx.module
    for node in expr_nodes(scope) if scope is not ctx.module else all_nodes(scope):
        if isinstance(node, cst.Assign) and any(dotted_name(t.target) == name for t in node.targets):
            if isinstance(node.value, cst.Call) and resolved_last(ctx, node.value, ("TensorDataset",)):
                return True
    return False


class _LoaderRule(Rule):
    """Shared checks of NN502/NN503: a torch DataLoader in a file that feeds a CUDA device."""

    _cuda: bool | None = None

    def loader_call(self, node: cst.Call) -> bool:
        if resolved_last(self.ctx, node, ("DataLoader",)) is None or has_star_args(node):
            return False
        if self.ctx.qualname(node.func) not in _LOADER_QUALNAMES:
            return False
        if self._cuda is None:
            self._cuda = uses_cuda(self.ctx.source) and not is_test_path(self.ctx.path)
        return self._cuda and not _loader_dataset_on_device(self.ctx, node)


class DataloaderWithoutWorkers(_LoaderRule):
    """Flags a `DataLoader` that loads batches in the training process of a CUDA script.

    ## What it does
    Finds `torch.utils.data.DataLoader(...)` calls (under any import alias) without `num_workers`, or
    with a literal `num_workers=0` (keyword or the sixth positional argument), in a file whose data
    goes to a CUDA device (`.cuda()`, `.to("cuda")`, `torch.device("cuda" ...)`,
    `torch.cuda.is_available()`).

    Silent: any other `num_workers` value (`4`, `args.workers`, `os.cpu_count()`), loaders given
    `**kwargs`, loaders over a `TensorDataset` without `num_workers` (in-memory tensors: workers would
    only add inter-process copies), files with no CUDA in sight, test files, datasets whose tensors are already on the GPU
    (`TensorDataset(x.cuda(), y.cuda())`: workers could not touch them), and other libraries'
    `DataLoader` classes (PyG, DGL).

    ## Why is this bad?
    With `num_workers=0` (the default) every batch is read, decoded and augmented in the main process,
    between two training steps, while the GPU waits. Image pipelines are often bound by this: the GPU
    sits idle for most of each step.

    ## Example
    ```python
    device = torch.device("cuda")
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    ```

    ## Use instead
    ```python
    device = torch.device("cuda")
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8, pin_memory=True,
                        persistent_workers=True)
    ```

    No fix: the right number of workers depends on the machine (its CPU cores, memory, and whether the
    dataset can be pickled into worker processes).
    """

    code = "NN502"
    name = "dataloader-without-workers"
    message = "DataLoader without num_workers loads every batch in the training process while the GPU waits; set num_workers"
    requires = ("DataLoader", "cuda")

    def visit_Call(self, node: cst.Call) -> None:
        if not self.loader_call(node):
            return
        workers = arg(node, 5, "num_workers")
        if workers is None:
            if not _loader_in_memory(self.ctx, node):
                self.report(node)
        elif isinstance(workers, cst.Integer) and int_value(workers) == 0:
            self.report(
                workers,
                "DataLoader with num_workers=0 loads every batch in the training process while the GPU waits; "
                "use worker processes",
            )

    VALID = [
        """
        import torch
        from torch.utils.data import DataLoader

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)
        """,
        # Workers from a variable, positional num_workers.
        """
        import torch
        import torch.utils.data as tud

        def loaders(args, train_set, val_set):
            train = tud.DataLoader(train_set, args.batch_size, True, None, None, args.workers)
            val = tud.DataLoader(val_set, batch_size=256, num_workers=args.workers)
            return train, val

        model = Net().cuda()
        """,
        # Workers from an expression.
        """
        import os
        import torch
        from torch.utils.data import DataLoader

        loader = DataLoader(ds, batch_size=64, num_workers=min(8, os.cpu_count() or 1), pin_memory=True)
        model = Net().cuda()
        """,
        # No CUDA anywhere: a CPU script.
        """
        from torch.utils.data import DataLoader

        loader = DataLoader(dataset, batch_size=32, shuffle=True)
        for x, y in loader:
            loss = model(x, y)
        """,
        # Another library's DataLoader.
        """
        import torch
        from torch_geometric.loader import DataLoader

        loader = DataLoader(graphs, batch_size=32)
        model = GCN().cuda()
        """,
        # Settings passed through **kwargs.
        """
        import torch
        from torch.utils.data import DataLoader

        kwargs = {"num_workers": 4, "pin_memory": True} if torch.cuda.is_available() else {}
        loader = DataLoader(dataset, batch_size=32, **kwargs)
        """,
        # The dataset already lives on the GPU.
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        x = torch.randn(1000, 10).cuda()
        y = torch.randn(1000, 1).cuda()
        ds = TensorDataset(x, y)
        loader = DataLoader(ds, batch_size=100, shuffle=True)
        """,
        # An in-memory TensorDataset (d2l's load_array).
        """
        import torch
        from torch.utils import data

        def load_array(data_arrays, batch_size, is_train=True):
            dataset = data.TensorDataset(*data_arrays)
            return data.DataLoader(dataset, batch_size, shuffle=is_train)

        def try_gpu(i=0):
            return torch.device(f"cuda:{i}") if torch.cuda.device_count() >= i + 1 else torch.device("cpu")
        """,
        # A test file.
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader

            def test_loader():
                loader = DataLoader(range(10), batch_size=2)
                assert next(iter(loader)).cuda() is not None
            """,
            path="tests/test_data.py",
        ),
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader

            device = torch.device("cuda")
            loader = DataLoader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
            """,
            line=6,
        ),
        # Explicit num_workers=0, module alias.
        Invalid(
            """
            import torch.utils.data as data

            def build(train_set):
                return data.DataLoader(train_set, batch_size=32, num_workers=0, pin_memory=True)

            model = Model().cuda()
            """,
            line=5,
            message_contains="num_workers=0",
        ),
        # Fully qualified, a device string in a helper.
        Invalid(
            """
            import torch

            def main():
                model = Net().to("cuda:0")
                train_loader = torch.utils.data.DataLoader(
                    datasets.MNIST("data", train=True, download=True, transform=transform),
                    batch_size=64,
                    shuffle=True,
                )
            """,
            line=6,
        ),
        # A trainer class: the loader built in a method, the device an attribute.
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader

            class Trainer:
                def __init__(self, cfg, train_set):
                    self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
                    self.train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True)

                def fit(self, model):
                    for x, y in self.train_loader:
                        model(x.to(self.device), y.to(self.device))
            """,
            line=8,
        ),
        # Positional literal 0 workers.
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader as DL

            use_cuda = torch.cuda.is_available()
            loader = DL(ds, 128, True, None, None, 0)
            """,
            message_contains="num_workers=0",
        ),
    ]


class DataloaderWithoutPinMemory(_LoaderRule):
    """Flags a `DataLoader` feeding a CUDA device without `pin_memory=True`.

    ## What it does
    Finds `torch.utils.data.DataLoader(...)` calls without `pin_memory`, or with a literal
    `pin_memory=False`, in a file whose data goes to a CUDA device (the same evidence as NN502).

    Silent: `pin_memory=True`, a non-literal value (`pin_memory=torch.cuda.is_available()`,
    `args.pin_mem`), loaders given `**kwargs`, files with no CUDA in sight, test files, datasets whose
    tensors are already on the GPU (they cannot be pinned), and other libraries' `DataLoader` classes.

    ## Why is this bad?
    Batches in pageable host memory are first copied into a pinned staging buffer by the driver, then
    to the GPU, synchronously. With `pin_memory=True` the loader hands over page-locked batches: the
    host-to-device copy is faster and can overlap compute with `.to(device, non_blocking=True)`.

    ## Example
    ```python
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8)
    for x, y in loader:
        x, y = x.cuda(), y.cuda()
    ```

    ## Use instead
    ```python
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8, pin_memory=True)
    for x, y in loader:
        x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
    ```

    ## Fix safety
    Safe: pinning changes where the batch lives in host memory, not its values; without a GPU at run
    time the loader warns and skips pinning.
    """

    code = "NN503"
    name = "dataloader-without-pin-memory"
    message = "DataLoader feeding a CUDA device without pin_memory=True copies batches from pageable memory; pass pin_memory=True"
    requires = ("DataLoader", "cuda")
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        if not self.loader_call(node):
            return
        pin = arg(node, 7, "pin_memory")
        if pin is None:
            new = render(self.ctx, with_arg(node, kwarg("pin_memory", "True")))
            fix = self.fix("safe", (node, new), description="pin_memory=True")
            self.report(node, fix=fix)
        elif isinstance(pin, cst.Name) and pin.value == "False":
            fix = self.fix("safe", (pin, "True"), description="pin_memory=True")
            self.report(pin, fix=fix)

    VALID = [
        """
        import torch
        from torch.utils.data import DataLoader

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)
        """,
        # A non-literal setting; positional pin_memory=True.
        """
        import torch
        from torch.utils.data import DataLoader

        loader = DataLoader(ds, batch_size=8, num_workers=2, pin_memory=torch.cuda.is_available())
        other = DataLoader(ds, 8, False, None, None, 2, None, True)
        """,
        # A CPU-only script.
        """
        from torch.utils.data import DataLoader

        loader = DataLoader(dataset, batch_size=32, num_workers=4)
        """,
        # **kwargs, another library.
        """
        import torch
        from torch.utils.data import DataLoader
        from monai.data import DataLoader as MonaiLoader

        kwargs = {"num_workers": 1, "pin_memory": True} if torch.cuda.is_available() else {}
        a = DataLoader(ds, batch_size=32, **kwargs)
        b = MonaiLoader(ds, batch_size=2)
        """,
        # GPU-resident dataset: pinning would fail.
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        device = "cuda"
        X = torch.randn(100, 4).to(device)
        loader = DataLoader(TensorDataset(X, X.sum(1)), batch_size=10, num_workers=0)
        """,
        # The fixed forms.
        """
        import torch
        from torch.utils.data import DataLoader

        model = Net().cuda()
        loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)
        """,
        """
        import torch
        from torch.utils.data import DataLoader

        model = Net().cuda()
        loader = DataLoader(
            train_set,
            batch_size=64,
            num_workers=4,
            pin_memory=True,
        )
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader

            model = Net().cuda()
            loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)
            """,
            line=6,
            fixed="""
            import torch
            from torch.utils.data import DataLoader

            model = Net().cuda()
            loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)
            """,
        ),
        # One argument per line with a trailing comma.
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader

            model = Net().cuda()
            loader = DataLoader(
                train_set,
                batch_size=64,
                num_workers=4,
            )
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader

            model = Net().cuda()
            loader = DataLoader(
                train_set,
                batch_size=64,
                num_workers=4,
                pin_memory=True,
            )
            """,
        ),
        # Literal False, qualified name, device from torch.device.
        Invalid(
            """
            import torch

            device = torch.device("cuda:0")
            loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=8, pin_memory=False)
            """,
            line=5,
            fixed="""
            import torch

            device = torch.device("cuda:0")
            loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=8, pin_memory=True)
            """,
        ),
        # Inside a function, an aliased module import.
        Invalid(
            """
            import torch
            from torch.utils import data as tdata

            def get_loader(ds, bs):
                return tdata.DataLoader(ds, bs, shuffle=True, num_workers=4)

            if torch.cuda.is_available():
                model.cuda()
            """,
            line=6,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN504 cpu-tensor-moved-in-loop
# ---------------------------------------------------------------------------------------------

_MOVE_FACTORIES = frozenset(
    {
        "zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "tensor", "as_tensor",
        "zeros_like", "ones_like", "empty_like", "full_like",
    }
)
_MOVE_RANDOM = frozenset({"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like"})


_MOVE_ALL = _MOVE_FACTORIES | _MOVE_RANDOM


def _move_factory(ctx, expr: cst.BaseExpression) -> str | None:
    """``zeros`` for ``torch.zeros(...)`` (through imports), else None."""
    if not isinstance(expr, cst.Call):
        return None
    name = resolved_last(ctx, expr, _MOVE_ALL)
    if name is None:
        return None
    if ctx.qualname(expr.func) != f"torch.{name}":
        return None
    if arg(expr, None, "device") is not None or any(a.star == "**" for a in expr.args):
        return None
    return name


def _move_target(ctx, call: cst.Call) -> tuple[bool, str | None]:
    """(is a move to a GPU, the device= source text when the move has no other effect) for ``.to``/``.cuda``."""
    name = call_name(call)
    extra = [a for a in call.args if not (a.keyword is not None and a.keyword.value == "non_blocking")]
    if name == "cuda":
        if not extra:
            return True, '"cuda"'
        if len(extra) == 1 and (extra[0].keyword is None or extra[0].keyword.value == "device"):
            value = extra[0].value
            if isinstance(value, cst.Integer):
                return True, f'"cuda:{int_value(value)}"'
            return True, None
        return True, None
    device = arg(call, 0, "device")
    if not device_like(ctx, device):
        return False, None
    if len(extra) == 1 and not extra[0].star:
        return True, ctx.code(device)
    return True, None


class CpuTensorMovedInLoop(Rule):
    """Flags tensors created on the CPU and moved to the GPU on every iteration of a loop.

    ## What it does
    Inside the body of a `for`/`while` loop or a comprehension, finds a torch factory call
    (`torch.zeros/ones/empty/full/arange/linspace/eye/tensor/as_tensor/rand/randn/randint/randperm`
    and the `*_like` forms) immediately moved with `.cuda()` or `.to(<device>)`, in one expression
    (`torch.zeros(n).to(device)`) or over two statements (`t = torch.arange(n)` then
    `t = t.to(device)`).

    `.to(...)` counts as a move when its argument names a device: a `"cuda..."` string, an int, a
    `torch.device(...)`, `x.device`, or a name such as `device`, `dev`, `gpu`, `local_rank`. Silent:
    `.to(torch.float16)` and other dtype casts, `.to("cpu")`, `torch.from_numpy(a).to(device)` (the
    data is on the host; there is nothing to create on the device), factories already given a
    `device=`, code outside loops, and loops in `__init__` (they run once).

    ## Why is this bad?
    Each iteration allocates the tensor in host memory, fills it on the CPU, and copies it to the GPU
    through a synchronous host-to-device transfer. Created with `device=` a constant or random tensor
    (`zeros`, `arange`, `randn`, ...) is allocated and filled on the GPU, without the copy or the sync.
    For `torch.tensor(data)`/`as_tensor(data)` the host data still has to travel, but in one step,
    without the intermediate CPU tensor.

    ## Example
    ```python
    for x, y in loader:
        mask = torch.ones(x.size(0), 1).to(device)
        noise = torch.randn(x.shape).cuda()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        mask = torch.ones(x.size(0), 1, device=device)
        noise = torch.randn(x.shape, device="cuda")
    ```

    ## Fix safety
    For `factory(...).to(device)`/`.cuda()` with nothing but a device (and `non_blocking`), the fix
    passes `device=` to the factory. Safe for deterministic factories (`zeros`, `arange`, `tensor`,
    ...): the values are the same. Unsafe for random ones (`rand`, `randn`, ...): the draws then come
    from the CUDA generator, so a seeded run produces different numbers. No fix when `.to` also
    changes the dtype, when the factory sets `requires_grad` (the moved tensor is not a leaf; creating
    it on the device changes what receives the gradient), or for the two-statement form.
    """

    code = "NN504"
    name = "cpu-tensor-moved-in-loop"
    message = "tensor created on the CPU and moved to the GPU on every iteration; create it on the device (device=...)"
    requires = ((".to(", ".cuda("),)
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node)
        if name not in ("to", "cuda") or not isinstance(node.func, cst.Attribute):
            return
        receiver = node.func.value
        factory = _move_factory(self.ctx, receiver)
        if factory is None and not isinstance(receiver, cst.Name):
            return
        is_move, device = _move_target(self.ctx, node)
        if not is_move or not in_loop(self.ctx.stack, node, skip_init=True):
            return
        if factory is None:
            self._split_form(node, receiver)
            return
        assert isinstance(receiver, cst.Call)
        grad = arg(receiver, None, "requires_grad")
        fix = None
        if device is not None and grad is None:
            new = render(self.ctx, with_arg(receiver, kwarg("device", device)))
            applicability = "unsafe" if factory in _MOVE_RANDOM else "safe"
            fix = self.fix(applicability, (node, new), description=f"create with device={device}")
        self.report(
            node,
            f"torch.{factory}(...) is created on the CPU and copied to the GPU inside a loop; "
            f"pass device=... to torch.{factory} instead",
            fix=fix,
        )

    def _split_form(self, node: cst.Call, receiver: cst.Name) -> None:
        """``t = torch.zeros(n)`` then ``t.to(device)`` a few statements later in the same block."""
        stack = self.ctx.stack
        for i in range(len(stack) - 1, 0, -1):
            block = stack[i]
            if isinstance(block, (cst.IndentedBlock, cst.Module)):
                stmt = stack[i + 1] if i + 1 < len(stack) else None
                break
            if isinstance(block, NESTED_SCOPES):
                return
        else:
            return
        if stmt is None:
            return
        body = list(block.body)
        try:
            index = next(k for k, s in enumerate(body) if s is stmt)
        except StopIteration:
            return
        name = receiver.value
        for prev in reversed(body[:index]):
            if isinstance(prev, cst.SimpleStatementLine) and len(prev.body) == 1 and isinstance(prev.body[0], cst.Assign):
                assign = prev.body[0]
                if len(assign.targets) == 1 and dotted_name(assign.targets[0].target) == name:
                    factory = _move_factory(self.ctx, assign.value)
                    if factory is not None:
                        self.report(
                            node,
                            f"{name} = torch.{factory}(...) is created on the CPU and copied to the GPU inside a "
                            f"loop; pass device=... to torch.{factory} instead",
                        )
                    return
            if any(isinstance(n, cst.Name) and n.value == name for n in all_nodes(prev)):
                return

    VALID = [
        # Created on the device.
        """
        import torch

        def train(model, loader, device):
            for x, y in loader:
                mask = torch.ones(x.size(0), 1, device=device)
                noise = torch.randn(x.shape, device=x.device)
                loss = model(x.to(device) * mask + noise, y.to(device))
        """,
        # A dtype cast, a move to the CPU, from_numpy (host data).
        """
        import torch

        for batch in loader:
            w = torch.ones(4).to(torch.float16)
            idx = torch.arange(10).to("cpu")
            x = torch.from_numpy(batch["x"]).to(device)
        """,
        # Outside any loop: once.
        """
        import torch

        device = torch.device("cuda")
        pos = torch.arange(512).to(device)
        for x in loader:
            y = model(x.to(device), pos)
        """,
        # The iterable of a for loop is evaluated once; a loop in __init__ runs once.
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.masks = [torch.zeros(n).cuda() for _ in range(3)]

        for i in torch.arange(10).cuda():
            print(i)
        """,
        # Not torch, and a tensor used on the CPU before it is moved.
        """
        import numpy as np
        import torch

        for step in range(100):
            a = np.zeros(3)
            t = torch.zeros(3)
            t[0] = step
            t = t.to(device)
        """,
        # A moved batch, not a freshly created tensor.
        """
        for images, labels in loader:
            images = images.to(device)
            labels = labels.cuda(non_blocking=True)
        """,
        # The fixed forms.
        """
        import torch

        for x, y in loader:
            mask = torch.ones(x.size(0), 1, device=device)
            labels = torch.tensor(y, dtype=torch.long, device="cuda")
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            for x, y in loader:
                mask = torch.ones(x.size(0), 1).to(device)
                labels = torch.tensor(y, dtype=torch.long).cuda()
            """,
            count=2,
            fixed="""
            import torch

            for x, y in loader:
                mask = torch.ones(x.size(0), 1, device=device)
                labels = torch.tensor(y, dtype=torch.long, device="cuda")
            """,
        ),
        # Random factories: an unsafe fix (different generator); .to(device=...) keyword.
        Invalid(
            """
            import torch as th

            def train(model, loader, opt, dev):
                for x in loader:
                    z = th.randn(x.size(0), 128).to(device=dev)
                    loss = model(x.to(dev), z)
            """,
            line=6,
            fixed="""
            import torch as th

            def train(model, loader, opt, dev):
                for x in loader:
                    z = th.randn(x.size(0), 128, device=dev)
                    loss = model(x.to(dev), z)
            """,
        ),
        # A while loop, .cuda(0), an imported factory.
        Invalid(
            """
            from torch import arange

            step = 0
            while step < 100:
                positions = arange(seq_len).cuda(0)
                step += 1
            """,
            line=6,
            fixed="""
            from torch import arange

            step = 0
            while step < 100:
                positions = arange(seq_len, device="cuda:0")
                step += 1
            """,
        ),
        # Two statements: created, then moved.
        Invalid(
            """
            import torch

            def run(model, loader, device):
                for x, y in loader:
                    target = torch.zeros(x.size(0), 10)
                    target[range(len(y)), y] = 1
                    onehot = torch.zeros(x.size(0), 10)
                    onehot = onehot.to(device)
                    model(x.to(device), onehot)
            """,
            line=9,
        ),
        # A dtype passed to .to too: reported without a fix; x.device as the target.
        Invalid(
            """
            import torch

            for x in loader:
                scale = torch.tensor(2.0).to(x.device, torch.float16)
            """,
            line=5,
        ),
        # In a comprehension inside a training step.
        Invalid(
            """
            import torch

            def step(batch, device):
                return [torch.tensor(seq).to(device) for seq in batch]
            """,
            line=5,
            fixed="""
            import torch

            def step(batch, device):
                return [torch.tensor(seq, device=device) for seq in batch]
            """,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN505 cudnn-benchmark-unset
# ---------------------------------------------------------------------------------------------

_DETECTION_PACKAGES = ("torchvision.models.detection", "torchvision.models.segmentation",
                       "torchvision.models.video", "torchvision.models.optical_flow")


class CudnnBenchmarkUnset(Rule):
    """Advises `torch.backends.cudnn.benchmark = True` for a convolutional training script.

    ## What it does
    Reports once per file, on the entry point, a training script (a `__main__` guard or module-level
    training code, a `backward()` call, CUDA in use) that builds `nn.Conv2d` layers or a torchvision
    classification model and never mentions `cudnn.benchmark`.

    Silent: files that set `cudnn.benchmark` (to anything) or ask for determinism
    (`cudnn.deterministic`, `use_deterministic_algorithms`), detection/segmentation/video models
    (their input sizes vary), library modules, CPU scripts.

    Off by default: it is advice, and it cannot see whether input sizes are fixed. With varying
    sizes (multi-scale training, variable-length audio) benchmark mode re-tunes for every new shape
    and is slower. Enable it with `--select NN505`.

    ## Why is this bad?
    With `benchmark = True` cuDNN times the available convolution algorithms for each input shape on
    first use and keeps the fastest; for a fixed-size convolutional net this is often a 10-30%
    speed-up, for free. The default picks an algorithm by heuristics.

    ## Example
    ```python
    if __name__ == "__main__":
        model = torchvision.models.resnet50().cuda()
        train(model, loader)
    ```

    ## Use instead
    ```python
    if __name__ == "__main__":
        torch.backends.cudnn.benchmark = True
        model = torchvision.models.resnet50().cuda()
        train(model, loader)
    ```
    """

    code = "NN505"
    name = "cudnn-benchmark-unset"
    message = "convolutional training script never sets torch.backends.cudnn.benchmark = True; for fixed input sizes it picks the fastest kernels"
    requires = ("backward", "cuda", ("Conv2d", "models"))
    default_enabled = False

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.conv: cst.CSTNode | None = None
        self.backward: cst.CSTNode | None = None

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node)
        if name == "backward":
            if self.backward is None:
                self.backward = node
            return
        if self.conv is not None or name is None:
            return
        if name == "Conv2d" or name[:1].islower():
            qual = self.ctx.qualname(node.func)
            if not qual:
                return
            if qual == "torch.nn.Conv2d" or (
                qual.startswith("torchvision.models.") and not qual.startswith(_DETECTION_PACKAGES)
                and qual.count(".") == 2 and name[:1].islower()
            ):
                self.conv = node

    def leave_Module(self, node: cst.Module) -> None:
        if self.conv is None or self.backward is None:
            return
        source = self.ctx.source
        if "benchmark" in source or "deterministic" in source or not uses_cuda(source):
            return
        entry = EntryInfo(node)
        if not entry.is_script:
            return
        anchor = entry.anchor()
        if anchor is not None:
            self.report(anchor)

    VALID = [
        """
        import torch
        import torch.nn as nn

        if __name__ == "__main__":
            torch.backends.cudnn.benchmark = True
            model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU()).cuda()
            for x, y in loader:
                loss = criterion(model(x.cuda()), y.cuda())
                loss.backward()
        """,
        # Determinism asked for: benchmark stays off on purpose.
        """
        import torch
        import torch.nn as nn

        torch.backends.cudnn.deterministic = True
        model = nn.Conv2d(3, 8, 3).cuda()
        for x in loader:
            model(x.cuda()).sum().backward()
        """,
        # A library module: no entry point.
        """
        import torch
        import torch.nn as nn

        def train_epoch(model, loader):
            for x, y in loader:
                loss = nn.functional.cross_entropy(model(x.cuda()), y.cuda())
                loss.backward()
        """,
        # Detection models (variable input sizes).
        """
        import torch
        import torchvision

        if __name__ == "__main__":
            model = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights="DEFAULT").cuda()
            for images, targets in loader:
                sum(model(images, targets).values()).backward()
        """,
        # No convolution: an MLP.
        """
        import torch
        import torch.nn as nn

        if __name__ == "__main__":
            model = nn.Linear(10, 2).cuda()
            for x, y in loader:
                model(x.cuda()).sum().backward()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            import torch.nn as nn

            def main():
                model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10)).cuda()
                for x, y in loader:
                    loss = nn.functional.cross_entropy(model(x.cuda()), y.cuda())
                    loss.backward()

            if __name__ == "__main__":
                main()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch
            from torchvision import models

            model = models.resnet18(num_classes=10).to("cuda")
            for x, y in loader:
                loss = criterion(model(x.to("cuda")), y.to("cuda"))
                loss.backward()
                optimizer.step()
            """,
            line=6,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN506 sync-every-step
# ---------------------------------------------------------------------------------------------

_SYNC_METHODS = frozenset({"item", "tolist", "numpy", "cpu"})


def _sync_loop_body(loop: cst.For | cst.While) -> list[cst.CSTNode]:
    return [loop.body]


class SyncEveryStep(Rule):
    """Flags a host-device sync (`.item()`, `.cpu()`, `print(loss)`) on every training step.

    ## What it does
    In the innermost loop that calls `backward()` and `step()`, finds calls that wait for the GPU:
    `.item()`, `.tolist()`, `.numpy()`, `.cpu()`, and `float(loss)`/`print(loss)` of the tensor
    `backward()` runs on, when they run on every iteration: not inside an `if` (such as
    `if step % log_every == 0:`). Reports the first one per loop, in files that use CUDA.

    Off by default: `running_loss += loss.item()` is the canonical PyTorch tutorial loop, and for
    small models the cost is minor. Enable it with `--select NN506` when tuning throughput.

    ## Why is this bad?
    CUDA kernels run asynchronously: the Python loop normally queues the next step while the GPU
    works. Reading a value back to the host blocks until every queued kernel has finished, so the CPU
    cannot run ahead and the GPU idles while the next batch is prepared and launched.

    ## Example
    ```python
    for step, (x, y) in enumerate(loader):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    ```

    ## Use instead
    ```python
    running_loss = torch.zeros((), device=device)
    for step, (x, y) in enumerate(loader):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.detach()
        if step % 100 == 0:
            print(running_loss.item() / (step + 1))
    ```
    """

    code = "NN506"
    name = "sync-every-step"
    message = "host-device sync on every training step stalls the GPU pipeline; accumulate on the device and sync every N steps"
    requires = ("backward", "step", "cuda")
    default_enabled = False

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.loops: list[cst.For | cst.While] = []

    def visit_For(self, node: cst.For) -> None:
        self.loops.append(node)

    def visit_While(self, node: cst.While) -> None:
        self.loops.append(node)

    def leave_Module(self, node: cst.Module) -> None:
        if not self.loops or not uses_cuda(self.ctx.source):
            return
        info: dict[int, tuple[bool, set[str]]] = {}
        for loop in self.loops:
            backward_names: set[str] = set()
            has_backward = has_step = False
            for n in expr_nodes(loop.body):
                if isinstance(n, cst.Call):
                    name = call_name(n)
                    if name == "backward":
                        has_backward = True
                        if isinstance(n.func, cst.Attribute):
                            target = dotted_name(n.func.value)
                            if target:
                                backward_names.add(target)
                        elif n.args:
                            target = dotted_name(n.args[0].value)
                            if target:
                                backward_names.add(target)
                    elif name == "step" and isinstance(n.func, cst.Attribute):
                        has_step = True
            info[id(loop)] = (has_backward and has_step, backward_names)
        for loop in self.loops:
            ok, names = info[id(loop)]
            if not ok:
                continue
            # The innermost training loop: no loop inside it also runs backward() and step().
            inner = [n for n in expr_nodes(loop.body) if isinstance(n, (cst.For, cst.While)) and n is not loop]
            if any(info.get(id(n), (False,))[0] for n in inner):
                continue
            sync = self._first_sync(loop, names)
            if sync is not None:
                self.report(sync)

    def _first_sync(self, loop: cst.For | cst.While, names: set[str]) -> cst.Call | None:
        pending: list[cst.CSTNode] = [loop.body]
        while pending:
            node = pending.pop()
            if isinstance(node, (cst.If, cst.IfExp, *NESTED_SCOPES)):
                continue
            if isinstance(node, cst.Call):
                name = call_name(node)
                if name in _SYNC_METHODS and isinstance(node.func, cst.Attribute) and not node.args:
                    return node
                if name in ("float", "print") and isinstance(node.func, cst.Name):
                    if any(dotted_name(a.value) in names for a in node.args):
                        return node
            pending.extend(reversed(children(node)))
        return None

    VALID = [
        # Logged every N steps.
        """
        import torch

        for step, (x, y) in enumerate(loader):
            x, y = x.cuda(), y.cuda()
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running_loss += loss.detach()
            if step % 100 == 0:
                print(loss.item())
        """,
        # Per-epoch reporting after the batch loop.
        """
        import torch

        for epoch in range(10):
            total = torch.zeros((), device="cuda")
            for x, y in loader:
                loss = criterion(model(x.cuda()), y.cuda())
                loss.backward()
                optimizer.step()
                total += loss.detach()
            print(epoch, total.item())
        """,
        # An evaluation loop (no backward).
        """
        import torch

        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x.cuda()).argmax(1) == y.cuda()).sum().item()
        """,
        # CPU script.
        """
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            for epoch in range(10):
                for x, y in loader:
                    x, y = x.cuda(), y.cuda()
                    loss = criterion(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    running_loss += loss.item()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch

            def train(model, loader, opt):
                for x, y in loader:
                    loss = model(x.to("cuda"), y.to("cuda"))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    print(loss)
            """,
            line=10,
        ),
    ]
