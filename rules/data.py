"""Rules: data."""

from __future__ import annotations

import re

import libcst as cst

from nnlint.astutil import arg, call_name, dotted_name, number_value, string_value, walk_nodes
from nnlint.rule import Invalid, Rule, Valid

# ---------------------------------------------------------------------------------------------
# NN401 augmentation-in-evaluation: which transforms are random, and which code is evaluation
# ---------------------------------------------------------------------------------------------

_TORCHVISION_RANDOM = frozenset(
    {
        "ColorJitter", "RandAugment", "AutoAugment", "TrivialAugmentWide", "AugMix", "ElasticTransform",
        "GaussianNoise", "ScaleJitter", "MixUp", "CutMix",
    }
)
# Random only through their probability: ``p=1`` makes them deterministic, ``p=0`` a no-op.
_TORCHVISION_P_INDEX = {
    "RandomHorizontalFlip": 0, "RandomVerticalFlip": 0, "RandomGrayscale": 0, "RandomInvert": 0,
    "RandomAutocontrast": 0, "RandomEqualize": 0, "RandomPosterize": 1, "RandomSolarize": 1,
    "RandomAdjustSharpness": 1,
}
_TORCHVISION_OTHER_P_INDEX = {"RandomErasing": 0, "RandomApply": 1, "RandomPerspective": 1, "RandomZoomOut": 2}
_ALBUMENTATIONS_RANDOM = re.compile(
    r".*(Flip|Random|Rotate|Rot90|Shift|Affine|Jitter|Jiggle|Brightness|Contrast|Gamma|Blur|Noise|Dropout|"
    r"Cutout|Erasing|Elastic|Distortion|Perspective|HueSaturation|RGBShift|CLAHE|Sharpen|Emboss|Posterize|"
    r"Solarize|Equalize|ChannelShuffle|InvertImg|ToGray|ToSepia|Transpose|Downscale|Compression|Spatter|"
    r"Superpixels|Fog|Rain|Snow|Shadow|SunFlare|ThinPlateSpline|FancyPCA|SaltAndPepper|Defocus|"
    r"XYMasking|Illumination|ChromaticAberration|Morphological|BBoxSafe|CropNonEmpty|SizedCrop|"
    r"PlasmaBrightness|AutoContrast|ColorJitter|Mosaic|MixUp|Cutmix|CutMix).*"
)
# Albumentations transforms that only flip a coin: ``p=1`` makes them deterministic.
_ALBUMENTATIONS_COIN = frozenset(
    {"HorizontalFlip", "VerticalFlip", "Transpose", "ToGray", "ToSepia", "InvertImg", "Equalize", "SquareSymmetry"}
)
# Containers: they hold transforms, they are not augmentations themselves.
_CONTAINERS = frozenset({"RandomApply", "RandomChoice", "RandomOrder", "OneOf", "SomeOf", "OneOrOther"})

_DEFAULT_EVAL = ["val", "valid", "validation", "validate", "test", "testing", "eval", "evaluation", "evaluate",
                 "inference", "infer", "predict", "prediction", "holdout"]
_DEFAULT_TRAIN = ["train", "training", "trainval", "trn"]
_DEFAULT_TTA = ["tta", "ttas", "ttach"]
_DEFAULT_BASELINE = ["baseline", "baselines"]
# ``valdir``, ``testset``, ``val_tfms``: an evaluation word glued to one of these still counts.
_SUFFIXES = frozenset(
    {"", "s", "dir", "set", "sets", "data", "ds", "dl", "loader", "tf", "tfs", "tfm", "tfms", "transform",
     "transforms", "trans", "aug", "augs", "img", "imgs", "images", "dataset", "split", "path", "root",
     "folder", "list", "df", "pipeline", "preprocess"}
)
_TRANSFORM_WORDS = frozenset(
    {"transform", "transforms", "tf", "tfs", "tfm", "tfms", "trans", "aug", "augs", "augment", "augmentation",
     "augmentations", "pipeline", "preprocess", "preprocessing", "preproc", "compose"}
)
_DATA_WORDS = frozenset({"ds", "dataset", "datasets", "set", "data", "loader", "dl", "dataloader", "split"})
_TRAIN_FLAGS = frozenset({"train", "is_train", "training", "is_training", "istrain", "train_mode"})
_SPLIT_KEYWORDS = frozenset(
    {"split", "image_set", "mode", "subset", "phase", "stage", "set", "set_name", "split_name", "fold_type"}
)
_CONSUMER_KEYWORDS = frozenset(
    {"transform", "transforms", "img_transform", "image_transform", "input_transform", "transform_fn"}
)
_TORCHVISION_TRANSFORM_INDEX = {
    "ImageFolder": 1, "DatasetFolder": 3, "CIFAR10": 2, "CIFAR100": 2, "MNIST": 2, "FashionMNIST": 2,
    "KMNIST": 2, "QMNIST": 2, "USPS": 2,
}
_KIND_NAMES = {
    "val": "validation", "valid": "validation", "validation": "validation", "validate": "validation",
    "test": "test", "testing": "test", "eval": "evaluation", "evaluation": "evaluation",
    "evaluate": "evaluation", "inference": "inference", "infer": "inference", "predict": "inference",
    "prediction": "inference", "holdout": "hold-out",
}
_TTA_MENTION = re.compile(r"(?<![A-Za-z])(tta|TTA|Tta)(?![a-z])|test[-_ ]?time[-_ ]?aug", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_NOT_DECLARING = re.compile(
    r"(than|over|beyond|vs\.?|versus|against|compared\s+(to|with)|relative\s+to|outperform\w*|beat\w*|"
    r"improv\w*|above|below|from|unlike|on\s+top\s+of)\s+(the\s+|a\s+|our\s+|this\s+|strong\s+|simple\s+)*\S*\s*baseline",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    """``val_transform`` / ``valTransform`` / ``data/val`` -> ['val', 'transform']."""
    return [w.lower() for w in _WORD_RE.findall(text)]


def _match(word: str, patterns: frozenset[str]) -> str | None:
    if word in patterns:
        return word
    for p in patterns:
        if word.startswith(p) and word[len(p):] in _SUFFIXES:
            return p
    return None


class _Words:
    """The configured vocabularies, and the classification of a name by its word parts."""

    def __init__(self, config: dict, test_file: bool) -> None:
        def get(key: str, default: list[str]) -> frozenset[str]:
            value = config.get(key, config.get(key.replace("-", "_"), default))
            return frozenset(w.lower() for w in value)

        self.eval = get("eval-patterns", _DEFAULT_EVAL)
        self.train = get("train-patterns", _DEFAULT_TRAIN)
        self.tta = get("tta-patterns", _DEFAULT_TTA)
        self.baseline = get("baseline-patterns", _DEFAULT_BASELINE)
        if test_file:  # pytest/unittest names say "test" about the test suite, not the data
            self.eval = self.eval - {"test", "testing", "tests"}

    def classify(self, text: str) -> tuple[str | None, str]:
        """('tta' | 'train' | 'eval' | None, the evaluation word) for a name or string."""
        words = _words(text)
        if any(_match(w, self.tta) for w in words) or _has_pair(words, "test", "time"):
            return "tta", ""
        if any(_match(w, self.train) for w in words):
            return "train", ""
        for w in words:
            found = _match(w, self.eval)
            if found:
                return "eval", found
        return None, ""

    def is_baseline(self, text: str) -> bool:
        return any(_match(w, self.baseline) for w in _words(text))


def _has_pair(words: list[str], a: str, b: str) -> bool:
    return any(x == a and y == b for x, y in zip(words, words[1:], strict=False))


def _kind_name(word: str) -> str:
    return _KIND_NAMES.get(word, "evaluation")


def _noun(words: list[str]) -> str:
    if any(w in _TRANSFORM_WORDS for w in words):
        return "transform"
    if any(w in _DATA_WORDS or w.endswith(("set", "loader", "ds")) for w in words):
        return "data"
    return "code"


def _declares_baseline(doc: str | None, words: _Words) -> bool:
    """A docstring whose first sentence says the code is a baseline (not that it beats one)."""
    if not doc:
        return False
    first = re.split(r"\n\s*\n|(?<=[.!?])\s", doc.strip(), maxsplit=1)[0]
    if not words.is_baseline(first):
        return False
    return not _NOT_DECLARING.search(first)


def _docstring(body: cst.BaseSuite | cst.Module) -> str | None:
    stmts = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else ()
    if not stmts:
        return None
    first = stmts[0]
    if isinstance(first, cst.SimpleStatementLine) and first.body and isinstance(first.body[0], cst.Expr):
        value = first.body[0].value
        if isinstance(value, cst.ConcatenatedString):
            text = value.evaluated_value
            return text if isinstance(text, str) else None
        return string_value(value)
    return None


def _direct_names(value: cst.BaseExpression) -> set[str]:
    """Names a value is built from directly: ``Compose(t)``, ``t + [...]``, ``Compose(t + [...])``."""
    out: set[str] = set()
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            name = dotted_name(node)
            if name:
                out.add(name)
        elif isinstance(node, cst.Call):
            pending.extend(a.value for a in node.args)
        elif isinstance(node, cst.BinaryOperation):
            pending.extend((node.left, node.right))
    return out


def _is_pair(node: cst.BaseExpression | None, value: float) -> bool:
    """``(1, 1)`` / ``[1.0, 1.0]`` for ``value`` 1."""
    if not isinstance(node, (cst.Tuple, cst.List)) or len(node.elements) != 2:
        return False
    return all(_is_literal(e.value, value) for e in node.elements)


def _is_literal(node: cst.BaseExpression | None, *values: float) -> bool:
    value = number_value(node)
    return value is not None and value in values


class _Context:
    """Where a transform sits: 'eval' / 'train' / 'tta' / None, with a description and the binding found."""

    __slots__ = ("baseline", "binding", "desc", "kind", "returned_by", "train_function")

    def __init__(self) -> None:
        self.kind: str | None = None
        self.desc = ""
        self.baseline = ""
        self.binding: tuple | None = None  # (scope key, name, train-named) of the first assignment
        self.returned_by: str | None = None  # function whose return value holds the transform
        self.train_function = False  # that function is named for training (``get_train_transforms``)


class AugmentationInEvaluation(Rule):
    """Flags random data augmentation in evaluation data or in a baseline.

    ## What it does
    Finds random transforms — torchvision `Random*` (`RandomResizedCrop`, `RandomHorizontalFlip`,
    `RandomCrop`, `RandomErasing`, `RandomApply`, ...), `ColorJitter`, `RandAugment`, `AutoAugment`,
    `TrivialAugmentWide`, `AugMix`, `ElasticTransform`, `GaussianBlur` with a sigma range (both
    `torchvision.transforms` and `transforms.v2`); albumentations transforms that are random by nature
    (flips, crops, rotations, jitter, blur, noise, dropout) unless `p=0`; kornia `Random*`; MONAI
    `Rand*` — where evaluation data is built:

    - a pipeline whose name says validation or test (`val_transform`, `test_transforms`, `tfms_valid`,
      `self.eval_tf`, `data_transforms['val']`), a dict entry or keyword argument under `'val'`/`'test'`;
    - a data set built with `train=False` or `split='val'/'test'` (inline, or through the variable,
      attribute or helper function that holds the pipeline: a random `transform` shared by the
      training and the test set is reported), or assigned to `val_ds`/`test_set`/...;
    - a function, method or class named for evaluation (`get_val_transforms`, `evaluate`,
      `class TestDataset`), and the branch of `if split == 'val':` (or the `else` of `if train:`);

    and anywhere in a baseline: a file whose name says baseline (`baseline.py`), a module, function or
    class whose name or docstring declares itself a baseline.

    Names are matched by their word parts (split on `_` and camelCase, so `latest_tf` is not a test
    transform), training words win (`train_val_tf`), and test-time augmentation (`tta`,
    `TestTimeAugmentation`) is left alone, as are deterministic transforms (`Resize`, `CenterCrop`,
    `FiveCrop`, `Normalize`, `ToTensor`, `RandomHorizontalFlip(p=1.0)`, `GaussianBlur(k, sigma=1.0)`).
    In pytest/unittest files the word "test" is not taken for test data, and in a file that runs
    test-time augmentation (it mentions `tta`), random test and inference pipelines are taken for the
    TTA itself (validation pipelines are still checked).

    ## Why is this bad?
    Validation and test metrics must measure the model, not the luck of the augmentation draw: random
    crops, flips and colour jitter make the evaluation noisy, biased (crops that cut the object) and
    not comparable between runs, so model selection and early stopping follow noise. The recipe for
    training neural networks also says to start with a baseline without augmentation and add it only
    once the baseline works, so a bug in the data pipeline cannot hide behind the augmentation.

    ## Example
    ```python
    val_transform = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])
    test_set = datasets.CIFAR10("data", train=False, transform=train_transform)
    ```

    ## Use instead
    ```python
    val_transform = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
    ])
    test_set = datasets.CIFAR10("data", train=False, transform=val_transform)
    ```

    ## Options
    Each is a list of lowercase words matched against the word parts of names (a word may carry a
    suffix such as `set`, `dir`, `ds`, `loader`, `tf`, `tfms`, `transform`: `valset`, `testdir`):

    - `eval-patterns`: words that mark evaluation (default: `val`, `valid`, `validation`, `validate`,
      `test`, `testing`, `eval`, `evaluation`, `evaluate`, `inference`, `infer`, `predict`, `prediction`,
      `holdout`);
    - `train-patterns`: words that mark training, which win over evaluation words (default: `train`,
      `training`, `trainval`, `trn`);
    - `tta-patterns`: words that mark test-time augmentation, never reported (default: `tta`, `ttas`,
      `ttach`);
    - `baseline-patterns`: words that mark a baseline (default: `baseline`, `baselines`); set to `[]` to
      check evaluation data only.

    ```toml
    [tool.nnlint.rules.NN401]
    eval-patterns = ["val", "valid", "test", "eval", "holdout", "dev"]
    ```
    """

    code = "NN401"
    name = "augmentation-in-evaluation"
    message = "random data augmentation in evaluation data or a baseline; evaluation data must be deterministic"
    requires = (
        ("torchvision", "albumentations", "kornia", "monai"),
        (
            "transform", "Rand", "Jitter", "Augment", "AugMix", "Flip", "Blur", "Noise", "Crop", "Rotat", "Affine",
            "Dropout", "Cutout", "Erasing", "Elastic", "Perspective", "Contrast", "Brightness", "Shift", "Transpose",
            "ToGray", "Solarize", "Posterize", "Equalize", "Sharpen", "CLAHE", "HueSaturation", "Distortion",
            "Compression", "Downscale", "MixUp", "CutMix", "Invert", "baseline", "Baseline",
        ),
    )
    options = {
        "eval-patterns": _DEFAULT_EVAL,
        "train-patterns": _DEFAULT_TRAIN,
        "tta-patterns": _DEFAULT_TTA,
        "baseline-patterns": _DEFAULT_BASELINE,
    }

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        path = ctx.path.replace("\\", "/")
        stem = path.rsplit("/", 1)[-1]
        source = ctx.source
        test_file = (
            stem.startswith("test_") or stem.endswith("_test.py") or "/tests/" in f"/{path}"
            or "import pytest" in source or "import unittest" in source or "from unittest" in source
        )
        self.words = _Words(self.config, test_file)
        # A file that runs test-time augmentation: its random test/inference pipelines are the TTA.
        self.tta_file = bool(self.words.tta) and bool(_TTA_MENTION.search(source))
        self.file_baseline = ""
        if self.words.is_baseline(path.rsplit(".", 1)[0]):
            self.file_baseline = f"file '{stem}'"
        # (scope, name) -> the random transforms put there: (order, call, name, train-named)
        self.bindings: dict[tuple, list[tuple[int, cst.Call, str, bool]]] = {}
        # (scope, name) -> the order of each statement that (re)binds the name; ``order`` counts
        # assignments, returns and consumers as met, so a name resolves to its latest binding.
        self.assigns: dict[tuple, list[int]] = {}
        self.order = 0
        self.returns: dict[str, list[tuple[cst.Call, str]]] = {}
        self.returned_names: dict[str, list[tuple]] = {}
        self.consumers: list[tuple[int, str, cst.BaseExpression, tuple]] = []
        self.reported: set[int] = set()

    # ---- the walk ----------------------------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> None:
        if not self.file_baseline and _declares_baseline(_docstring(node), self.words):
            self.file_baseline = "module docstring"

    def visit_Call(self, node: cst.Call) -> None:
        name = self._random_transform(node)
        if name is not None:
            self._check_transform(node, name)
            return
        transform = self._consumer_transform(node)
        func = node.func
        if (
            transform is None
            and isinstance(func, cst.Attribute)
            and func.attr.value in ("set_transform", "with_transform")
            and node.args
        ):
            owner = dotted_name(func.value) or self.ctx.code(func.value)
            kind, word = self.words.classify(owner)
            if kind == "eval":
                desc = f"the {_kind_name(word)} data '{owner}'"
                self.order += 1
                self.consumers.append((self.order, desc, node.args[0].value, self._scope_keys()))
            return
        if transform is not None and isinstance(transform, (cst.Name, cst.Attribute, cst.Call)):
            context = self._context(node, consumer=True)
            if context.kind == "eval":
                self.order += 1
                self.consumers.append((self.order, context.desc, transform, self._scope_keys()))

    def visit_Assign(self, node: cst.Assign) -> None:
        self._rebind([t.target for t in node.targets], node.value)
        # ``val_ds.transform = tf`` / ``test_set.dataset.transform = train_transform``
        if not isinstance(node.value, (cst.Name, cst.Attribute, cst.Call)):
            return
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and t.attr.value in _CONSUMER_KEYWORDS:
                owner = dotted_name(t.value) or ""
                kind, word = self.words.classify(owner)
                if kind == "eval":
                    desc = f"the {_kind_name(word)} data '{owner}'"
                    self.order += 1
                    self.consumers.append((self.order, desc, node.value, self._scope_keys()))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._rebind([node.target], node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.order += 1  # ``t += [...]`` extends what ``t`` holds: no new binding

    def _rebind(self, targets: list[cst.BaseExpression], value: cst.BaseExpression) -> None:
        self.order += 1
        scopes = self._scope_keys()
        used: set[str] | None = None
        while targets:
            t = targets.pop()
            if isinstance(t, (cst.Tuple, cst.List)):
                targets.extend(e.value for e in t.elements)
                continue
            name = dotted_name(t)
            if name:
                if used is None:
                    used = _direct_names(value)
                if name in used:
                    continue  # ``t = transforms.Compose(t)``: built from what it held
                scope = scopes[1] if name.startswith("self.") else scopes[0]
                self.assigns.setdefault((scope, name), []).append(self.order)

    def visit_Return(self, node: cst.Return) -> None:
        fn = self.ctx.function
        if fn is not None and isinstance(node.value, (cst.Name, cst.Attribute)):
            name = dotted_name(node.value)
            if name:
                self.order += 1
                self.returned_names.setdefault(fn.name.value, []).append((self.order, self._scope_keys(), name))

    def leave_Module(self, node: cst.Module) -> None:
        for order, desc, expr, scopes in self.consumers:
            for call, tname, binding in self._pipeline_calls(expr, scopes, order, set()):
                if binding.endswith("()"):
                    where = f"the transform returned by {binding}"
                else:
                    where = f"the transform '{binding}'" if binding else "the transform"
                self._report(call, f"{tname} in {where} used by {desc}")

    # ---- random transforms ---------------------------------------------------------------------
    def _qualname(self, func: cst.BaseExpression) -> str | None:
        qual = self.ctx.qualname(func)
        if qual is None and isinstance(func, cst.Name):
            for module in self.ctx.imports.star_modules:
                if module.startswith(("torchvision.transforms", "albumentations", "kornia.augmentation")):
                    return f"{module}.{func.value}"
        return qual

    def _random_transform(self, call: cst.Call) -> str | None:
        """The transform's name if ``call`` builds a random augmentation, else None."""
        func = call.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return None
        last = func.value if isinstance(func, cst.Name) else func.attr.value
        qual = self._qualname(func)
        if not qual:
            return None
        p = arg(call, None, "p")
        if qual.startswith("torchvision.transforms"):
            if ".functional" in qual:
                return None
            if last in _TORCHVISION_P_INDEX:
                p = arg(call, _TORCHVISION_P_INDEX[last], "p")
                return None if _is_literal(p, 0.0, 1.0) else last
            if last in _TORCHVISION_OTHER_P_INDEX:
                p = arg(call, _TORCHVISION_OTHER_P_INDEX[last], "p")
                return None if _is_literal(p, 0.0) else last
            if last == "RandomResizedCrop" and _is_pair(arg(call, 1, "scale"), 1.0):
                return None  # the whole image every time: a resize
            if last.startswith("Random"):
                return None if _is_literal(p, 0.0) else last
            if last == "ColorJitter":
                values = [a.value for a in call.args]
                return None if all(_is_literal(v, 0.0) for v in values) else last
            if last == "GaussianBlur":
                sigma = arg(call, 1, "sigma")
                return last if sigma is None or isinstance(sigma, (cst.Tuple, cst.List)) else None
            if last == "JPEG":
                quality = arg(call, 0, "quality")
                return last if isinstance(quality, (cst.Tuple, cst.List)) else None
            return last if last in _TORCHVISION_RANDOM else None
        if qual.startswith("albumentations"):
            if last in _CONTAINERS or not _ALBUMENTATIONS_RANDOM.fullmatch(last):
                return None
            if _is_literal(p, 0.0) or (last in _ALBUMENTATIONS_COIN and _is_literal(p, 1.0)):
                return None
            return last
        if qual.startswith("kornia.augmentation"):
            if last.startswith("Random") or last in ("ColorJitter", "ColorJiggle", "RandAugment", "AutoAugment"):
                return None if _is_literal(p, 0.0) else last
            return None
        if qual.startswith("monai.transforms") and re.match(r"Rand[A-Z]", last):
            return None if _is_literal(arg(call, None, "prob"), 0.0) else last
        return None

    def _check_transform(self, call: cst.Call, name: str) -> None:
        if name in _CONTAINERS and self._holds_random(call):
            return  # the transforms inside are reported
        context = self._context(call)
        if context.kind == "eval":
            self._report(call, f"{name} in {context.desc}")
            return
        if context.kind == "tta":
            return
        if context.baseline:
            self._report(
                call,
                f"{name} in a baseline ({context.baseline}): train the baseline without augmentation first, "
                "then add augmentation once it works",
            )
            return
        if context.binding is not None:
            scope, bname, train_named = context.binding
            self.bindings.setdefault((scope, bname), []).append((self.order, call, name, train_named))
        if context.returned_by is not None and (context.kind is None or context.train_function):
            self.returns.setdefault(context.returned_by, []).append((call, name))

    def _holds_random(self, call: cst.Call) -> bool:
        for a in call.args:
            for inner in walk_nodes(a.value, cst.Call):
                if self._random_transform(inner) is not None:
                    return True
        return False

    def _report(self, call: cst.Call, text: str) -> None:
        if id(call) in self.reported:
            return
        if self.tta_file and re.search(r"\b(test|inference)\b", text.split(":")[0]):
            return
        self.reported.add(id(call))
        if "baseline" not in text:
            text += ": evaluation data must be deterministic; use Resize/CenterCrop"
        self.report(call, text)

    # ---- consumers: data sets built for evaluation -------------------------------------------
    def _consumer_transform(self, call: cst.Call) -> cst.BaseExpression | None:
        if self._is_container(call):
            return None
        for a in call.args:
            if a.keyword is not None and a.keyword.value in _CONSUMER_KEYWORDS:
                return a.value
        qual = self.ctx.qualname(call.func) or ""
        if qual.startswith("torchvision.datasets"):
            index = _TORCHVISION_TRANSFORM_INDEX.get(qual.rsplit(".", 1)[-1])
            if index is not None:
                return arg(call, index)
        return None

    def _consumer_markers(self, call: cst.Call) -> tuple[str | None, str]:
        """('eval' | 'train' | None, description) from a data set call's own arguments."""
        qual = self.ctx.qualname(call.func) or ""
        for a in call.args:
            key = a.keyword.value if a.keyword is not None else None
            if key in _TRAIN_FLAGS and isinstance(a.value, cst.Name) and a.value.value in ("True", "False"):
                if a.value.value == "True":
                    return "train", ""
                return "eval", f"the test data set built with {key}=False"
            if key in _SPLIT_KEYWORDS:
                text = string_value(a.value)
                if text is not None:
                    kind, word = self.words.classify(text)
                    if kind in ("train", "tta"):
                        return "train", ""
                    if kind == "eval":
                        return "eval", f"the {_kind_name(word)} data set built with {key}={text!r}"
        if qual.startswith("torchvision.datasets"):
            flag = arg(call, 1)
            if isinstance(flag, cst.Name) and flag.value in ("True", "False") and "Folder" not in qual:
                return ("train", "") if flag.value == "True" else ("eval", "the test data set built with train=False")
        root = arg(call, 0, "root")
        if root is not None:
            texts = [self.ctx.code(root)]
            kind, word = self.words.classify(" ".join(texts))
            if kind == "eval":
                return "eval", f"the {_kind_name(word)} data set read from {self.ctx.code(root)}"
            if kind in ("train", "tta"):
                return "train", ""
        callee = dotted_name(call.func)
        if callee:
            last = callee.rsplit(".", 1)[-1]
            kind, word = self.words.classify(last)
            if kind == "eval":
                return "eval", f"the {_kind_name(word)} data set '{last}'"
            if kind in ("train", "tta"):
                return "train", ""
        return None, ""

    # ---- context: walk out from a node through its ancestors ---------------------------------
    def _scope_keys(self) -> tuple:
        fn = self.ctx.function
        klass = self.ctx.klass
        return (id(fn) if fn is not None else 0, id(klass) if klass is not None else 0)

    def _context(self, node: cst.CSTNode, consumer: bool = False) -> _Context:  # noqa: C901
        context = _Context()
        words = self.words
        child: cst.CSTNode = node
        stack = self.ctx.stack
        scopes = self._scope_keys()
        if consumer:
            kind, desc = self._consumer_markers(node)  # type: ignore[arg-type]
            if kind is not None:
                context.kind, context.desc = kind, desc
                return context
        for anc in reversed(stack):
            kind: str | None = None
            word = ""
            desc = ""
            if isinstance(anc, cst.Arg) and anc.keyword is not None and anc.keyword.value not in _CONSUMER_KEYWORDS:
                key = anc.keyword.value
                kind, word = words.classify(key)
                desc = f"the {_kind_name(word)} argument '{key}'"
            elif isinstance(anc, cst.Call) and child is not anc.func:
                func = anc.func
                method = func.attr.value if isinstance(func, cst.Attribute) else None
                if method in ("append", "extend", "insert", "__setitem__") and isinstance(func, cst.Attribute):
                    target = dotted_name(func.value) or ""
                    kind, word, desc = self._target_kind(target, context, scopes)
                elif self._is_container(anc):
                    last = func.attr.value if isinstance(func, cst.Attribute) else dotted_name(func) or ""
                    if _is_literal(arg(anc, 1 if last == "RandomApply" else None, "p"), 0.0):
                        context.kind = "off"  # ``RandomApply([...], p=0)``: never applied
                        return context
                elif self._random_transform(anc) is None:
                    kind, desc = self._consumer_markers(anc)
                    word = ""
                    if kind == "eval":
                        context.kind, context.desc = kind, desc
                        return context
            elif isinstance(anc, cst.DictComp) and child is anc.value:
                # ``{x: Compose([...]) for x in ["train", "val"]}``: one pipeline for every split
                key = dotted_name(anc.key)
                comp = anc.for_in
                if key and dotted_name(comp.target) == key and isinstance(comp.iter, (cst.List, cst.Tuple)):
                    for element in comp.iter.elements:
                        text = string_value(element.value)
                        k, w = words.classify(text) if text else (None, "")
                        if k == "eval":
                            kind, word = k, w
                            desc = f"the {_kind_name(w)} entry {text!r} of a dict built for every split"
                            break
            elif isinstance(anc, cst.DictElement) and child is anc.value:
                key = string_value(anc.key) if isinstance(anc.key, cst.SimpleString) else dotted_name(anc.key)
                if key:
                    kind, word = words.classify(key)
                    desc = f"the {_kind_name(word)} entry '{key}'"
            elif isinstance(anc, (cst.Assign, cst.AnnAssign, cst.AugAssign)) and child is anc.value:
                targets = [t.target for t in anc.targets] if isinstance(anc, cst.Assign) else [anc.target]
                for target in targets:
                    name = self._target_name(target)
                    k, w, d = self._target_kind(name, context, scopes)
                    if k is not None:
                        kind, word, desc = k, w, d
                        break
            elif isinstance(anc, cst.Return):
                fn = self.ctx.function
                if fn is not None and context.returned_by is None and context.binding is None:
                    context.returned_by = fn.name.value
            elif isinstance(anc, cst.IfExp) and child is not anc.test:
                kind, simple = self._test_kind(anc.test)
                if child is anc.orelse:
                    kind = _invert(kind) if simple else None
                word = "val" if kind == "eval" else ""
                desc = f"the {'else ' if child is anc.orelse else ''}branch of '{self._short(anc.test)}'"
                if kind is not None and context.binding is not None and context.kind is None:
                    context.binding = None  # a conditional pipeline: leave it to the branches
            elif isinstance(anc, cst.If) and child is not anc.test:
                kind, simple = self._test_kind(anc.test)
                if child is anc.orelse:
                    kind = _invert(kind) if simple else None
                word = "val" if kind == "eval" else ""
                desc = f"the {'else ' if child is anc.orelse else ''}branch of 'if {self._short(anc.test)}'"
                if kind is not None and context.binding is not None and context.kind is None:
                    context.binding = None  # a conditional pipeline: leave it to the branches
            elif isinstance(anc, cst.FunctionDef):
                name = anc.name.value
                kind, word = words.classify(name)
                desc = f"the {_kind_name(word)} function '{name}'"
                if kind == "train" and context.kind is None and context.returned_by == name:
                    context.train_function = True
                if not context.baseline and (words.is_baseline(name) or _declares_baseline(_docstring(anc.body), words)):
                    context.baseline = f"function '{name}'"
            elif isinstance(anc, cst.ClassDef):
                name = anc.name.value
                kind, word = words.classify(name)
                desc = f"the {_kind_name(word)} class '{name}'"
                if not context.baseline and (words.is_baseline(name) or _declares_baseline(_docstring(anc.body), words)):
                    context.baseline = f"class '{name}'"
            if kind is not None and context.kind is None:
                context.kind = kind
                if kind == "eval":
                    context.desc = desc
                    if consumer:
                        return context
                if kind in ("tta",):
                    return context
            child = anc
        if not context.baseline and self.file_baseline:
            context.baseline = self.file_baseline
        return context

    def _target_name(self, target: cst.BaseExpression) -> str:
        if isinstance(target, cst.Subscript):
            base = dotted_name(target.value) or ""
            keys = []
            for element in target.slice:
                index = getattr(element.slice, "value", None)
                text = string_value(index) if isinstance(index, cst.SimpleString) else None
                if text:
                    keys.append(text)
            return f"{base}[{keys[0]!r}]" if keys else base
        return dotted_name(target) or ""

    def _target_kind(self, name: str, context: _Context, scopes: tuple) -> tuple[str | None, str, str]:
        if not name:
            return None, "", ""
        if self.words.is_baseline(name) and not context.baseline:
            context.baseline = f"'{name}'"
        kind, word = self.words.classify(name)
        if context.binding is None and context.kind is None and context.returned_by is None:
            scope = scopes[1] if name.startswith("self.") else scopes[0]
            context.binding = (scope, name, kind == "train")
        desc = f"the {_kind_name(word)} {_noun(_words(name))} '{name}'"
        return kind, word, desc

    def _is_container(self, call: cst.Call) -> bool:
        func = call.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if last in _CONTAINERS or last in ("Compose", "Sequential", "ReplayCompose", "Lambda", "list", "tuple"):
            return True
        qual = self.ctx.qualname(func) or ""
        return qual.startswith(("torchvision.transforms", "albumentations", "kornia.augmentation", "monai.transforms"))

    def _test_kind(self, test: cst.BaseExpression) -> tuple[str | None, bool]:
        """How an ``if`` test classifies its body, and whether the else branch is simply the opposite."""
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            kind, simple = self._test_kind(test.expression)
            return _invert(kind), simple
        if isinstance(test, (cst.Name, cst.Attribute)):
            kind, _ = self.words.classify(dotted_name(test) or "")
            return kind, True
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            op = test.comparisons[0].operator
            right = test.comparisons[0].comparator
            strings = []
            if isinstance(right, cst.SimpleString):
                strings = [string_value(right) or ""]
            elif isinstance(right, (cst.Tuple, cst.List, cst.Set)):
                strings = [string_value(e.value) or "" for e in right.elements]
            if not strings:
                return None, False
            kinds = {self.words.classify(s)[0] for s in strings}
            kind = kinds.pop() if len(kinds) == 1 else None
            if kind == "tta":
                kind = "train"
            if isinstance(op, (cst.NotEqual, cst.NotIn)):
                return _invert(kind), True
            if isinstance(op, (cst.Equal, cst.In, cst.Is)):
                return kind, True
            return None, False
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            left, _ = self._test_kind(test.left)
            right, _ = self._test_kind(test.right)
            return (left or right), False
        return None, False

    def _short(self, node: cst.CSTNode) -> str:
        text = " ".join(self.ctx.code(node).split())
        return text if len(text) <= 40 else text[:37] + "..."

    # ---- following a transform held in a name ------------------------------------------------
    def _pipeline_calls(
        self, expr: cst.BaseExpression, scopes: tuple, order: int, seen: set
    ) -> list[tuple[cst.Call, str, str]]:
        out: list[tuple[cst.Call, str, str]] = []
        if isinstance(expr, cst.Call):
            callee = dotted_name(expr.func)
            if callee is None:
                return out
            fname = callee.rsplit(".", 1)[-1] if callee.startswith("self.") else callee
            if fname in seen or "." in fname:
                return out
            seen.add(fname)
            for a in expr.args:
                if isinstance(a.value, cst.Name) and a.value.value == "True" and a.keyword and a.keyword.value in _TRAIN_FLAGS:
                    return out  # ``get_transforms(train=True)``
                text = string_value(a.value)
                if text is not None and self.words.classify(text)[0] == "train":
                    return out  # ``get_transforms("train")``
            for call, tname in self.returns.get(fname, []):
                out.append((call, tname, f"{fname}()"))
            for at, inner_scopes, name in self.returned_names.get(fname, []):
                for call, tname in self._bound(name, inner_scopes, at):
                    out.append((call, tname, f"{fname}()"))
            return out
        name = dotted_name(expr)
        if name:
            for call, tname in self._bound(name, scopes, order):
                out.append((call, tname, name))
        return out

    def _bound(self, name: str, scopes: tuple, order: int) -> list[tuple[cst.Call, str]]:
        """The random transforms ``name`` holds where it is used (at ``order``): its latest binding."""
        if name.startswith("self."):  # methods run in any order: every binding of the attribute
            return [(b[1], b[2]) for b in self.bindings.get((scopes[1], name), [])]
        key = (scopes[0], name)
        if key not in self.assigns and scopes[0] != 0:
            key = (0, name)  # a module-level name used in a function, which runs after the module
            order = 1 << 60
        earlier = [o for o in self.assigns.get(key, ()) if o < order]
        start = max(earlier) if earlier else 0
        return [(b[1], b[2]) for b in self.bindings.get(key, []) if start <= b[0] < order]

    VALID = [
        # The standard split: random training pipeline, deterministic validation pipeline.
        """
        from torchvision import transforms

        train_transform = transforms.Compose([
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.4, 0.4, 0.4),
            transforms.ToTensor(),
        ])
        val_transform = transforms.Compose([
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        """,
        # The transfer-learning tutorial's dict, and data sets built from it per split.
        """
        import os
        from torchvision import datasets, transforms

        data_transforms = {
            "train": transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                                         transforms.ToTensor()]),
            "val": transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]),
        }
        image_datasets = {x: datasets.ImageFolder(os.path.join("data", x), data_transforms[x]) for x in ["train", "val"]}
        """,
        # CIFAR: the random pipeline goes to train=True only.
        """
        import torchvision
        import torchvision.transforms as T

        transform_train = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
        transform_test = T.Compose([T.ToTensor(), T.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
        trainset = torchvision.datasets.CIFAR10(root="./data", train=True, download=True, transform=transform_train)
        testset = torchvision.datasets.CIFAR10(root="./data", train=False, download=True, transform=transform_test)
        """,
        # A builder that branches on is_train (DeiT/MAE shape) or on the split name.
        """
        from torchvision import transforms

        def build_transform(is_train, args):
            if is_train:
                return transforms.Compose([
                    transforms.RandomResizedCrop(args.input_size, scale=(0.2, 1.0)),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                ])
            t = []
            t.append(transforms.Resize(int(args.input_size / 0.875), interpolation=3))
            t.append(transforms.CenterCrop(args.input_size))
            t.append(transforms.ToTensor())
            return transforms.Compose(t)

        def get_transforms(phase):
            if phase == "train":
                return transforms.Compose([transforms.RandomRotation(10), transforms.ToTensor()])
            else:
                return transforms.Compose([transforms.ToTensor()])

        val_set = ImageDataset("data/val", transform=build_transform(False, args))
        """,
        # Explicit test-time augmentation.
        """
        import torch
        import torchvision.transforms as T

        tta_transforms = [T.RandomResizedCrop(224, scale=(0.8, 1.0)), T.RandomHorizontalFlip()]
        test_tta = T.Compose([T.RandomHorizontalFlip(), T.ToTensor()])

        def predict_tta(model, image, n=8):
            outputs = [model(T.RandomHorizontalFlip()(image)) for _ in range(n)]
            return torch.stack(outputs).mean(0)

        class TestTimeAugmentation:
            def __init__(self):
                self.augs = [T.ColorJitter(0.1, 0.1)]
        """,
        # "test" inside another word is not a test split.
        """
        from torchvision import transforms as T

        latest_transform = T.Compose([T.RandomCrop(28), T.ToTensor()])
        contest_aug = T.RandAugment()
        attested_tf = T.RandomHorizontalFlip()
        value_jitter = T.ColorJitter(0.2)
        """,
        # Samplers and random_split are not transforms.
        """
        import torchvision
        from torch.utils.data import DataLoader, RandomSampler, random_split

        full = torchvision.datasets.MNIST("data", train=True, transform=torchvision.transforms.ToTensor())
        train_ds, val_ds = random_split(full, [55000, 5000])
        val_loader = DataLoader(val_ds, sampler=RandomSampler(val_ds), batch_size=256)
        """,
        # Deterministic settings of random-looking transforms in a validation pipeline.
        """
        import albumentations as A
        from torchvision import transforms

        val_tf = transforms.Compose([
            transforms.RandomHorizontalFlip(p=0),
            transforms.RandomApply([transforms.ColorJitter(0.4)], p=0.0),
            transforms.GaussianBlur(kernel_size=3, sigma=1.0),
            transforms.ColorJitter(),
            transforms.TenCrop(224),
        ])
        valid_aug = A.Compose([A.Resize(256, 256), A.HorizontalFlip(p=1.0), A.RandomCrop(224, 224, p=0), A.Normalize()])
        """,
        # Unit tests of an augmentation module: "test" names the test suite.
        """
        import pytest
        import torch
        from torchvision import transforms as T

        def test_random_crop_shape():
            t = T.RandomCrop(16)
            assert t(torch.zeros(3, 32, 32)).shape == (3, 16, 16)

        class TestAugmentations:
            def test_flip(self):
                test_tf = T.RandomHorizontalFlip()
                assert test_tf is not None
        """,
        # A docstring that compares with a baseline does not declare one.
        '''
        """Improves over the ResNet-18 baseline with strong augmentation."""
        from torchvision import transforms

        train_tf = transforms.Compose([transforms.RandAugment(), transforms.ToTensor()])
        ''',
        # A data set class that branches on its split.
        """
        import albumentations as A
        from albumentations.pytorch import ToTensorV2
        from torch.utils.data import Dataset

        class LeafDataset(Dataset):
            def __init__(self, df, mode="train"):
                self.df = df
                if mode == "train":
                    self.tf = A.Compose([A.RandomResizedCrop(256, 256), A.HorizontalFlip(), A.ShiftScaleRotate(),
                                         A.Normalize(), ToTensorV2()])
                else:
                    self.tf = A.Compose([A.Resize(256, 256), A.Normalize(), ToTensorV2()])

        class TrainDataset(Dataset):
            def __init__(self, df):
                self.tf = A.Compose([A.CoarseDropout(), A.GaussNoise()])
        """,
        # A training pipeline held in a neutral name and only given to training data.
        """
        from torchvision import datasets, transforms

        transform = transforms.Compose([transforms.RandomAffine(15), transforms.ToTensor()])
        plain = transforms.ToTensor()
        train_data = datasets.FashionMNIST("data", train=True, transform=transform)
        test_data = datasets.FashionMNIST("data", train=False, transform=plain)
        val_data = datasets.ImageFolder("data/val", transform=plain)
        """,
        # Conditional expression on the training flag.
        """
        import torchvision.transforms as T
        from torch.utils.data import Dataset

        class Images(Dataset):
            def __init__(self, files, train=True):
                self.files = files
                self.transform = T.Compose([T.RandomCrop(64), T.ToTensor()]) if train else T.ToTensor()
        """,
        # A random pipeline for training in a data module that also builds validation data.
        """
        import pytorch_lightning as pl
        from torchvision import transforms
        from torchvision.datasets import CIFAR10

        class CIFARData(pl.LightningDataModule):
            def __init__(self, root):
                super().__init__()
                self.root = root
                self.train_tf = transforms.Compose([transforms.RandomCrop(32, 4), transforms.ToTensor()])
                self.eval_tf = transforms.Compose([transforms.ToTensor()])

            def train_dataloader(self):
                return CIFAR10(self.root, train=True, transform=self.train_tf)

            def val_dataloader(self):
                return CIFAR10(self.root, train=False, transform=self.eval_tf)
        """,
        # train_val words: training wins.
        """
        from torchvision import transforms

        trainval_transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
        train_val_tf = transforms.RandomVerticalFlip()
        """,
        # A baseline file without augmentation.
        Valid(
            """
            from torchvision import transforms

            train_transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
            val_transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
            """,
            path="experiments/baseline.py",
        ),
        # Custom evaluation words: "val" not among them.
        Valid(
            """
            from torchvision import transforms

            val_transform = transforms.Compose([transforms.RandomCrop(32), transforms.ToTensor()])
            """,
            options={"eval-patterns": ["holdout"]},
        ),
        # The shared name is rebound to a deterministic pipeline before the test set is built.
        """
        import torchvision
        from torchvision import transforms

        transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()])
        trainset = torchvision.datasets.CIFAR10(root="./data", train=True, transform=transform)
        transform = transforms.Compose([transforms.ToTensor()])
        testset = torchvision.datasets.CIFAR10(root="./data", train=False, transform=transform)
        """,
        # A Kaggle inference script whose random pipeline feeds a test-time-augmentation loop.
        """
        import numpy as np
        from albumentations import Compose, HorizontalFlip, Normalize, RandomResizedCrop, Transpose

        CFG = {"tta": 3, "size": 512}

        def get_inference_transforms():
            return Compose([RandomResizedCrop(CFG["size"], CFG["size"]), Transpose(p=0.5), HorizontalFlip(p=0.5),
                            Normalize()], p=1.0)

        def predict(model, test_df):
            test_ds = LeafDataset(test_df, transforms=get_inference_transforms())
            preds = [infer_one_epoch(model, test_ds) for _ in range(CFG["tta"])]
            return np.mean(preds, axis=0)
        """,
        # The functional API is deterministic; a random choice written by hand is out of scope.
        """
        import random
        import torchvision.transforms.functional as TF

        def val_step(img):
            return TF.hflip(img) if random.random() < 0.0 else img
        """,
    ]
    INVALID = [
        Invalid(
            """
            from torchvision import transforms as T

            val_transform = T.Compose([
                T.Resize(256),
                T.RandomCrop(224),
                T.ToTensor(),
            ])
            """,
            line=6,
            message_contains="RandomCrop in the validation transform 'val_transform'",
        ),
        # The 'val' entry of the transfer-learning dict.
        Invalid(
            """
            from torchvision import transforms

            data_transforms = {
                "train": transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()]),
                "val": transforms.Compose([transforms.Resize(256), transforms.RandomHorizontalFlip(),
                                           transforms.ToTensor()]),
            }
            """,
            line=6,
            message_contains="entry 'val'",
        ),
        # A test set built with train=False and a random pipeline inline.
        Invalid(
            """
            import torchvision
            import torchvision.transforms as T

            testset = torchvision.datasets.CIFAR10(
                root="./data", train=False, download=True,
                transform=T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()]),
            )
            """,
            line=7,
            message_contains="train=False",
        ),
        # One random pipeline shared by the training and the test set.
        Invalid(
            """
            import torch
            from torchvision import datasets, transforms

            transform = transforms.Compose([
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize((0.5,), (0.5,)),
            ])
            trainset = datasets.CIFAR10("./data", train=True, download=True, transform=transform)
            testset = datasets.CIFAR10("./data", train=False, download=True, transform=transform)
            testloader = torch.utils.data.DataLoader(testset, batch_size=4)
            """,
            line=6,
            message_contains="the transform 'transform' used by the test data set",
        ),
        # The training pipeline given to validation data, via a helper and an attribute.
        Invalid(
            """
            from torchvision import datasets
            from torchvision.transforms import v2

            def get_transforms():
                return v2.Compose([v2.RandomResizedCrop(224), v2.RandomHorizontalFlip(), v2.ToDtype()])

            train_tf = v2.Compose([v2.RandAugment(), v2.ToImage()])
            val_ds = datasets.ImageFolder("data/val", transform=get_transforms())
            val_ds.transform = train_tf
            """,
            count=3,
        ),
        # Albumentations in a function named for validation.
        Invalid(
            """
            import albumentations as A
            from albumentations.pytorch import ToTensorV2

            def get_valid_transforms(size=512):
                return A.Compose([
                    A.Resize(size, size),
                    A.HorizontalFlip(p=0.5),
                    A.Normalize(),
                    ToTensorV2(),
                ], p=1.0)
            """,
            line=8,
            message_contains="HorizontalFlip in the validation function 'get_valid_transforms'",
        ),
        # split='test' and directly imported names.
        Invalid(
            """
            from torchvision.datasets import SVHN
            from torchvision.transforms import Compose, RandomRotation, ToTensor

            test_data = SVHN("data", split="test", transform=Compose([RandomRotation(15), ToTensor()]))
            """,
            line=5,
            message_contains="split='test'",
        ),
        # The branch of an if on the split name, and the else of an if on the training flag.
        Invalid(
            """
            import albumentations as A

            def make_aug(phase, train):
                if phase == "train":
                    aug = [A.RandomResizedCrop(224, 224), A.HorizontalFlip()]
                elif phase == "val":
                    aug = [A.Resize(224, 224), A.RandomBrightnessContrast(p=0.2)]
                if train:
                    extra = A.GaussNoise()
                else:
                    extra = A.CoarseDropout(max_holes=8)
                return A.Compose(aug + [extra])
            """,
            count=2,
        ),
        # A data set class named for evaluation.
        Invalid(
            """
            import torchvision.transforms as T
            from torch.utils.data import Dataset

            class CassavaTestDataset(Dataset):
                def __init__(self, paths):
                    self.paths = paths
                    self.transform = T.Compose([T.Resize(512), T.RandomRotation(20), T.ToTensor()])
            """,
            line=8,
        ),
        # A baseline file: augmentation off until the baseline works.
        Invalid(
            """
            from torchvision import transforms

            train_transform = transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
            """,
            path="scripts/train_baseline.py",
            line=4,
            message_contains="baseline",
        ),
        # A module docstring declaring a baseline, and a baseline function.
        Invalid(
            '''
            """Baseline: ResNet-18 on CIFAR-10, no tricks."""
            import torchvision.transforms as T

            tf = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()])
            ''',
            line=5,
            message_contains="baseline",
        ),
        Invalid(
            """
            import torchvision.transforms as T

            def train_baseline(model, data):
                tf = T.Compose([T.AutoAugment(), T.ToTensor()])
                return model, tf
            """,
            line=5,
            message_contains="function 'train_baseline'",
        ),
        # Lightning: a random self.transform given to the train=False data set.
        Invalid(
            """
            import pytorch_lightning as pl
            from torchvision import transforms
            from torchvision.datasets import MNIST

            class MNISTData(pl.LightningDataModule):
                def __init__(self, data_dir="./"):
                    super().__init__()
                    self.data_dir = data_dir
                    self.transform = transforms.Compose([transforms.RandomAffine(10), transforms.ToTensor()])

                def val_dataloader(self):
                    return MNIST(self.data_dir, train=False, transform=self.transform)
            """,
            line=10,
        ),
        # Subscript assignment, a keyword argument, kornia, GaussianBlur with its default sigma range.
        Invalid(
            """
            import kornia.augmentation as K
            from torchvision import transforms

            data_transforms = {}
            data_transforms["test"] = transforms.Compose([transforms.RandomErasing(), transforms.GaussianBlur(5)])
            dm = DataModule(train_transforms=None, val_transforms=transforms.Compose([transforms.TrivialAugmentWide()]))
            eval_aug = K.RandomHorizontalFlip()
            """,
            count=4,
        ),
        # MONAI validation pipeline with a random crop.
        Invalid(
            """
            from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandCropByPosNegLabeld

            val_transforms = Compose([
                LoadImaged(keys=["image", "label"]),
                EnsureChannelFirstd(keys=["image", "label"]),
                RandCropByPosNegLabeld(keys=["image", "label"], label_key="label", spatial_size=(96, 96, 96)),
            ])
            """,
            line=7,
        ),
        # One pipeline built for every split by a dict comprehension; a list of transforms built up.
        Invalid(
            """
            import torchvision
            from torchvision import transforms

            data_transforms = {
                phase: transforms.Compose([transforms.RandomResizedCrop(224), transforms.ToTensor()])
                for phase in ["train", "val"]
            }

            def get_test_set(root):
                t = [transforms.Resize(256)]
                t.append(transforms.RandomCrop(224))
                t = transforms.Compose(t)
                return torchvision.datasets.CIFAR10(root, train=False, transform=t)
            """,
            count=2,
        ),
        # camelCase names and a data set assigned to a test name.
        Invalid(
            """
            import torchvision.transforms as transforms
            from torch.utils.data import DataLoader

            testTransform = transforms.Compose([transforms.RandomGrayscale(p=0.2), transforms.ToTensor()])
            test_ds = ImageDataset(test_df, transforms.Compose([transforms.RandomPerspective()]))
            """,
            count=2,
        ),
    ]


def _invert(kind: str | None) -> str | None:
    return {"train": "eval", "eval": "train"}.get(kind or "", None)


# =============================================================================================
# NN402-NN412: evaluation mode, gradients, host syncs in forward, data loaders
# =============================================================================================
# Shared vocabulary and helpers. "The model" is found by its name: a callee whose last name part
# (``model``, ``self.net``, ``resnet``, ``model.module``) says model or network, never a class
# (``Net(...)`` builds one) and never a loss, metric or tokenizer.

_MODEL_WORDS = frozenset(
    {
        "model", "models", "net", "network", "classifier", "encoder", "decoder", "backbone", "generator",
        "discriminator", "detector", "segmenter", "unet", "cnn", "rnn", "lstm", "gru", "mlp", "transformer",
        "autoencoder", "vae", "student", "teacher", "regressor",
    }
)
_NOT_MODEL_WORDS = frozenset(
    {
        "loss", "losses", "criterion", "metric", "metrics", "tokenizer", "processor", "transform", "transforms",
        "tf", "optimizer", "optim", "opt", "scheduler", "sched", "scaler", "writer", "logger", "loader", "dataset",
        "data", "sampler", "hook", "hooks", "callback", "acc", "accuracy", "score", "evaluator", "postprocess",
        "postprocessor", "preprocess", "fn", "func", "builder", "factory", "cls", "class", "config", "cfg", "args",
        "path", "dir", "name", "state", "dict", "ckpt", "checkpoint", "type", "kwargs", "params", "parameters",
        "output", "outputs", "out", "pred", "preds", "inputs", "input", "wrapper", "predictor", "pipeline",
        "pipe", "runner", "engine", "trainer", "session", "ort", "onnx", "trt", "jit", "traced", "scripted",
    }
)
# Lightning / HF Trainer hooks: the framework sets the mode and the grad state around them.
_FRAMEWORK_HOOKS = frozenset(
    {
        "validation_step", "test_step", "predict_step", "validation_epoch_end", "test_epoch_end",
        "validation_step_end", "test_step_end", "prediction_step", "evaluation_loop", "prediction_loop",
        "evaluate_step", "eval_step", "val_step", "shared_eval_step", "_shared_eval_step", "_shared_eval",
        "compute_metrics", "predict_dataloader", "val_dataloader", "test_dataloader",
    }
)
_GRAD_MANAGED_HOOKS = _FRAMEWORK_HOOKS | {"_forward"}
_OPTIMIZER_NAMES = frozenset(
    {
        "SGD", "Adam", "AdamW", "Adamax", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "NAdam", "RAdam", "SparseAdam",
        "ASGD", "Rprop", "Lion", "Lamb", "LAMB", "LARS", "Adafactor", "AdaBelief", "Ranger", "Lookahead",
        "create_optimizer", "create_optimizer_v2", "build_optimizer", "get_optimizer", "make_optimizer",
    }
)
_MODEL_WRAPPER_METHODS = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "to_empty", "train", "requires_grad_",
     "share_memory", "xpu", "mps"}
)
_MODEL_WRAPPER_FUNCS = frozenset(
    {"DataParallel", "DistributedDataParallel", "DDP", "compile", "convert_sync_batchnorm", "FSDP",
     "FullyShardedDataParallel", "channels_last"}
)
_BUILD_WORDS = frozenset({"create", "build", "make", "get", "init", "new", "define", "construct", "setup", "instantiate"})
_GRAD_OFF = frozenset({"no_grad", "inference_mode", "set_grad_enabled"})
_GRAD_WORDS = frozenset(
    {"no_grad", "inference_mode", "set_grad_enabled", "enable_grad", "requires_grad", "requires_grad_", "grad",
     "backward", "manual_backward", "vjp", "jvp", "jacobian", "hessian", "vmap"}
)
_GRAD_CONTEXT_WORDS = frozenset(
    {"grad", "grads", "eval", "evaluating", "evaluation", "inference", "training", "mode", "frozen", "freeze",
     "predicting", "nograd", "torch_grad"}
)
_LOOP_WRAPPERS = frozenset(
    {"enumerate", "tqdm", "trange", "iter", "progress", "progress_bar", "track", "pbar", "auto", "notebook",
     "prefetch", "Prefetcher", "DataPrefetcher", "CudaDataLoader", "MetricLogger", "log_every", "cycle"}
)
_DATA_NOUNS = frozenset(
    {"loader", "loaders", "dl", "dls", "dataloader", "dataloaders", "data", "dataset", "datasets", "ds", "set",
     "sets", "batches", "batch", "iter", "iterator", "gen", "generator", "samples", "split", "queue", "stream"}
)


def _last_words(dotted: str) -> list[str]:
    return _words(dotted.rsplit(".", 1)[-1])


_VERB_WORDS = frozenset(
    {"set", "get", "load", "save", "build", "create", "init", "make", "run", "compute", "update", "register",
     "train", "eval", "freeze", "unfreeze", "prepare", "wrap", "unwrap", "copy", "clone", "apply", "print", "log",
     "export", "convert", "to", "from", "is", "has", "reset", "setup", "configure", "summary", "count", "swap",
     "replace", "add", "remove", "fit", "predict", "evaluate", "forward", "call", "check", "validate", "test",
     "infer", "use", "select", "restore", "sync", "broadcast", "gather", "merge", "fuse", "quantize", "compile",
     "trace", "script", "profile", "describe", "show", "plot", "draw", "visualize", "parse", "format", "num"}
)
_METHOD_VERBS = _VERB_WORDS | {"dump", "construct", "json", "schema"}


def _is_model_name(dotted: str) -> bool:
    """``model``, ``self.net``, ``model.module``, ``resnet``: a name that holds a network."""
    parts = dotted.split(".")
    last = parts[-1]
    if last == "module" and len(parts) > 1:
        last = parts[-2]
    if not last or last == "self" or last[0].isupper():
        return False
    if any(p[:1].isupper() for p in parts[:-1]):
        return False  # ``Request.model_validate(...)``: a method of a class, not a network
    words = _words(last)
    if not words or words[0] in _VERB_WORDS or any(w in _NOT_MODEL_WORDS for w in words):
        return False
    if len(words) > 1 and words[-1] in _METHOD_VERBS:
        return False  # ``req.model_dump()``, ``x.model_validate(...)``: a method named after a model
    return any(w in _MODEL_WORDS or (len(w) > 4 and w.endswith("net")) for w in words)


def _model_of_call(call: cst.Call) -> str | None:
    """The model a call runs: ``model(x)``, ``self.net(x)``, ``model.module(x)``, ``model.forward(x)``."""
    name = dotted_name(call.func)
    if name is None:
        return None
    if name.endswith(".forward"):
        name = name[: -len(".forward")]
    return name if _is_model_name(name) else None


def _root(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def _strip_module(dotted: str) -> str:
    return dotted[: -len(".module")] if dotted.endswith(".module") else dotted


def _mode(call: cst.Call) -> str | None:
    """'eval' / 'train' / 'other' for ``m.eval()`` / ``m.train()`` / ``m.train(flag)``; ``word-eval`` for a
    function whose name holds the word eval (``set_eval_mode(model)``); else None."""
    func = call.func
    if isinstance(func, cst.Attribute):
        attr = func.attr.value
        if attr == "eval":
            return "eval" if not call.args else None
        if attr == "train":
            if not call.args:
                return "train"
            value = arg(call, 0, "mode")
            if isinstance(value, cst.Name) and value.value in ("True", "False"):
                return "train" if value.value == "True" else "eval"
            return "other"
    name = call_name(call)
    if name and name not in ("eval", "train"):
        words = _words(name)
        if "eval" in words or "evaluating" in words:
            return "word-eval"
        if "mode" in words and ("train" in words or "training" in words):
            if any(_is_false(a.value) or not isinstance(a.value, cst.Name) for a in call.args if a.value is not None):
                return "other"  # ``set_training_mode(False)``, ``set_train_mode(model, flag)``
            return "word-train"
    return None


def _receiver(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute):
        return dotted_name(func.value)
    return None


def _is_backward(call: cst.Call) -> bool:
    func = call.func
    name = call_name(call)
    if name in ("backward", "manual_backward"):
        return True
    if name == "grad" and isinstance(func, cst.Attribute) and (dotted_name(func.value) or "").endswith("autograd"):
        return True
    if name == "step" and isinstance(func, cst.Attribute):
        owner = dotted_name(func.value) or ""
        words = _last_words(owner) if owner else []
        return any(w.startswith("optim") or w in ("opt", "scaler") for w in words)
    return False


def _grad_off_item(item: cst.WithItem) -> bool:
    """A ``with`` item that turns gradients off, or one we cannot see into (``with ctx:``)."""
    value = item.item
    if isinstance(value, cst.Call):
        name = call_name(value) or ""
        if name in _GRAD_OFF or "no_grad" in name or "inference" in name:
            return True
        # A context manager of the project that names a mode: ``with self._set_training_mode(False):``,
        # ``with evaluating(model):``, ``with frozen(model):``.
        return any(w in _GRAD_CONTEXT_WORDS for w in _words(name))
    return True


def _grad_off_decorator(fn: cst.FunctionDef) -> bool:
    for dec in fn.decorators:
        text = dotted_name(dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator) or ""
        if any(w in text for w in ("no_grad", "inference_mode", "set_grad_enabled", "grad")):
            return True
    return False


def _loop_iterable(iterable: cst.BaseExpression) -> cst.BaseExpression:
    """``enumerate(tqdm(val_loader))`` -> ``val_loader``."""
    for _ in range(4):
        if isinstance(iterable, cst.Call) and iterable.args:
            name = call_name(iterable) or ""
            if name in _LOOP_WRAPPERS or name == "zip":
                iterable = iterable.args[0].value
                continue
        break
    return iterable


def _data_name(expr: cst.BaseExpression) -> str | None:
    """The name a data expression is known by: ``val_loader``, ``self.test_dl``, ``loaders['val']``."""
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return dotted_name(expr)
    if isinstance(expr, cst.Subscript) and expr.slice:
        index = getattr(expr.slice[0].slice, "value", None)
        key = string_value(index) if isinstance(index, cst.SimpleString) else None
        base = dotted_name(expr.value) or ""
        if key is not None:
            return f"{base}[{key!r}]"
    return None


def _is_data_name(name: str) -> bool:
    for w in _words(name.replace("[", " ").replace("]", " ")):
        if w in _DATA_NOUNS:
            return True
        for p in ("val", "valid", "test", "eval", "train"):
            if w.startswith(p) and w[len(p):] in _SUFFIXES and w[len(p):]:
                return True
    return False


def _test_file(ctx) -> bool:
    path = ctx.path.replace("\\", "/")
    stem = path.rsplit("/", 1)[-1]
    source = ctx.source
    return (
        stem.startswith("test_") or stem.endswith("_test.py") or "/tests/" in f"/{path}"
        or "import pytest" in source or "import unittest" in source or "from unittest" in source
    )


_NO_SPACE = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def _indent_tokens(ctx) -> list[str]:
    default = ctx.module.default_indent
    return [b.indent if b.indent is not None else default for b in ctx.stack if isinstance(b, cst.IndentedBlock)]


def _render(ctx, node: cst.CSTNode, indent: list[str]) -> str:
    """Source of ``node`` as it sits in place (continuation lines keep the enclosing blocks' indentation)."""
    try:
        from libcst._nodes.internal import CodegenState
    except ImportError:  # pragma: no cover - libcst internals moved
        return ctx.module.code_for_node(node)
    state = CodegenState(default_indent=ctx.module.default_indent, default_newline=ctx.module.default_newline)
    state.indent_tokens = list(indent)
    node._codegen(state)
    return "".join(state.tokens)


def _append_kwarg_fix(rule: Rule, call: cst.Call, text: str) -> tuple[cst.CSTNode, str] | None:
    """An edit that appends ``text`` (``shuffle=True``) after the last argument of ``call``."""
    if not call.args or any(a.star for a in call.args):
        return None
    last = call.args[-1]
    return (last.value, _render(rule.ctx, last.value, _indent_tokens(rule.ctx)) + ", " + text)


# ---------------------------------------------------------------------------------------------
# A per-file index of scopes (functions and the module), their calls, loops and bindings, shared by
# NN402/NN403/NN404/NN408 and built once per file (only when one of them has a candidate).
# ---------------------------------------------------------------------------------------------


# Layers that behave the same in training and evaluation mode.
_MODE_FREE_LAYERS = frozenset(
    {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "Bilinear",
     "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "ELU",
     "SELU", "CELU", "PReLU", "Mish", "Hardswish", "Hardsigmoid", "Hardtanh", "MaxPool1d", "MaxPool2d", "MaxPool3d",
     "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
     "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Flatten", "Unflatten", "Sequential",
     "ModuleList", "ModuleDict", "Embedding", "EmbeddingBag", "LayerNorm", "GroupNorm", "RMSNorm", "Identity",
     "Upsample", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "PixelShuffle", "Parameter", "ParameterList",
     "Module", "Softmax2d", "Threshold", "LocalResponseNorm", "CosineSimilarity", "PairwiseDistance"}
)
_MODE_TEXT = ("Dropout", "dropout", "BatchNorm", "batch_norm", "InstanceNorm", "instance_norm", ".training",
              "Transformer", "LSTM", "GRU", "RNN", "MultiheadAttention", "RReLU", "drop_path", "DropPath",
              "StochasticDepth", "Dropblock", "DropBlock")


class _Scope:
    __slots__ = (
        "assigns", "calls", "decorators", "klass", "loops", "name", "node", "owner", "params", "parent", "_memo",
    )

    def __init__(self, node: cst.CSTNode, klass: cst.ClassDef | None, parent: _Scope | None) -> None:
        self.node = node
        self.klass = klass  # the class this function is a method of
        self.owner = klass if klass is not None else (parent.owner if parent is not None else None)
        self.parent = parent
        self.name = node.name.value if isinstance(node, cst.FunctionDef) else "<module>"
        self.calls: list[tuple[int, cst.Call, tuple]] = []
        self.loops: list[tuple[int, cst.CSTNode, tuple]] = []
        self.assigns: dict[str, list[tuple[int, cst.BaseExpression | None]]] = {}
        self.params: list[str] = []
        self.decorators = False
        self._memo: dict = {}
        if isinstance(node, cst.FunctionDef):
            p = node.params
            self.params = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
            self.decorators = _grad_off_decorator(node)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, cst.FunctionDef)

    def bind(self, name: str | None, order: int, value: cst.BaseExpression | None) -> None:
        if name:
            self.assigns.setdefault(name, []).append((order, value))


def _in_region(chain: tuple, region: cst.CSTNode | None) -> bool:
    return region is None or any(c is region for c in chain)


class _Index:
    """Every scope of a module with its calls (and the loops, ``with`` and ``if`` blocks around each)."""

    def __init__(self, module: cst.Module, ctx) -> None:
        self.ctx = ctx
        self.module = module
        self.scopes: list[_Scope] = []
        self.functions: dict[str, list[_Scope]] = {}
        self.methods: dict[tuple[int, str], _Scope] = {}
        self.class_methods: dict[int, list[_Scope]] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        self.sites: dict[str, list[tuple[cst.Call, _Scope, tuple, bool]]] = {}
        self.optimizer_args: list[str] = []
        self._mode_free_cache: dict[int, bool] = {}
        self._foreign_modules: dict[int, cst.Module] = {}
        self._missing: set[str] = set()
        self.module_scope = self._build(module)

    # ---- building ----------------------------------------------------------------------------
    def _build(self, module: cst.Module) -> _Scope:  # noqa: C901
        from nnlint.walker import children

        top = _Scope(module, None, None)
        self.scopes.append(top)
        pending: list[tuple] = [(c, top, (), None) for c in reversed(children(module))]
        order = 0
        while pending:
            node, scope, chain, klass = pending.pop()
            order += 1
            t = type(node)
            if t is cst.FunctionDef:
                inner = _Scope(node, klass, scope)
                self.scopes.append(inner)
                if klass is not None:
                    self.methods[(id(klass), node.name.value)] = inner
                    self.class_methods.setdefault(id(klass), []).append(inner)
                else:
                    self.functions.setdefault(node.name.value, []).append(inner)
                for dec in reversed(node.decorators):
                    pending.append((dec, scope, chain, None))
                pending.extend((c, inner, (), None) for c in reversed(children(node.body)))
                continue
            if t is cst.ClassDef:
                self.classes[node.name.value] = node
                pending.extend((c, scope, chain, node) for c in reversed(children(node.body)))
                pending.extend((c, scope, chain, None) for c in reversed([*node.bases, *node.keywords]))
                continue
            if t is cst.Call:
                scope.calls.append((order, node, chain))
                func = node.func
                if isinstance(func, cst.Name):
                    self.sites.setdefault(func.value, []).append((node, scope, chain, False))
                    if func.value in _OPTIMIZER_NAMES:
                        self.optimizer_args.append(self.ctx.code(node))
                elif isinstance(func, cst.Attribute):
                    if isinstance(func.value, cst.Name) and func.value.value == "self":
                        self.sites.setdefault(func.attr.value, []).append((node, scope, chain, True))
                    if func.attr.value in _OPTIMIZER_NAMES or (dotted_name(func.value) or "").endswith("optim"):
                        self.optimizer_args.append(self.ctx.code(node))
            elif t is cst.Assign:
                self._bind_assign(scope, order, [x.target for x in node.targets], node.value)
            elif t is cst.AnnAssign:
                if node.value is not None:
                    self._bind_assign(scope, order, [node.target], node.value)
            elif t is cst.WithItem:
                if node.asname is not None:
                    scope.bind(dotted_name(node.asname.name), order, None)
            elif t is cst.For:
                scope.loops.append((order, node, chain))
                inner_chain = (*chain, node)
                scope_targets = [node.target]
                self._bind_assign(scope, order, scope_targets, None)
                stack_items = [(node.target, chain), (node.iter, chain), (node.body, inner_chain)]
                if node.orelse is not None:
                    stack_items.append((node.orelse, chain))
                pending.extend((c, scope, ch, klass) for c, ch in reversed(stack_items))
                continue
            elif t is cst.While:
                scope.loops.append((order, node, chain))
                inner_chain = (*chain, node)
                items = [(node.test, inner_chain), (node.body, inner_chain)]
                if node.orelse is not None:
                    items.append((node.orelse, chain))
                pending.extend((c, scope, ch, klass) for c, ch in reversed(items))
                continue
            elif t is cst.With:
                items = [(i, chain) for i in node.items] + [(node.body, (*chain, node))]
                pending.extend((c, scope, ch, klass) for c, ch in reversed(items))
                continue
            elif t is cst.If:
                inner_chain = (*chain, node)
                items = [(node.test, chain), (node.body, inner_chain)]
                if node.orelse is not None:
                    items.append((node.orelse, inner_chain))
                pending.extend((c, scope, ch, klass) for c, ch in reversed(items))
                continue
            elif t in (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp):
                scope.loops.append((order, node, chain))
                inner_chain = (*chain, node)
                elts = [node.key, node.value] if t is cst.DictComp else [node.elt]
                items = [(node.for_in, chain)] + [(e, inner_chain) for e in elts]
                pending.extend((c, scope, ch, klass) for c, ch in reversed(items))
                continue
            pending.extend((c, scope, chain, klass) for c in reversed(children(node)))
        return top

    def _bind_assign(self, scope: _Scope, order: int, targets: list, value: cst.BaseExpression | None) -> None:
        for target in targets:
            if isinstance(target, (cst.Tuple, cst.List)):
                values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
                if values is not None and len(values) == len(target.elements):
                    for t, v in zip(target.elements, values, strict=False):
                        self._bind_assign(scope, order, [t.value], v.value)
                else:
                    for t in target.elements:
                        self._bind_assign(scope, order, [t.value], None)
            elif isinstance(target, cst.StarredElement):
                self._bind_assign(scope, order, [target.value], None)
            else:
                scope.bind(dotted_name(target), order, value)

    # ---- queries -----------------------------------------------------------------------------
    def local_callees(self, call: cst.Call, scope: _Scope) -> list[_Scope]:
        """The functions of this file a call runs: ``helper(...)``, ``self.method(...)``."""
        func = call.func
        if isinstance(func, cst.Name):
            return self.functions.get(func.value, [])
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and scope.owner is not None
        ):
            found = self.methods.get((id(scope.owner), func.attr.value))
            return [found] if found is not None else []
        return []

    def callers(self, fn: _Scope) -> list[tuple[cst.Call, _Scope, tuple]]:
        out = []
        for call, scope, chain, is_self in self.sites.get(fn.name, ()):
            if fn.klass is not None:
                if is_self and scope.owner is fn.klass:
                    out.append((call, scope, chain))
            elif not is_self:
                out.append((call, scope, chain))
        return out

    def bound_arg(self, call: cst.Call, fn: _Scope, param: str) -> cst.BaseExpression | None:
        params = list(fn.params)
        if fn.klass is not None and params and not _is_static(fn.node):
            params = params[1:]
        index = params.index(param) if param in params else None
        return arg(call, index, param)

    def direct_modes(self, scope: _Scope) -> list[tuple[str, str | None, cst.Call, tuple]]:
        memo = scope._memo.get("modes")
        if memo is None:
            memo = []
            for _, call, chain in scope.calls:
                mode = _mode(call)
                if mode is None:
                    continue
                if mode.startswith("word-") and self.local_callees(call, scope):
                    continue  # a function of this file: judged by its body
                memo.append((mode, _receiver(call), call, chain))
            scope._memo["modes"] = memo
        return memo

    def sets_eval(self, scope: _Scope, depth: int = 1, exclude: _Scope | None = None) -> bool:
        """The scope switches something to evaluation mode (or to a mode it computes), itself or in a
        function of this file it calls (``depth`` levels)."""
        if any(m in ("eval", "other", "word-eval") for m, _, _, _ in self.direct_modes(scope)):
            return True
        if depth <= 0:
            return False
        for _, call, _ in scope.calls:
            for callee in self.local_callees(call, scope):
                if callee is not exclude and callee is not scope and self.sets_eval(callee, depth - 1, exclude):
                    return True
        return False

    def sets_train(self, scope: _Scope, depth: int = 3, region: cst.CSTNode | None = None,
                   seen: set | None = None) -> bool:
        """``.train()``/``.train(flag)`` in the scope (or the region), itself or in functions it calls; a
        call of another module whose name says train (``train_one_epoch``) counts: we cannot look inside."""
        seen = seen if seen is not None else set()
        seen.add(id(scope))
        for mode, _, _call, chain in self.direct_modes(scope):
            if mode in ("train", "other", "word-train") and _in_region(chain, region):
                return True
        for _, call, chain in scope.calls:
            if not _in_region(chain, region):
                continue
            callees = self.local_callees(call, scope)
            if not callees:
                name = call_name(call) or ""
                if "train" in _words(name) and not (isinstance(call.func, cst.Attribute) and name == "train"):
                    return True
                continue
            if depth > 0:
                for callee in callees:
                    if id(callee) not in seen and self.sets_train(callee, depth - 1, None, seen):
                        return True
        return False

    def trains(self, scope: _Scope, depth: int = 3, region: cst.CSTNode | None = None, seen: set | None = None) -> bool:
        """A backward pass or an optimizer step in the scope (or region), or in functions it calls."""
        seen = seen if seen is not None else set()
        seen.add(id(scope))
        for _, call, chain in scope.calls:
            if not _in_region(chain, region):
                continue
            if _is_backward(call):
                return True
            if depth > 0:
                for callee in self.local_callees(call, scope):
                    if id(callee) not in seen and self.trains(callee, depth - 1, None, seen):
                        return True
        return False

    def train_evidence(self, scope: _Scope, root: str) -> bool:
        """The model held in ``root`` is in training mode in this scope: ``root.train()``, a backward pass,
        or handed to a training function of this file."""
        for mode, receiver, _, _ in self.direct_modes(scope):
            if mode == "train" and receiver and _root(receiver) == root:
                return True
        for _, call, _ in scope.calls:
            if _is_backward(call):
                return True
            passes = any(dotted_name(a.value) and _root(dotted_name(a.value)) == root for a in call.args)
            if passes:
                for callee in self.local_callees(call, scope):
                    if self.trains(callee, 1) or any(m == "train" for m, _, _, _ in self.direct_modes(callee)):
                        return True
        return False

    def binding_scope(self, scope: _Scope, root: str) -> _Scope | None:
        s: _Scope | None = scope
        while s is not None:
            if root in s.assigns or (s.is_function and root in s.params):
                return s
            s = s.parent
        return None

    def source(self, scope: _Scope, name: str) -> str | None:
        """How the model held in ``name`` was obtained in ``scope``: 'fresh' (built, so in training mode),
        'pretrained' (``from_pretrained``: evaluation mode), 'loaded' (a pickled module or a helper that sets
        the mode), or None."""
        kinds = set()
        for _, value in scope.assigns.get(name, ()):
            if value is None:
                continue
            kind = self._value_source(value, scope)
            kinds.add(kind)
        if "fresh" in kinds and not kinds & {"pretrained", "loaded", "unknown"}:
            return "fresh"
        if "pretrained" in kinds:
            return "pretrained"
        return "loaded" if "loaded" in kinds else None

    def _value_source(self, value: cst.BaseExpression, scope: _Scope) -> str:  # noqa: C901
        for _ in range(8):
            if not isinstance(value, cst.Call):
                return "unknown"
            func = value.func
            name = call_name(value) or ""
            if isinstance(func, cst.Attribute) and name in _MODEL_WRAPPER_METHODS:
                value = func.value
                continue
            if name in _MODEL_WRAPPER_FUNCS and value.args:
                value = value.args[0].value
                continue
            break
        if not isinstance(value, cst.Call):
            return "unknown"
        name = call_name(value) or ""
        words = _words(name)
        if "pretrained" in name or "from_" in name:
            return "pretrained"
        if any(w in ("load", "restore", "loaded", "checkpoint", "ckpt", "resume", "hub") for w in words):
            return "loaded"
        local = self.local_callees(value, scope)
        if local:
            return "loaded" if any(self.sets_eval(f, 1) for f in local) else "fresh"
        if name in self.classes:
            return "fresh"
        qual = self.ctx.qualname(value.func) or ""
        if qual.startswith(("torchvision.models", "timm.", "segmentation_models_pytorch", "torch.nn.",
                            "efficientnet_pytorch", "pretrainedmodels")):
            return "fresh"
        if qual.startswith(("transformers.", "diffusers.", "sentence_transformers.")):
            return "pretrained"
        if name[:1].isupper():
            return "fresh"
        if any(w in _BUILD_WORDS for w in words) and any(w in _MODEL_WORDS or w.endswith("net") for w in words):
            return "fresh"
        return "unknown"

    def optimized(self, name: str) -> bool:
        """``name``'s parameters are given to an optimizer somewhere in the file."""
        name = _strip_module(name)
        return any(f"{name}.parameters(" in text or f"{name}.named_parameters(" in text for text in self.optimizer_args)

    def model_verdict(self, scope: _Scope, model: str, depth: int = 1) -> str:
        """'bug' if the model run in ``scope`` is, on every path we can see, in training mode: built
        fresh or trained, and never switched to evaluation mode; 'ok' or 'unknown' otherwise."""
        root = _root(model)
        if root == "self":
            return self._self_verdict(scope, model)
        if scope.is_function and root in scope.params:
            if self.train_evidence(scope, root):
                return "bug"
            return self.paths(scope, root, depth)
        home = self.binding_scope(scope, root)
        if home is None:
            return "unknown"
        if home is not scope:
            if self.sets_eval(home):
                return "ok"
            if home.is_function and root in home.params:
                return "unknown"
            for _, caller, _ in self.callers(scope) if scope.is_function else ():
                if self.sets_eval(caller, exclude=scope):
                    return "ok"
        if self.mode_free(home, root):
            return "ok"
        if self.train_evidence(scope, root) or self.train_evidence(home, root):
            return "bug"
        return "bug" if self.source(home, root) == "fresh" else "unknown"

    def mode_free(self, scope: _Scope, name: str) -> bool:
        """Every value ``name`` is bound to in ``scope`` builds a network class of this file without any
        layer that behaves differently in training and evaluation mode (no dropout, no batch norm):
        ``.eval()`` would change nothing (the CIFAR-10 tutorial's ``Net``)."""
        values = [v for _, v in scope.assigns.get(name, ()) if v is not None]
        return bool(values) and all(self.call_mode_free(v) for v in values)

    def call_mode_free(self, value: cst.BaseExpression) -> bool:
        for _ in range(8):
            if not isinstance(value, cst.Call):
                return False
            func = value.func
            name = call_name(value) or ""
            if isinstance(func, cst.Attribute) and name in _MODEL_WRAPPER_METHODS:
                value = func.value
                continue
            if name in _MODEL_WRAPPER_FUNCS and value.args:
                value = value.args[0].value
                continue
            break
        if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name):
            return False
        klass = self.find_class(value.func.value)
        return klass is not None and self._class_mode_free(klass, set())

    def find_class(self, name: str) -> cst.ClassDef | None:
        """A class of this file, also when the prefilter blanked it before parsing (read back from source)."""
        klass = self.classes.get(name)
        if klass is not None or name in self._missing:
            return klass
        self._missing.add(name)
        if not re.search(rf"^class {re.escape(name)}\b", self.ctx.source, re.MULTILINE):
            return None
        import ast

        try:
            tree = ast.parse(self.ctx.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        lines = self.ctx.source.splitlines(keepends=True)
        for stmt in tree.body:
            if isinstance(stmt, ast.ClassDef) and stmt.name == name:
                start = min([stmt.lineno] + [d.lineno for d in stmt.decorator_list]) - 1
                text = "".join(lines[start:stmt.end_lineno])
                try:
                    parsed = cst.parse_module(text)
                except Exception:  # noqa: BLE001 - unparsable slice: treat as unseen
                    return None
                for node in parsed.body:
                    if isinstance(node, cst.ClassDef):
                        self.classes[name] = node
                        self._foreign_modules[id(node)] = parsed
                        return node
        return None

    def _class_mode_free(self, klass: cst.ClassDef, seen: set) -> bool:  # noqa: C901
        key = id(klass)
        cached = self._mode_free_cache.get(key)
        if cached is not None:
            return cached
        if key in seen:
            return True
        seen.add(key)
        result = self._class_mode_free_uncached(klass, seen)
        self._mode_free_cache[key] = result
        return result

    def _class_mode_free_uncached(self, klass: cst.ClassDef, seen: set) -> bool:  # noqa: C901
        module = self._foreign_modules.get(id(klass), self.ctx.module)
        code = module.code_for_node(klass)
        if any(t in code for t in _MODE_TEXT):
            return False
        for base in klass.bases:
            qual = self.ctx.qualname(base.value) or ""
            name = dotted_name(base.value) or ""
            if qual in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                continue
            local = self.find_class(name)
            if local is None or not self._class_mode_free(local, seen):
                return False
        for call in walk_nodes(klass, cst.Call):
            qual = self.ctx.qualname(call.func)
            name = call_name(call) or ""
            if qual is not None:
                if qual.startswith("torch.nn.functional") or qual.startswith("torch.") and not qual.startswith("torch.nn."):
                    continue
                if qual.startswith("torch.nn.") and qual.rsplit(".", 1)[-1] in _MODE_FREE_LAYERS:
                    continue
                return False
            local = self.find_class(name) if isinstance(call.func, cst.Name) and name[:1].isupper() else None
            if local is not None:
                if not self._class_mode_free(local, seen):
                    return False
                continue
            if isinstance(call.func, cst.Name) and name[:1].isupper():
                return False  # a layer class we cannot see
        return True

    def paths(self, fn: _Scope, param: str, depth: int) -> str:
        sites = self.callers(fn)
        if not sites or depth > 3:
            return "unknown"
        verdicts = set()
        for call, caller, _ in sites:
            if caller is fn:
                continue
            expr = self.bound_arg(call, fn, param)
            if expr is None:
                return "unknown"
            if self.sets_eval(caller, exclude=fn):
                return "ok"
            if isinstance(expr, cst.Call):
                kind = self._value_source(expr, caller)
                if kind != "fresh" or self.call_mode_free(expr):
                    return "unknown"
                verdicts.add("bug")
                continue
            name = dotted_name(expr)
            if name is None or _root(name) == "self":
                return "unknown"
            verdict = self.model_verdict(caller, name, depth + 1)
            if verdict != "bug":
                return verdict
            verdicts.add("bug")
        return "bug" if verdicts == {"bug"} else "unknown"

    def _self_verdict(self, scope: _Scope, model: str) -> str:
        klass = scope.owner
        if klass is None or model == "self":
            return "unknown"
        for base in klass.bases:
            if dotted_name(base.value) not in ("object",):
                return "unknown"  # nn.Module, a framework class: someone else sets the mode
        methods = self.class_methods.get(id(klass), [])
        if any(self.sets_eval(m) for m in methods):
            return "ok"
        attr = model.split(".", 2)[1] if model.count(".") >= 1 else ""
        for s in self.scopes:
            for mode, receiver, _, _ in self.direct_modes(s):
                if mode in ("eval", "other", "word-eval") and receiver and receiver.split(".")[-1] == attr:
                    return "ok"
        if any(self.mode_free(m, f"self.{attr}") for m in methods if f"self.{attr}" in m.assigns):
            return "ok"
        kinds = {self.source(m, f"self.{attr}") for m in methods if f"self.{attr}" in m.assigns}
        if any(self.trains(m, 1) for m in methods):
            return "bug" if kinds else "unknown"
        return "bug" if kinds == {"fresh"} else "unknown"


def _is_static(fn: cst.FunctionDef) -> bool:
    return any(dotted_name(d.decorator) == "staticmethod" for d in fn.decorators)


_INDEX_CACHE: list = [None, None]


def _index_for(ctx) -> _Index:
    """The file's index, shared by the rules of this family (built once per parsed module)."""
    if _INDEX_CACHE[0] is not ctx.module:
        _INDEX_CACHE[0] = ctx.module
        _INDEX_CACHE[1] = _Index(ctx.module, ctx)
    return _INDEX_CACHE[1]


# ---------------------------------------------------------------------------------------------
# NN402 / NN403: evaluation runs of the model
# ---------------------------------------------------------------------------------------------

_EVAL_FN_SKIP_WORDS = frozenset(
    {"loader", "loaders", "dataloader", "dataset", "datasets", "data", "transform", "transforms", "tf", "tfs",
     "split", "args", "config", "cfg", "aug", "augs", "augmentation", "sampler", "collate", "files", "paths",
     "forward", "head", "heads", "layer", "layers", "block", "blocks", "logits", "embed", "embeddings", "mask",
     "masks", "tokens", "features", "module", "hook", "hooks"}
)
# Prefilter words: specific enough that top-level functions and classes without them can be blanked
# before parsing (callers of an evaluation function hold its name, hence one of these words).
_EVAL_TEXT = ("val_", "_val_", "_val)", "_val,", "_val:", "_val\n", "_val.", "valid_", "validat", "Valid", "val(",
              "'val'", '"val"', "valloader", "valset", "ValD", "VAL", "eval", "Eval", "test_", "_test", "test(",
              "testloader", "testset", "TestD", "TEST", "predict", "Predict", "infer", "Infer")


_MODULE_BASE_WORDS = frozenset(
    {"module", "model", "net", "network", "layer", "block", "encoder", "decoder", "head", "backbone", "sequential",
     "attention", "transformer", "embedding", "embeddings", "classifier"}
)


def _is_module_class(ctx, klass: cst.ClassDef, index: _Index | None = None) -> bool:
    """An nn.Module subclass: a base resolved to torch.nn, named like a network part, or a ``forward``."""
    for base in klass.bases:
        qual = ctx.qualname(base.value) or dotted_name(base.value) or ""
        if qual.startswith("torch.nn") or "Lightning" in qual:
            return False if "Lightning" in qual else True
        if any(w in _MODULE_BASE_WORDS for w in _last_words(qual)) and "Trainer" not in qual:
            return True
    body = klass.body.body if isinstance(klass.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in body)


class _EvalRun:
    __slots__ = ("call", "chain", "desc", "model", "order", "region", "scope")

    def __init__(self, scope, region, call, chain, order, model, desc) -> None:
        self.scope: _Scope = scope
        self.region = region  # the loop over evaluation data, or None: the whole evaluation function
        self.call: cst.Call = call
        self.chain: tuple = chain
        self.order: int = order
        self.model: str = model
        self.desc: str = desc


def _eval_function(name: str, words: _Words) -> bool:
    if name in _FRAMEWORK_HOOKS or name.startswith(("on_", "__")):
        return False
    kind, _ = words.classify(name)
    if kind != "eval":
        return False
    return not any(w in _EVAL_FN_SKIP_WORDS for w in _words(name))


def _eval_loop_data(loop: cst.CSTNode, words: _Words) -> str | None:
    """The evaluation data a loop or comprehension iterates over (``val_loader``), else None."""
    if isinstance(loop, cst.For):
        iterable = loop.iter
    elif isinstance(loop, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
        iterable = loop.for_in.iter
    else:
        return None
    name = _data_name(_loop_iterable(iterable))
    if name and words.classify(name)[0] == "eval" and _is_data_name(name):
        return name
    return None


class _EvalRunRule(Rule):
    """Shared by NN402/NN403: finds the model runs in evaluation code (a function named for evaluation,
    a loop over evaluation data) and leaves the judgement to ``judge``."""

    options = {"eval-patterns": _DEFAULT_EVAL, "train-patterns": _DEFAULT_TRAIN}
    requires = (_EVAL_TEXT,)

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.test_file = _test_file(ctx)
        self.words = _Words(self.config, self.test_file)
        self.candidate = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.candidate and _eval_function(node.name.value, self.words):
            self.candidate = True

    def _skipped(self, scope: _Scope) -> bool:
        """Test functions of a test suite: they exercise the code, they are not evaluation code."""
        if not self.test_file:
            return False
        s: _Scope | None = scope
        while s is not None:
            if s.is_function and s.name.startswith(("test", "_test")):
                return True
            if s.klass is not None and s.klass.name.value.startswith("Test"):
                return True
            s = s.parent
        return False

    def visit_For(self, node: cst.For) -> None:
        if not self.candidate and _eval_loop_data(node, self.words):
            self.candidate = True

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if not self.candidate:
            name = _data_name(_loop_iterable(node.iter))
            if name and self.words.classify(name)[0] == "eval" and _is_data_name(name):
                self.candidate = True

    def leave_Module(self, node: cst.Module) -> None:
        if not self.candidate:
            return
        index = _index_for(self.ctx)
        for run in self.runs(index):
            self.judge(index, run)

    def runs(self, index: _Index) -> list[_EvalRun]:
        out: list[_EvalRun] = []
        for scope in index.scopes:
            if self._skipped(scope):
                continue
            if scope.is_function and _eval_function(scope.name, self.words):
                run = self._first_run(index, scope, None, f"the evaluation function '{scope.name}'")
                if run is not None:
                    out.append(run)
                continue
            for _, loop, _ in scope.loops:
                data = _eval_loop_data(loop, self.words)
                if data:
                    run = self._first_run(index, scope, loop, f"the loop over '{data}'")
                    if run is not None:
                        out.append(run)
        return out

    def _first_run(self, index: _Index, scope: _Scope, region, desc: str) -> _EvalRun | None:
        for order, call, chain in scope.calls:
            if not _in_region(chain, region):
                continue
            model = _model_of_call(call)
            if model is None or index.ctx.qualname(call.func) is not None:
                continue
            if index.local_callees(call, scope) or (
                isinstance(call.func, cst.Name)
                and re.search(rf"^\s*(async\s+)?def {re.escape(call.func.value)}\b", self.ctx.source, re.MULTILINE)
            ):
                continue  # ``encoder(...)`` is a function of this file (maybe blanked by the prefilter)
            return _EvalRun(scope, region, call, chain, order, model, desc)
        return None

    def framework_method(self, index: _Index, scope: _Scope) -> bool:
        """A method of a network class (its mode and grad state are its caller's), or of a class with a base
        class (a framework's) that nothing here calls."""
        klass = scope.klass
        if klass is None:
            return False
        if _is_module_class(self.ctx, klass, index):
            return True
        callers = index.callers(scope)
        if callers:
            # Called only from hooks the framework runs in its own grad/eval state (a transformers
            # Pipeline's ``_forward`` runs under inference mode).
            return all(c.is_function and c.name in _GRAD_MANAGED_HOOKS and c.klass is klass for _, c, _ in callers)
        return any(dotted_name(b.value) != "object" for b in klass.bases)

    def judge(self, index: _Index, run: _EvalRun) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class EvalWithoutModelEval(_EvalRunRule):
    """Flags evaluation code that runs a model left in training mode.

    ## What it does
    Finds a model run (`model(x)`, `self.net(x)`, `model.module(x)`, `model.forward(x)`) in
    evaluation code — a function named for evaluation (`evaluate`, `validate`, `test`,
    `valid_one_epoch`, `predict`, `inference`, ...) or a loop over evaluation data
    (`for x, y in val_loader:`, `enumerate(tqdm(test_loader))`, `loaders['val']`) — when nothing switches
    the model to evaluation mode, and the model is visibly in training mode:

    - the same function builds it (`model = Net()`, `models.resnet18()`, `timm.create_model(...)`) or
      trains it (`model.train()`, a backward pass) and never calls `model.eval()`;
    - or it receives the model, and every caller in the file (followed up to three levels) builds or
      trains it without calling `.eval()` first (`model = Net(); train(model); test(model)`).

    Any `.eval()`, `.train(False)`, `.train(flag)` or call of a helper whose name says eval
    (`set_eval_mode(model)`) in the function, its callers, or a helper of this file it calls
    silences the rule, as do Lightning's `validation_step`/`test_step`/`predict_step` and the hooks
    of HF's `Trainer` (the framework switches the mode), models from `from_pretrained` (returned in
    evaluation mode), models whose origin is not visible (a function argument with no caller in
    the file, a pickled module from `torch.load`), networks of this file without any mode-dependent
    layer (no dropout, no batch norm: `.eval()` would change nothing, as in the CIFAR-10 tutorial),
    methods of `nn.Module` classes, and the test functions of a test suite. A model whose weights are
    loaded with `load_state_dict` and then run in the same function is left to NN408.

    ## Why is this bad?
    In training mode dropout still zeroes activations at random and batch norm normalises with the
    statistics of the evaluation batch (and updates its running averages with them). Validation
    metrics come out noisy and pessimistic, depend on the batch size, and the running statistics
    the model will use later are corrupted by the validation data.

    ## Example
    ```python
    def validate(model, loader):
        total = 0
        with torch.no_grad():
            for x, y in loader:
                total += (model(x).argmax(1) == y).sum().item()
        return total / len(loader.dataset)

    model = Net()
    for epoch in range(10):
        train_one_epoch(model, train_loader, optimizer)
        validate(model, val_loader)
    ```

    ## Use instead
    ```python
    def validate(model, loader):
        model.eval()
        total = 0
        with torch.no_grad():
            for x, y in loader:
                total += (model(x).argmax(1) == y).sum().item()
        return total / len(loader.dataset)
    ```

    ## Options
    `eval-patterns` / `train-patterns`: the words (matched against the word parts of names) that mark
    evaluation and training code and data, as for NN401.
    """

    code = "NN402"
    name = "eval-without-model-eval"
    message = "the model runs in evaluation code while in training mode; call model.eval() first"

    def judge(self, index: _Index, run: _EvalRun) -> None:
        scope = run.scope
        if index.sets_eval(scope):
            return
        if scope.is_function and self.framework_method(index, scope):
            return
        model = _strip_module(run.model)
        # ``model.load_state_dict(...); model(x)`` in one inference function: NN408's case.
        if not index.trains(scope, 1):
            for order, call, _ in scope.calls:
                if order < run.order and call_name(call) == "load_state_dict":
                    receiver = _receiver(call)
                    if receiver and _strip_module(receiver) == model:
                        return
        if index.model_verdict(scope, model) != "bug":
            return
        self.report(
            run.call,
            f"'{run.model}' runs in {run.desc} while in training mode (dropout active, batch norm using batch "
            f"statistics); call {model}.eval() before evaluating",
        )

    VALID = [
        # The standard evaluate function.
        """
        import torch

        def evaluate(model, loader, device):
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in loader:
                    correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
            return correct / len(loader.dataset)

        model = Net()
        evaluate(model, val_loader, "cuda")
        """,
        # eval() called by the caller right before the evaluation function.
        """
        import torch

        def validate(model, loader):
            with torch.no_grad():
                return sum(model(x).sum() for x, _ in loader)

        model = Net()
        for epoch in range(10):
            model.train()
            train_epoch(model)
            model.eval()
            validate(model, val_loader)
        """,
        # The transfer-learning tutorial: the mode follows the phase.
        """
        def train_model(model, dataloaders, criterion, optimizer, num_epochs=25):
            for epoch in range(num_epochs):
                for phase in ["train", "val"]:
                    if phase == "train":
                        model.train()
                    else:
                        model.eval()
                    for inputs, labels in dataloaders[phase]:
                        outputs = model(inputs)
        """,
        # Lightning: the trainer switches modes around validation_step.
        """
        import pytorch_lightning as pl

        class LitModel(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.model = Net()

            def validation_step(self, batch, batch_idx):
                x, y = batch
                return self.model(x)

            def test_step(self, batch, batch_idx):
                return self.model(batch[0])
        """,
        # A function that receives its model and has no caller in this file: its mode is not visible.
        """
        import torch

        @torch.no_grad()
        def evaluate(model, data_loader):
            for images, targets in data_loader:
                output = model(images)
        """,
        # from_pretrained returns the model in evaluation mode.
        """
        import torch
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased")
        with torch.no_grad():
            for batch in test_loader:
                logits = model(**batch).logits
        """,
        # The mode set through a helper, a computed mode, and eval() on the module wrapper.
        """
        def set_eval(m):
            m.eval()

        def test(model, loader):
            set_eval(model)
            for x, y in loader:
                model(x)

        def run_epoch(model, loader, training):
            model.train(training)
            for x, y in loader:
                model(x)

        def valid_one_epoch(model, valid_loader):
            model.module.eval()
            for x, y in valid_loader:
                model(x)

        model = Net()
        test(model, test_loader)
        """,
        # A pickled module: the mode it was saved in is not visible.
        """
        import torch

        model = torch.load("model.pt")
        for x, y in test_loader:
            preds = model(x)
        """,
        # Training code: a loop over the training data, and names that are not evaluation.
        """
        def train(model, train_loader, optimizer):
            model.train()
            for x, y in train_loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()

        def latest(model, contest_loader):
            for x in contest_loader:
                model(x)
        """,
        # load_state_dict then inference in one function: NN408 reports it.
        """
        import torch

        def predict(path, images):
            model = Net()
            model.load_state_dict(torch.load(path))
            return model(images)
        """,
        # The caller switches to eval mode after training, a global model evaluated in eval mode.
        """
        model = Net()

        def test():
            for x, y in test_loader:
                out = model(x)

        def main():
            train(model)
            model.eval()
            test()
        """,
        # A helper class that holds a model built elsewhere.
        """
        class Evaluator:
            def __init__(self, model):
                self.model = model

            def evaluate(self, loader):
                return [self.model(x) for x, _ in loader]
        """,
        # The CIFAR-10 tutorial: its Net has no dropout or batch norm, so the mode changes nothing.
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 6, 5)
                self.pool = nn.MaxPool2d(2, 2)
                self.fc1 = nn.Linear(16 * 5 * 5, 10)

            def forward(self, x):
                return self.fc1(torch.flatten(self.pool(F.relu(self.conv1(x))), 1))

        net = Net()
        for epoch in range(2):
            for inputs, labels in trainloader:
                optimizer.zero_grad()
                criterion(net(inputs), labels).backward()
                optimizer.step()
        with torch.no_grad():
            for images, labels in testloader:
                outputs = net(images)
        """,
        # Methods of a network class and test functions of a test suite.
        Valid(
            """
            import torch.nn as nn

            class Detector(nn.Module):
                def predict(self, images):
                    return self.backbone(images)

            def test_inference_runs():
                model = Detector()
                for x in test_loader:
                    model(x)
            """,
            path="tests/test_detector.py",
        ),
    ]
    INVALID = [
        # The caller builds the model and never calls eval().
        Invalid(
            """
            import torch

            def validate(model, loader):
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct / len(loader.dataset)

            def main():
                model = Net().cuda()
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                for epoch in range(10):
                    train_one_epoch(model, train_loader, optimizer)
                    validate(model, val_loader)
            """,
            line=8,
            message_contains="'model' runs in the evaluation function 'validate'",
        ),
        # A validation loop inside the training function, after model.train().
        Invalid(
            """
            import torch

            def fit(model, train_loader, val_loader, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
                    with torch.no_grad():
                        val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
            """,
            line=13,
            message_contains="the loop over 'val_loader'",
        ),
        # A script: the model is built at module level and tested without eval().
        Invalid(
            """
            import torch
            import torchvision

            net = torchvision.models.resnet18(num_classes=10)
            net.to("cuda")
            correct = 0
            with torch.no_grad():
                for images, labels in testloader:
                    outputs = net(images)
                    correct += (outputs.argmax(1) == labels).sum().item()
            """,
            line=10,
        ),
        # Kaggle shape: valid_one_epoch called from the fold loop; the training function sets train().
        Invalid(
            """
            import timm
            import torch

            def train_one_epoch(model, loader, optimizer):
                model.train()
                for images, labels in loader:
                    loss = criterion(model(images), labels)
                    loss.backward()
                    optimizer.step()

            def valid_one_epoch(model, loader):
                preds = []
                for images, labels in loader:
                    with torch.no_grad():
                        preds.append(model(images).softmax(1))
                return torch.cat(preds)

            def run_fold(fold):
                model = timm.create_model("tf_efficientnet_b4_ns", pretrained=True, num_classes=5)
                optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
                for epoch in range(10):
                    train_one_epoch(model, train_loader, optimizer)
                    preds = valid_one_epoch(model, valid_loader)
            """,
            line=16,
        ),
        # Two levels of callers: main -> fit -> evaluate.
        Invalid(
            """
            def evaluate(net, loader):
                return [net(x) for x, _ in loader]

            def fit(net, epochs):
                for epoch in range(epochs):
                    train_epoch(net)
                    evaluate(net, test_loader)

            def main():
                net = ConvNet()
                fit(net, 5)
            """,
            line=3,
        ),
        # A method of a trainer class whose loop trains, then validates inline.
        Invalid(
            """
            class Trainer:
                def __init__(self, cfg):
                    self.model = build_model(cfg)

                def fit(self, epochs):
                    for epoch in range(epochs):
                        self.model.train()
                        for batch in self.train_loader:
                            self.step(batch)
                        for x, y in self.val_loader:
                            out = self.model(x)
            """,
            line=12,
        ),
        # A global model tested by a function that a script calls.
        Invalid(
            """
            import torch

            model = CNN()

            def test():
                with torch.no_grad():
                    for x, y in test_loader:
                        out = model(x)

            train()
            test()
            """,
            line=9,
        ),
        # Inline model passed to the evaluation function, keyword argument.
        Invalid(
            """
            def predict(loader, model=None):
                return [model.forward(x) for x in loader]

            preds = predict(test_loader, model=MyNet())
            """,
            line=3,
        ),
    ]


_FROZEN_RE_TEMPLATE = r"{name}(\.\w+)*\.requires_grad_\(\s*False|in\s+{name}(\.\w+)*\.parameters\(\)\s*:\s*\n\s*\w+\.requires_grad\s*=\s*False"
_GRAD_TEXT = ("no_grad", "inference_mode", "set_grad_enabled", "enable_grad", "requires_grad", ".grad", "backward",
              "autograd", "vjp", "jvp", "jacobian", "hessian", "func.grad", "torch.func")


def _is_false(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def _is_true(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


# High-level predictors that disable gradients themselves.
_WRAPPER_MODULES = ("ultralytics", "yolov5", "sentence_transformers", "detectron2", "mmdet.apis", "mmseg.apis",
                    "torch.hub", "transformers.pipeline", "transformers.pipelines", "diffusers", "onnxruntime",
                    "tensorrt", "openvino")
_WRAPPER_CLASSES = frozenset(
    {"YOLO", "RTDETR", "SAM", "FastSAM", "NAS", "YOLOWorld", "YOLOE", "AutoShape", "DetectMultiBackend",
     "AutoBackend", "pipeline", "SentenceTransformer", "CrossEncoder", "SparseEncoder", "DefaultPredictor",
     "InferenceSession", "init_detector", "init_segmentor", "init_model", "from_config"}
)


class InferenceWithoutNoGrad(_EvalRunRule):
    """Flags evaluation code that runs a model with gradient tracking on.

    ## What it does
    Finds a model run (`model(x)`, `self.net(x)`, `model.module(x)`, `model.forward(x)`) in
    evaluation code — a function named for evaluation (`evaluate`, `validate`, `test`, `predict`,
    `inference`, ...) or a loop over evaluation data (`for x, y in val_loader:`) — that is not under
    `torch.no_grad()` / `torch.inference_mode()` / `torch.set_grad_enabled(False)`, in a function
    without a `@torch.no_grad()`/`@torch.inference_mode()` decorator, whose callers in the file do
    not wrap the call in one either.

    Silent: code that needs gradients (a `.backward()`, `torch.autograd.grad`, `requires_grad`,
    `enable_grad`, `torch.func`: adversarial attacks, Grad-CAM, saliency maps), any other mention of
    `no_grad`/`inference_mode`/`set_grad_enabled` in the function (the author handles it), a
    `torch.set_grad_enabled(False)` at module level, a model frozen with `requires_grad_(False)`,
    Lightning's `validation_step`/`test_step`/`predict_step` and HF `Trainer` hooks (the framework
    disables gradients), methods of framework classes that nothing in the file calls and of
    `nn.Module` classes, a `with` block of the project's own that names a mode
    (`with self._set_training_mode(False):`, `with evaluating(model):`), high-level predictors that
    disable gradients themselves (`YOLO(...)`, `pipeline(...)`, `SentenceTransformer`, `torch.hub`
    models), and the test functions of a test suite.

    ## Why is this bad?
    With gradients on, every forward pass records the autograd graph and keeps the activations it
    needs for a backward pass that never comes: evaluation uses several times the memory (large
    batches run out of memory) and runs slower. Outputs also carry `requires_grad=True`, so
    accumulating them keeps every batch's graph alive.

    ## Example
    ```python
    def evaluate(model, loader):
        model.eval()
        correct = 0
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
        return correct / len(loader.dataset)
    ```

    ## Use instead
    ```python
    @torch.no_grad()
    def evaluate(model, loader):
        model.eval()
        correct = 0
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
        return correct / len(loader.dataset)
    ```

    ## Options
    `eval-patterns` / `train-patterns`: the words that mark evaluation and training code and data,
    as for NN401.
    """

    code = "NN403"
    name = "inference-without-no-grad"
    message = "the model runs in evaluation code with gradient tracking on; wrap it in torch.no_grad()"

    def judge(self, index: _Index, run: _EvalRun) -> None:
        if self._grad_handled(index, run):
            return
        self.report(
            run.call,
            f"'{run.model}' runs in {run.desc} with gradient tracking on (it records the autograd graph and keeps "
            "activations alive); wrap the evaluation in torch.no_grad() or torch.inference_mode()",
        )

    def _grad_handled(self, index: _Index, run: _EvalRun) -> bool:  # noqa: C901
        scope = run.scope
        if self._under_grad_off(run.chain):
            return True
        if self._wrapper(index, scope, run.model):
            return True
        if scope.is_function and (scope.decorators or self.framework_method(index, scope)):
            return True
        text = self.ctx.code(run.region if run.region is not None else scope.node)
        if any(word in text for word in _GRAD_TEXT):
            return True
        if run.region is not None and scope.is_function:
            whole = self.ctx.code(scope.node)
            if any(w in whole for w in ("set_grad_enabled", "inference_mode", "enable_grad")):
                return True
        # A module-level ``torch.set_grad_enabled(False)`` (inference scripts).
        for _, call, _ in index.module_scope.calls:
            if call_name(call) == "set_grad_enabled" and _is_false(arg(call, 0, "mode")):
                return True
        # The model is frozen.
        root = re.escape(_strip_module(run.model))
        if re.search(_FROZEN_RE_TEMPLATE.format(name=root), self.ctx.source):
            return True
        if scope.is_function:
            for _, caller, chain in index.callers(scope):
                if self._under_grad_off(chain) or caller.decorators:
                    return True
                if caller.is_function and "set_grad_enabled" in self.ctx.code(caller.node):
                    return True
        return False

    def _wrapper(self, index: _Index, scope: _Scope, model: str) -> bool:
        """The "model" is a high-level predictor (``YOLO(...)``, ``pipeline(...)``, ``SentenceTransformer``):
        it runs its network under no_grad/inference_mode itself."""
        model = _strip_module(model)
        values: list[tuple[cst.BaseExpression, _Scope]] = []
        if _root(model) == "self" and scope.owner is not None:
            for method in index.class_methods.get(id(scope.owner), []):
                values.extend((v, method) for _, v in method.assigns.get(model, ()) if v is not None)
        else:
            home = index.binding_scope(scope, _root(model))
            if home is not None:
                values.extend((v, home) for _, v in home.assigns.get(_root(model), ()) if v is not None)
        for value, where in values:
            if not isinstance(value, cst.Call):
                continue
            if self._wrapper_call(value):
                return True
            for local in index.local_callees(value, where):
                if any(self._wrapper_call(c) for _, c, _ in local.calls):
                    return True
        return False

    def _wrapper_call(self, call: cst.Call) -> bool:
        qual = self.ctx.qualname(call.func) or ""
        if qual.startswith(_WRAPPER_MODULES):
            return True
        return (call_name(call) or "") in _WRAPPER_CLASSES

    @staticmethod
    def _under_grad_off(chain: tuple) -> bool:
        return any(isinstance(c, cst.With) and any(_grad_off_item(i) for i in c.items) for c in chain)

    VALID = [
        # A transformers-style pipeline: the framework runs ``_forward`` under inference mode.
        """
        import torch
        from transformers import Pipeline

        class TableQA(Pipeline):
            def batch_inference(self, **inputs):
                return self.model(**inputs)

            def _forward(self, model_inputs):
                return self.batch_inference(**model_inputs)
        """,
        # Not a network: pydantic's model_validate / model_dump in a validation function.
        """
        import torch
        from pydantic import BaseModel

        class Request(BaseModel):
            model: str

        def _validate_request(body, req):
            request = Request.model_validate(body, strict=True)
            return req.model_dump(), request
        """,
        # The standard forms: a with block, a decorator, inference_mode.
        """
        import torch

        def evaluate(model, loader):
            model.eval()
            with torch.no_grad():
                for x, y in loader:
                    out = model(x)

        @torch.no_grad()
        def validate(model, loader):
            model.eval()
            return [model(x) for x, _ in loader]

        @torch.inference_mode()
        def predict(model, images):
            return model(images).softmax(-1)
        """,
        # The caller wraps the call.
        """
        import torch

        def test(model, loader):
            model.eval()
            return [model(x) for x, _ in loader]

        def main():
            model = Net()
            with torch.no_grad():
                test(model, test_loader)
        """,
        # Gradients needed: adversarial evaluation and Grad-CAM.
        """
        import torch

        def evaluate_adversarial(model, loader, eps):
            model.eval()
            for x, y in loader:
                x.requires_grad_(True)
                loss = criterion(model(x), y)
                loss.backward()
                x_adv = x + eps * x.grad.sign()
                out = model(x_adv)

        def predict_cam(model, image):
            out = model(image)
            grads = torch.autograd.grad(out.max(), image)[0]
            return grads
        """,
        # set_grad_enabled keyed on the phase; a module-level switch.
        """
        import torch

        def run(model, loaders):
            for phase in ["train", "val"]:
                with torch.set_grad_enabled(phase == "train"):
                    for x, y in loaders[phase]:
                        out = model(x)
        """,
        """
        import torch

        torch.set_grad_enabled(False)
        model = Net()
        model.eval()
        for x in test_loader:
            preds = model(x)
        """,
        # Lightning and HF Trainer hooks.
        """
        import lightning as L
        from transformers import Trainer

        class Lit(L.LightningModule):
            def validation_step(self, batch, batch_idx):
                return self.model(batch["x"])

            def predict_step(self, batch, batch_idx):
                return self.model(batch)

        class MyTrainer(Trainer):
            def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
                return model(**inputs)
        """,
        # A frozen model and a training loop.
        """
        def extract_test_features(model, test_loader):
            model.requires_grad_(False)
            return [model(x) for x, _ in test_loader]

        def train(model, train_loader, opt):
            for x, y in train_loader:
                opt.zero_grad()
                criterion(model(x), y).backward()
                opt.step()
        """,
        # A context manager we cannot see into, and a training loop with an inline val loop under no_grad.
        """
        import torch

        def evaluate(model, loader, ctx):
            with ctx:
                return [model(x) for x, _ in loader]

        def fit(model, train_loader, val_loader, opt):
            for x, y in train_loader:
                criterion(model(x), y).backward()
                opt.step()
            with torch.no_grad():
                for x, y in val_loader:
                    model(x)
        """,
        # A method of an nn.Module (or other framework class) that nothing here calls.
        """
        import torch.nn as nn

        class Wrapper(nn.Module):
            def predict(self, x):
                return self.model(x)
        """,
        # High-level predictors run their network under inference mode themselves.
        """
        from ultralytics import YOLO

        class App:
            def __init__(self, path):
                self.model = YOLO(path)

            def inference(self, frame):
                return self.model(frame)
        """,
        # A project context manager that names the mode (it may switch gradients off).
        """
        class Runner:
            def predict_on_batch(self, x):
                with self._set_training_mode(False):
                    return self.network(x)
        """,
    ]
    INVALID = [
        Invalid(
            """
            def evaluate(model, loader):
                model.eval()
                correct = 0
                for x, y in loader:
                    correct += (model(x).argmax(1) == y).sum().item()
                return correct / len(loader.dataset)
            """,
            line=6,
            message_contains="evaluation function 'evaluate'",
        ),
        # An inline validation loop in a training script.
        Invalid(
            """
            import torch

            model = Net()
            optimizer = torch.optim.Adam(model.parameters())
            for epoch in range(10):
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                model.eval()
                val_loss = 0.0
                for x, y in val_loader:
                    val_loss += criterion(model(x), y).item()
            """,
            line=15,
            message_contains="loop over 'val_loader'",
        ),
        # Called outside no_grad by the caller.
        Invalid(
            """
            def predict(net, images):
                net.eval()
                return net(images).argmax(1)

            def main():
                net = Net()
                print(predict(net, batch))
            """,
            line=4,
        ),
        # A comprehension over the test loader, a Kaggle inference function.
        Invalid(
            """
            import numpy as np

            def inference(model, states, test_loader, device):
                probs = []
                for state in states:
                    model.load_state_dict(state["model"])
                    model.eval()
                    preds = [model(images.to(device)).softmax(1).cpu().numpy() for images in test_loader]
                    probs.append(np.concatenate(preds))
                return np.mean(probs, axis=0)
            """,
            line=9,
        ),
        # A method of a plain trainer class.
        Invalid(
            """
            class Trainer:
                def validate(self):
                    self.model.eval()
                    losses = []
                    for batch in self.val_loader:
                        losses.append(self.criterion(self.model(batch["x"]), batch["y"]).item())
                    return sum(losses) / len(losses)
            """,
            line=7,
        ),
        # enumerate(tqdm(...)) over a test loader at module level, model.forward.
        Invalid(
            """
            from tqdm import tqdm

            model.eval()
            for i, (x, y) in enumerate(tqdm(test_dataloader)):
                out = model.forward(x)
            """,
            line=6,
        ),
        # A transformer model in a validation function.
        Invalid(
            """
            def validation(model, dataloader, device):
                model.eval()
                total = 0.0
                for batch in dataloader:
                    outputs = model(input_ids=batch["input_ids"].to(device), labels=batch["labels"].to(device))
                    total += outputs.loss.item()
                return total / len(dataloader)
            """,
            line=6,
        ),
        # An autocast block is not a no_grad block.
        Invalid(
            """
            import torch

            def test_epoch(model, loader):
                model.eval()
                for x, y in loader:
                    with torch.autocast("cuda"):
                        out = model(x)
            """,
            line=8,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN404 eval-mode-not-restored
# ---------------------------------------------------------------------------------------------


def _final_only(test: cst.BaseExpression, code: str) -> bool:
    """``if epoch == epochs - 1:`` / ``if is_last:`` runs once at the end; ``if epoch % 5 == 0:`` does not."""
    if "%" in code:
        return False
    if "==" in code:
        return True
    return any(w in ("last", "final", "end", "finished", "done") for w in _words(code))


class EvalModeNotRestored(Rule):
    """Flags a training loop that switches the model to evaluation mode and never back.

    ## What it does
    Finds `model.eval()` (or `model.train(False)`, or a call of a function of this file that calls
    `.eval()` on the model it receives, such as `validate(model, val_loader)`) inside a loop that
    trains (a backward pass or an optimizer step, directly or in a function of this file it calls)
    when nothing in that loop switches back to training mode: no `model.train()` in the loop body,
    in the training function it calls (`train_one_epoch` with `model.train()` at its top counts), or
    in the evaluation function itself (one that restores the mode at its end).

    The innermost training loop around the `.eval()` is checked, so an evaluation every N steps
    inside the batch loop needs its `model.train()` inside that loop. Silent: models that are not
    trained in the loop (an EMA copy, a frozen teacher: their parameters go to no optimizer), an
    evaluation guarded by `if epoch == epochs - 1:` (the last epoch only), and training functions
    of other modules (`engine.train_one_epoch(...)`: they may set the mode themselves), and networks
    of this file without dropout or batch norm (the mode changes nothing).

    ## Why is this bad?
    `model.train()` called once before the epoch loop only covers the first epoch: after the first
    validation the model stays in evaluation mode, so dropout is off and batch norm stops updating its
    statistics and normalises with stale running averages for the rest of training. The model still
    trains, just worse, and nothing fails.

    ## Example
    ```python
    model.train()
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        validate(model, val_loader)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        validate(model, val_loader)
    ```
    """

    code = "NN404"
    name = "eval-mode-not-restored"
    message = "model.eval() inside the training loop is never undone; call model.train() at the top of each epoch"
    requires = ((".eval(", ".train(False", ".train(mode=False"), ("backward(", ".train(", "epoch"))

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.candidate = False

    def visit_Call(self, node: cst.Call) -> None:
        if not self.candidate:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("eval", "train"):
                self.candidate = True

    def leave_Module(self, node: cst.Module) -> None:
        if not self.candidate:
            return
        index = _index_for(self.ctx)
        for scope in index.scopes:
            if not any(isinstance(loop, (cst.For, cst.While)) for _, loop, _ in scope.loops):
                continue
            for _, call, chain in scope.calls:
                loops = [c for c in chain if isinstance(c, (cst.For, cst.While))]
                if not loops:
                    continue
                site = self._eval_site(index, scope, call)
                if site is None:
                    continue
                target = next((loop for loop in reversed(loops) if index.trains(scope, 3, region=loop)), None)
                if target is None or index.sets_train(scope, 3, region=target):
                    continue
                inner = chain[[i for i, c in enumerate(chain) if c is target][0] + 1:]
                if any(isinstance(c, cst.If) and _final_only(c.test, self.ctx.code(c.test)) for c in inner):
                    continue
                if not self._trained(index, scope, target, site):
                    continue
                home = index.binding_scope(scope, _root(site)) if "." not in site else None
                if home is not None and index.mode_free(home, site):
                    continue
                text = " ".join(self.ctx.code(call).split())
                if len(text) > 50:
                    text = text[:47] + "..."
                how = "" if _mode(call) == "eval" else f" (it calls {site}.eval())"
                self.report(
                    call,
                    f"'{text}' switches '{site}' to evaluation mode inside the training loop{how}, and nothing in "
                    f"the loop switches it back: from the next iteration on it trains with dropout off and frozen "
                    f"batch-norm statistics; call {site}.train() at the start of each epoch",
                )

    @staticmethod
    def _eval_site(index: _Index, scope: _Scope, call: cst.Call) -> str | None:
        """The model a call switches to evaluation mode (``model.eval()``, ``validate(model)``), else None."""
        mode = _mode(call)
        if mode == "eval":
            receiver = _receiver(call)
            return _strip_module(receiver) if receiver else None
        for callee in index.local_callees(call, scope):
            for m, receiver, _, _ in index.direct_modes(callee):
                if m != "eval" or not receiver:
                    continue
                root = _root(receiver)
                if root == "self":
                    if isinstance(call.func, cst.Attribute) and callee.klass is not None:
                        return _strip_module(receiver)
                    continue
                if root in callee.params:
                    expr = index.bound_arg(call, callee, root)
                    name = dotted_name(expr) if expr is not None else None
                    if name:
                        rest = receiver[len(root):]
                        return _strip_module(name + rest)
                    continue
                if root not in callee.assigns:
                    return _strip_module(receiver)  # a global model
        return None

    @staticmethod
    def _trained(index: _Index, scope: _Scope, loop: cst.CSTNode, model: str) -> bool:
        """The model switched to evaluation mode is the one trained in the loop (not an EMA or a teacher)."""
        if index.optimized(model):
            return True
        # Without a visible optimizer over some parameters, a model run (outside no_grad) in a loop that
        # calls backward itself is taken for the trained one.
        direct = index.trains(scope, 0, region=loop) and not any(".parameters(" in t for t in index.optimizer_args)
        for _, call, chain in scope.calls:
            if not _in_region(chain, loop):
                continue
            func = dotted_name(call.func)
            if (
                direct
                and func
                and _strip_module(func.removesuffix(".forward")) == model
                and not InferenceWithoutNoGrad._under_grad_off(chain)
            ):
                return True
            for a in call.args:
                name = dotted_name(a.value)
                if name and _strip_module(name) == model:
                    if any(index.trains(c, 2) for c in index.local_callees(call, scope)):
                        return True
        return False

    VALID = [
        # train() at the top of every epoch.
        """
        for epoch in range(epochs):
            model.train()
            for x, y in train_loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            model.eval()
            evaluate(model, val_loader)
        """,
        # The training function of this file calls model.train() itself.
        """
        def train_one_epoch(model, loader, optimizer):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()

        def validate(model, loader):
            model.eval()
            return [model(x) for x, _ in loader]

        def main():
            model = Net()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(10):
                train_one_epoch(model, train_loader, optimizer)
                validate(model, val_loader)
        """,
        # The evaluation function restores the mode at its end.
        """
        def evaluate(model, loader):
            model.eval()
            out = [model(x) for x, _ in loader]
            model.train()
            return out

        model.train()
        for step, (x, y) in enumerate(train_loader):
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            if step % 500 == 0:
                evaluate(model, val_loader)
        """,
        # An EMA copy / a frozen teacher switched to eval mode: not the trained model.
        """
        import torch

        optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
        teacher.train()
        for epoch in range(10):
            teacher.eval()
            for x, y in loader:
                with torch.no_grad():
                    t = teacher(x)
                loss = kd_loss(student(x), t)
                loss.backward()
                optimizer.step()
        """,
        # The mode follows the phase.
        """
        for epoch in range(num_epochs):
            for phase in ["train", "val"]:
                if phase == "train":
                    model.train()
                else:
                    model.eval()
                for inputs, labels in dataloaders[phase]:
                    loss = criterion(model(inputs), labels)
                    if phase == "train":
                        loss.backward()
                        optimizer.step()
        """,
        # Evaluation only after the last epoch, and after the loop.
        """
        model.train()
        for epoch in range(epochs):
            for x, y in train_loader:
                criterion(model(x), y).backward()
                optimizer.step()
            if epoch == epochs - 1:
                model.eval()
                test(model)
        model.eval()
        """,
        # A training function of another module: it may switch the mode itself.
        """
        from engine import train_one_epoch

        for epoch in range(args.epochs):
            train_one_epoch(model, criterion, data_loader, optimizer, device, epoch)
            optimizer.step()
            model.eval()
            evaluate(model, data_loader_val)
        """,
        # An evaluation loop without training, and train(flag) computed per phase.
        """
        for epoch in range(10):
            model.eval()
            for x, _ in test_loader:
                model(x)

        for epoch in range(10):
            for phase in ("train", "val"):
                model.train(phase == "train")
                for x, y in loaders[phase]:
                    criterion(model(x), y).backward()
                    optimizer.step()
        """,
        # A network without dropout or batch norm: the mode changes nothing.
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 2)

            def forward(self, x):
                return self.fc(x)

        model = Net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(5):
            for x, y in train_loader:
                criterion(model(x), y).backward()
                optimizer.step()
            model.eval()
            evaluate(model, val_loader)
        """,
    ]
    INVALID = [
        # train() once before the loop.
        Invalid(
            """
            import torch

            model = Net()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            model.train()
            for epoch in range(20):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    val_loss = sum(criterion(model(x), y) for x, y in val_loader)
            """,
            line=13,
            message_contains="'model.eval()' switches 'model' to evaluation mode",
        ),
        # The validation function switches the mode; the training function of this file never calls train().
        Invalid(
            """
            def train_epoch(net, loader, opt):
                for x, y in loader:
                    opt.zero_grad()
                    criterion(net(x), y).backward()
                    opt.step()

            def validate(net, loader):
                net.eval()
                return sum(criterion(net(x), y).item() for x, y in loader)

            def main():
                net = ResNet()
                opt = torch.optim.SGD(net.parameters(), lr=0.1)
                for epoch in range(90):
                    train_epoch(net, train_loader, opt)
                    validate(net, val_loader)
            """,
            line=17,
            message_contains="it calls net.eval()",
        ),
        # An evaluation every N steps inside the batch loop: the rest of the epoch trains in eval mode.
        Invalid(
            """
            for epoch in range(epochs):
                model.train()
                for step, (x, y) in enumerate(train_loader):
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    if step % 100 == 0:
                        model.eval()
                        evaluate(model, val_loader)
            """,
            line=9,
        ),
        # A trainer class: fit() never calls train(), validate() switches to eval.
        Invalid(
            """
            import torch

            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.optimizer = torch.optim.Adam(self.model.parameters())

                def train_epoch(self):
                    for x, y in self.train_loader:
                        self.optimizer.zero_grad()
                        self.loss(self.model(x), y).backward()
                        self.optimizer.step()

                def validate(self):
                    self.model.eval()
                    return [self.model(x) for x, _ in self.val_loader]

                def fit(self, epochs):
                    self.model.train()
                    for epoch in range(epochs):
                        self.train_epoch()
                        self.validate()
            """,
            line=23,
        ),
        # A while loop over steps with periodic evaluation; train(False) form.
        Invalid(
            """
            step = 0
            model.train()
            while step < max_steps:
                batch = next(it)
                loss = model(batch).loss
                loss.backward()
                optimizer.step()
                step += 1
                if step % eval_every == 0:
                    model.train(False)
                    run_eval(model)
            """,
            line=11,
        ),
        # A GAN generator put in eval mode to sample images each epoch.
        Invalid(
            """
            import torch

            optG = torch.optim.Adam(netG.parameters(), lr=2e-4)
            for epoch in range(100):
                for real, _ in loader:
                    fake = netG(torch.randn(64, 100))
                    lossG = criterion(netD(fake), ones)
                    lossG.backward()
                    optG.step()
                netG.eval()
                with torch.no_grad():
                    samples = netG(fixed_noise)
            """,
            line=11,
        ),
        # Global model, validation helper that evaluates it.
        Invalid(
            """
            def validation():
                model.eval()
                return [model(x) for x, _ in val_loader]

            for epoch in range(num_epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(x), y).backward()
                    optimizer.step()
                validation()
            """,
            line=11,
        ),
        # model.module.eval() under DDP.
        Invalid(
            """
            model.train()
            for epoch in range(start_epoch, args.epochs):
                sampler.set_epoch(epoch)
                for images, target in train_loader:
                    loss = criterion(model(images), target)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                model.module.eval()
                acc = evaluate(model, val_loader)
            """,
            line=10,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN405 / NN406 / NN410: the role of a DataLoader (training or evaluation data)
# ---------------------------------------------------------------------------------------------

# Loaders made to look at a few random samples, not to compute a metric.
_SAMPLE_WORDS = frozenset(
    {"vis", "viz", "visual", "visualize", "visualise", "visualization", "sample", "samples", "sampling", "plot",
     "show", "display", "demo", "preview", "debug", "example", "examples", "calib", "calibration", "probe",
     "inspect", "tsne", "umap", "gallery", "grid", "image", "images", "fid", "mining", "hard", "pseudo",
     "unlabeled", "unlabelled", "unsup", "semi", "ssl", "contrastive", "memory", "bank", "support", "query",
     "episode", "episodic", "few", "shot", "meta", "adapt", "adaptation", "tent", "ttt", "finetune", "tune"}
)
_STREAM_TEXT = ("IterableDataset", "streaming", "webdataset", "wds.", "IterDataPipe", "to_iterable_dataset",
                "make_private",
                ".shuffle(", "random.shuffle", "np.random.shuffle", "permutation(", "sample(frac", "randperm(",
                "shuffle_", "shuffled")


class _LoaderRule(Rule):
    """Shared by NN405/NN406/NN410: a torch ``DataLoader`` call and the role of the data it loads."""

    options = {"eval-patterns": _DEFAULT_EVAL, "train-patterns": _DEFAULT_TRAIN}
    requires = ("DataLoader",)

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.test_file = _test_file(ctx)
        self.words = _Words(self.config, self.test_file)

    def loader_call(self, call: cst.Call) -> bool:
        if self.test_file:
            return False  # a test suite's loaders feed assertions, not training or metrics
        qual = self.ctx.qualname(call.func) or ""
        if not qual.startswith("torch.utils.data") or not qual.endswith("DataLoader"):
            return False
        return not any(a.star for a in call.args)

    def role(self, call: cst.Call) -> tuple[str | None, str]:  # noqa: C901
        """('train' | 'eval' | None, the name that says so) for the data a DataLoader call loads."""
        words = self.words
        names: list[str] = []
        stack = self.ctx.stack
        child: cst.CSTNode = call
        for i in range(len(stack) - 1, -1, -1):
            anc = stack[i]
            if isinstance(anc, cst.Arg):
                if anc.keyword is not None:
                    if anc.keyword.value not in ("dataset", "loader", "dataloader"):
                        names.append(anc.keyword.value)
                    break
            elif isinstance(anc, (cst.Tuple, cst.List)):
                position = next((j for j, e in enumerate(anc.elements) if e is child), None)
                parent = stack[i - 1] if i > 0 else None
                if position is not None and isinstance(parent, cst.Assign) and len(parent.targets) == 1:
                    target = parent.targets[0].target
                    if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == len(anc.elements):
                        names.append(_data_name(target.elements[position].value) or "")
                    break
            elif isinstance(anc, cst.DictElement):
                if child is anc.value:
                    key = string_value(anc.key) if isinstance(anc.key, cst.SimpleString) else dotted_name(anc.key)
                    names.append(key or "")
                break
            elif isinstance(anc, (cst.Assign, cst.AnnAssign)):
                if child is anc.value:
                    targets = [t.target for t in anc.targets] if isinstance(anc, cst.Assign) else [anc.target]
                    names.extend(_data_name(t) or "" for t in targets)
                break
            elif isinstance(anc, cst.Return):
                fn = self.ctx.function
                if fn is not None and any(w in _DATA_NOUNS for w in _words(fn.name.value)):
                    names.append(fn.name.value)
                break
            elif not isinstance(anc, (cst.Call, cst.Element, cst.IfExp, cst.Await)):
                break
            child = anc
        decided: tuple[str | None, str] | None = None
        for name in names:
            if not name:
                continue
            if any(w in _SAMPLE_WORDS for w in _words(name)):
                return None, ""
            kind, _ = words.classify(name)
            if kind == "tta":
                return None, ""
            if kind in ("train", "eval"):
                decided = (kind, name)
                break
        dataset = arg(call, 0, "dataset")
        if decided is None and dataset is not None:
            decided = self._dataset_role(dataset)
            if decided is not None and decided[0] == "train" and not self._trains_here():
                return None, ""  # a training set read by code that does not train (evaluation, plots)
        if decided is None:
            return None, ""
        if dataset is not None:
            ds_name = _data_name(dataset) or ""
            if any(w in _SAMPLE_WORDS for w in _words(ds_name)):
                return None, ""
        return decided

    def _trains_here(self) -> bool:
        scope = self.ctx.function
        text = self.ctx.code(scope) if scope is not None else self.ctx.source
        return any(w in text for w in ("backward(", "optimizer", ".step(", ".fit(", "train(", "Trainer("))

    def _dataset_role(self, dataset: cst.BaseExpression) -> tuple[str | None, str] | None:
        name = _data_name(dataset)
        if name:
            if any(w in _SAMPLE_WORDS for w in _words(name)):
                return None, ""
            kind, _ = self.words.classify(name)
            if kind in ("train", "eval"):
                return kind, name
            return None
        if isinstance(dataset, cst.Call):
            for a in dataset.args:
                key = a.keyword.value if a.keyword is not None else None
                if key in _TRAIN_FLAGS and isinstance(a.value, cst.Name) and a.value.value in ("True", "False"):
                    return ("train" if a.value.value == "True" else "eval"), f"{key}={a.value.value}"
                if key in _SPLIT_KEYWORDS:
                    text = string_value(a.value)
                    if text is not None:
                        kind, _ = self.words.classify(text)
                        if kind in ("train", "eval"):
                            return kind, f"{key}={text!r}"
            callee = dotted_name(dataset.func)
            if callee:
                last = callee.rsplit(".", 1)[-1]
                kind, _ = self.words.classify(last)
                if kind in ("train", "eval"):
                    return kind, last
        return None


class ShuffledEvalLoader(_LoaderRule):
    """Flags `shuffle=True` on a validation or test `DataLoader`.

    ## What it does
    Finds `torch.utils.data.DataLoader(..., shuffle=True)` (keyword or third positional argument)
    whose data is for evaluation: the loader is assigned to (or returned by a function, or passed as
    a keyword, or stored under a dict key) named for validation or test (`val_loader`,
    `self.test_dl`, `loaders['val']`, `def val_dataloader(self)`), or it loads a data set named for
    evaluation (`val_set`, `test_dataset`, `CIFAR10(..., train=False)`, `split='test'`). Names are
    matched by their word parts as for NN401; training words win (`train_val_loader`).

    Silent: loaders meant to draw random samples (`vis_loader`, `sample_loader`, `calib_loader`,
    pseudo-labelling and few-shot episodes, a loader read through `next(iter(loader))`), a `shuffle`
    computed from the split (`shuffle=(split == 'train')`), one loader built for every split by a
    dict comprehension, loaders whose role no name tells, and test suites.

    ## Why is this bad?
    Evaluation does not need shuffling, and it costs: predictions come back in a random order, so
    anything that lines them up with the data set (saved predictions, per-sample errors, a
    submission file, `dataset.targets`) silently mismatches; per-batch logs and a run capped at N
    batches differ from run to run; and the shuffle draws from the global random generator, so adding
    a validation pass changes the training run's random stream.

    ## Example
    ```python
    val_loader = DataLoader(val_set, batch_size=256, shuffle=True)
    ```

    ## Use instead
    ```python
    val_loader = DataLoader(val_set, batch_size=256, shuffle=False)
    ```

    ## Fix safety
    The fix sets `shuffle=False`. It is unsafe, although metrics averaged over the whole data set are
    the same in any order: a shuffling loader draws a seed from the global random generator every
    epoch, so without it the rest of a seeded run (training shuffles, dropout masks) draws different
    numbers; and a loop that stops after a few batches now sees the first batches of the data set
    instead of random ones. (A loader read only through `next(iter(loader))` is not reported: there
    the shuffle picks a random subset.)

    ## Options
    `eval-patterns` / `train-patterns`: the words that mark evaluation and training data, as for NN401.
    """

    code = "NN405"
    name = "shuffled-eval-loader"
    message = "shuffle=True on an evaluation DataLoader; evaluation data needs no shuffling: use shuffle=False"
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        if not self.loader_call(node):
            return
        value = arg(node, 2, "shuffle")
        if not _is_true(value):
            return
        kind, name = self.role(node)
        if kind != "eval" or self._sampled(name):
            return
        assert value is not None
        self.report(
            value,
            f"shuffle=True on the evaluation DataLoader of '{name}': evaluation needs no shuffling, and shuffled "
            "predictions no longer line up with the data set; use shuffle=False",
            fix=self.fix("unsafe", (value, "False"), description="shuffle=False"),
        )

    def _sampled(self, name: str) -> bool:
        """The loader is read partially (``next(iter(test_loader))``): the shuffle draws a random subset."""
        source = self.ctx.source
        return f"next(iter({name}))" in source or f"next(iter({name}" in source or f"islice({name}" in source

    VALID = [
        """
        from torch.utils.data import DataLoader

        train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
        val_loader = DataLoader(val_set, batch_size=256, shuffle=False)
        test_loader = DataLoader(test_set, batch_size=256)
        """,
        # The fixed form.
        """
        import torch

        testloader = torch.utils.data.DataLoader(testset, batch_size=4, shuffle=False, num_workers=2)
        """,
        # shuffle computed from the split; one builder for every split.
        """
        from torch.utils.data import DataLoader

        def make_loader(dataset, split):
            return DataLoader(dataset, batch_size=32, shuffle=(split == "train"))

        loaders = {x: DataLoader(datasets[x], batch_size=4, shuffle=True) for x in ["train", "val"]}
        """,
        # A loader for looking at random validation images.
        """
        from torch.utils.data import DataLoader

        vis_loader = DataLoader(val_set, batch_size=16, shuffle=True)
        sample_loader = DataLoader(test_dataset, batch_size=8, shuffle=True)
        """,
        # Training words win; another library's DataLoader.
        """
        from torch.utils.data import DataLoader
        from torch_geometric.loader import DataLoader as GeoLoader

        train_val_loader = DataLoader(trainval_set, batch_size=64, shuffle=True)
        test_graphs = GeoLoader(test_dataset, batch_size=32, shuffle=True)
        """,
        # Unit tests of a data module: "test" is the test suite.
        Valid(
            """
            import pytest
            from torch.utils.data import DataLoader

            def test_loader_shapes():
                test_loader = DataLoader(range(10), batch_size=2, shuffle=True)
                assert len(test_loader) == 5
            """,
            path="tests/test_data.py",
        ),
        # No name says evaluation.
        """
        import torch.utils.data as data

        loader = data.DataLoader(dataset, batch_size=32, shuffle=True)
        """,
        # Custom vocabulary.
        Valid(
            """
            from torch.utils.data import DataLoader

            val_loader = DataLoader(val_set, shuffle=True)
            """,
            options={"eval-patterns": ["holdout"]},
        ),
        # Pseudo-labelling trains on the unlabelled test images.
        """
        from torch.utils.data import DataLoader

        pseudo_loader = DataLoader(test_set, batch_size=64, shuffle=True)
        """,
        # The fixed positional form, and a random subset drawn with next(iter(...)).
        """
        import torchvision
        from torch.utils import data

        loader = data.DataLoader(torchvision.datasets.MNIST("data", train=False), 1000, False)
        """,
        """
        import torch
        from torch.utils import data

        torch.manual_seed(0)
        test_loader = data.DataLoader(imagenet_val, batch_size=5000, shuffle=True)
        x, y = next(iter(test_loader))
        """,
    ]
    INVALID = [
        Invalid(
            """
            from torch.utils.data import DataLoader

            val_loader = DataLoader(val_set, batch_size=256, shuffle=True)
            """,
            line=4,
            message_contains="'val_loader'",
            fixed="""
            from torch.utils.data import DataLoader

            val_loader = DataLoader(val_set, batch_size=256, shuffle=False)
            """,
        ),
        # The CIFAR tutorial shape with an import alias.
        Invalid(
            """
            import torch

            testloader = torch.utils.data.DataLoader(testset, batch_size=4, shuffle=True, num_workers=2)
            """,
            fixed="""
            import torch

            testloader = torch.utils.data.DataLoader(testset, batch_size=4, shuffle=False, num_workers=2)
            """,
        ),
        # Lightning val_dataloader, multi-line call.
        Invalid(
            """
            import pytorch_lightning as pl
            from torch.utils.data import DataLoader

            class Data(pl.LightningDataModule):
                def val_dataloader(self):
                    return DataLoader(
                        self.val_ds,
                        batch_size=self.batch_size,
                        shuffle=True,
                    )
            """,
            line=10,
        ),
        # Dict entry and keyword argument.
        Invalid(
            """
            from torch.utils.data import DataLoader as DL

            loaders = {"train": DL(train_ds, shuffle=True), "valid": DL(valid_ds, batch_size=64, shuffle=True)}
            trainer.fit(model, val_dataloaders=DL(val_ds, shuffle=True))
            """,
            count=2,
        ),
        # Positional shuffle and a data set built with train=False.
        Invalid(
            """
            import torchvision
            from torch.utils import data

            loader = data.DataLoader(torchvision.datasets.MNIST("data", train=False), 1000, True)
            """,
            message_contains="train=False",
            fixed="""
            import torchvision
            from torch.utils import data

            loader = data.DataLoader(torchvision.datasets.MNIST("data", train=False), 1000, False)
            """,
        ),
        # Attribute target, dataset named for test.
        Invalid(
            """
            from torch.utils.data import DataLoader

            class Runner:
                def setup(self):
                    self.test_dl = DataLoader(self.test_data, batch_size=32, shuffle=True, num_workers=4)
            """,
            line=6,
        ),
        # A tuple assignment of loaders.
        Invalid(
            """
            from torch.utils.data import DataLoader

            train_loader, val_loader = (
                DataLoader(train_ds, batch_size=32, shuffle=True),
                DataLoader(val_ds, batch_size=32, shuffle=True),
            )
            """,
            count=1,
            line=6,
        ),
        # Hold-out split named by a function that returns the loader.
        Invalid(
            """
            import torch

            def get_test_loader(dataset):
                return torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
            """,
            line=5,
        ),
    ]


class UnshuffledTrainLoader(_LoaderRule):
    """Flags a training `DataLoader` that does not shuffle.

    ## What it does
    Finds `torch.utils.data.DataLoader(...)` for training data — assigned to (or returned by a function,
    or stored under a key) named for training (`train_loader`, `trainloader`, `self.train_dl`,
    `loaders['train']`, `def train_dataloader(self)`), or loading a data set named for training
    (`train_set`, `CIFAR10(..., train=True)`, `split='train'`) in code that trains (a backward pass,
    an optimizer, a `fit`) — with neither `shuffle` (keyword or third positional argument), nor
    `sampler` nor `batch_sampler`.

    Silent: an explicit `shuffle=False` (a deliberate choice: time series, pre-shuffled shards),
    `shuffle=<expression>`, any sampler (`DistributedSampler`, `WeightedRandomSampler`), `**kwargs`
    (they may hold `shuffle`), `batch_size=None`, and files that stream or shuffle their data
    themselves (`IterableDataset`, `streaming=True`, WebDataset, `dataset.shuffle(...)`,
    `random.shuffle`, `np.random.permutation`, `torch.randperm`, Opacus' `make_private`, which
    replaces the sampler), a training set read by code that does not train (accuracy on the training
    data, plots), and test suites.

    ## Why is this bad?
    Without `shuffle`, every epoch sees the batches in the data set's order, which is often sorted
    (`ImageFolder` by class, a dataframe by date or by patient). Batches then hold one class at a time,
    gradients swing between classes, batch norm statistics are biased, and the model may not learn
    at all; even a random order fixed once makes every epoch repeat the same batches.

    ## Example
    ```python
    train_loader = DataLoader(train_set, batch_size=64, num_workers=4)
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)
    ```

    ## Fix safety
    The fix adds `shuffle=True`. It is unsafe: it changes the order of the training batches, so the
    run (and its random stream) changes.

    ## Options
    `eval-patterns` / `train-patterns`: the words that mark evaluation and training data, as for NN401.
    """

    code = "NN406"
    name = "unshuffled-train-loader"
    message = "training DataLoader without shuffle or a sampler: batches come in data set order; pass shuffle=True"
    fixable = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.streams = any(t in ctx.source for t in _STREAM_TEXT)

    def visit_Call(self, node: cst.Call) -> None:
        if self.streams or not self.loader_call(node):
            return
        if any(arg(node, i, k) is not None for i, k in ((2, "shuffle"), (3, "sampler"), (4, "batch_sampler"))):
            return
        batch = arg(node, 1, "batch_size")
        if isinstance(batch, cst.Name) and batch.value == "None":
            return
        kind, name = self.role(node)
        if kind != "train":
            return
        edit = _append_kwarg_fix(self, node, "shuffle=True")
        self.report(
            node,
            f"the training DataLoader of '{name}' neither shuffles nor samples: every epoch sees the batches in "
            "data set order (often sorted by class); pass shuffle=True",
            fix=self.fix("unsafe", edit, description="shuffle=True") if edit else None,
        )

    VALID = [
        """
        from torch.utils.data import DataLoader

        train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)
        val_loader = DataLoader(val_set, batch_size=256)
        """,
        # The fixed form of a multi-line call.
        """
        import torch

        trainloader = torch.utils.data.DataLoader(
            trainset,
            batch_size=128,
            num_workers=2, shuffle=True,
        )
        """,
        # Samplers.
        """
        import torch
        from torch.utils.data import DataLoader, DistributedSampler

        train_loader = DataLoader(train_ds, batch_size=32, sampler=DistributedSampler(train_ds))
        train_dl = DataLoader(train_ds, batch_sampler=bucket_sampler)
        """,
        # Explicit shuffle=False, a computed shuffle, positional shuffle, **kwargs.
        """
        from torch.utils.data import DataLoader

        train_loader = DataLoader(train_windows, batch_size=64, shuffle=False)
        train_loader2 = DataLoader(train_set, batch_size=64, shuffle=args.shuffle)
        train_loader3 = DataLoader(train_set, 64, True)
        train_loader4 = DataLoader(train_set, **train_kwargs)
        """,
        # A streaming data set.
        """
        from datasets import load_dataset
        from torch.utils.data import DataLoader

        train_ds = load_dataset("c4", "en", split="train", streaming=True)
        train_loader = DataLoader(train_ds, batch_size=8)
        """,
        # An IterableDataset of this file.
        """
        from torch.utils.data import DataLoader, IterableDataset

        class Shards(IterableDataset):
            def __iter__(self):
                yield from read_shards()

        train_loader = DataLoader(Shards(), batch_size=None)
        """,
        # Evaluation loaders and neutral names.
        """
        import torch

        test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
        loader = torch.utils.data.DataLoader(dataset, batch_size=32)
        """,
        # The data shuffled by hand before the loader.
        """
        import random
        from torch.utils.data import DataLoader

        random.shuffle(train_files)
        train_loader = DataLoader(FileDataset(train_files), batch_size=16)
        """,
        # Another library's loader.
        """
        from torch_geometric.loader import DataLoader

        train_loader = DataLoader(train_graphs, batch_size=32)
        """,
        # A training set read in order by code that does not train (accuracy on the training set, plots).
        """
        from torch.utils.data import DataLoader

        def train_accuracy(model, train_data):
            correct = 0
            for x, y in DataLoader(train_data, batch_size=256):
                correct += (model(x).argmax(1) == y).sum().item()
            return correct / len(train_data)
        """,
        # Opacus replaces the sampler with Poisson sampling.
        """
        import torch
        from opacus import PrivacyEngine

        train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=256)
        model, optimizer, train_loader = PrivacyEngine().make_private(
            module=model, optimizer=optimizer, data_loader=train_loader, noise_multiplier=1.0, max_grad_norm=1.0
        )
        """,
        # A test suite.
        Valid(
            """
            import pytest
            from torch.utils.data import DataLoader

            def test_pipeline():
                loaders = {"train": DataLoader(trainset, batch_size=32)}
                run(loaders)
            """,
            path="tests/test_pipeline.py",
        ),
        # The fixed forms.
        """
        from torch.utils.data import DataLoader

        train_loader = DataLoader(train_set, batch_size=64, num_workers=4, shuffle=True)
        """,
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        train_dl = DataLoader(TensorDataset(torch.tensor(X_train), torch.tensor(y_train)), 64, shuffle=True)
        """,
    ]
    INVALID = [
        Invalid(
            """
            from torch.utils.data import DataLoader

            train_loader = DataLoader(train_set, batch_size=64, num_workers=4)
            """,
            line=4,
            message_contains="'train_loader'",
            fixed="""
            from torch.utils.data import DataLoader

            train_loader = DataLoader(train_set, batch_size=64, num_workers=4, shuffle=True)
            """,
        ),
        # Multi-line call with a trailing comma.
        Invalid(
            """
            import torch

            trainloader = torch.utils.data.DataLoader(
                trainset,
                batch_size=128,
                num_workers=2,
            )
            """,
            fixed="""
            import torch

            trainloader = torch.utils.data.DataLoader(
                trainset,
                batch_size=128,
                num_workers=2, shuffle=True,
            )
            """,
        ),
        # Lightning train_dataloader.
        Invalid(
            """
            import lightning as L
            from torch.utils.data import DataLoader

            class MNISTData(L.LightningDataModule):
                def train_dataloader(self):
                    return DataLoader(self.mnist_train, batch_size=self.batch_size)
            """,
            line=7,
            message_contains="train_dataloader",
        ),
        # TensorDataset of training arrays, positional batch size.
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader, TensorDataset

            train_dl = DataLoader(TensorDataset(torch.tensor(X_train), torch.tensor(y_train)), 64)
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader, TensorDataset

            train_dl = DataLoader(TensorDataset(torch.tensor(X_train), torch.tensor(y_train)), 64, shuffle=True)
            """,
        ),
        # A data set built with train=True, dict entry.
        Invalid(
            """
            import torchvision
            from torch.utils.data import DataLoader

            loaders = {
                "train": DataLoader(torchvision.datasets.CIFAR10("data", train=True), batch_size=128),
                "test": DataLoader(torchvision.datasets.CIFAR10("data", train=False), batch_size=256),
            }
            """,
            count=1,
            line=6,
        ),
        # Loader with a neutral name over training data, in a function that trains.
        Invalid(
            """
            from torch.utils.data import DataLoader

            def fit(model, optimizer, cfg):
                loader = DataLoader(train_dataset, batch_size=cfg.bs, pin_memory=True)
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).loss.backward()
                    optimizer.step()
            """,
            line=5,
        ),
        # An attribute target.
        Invalid(
            """
            import torch.utils.data as tud

            class Trainer:
                def __init__(self, ds):
                    self.train_loader = tud.DataLoader(ds, batch_size=32, drop_last=True)
            """,
            line=6,
        ),
        # A Dataset subclass named for training, in a script that trains.
        Invalid(
            """
            from torch.utils.data import DataLoader

            loader = DataLoader(TrainDataset(df_train, tokenizer), batch_size=16, num_workers=2)
            for epoch in range(3):
                for batch in loader:
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
            """,
            line=4,
        ),
    ]


class EvalLoaderDropLast(_LoaderRule):
    """Flags `drop_last=True` on a validation or test `DataLoader`.

    ## What it does
    Finds `torch.utils.data.DataLoader(..., drop_last=True)` (keyword or ninth positional argument)
    whose data is for evaluation, recognised as for NN405 (`val_loader`, `test_dl`, `val_set`,
    `train=False`, `def val_dataloader(self)`).

    ## Why is this bad?
    `drop_last=True` discards the last incomplete batch, so up to `batch_size - 1` samples are never
    evaluated: the metric is computed on a subset that depends on the batch size, results are not
    comparable across batch sizes, and a test set smaller than one batch yields no metric at all.

    ## Example
    ```python
    val_loader = DataLoader(val_set, batch_size=64, drop_last=True)
    ```

    ## Use instead
    ```python
    val_loader = DataLoader(val_set, batch_size=64, drop_last=False)
    ```

    ## Fix safety
    The fix sets `drop_last=False`. It is unsafe: the metric changes (it now covers every sample), and
    code that assumes full batches (a fixed-size reshape, a recurrent state sized for the batch) may
    fail on the last, smaller batch.

    ## Options
    `eval-patterns` / `train-patterns`: the words that mark evaluation and training data, as for NN401.
    """

    code = "NN410"
    name = "eval-loader-drop-last"
    message = "drop_last=True on an evaluation DataLoader skips the last samples; use drop_last=False"
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        if not self.loader_call(node):
            return
        value = arg(node, 8, "drop_last")
        if not _is_true(value):
            return
        kind, name = self.role(node)
        if kind != "eval":
            return
        assert value is not None
        self.report(
            value,
            f"drop_last=True on the evaluation DataLoader of '{name}' leaves the last incomplete batch out of the "
            "metric; use drop_last=False",
            fix=self.fix("unsafe", (value, "False"), description="drop_last=False"),
        )

    VALID = [
        """
        from torch.utils.data import DataLoader

        train_loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True)
        val_loader = DataLoader(val_set, batch_size=64, drop_last=False)
        test_loader = DataLoader(test_set, batch_size=64)
        """,
        # drop_last computed, and a training loader passed as a keyword.
        """
        from torch.utils.data import DataLoader

        val_loader = DataLoader(val_set, batch_size=64, drop_last=args.drop_last)
        trainer.fit(model, train_dataloaders=DataLoader(train_set, batch_size=64, drop_last=True))
        """,
        # A neutral builder.
        """
        import torch

        def make_loader(ds, bs):
            return torch.utils.data.DataLoader(ds, batch_size=bs, drop_last=True)
        """,
        # Another library's loader, a sampler for visualisation.
        """
        from torch.utils.data import DataLoader
        from monai.data import DataLoader as MonaiLoader

        val_loader = MonaiLoader(val_ds, batch_size=2, drop_last=True)
        vis_loader = DataLoader(val_ds, batch_size=16, drop_last=True)
        """,
        # The fixed form.
        """
        from torch.utils.data import DataLoader

        test_loader = DataLoader(test_set, batch_size=64, drop_last=False)
        """,
        # Training data in an unusual position.
        """
        from torch.utils.data import DataLoader

        loaders = {"train": DataLoader(train_ds, 32, True, None, None, 4, None, True, True)}
        """,
        # Unit tests.
        Valid(
            """
            import pytest
            from torch.utils.data import DataLoader

            def test_drop_last():
                test_loader = DataLoader(range(10), batch_size=3, drop_last=True)
                assert len(test_loader) == 3
            """,
            path="tests/test_loader.py",
        ),
        # TTA loader is left alone.
        """
        from torch.utils.data import DataLoader

        tta_loader = DataLoader(test_set, batch_size=16, drop_last=True)
        """,
        # The fixed positional form.
        """
        from torch.utils.data import DataLoader

        loader = DataLoader(VOCSegmentation("data", image_set="val"), 8, False, None, None, 4, None, True, False)
        """,
    ]
    INVALID = [
        Invalid(
            """
            from torch.utils.data import DataLoader

            val_loader = DataLoader(val_set, batch_size=64, drop_last=True)
            """,
            line=4,
            fixed="""
            from torch.utils.data import DataLoader

            val_loader = DataLoader(val_set, batch_size=64, drop_last=False)
            """,
        ),
        # Lightning test_dataloader.
        Invalid(
            """
            import torch

            class Data:
                def test_dataloader(self):
                    return torch.utils.data.DataLoader(self.test_ds, batch_size=32, drop_last=True, num_workers=4)
            """,
            line=6,
        ),
        # Data set built with split="val", positional drop_last.
        Invalid(
            """
            from torch.utils.data import DataLoader

            loader = DataLoader(VOCSegmentation("data", image_set="val"), 8, False, None, None, 4, None, True, True)
            """,
            message_contains="image_set='val'",
            fixed="""
            from torch.utils.data import DataLoader

            loader = DataLoader(VOCSegmentation("data", image_set="val"), 8, False, None, None, 4, None, True, False)
            """,
        ),
        # Dict entry.
        Invalid(
            """
            import torch.utils.data as data

            loaders = {"val": data.DataLoader(val_ds, batch_size=16, drop_last=True)}
            """,
            line=4,
        ),
        # Attribute target, multi-line.
        Invalid(
            """
            from torch.utils.data import DataLoader

            class Engine:
                def build(self):
                    self.valid_loader = DataLoader(
                        self.valid_dataset,
                        batch_size=self.cfg.batch_size,
                        drop_last=True,
                    )
            """,
            line=9,
        ),
        # A test data set class.
        Invalid(
            """
            from torch.utils.data import DataLoader

            dl = DataLoader(TestDataset(test_df), batch_size=64, shuffle=False, drop_last=True)
            """,
            line=4,
        ),
        # Keyword target.
        Invalid(
            """
            from torch.utils.data import DataLoader

            run(model, eval_loader=DataLoader(eval_set, batch_size=8, drop_last=True))
            """,
            line=4,
        ),
        # A tuple of loaders.
        Invalid(
            """
            from torch.utils.data import DataLoader

            train_dl, valid_dl = (DataLoader(train_ds, 64, shuffle=True, drop_last=True),
                                  DataLoader(valid_ds, 128, drop_last=True))
            """,
            count=1,
            line=5,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN407 host-sync-in-forward
# ---------------------------------------------------------------------------------------------

_SYNC_METHODS = ("numpy", "item", "tolist", "cpu")
_SYNC_SKIP_TEST = ("training", "offload", "is_scripting", "is_tracing", "is_compiling", "onnx", "debug", "verbose", "export",
                   "jit", "dynamo", "fx", "compiler", "is_fx_tracing", "vis", "plot", "log")
_LOG_CALLS = frozenset({"print", "warn", "debug", "info", "warning", "error", "critical", "log", "log_dict",
                       "add_scalar", "add_scalars", "add_histogram", "format"})
_LOG_WORDS = frozenset({"log", "logger", "logging", "writer", "wandb", "tb", "tensorboard", "warnings", "summary"})
# Classes with a ``forward`` that are not networks: data transforms, inference runtimes for exported models.
_NOT_NETWORK_WORDS = frozenset(
    {"transform", "transforms", "backend", "backends", "runtime", "export", "exporter", "onnx", "session", "tflite",
     "coreml", "openvino", "tensorrt", "trt", "serving", "augment", "augmentation", "tokenizer", "processor"}
)
_CPU_FACTORIES = frozenset(
    {"torch.rand", "torch.randn", "torch.randint", "torch.tensor", "torch.as_tensor", "torch.zeros", "torch.ones",
     "torch.empty", "torch.arange", "torch.randperm", "torch.bernoulli", "torch.multinomial", "torch.normal"}
)
_SIZE_NAME_WORDS = frozenset({"size", "sizes", "len", "length", "lengths", "num", "count", "counts", "dim", "shape",
                              "idx", "index", "indices", "pos", "position"})
# Calls that take host values by design: Hungarian matching, scipy/numpy routines.
_HOST_CALLS = frozenset({"linear_sum_assignment", "lsa", "hungarian", "lapjv", "lap"})
_SIZE_KEYWORDS = frozenset(
    {"fill_value", "size", "sections", "split_size_or_sections", "split_size", "repeats", "num_classes", "end",
     "start", "steps", "k", "output_size", "scale_factor", "lengths"}
)
# Calls whose arguments are sizes, counts or indices.
_SHAPE_CALLS = frozenset(
    {"range", "view", "reshape", "expand", "repeat", "zeros", "ones", "empty", "full", "arange", "linspace",
     "new_zeros", "new_ones", "new_empty", "new_full", "narrow", "split", "split_with_sizes", "tensor_split",
     "chunk", "pad", "interpolate", "randn", "rand", "randint", "topk", "kthvalue", "unflatten", "roll", "tile",
     "repeat_interleave", "zeros_like", "ones_like", "full_like", "slice", "resize", "resize_", "truncate",
     "scatter", "segment", "bincount", "one_hot"}
)
_PASS_THROUGH = frozenset({"int", "float", "round", "abs", "max", "min", "ceil", "floor", "sum", "list", "tuple"})


def _host_use(node: cst.CSTNode, ancestors: tuple) -> str:
    """'needed' if a host value is required by the API it goes to: a size or count (``torch.split(x,
    lengths.tolist())``, ``x[:, :max_len]``, ``fill_value=``), a host routine (``linear_sum_assignment``),
    or unpacked into several Python values; 'name:<v>' if it is stored in the variable v; else 'other'
    (arithmetic, control flow, returned: the sync is avoidable, or it is a data-dependent graph break)."""
    child = node
    for anc in reversed(ancestors):
        if isinstance(anc, cst.Arg):
            if anc.keyword is not None and anc.keyword.value in _SIZE_KEYWORDS:
                return "needed"
            child = anc
            continue
        if isinstance(anc, (cst.BinaryOperation, cst.UnaryOperation, cst.List, cst.Tuple, cst.Element)) or (
            isinstance(anc, cst.Call) and child is not anc.func and (call_name(anc) or "") in _PASS_THROUGH
        ):
            child = anc
            continue
        if isinstance(anc, cst.Call):
            if child is anc.func:
                return "other"
            name = call_name(anc) or ""
            return "needed" if name in _SHAPE_CALLS or name in _HOST_CALLS or "pack" in name else "other"
        if isinstance(anc, cst.Slice):
            return "needed"
        if isinstance(anc, (cst.Assign, cst.AnnAssign)) and child is anc.value:
            targets = [t.target for t in anc.targets] if isinstance(anc, cst.Assign) else [anc.target]
            if len(targets) == 1 and isinstance(targets[0], cst.Name):
                return f"name:{targets[0].value}"
            if len(targets) == 1 and isinstance(targets[0], (cst.Tuple, cst.List)):
                return "needed"
            return "other"
        return "other"
    return "other"


_NOT_TENSOR_TEXT = ("shape", "size(", "len(", "numel(", "dim(", "np.", "numpy.", "math.", "ndim", "device",
                    "dtype", "range(")


class HostSyncInForward(Rule):
    """Flags `.item()`, `.numpy()`, `.tolist()` and `.cpu()` on tensors inside a module's `forward`.

    ## What it does
    Finds, in the `forward` method of a module class (any class with a base class, other than an
    `autograd.Function`), calls of `.numpy()`, `.item()`, `.tolist()` and `.cpu()`, `.cpu().numpy()`
    reported once. Silent where the API needs a host value: sizes and split lengths
    (`torch.split(x, lengths.tolist())`, `x[:, :max_len]`, `fill_value=`, a variable named for a
    size, count or index such as `dim_size = int(index.max().item()) + 1`), the lengths given to
    `pack_padded_sequence`, Hungarian matching (`linear_sum_assignment`); also branches under
    `if not self.training`, `torch.jit.is_scripting()`, `is_tracing()`,
    `torch.compiler.is_compiling()`, ONNX export, offloading or debug/verbose/logging flags,
    `assert`/`raise` statements and logging calls, nested functions, tensors made on the CPU
    (`torch.rand(1).item()`), receivers that are not tensors (`x.shape`, `x.size(0)`, `len(...)`,
    numpy arrays), and classes with a `forward` that are not networks (data transforms, inference
    backends for exported models, tokenizers). Data-dependent control flow
    (`if mask.any().item():`) is reported: it is a sync and a graph break.

    ## Why is this bad?
    Each of these copies a value from the GPU to the host: the CPU waits for every queued kernel to
    finish, so the GPU pipeline drains on every forward pass. Under `torch.compile` they are graph
    breaks, CUDA graphs cannot capture them, and a value turned into a Python number or a numpy array
    leaves autograd: no gradient flows through what is computed from it.

    ## Example
    ```python
    class Head(nn.Module):
        def forward(self, x):
            scale = x.abs().max().item()
            mask = (x > 0).cpu().numpy()
            return self.fc(x / scale) * torch.from_numpy(mask).to(x.device)
    ```

    ## Use instead
    ```python
    class Head(nn.Module):
        def forward(self, x):
            scale = x.abs().amax()
            mask = x > 0
            return self.fc(x / scale) * mask
    ```

    ## Options
    `methods`: which calls are reported (default `["numpy", "item", "tolist", "cpu"]`).
    """

    code = "NN407"
    default_enabled = False  # deliberate syncs in library forward() code (12 in transformers): opt in
    name = "host-sync-in-forward"
    message = "host sync inside forward(): .item()/.numpy()/.tolist()/.cpu() stalls the GPU and breaks graphs; keep values as tensors"
    requires = ((".cpu(", ".numpy(", ".item(", ".tolist("),)
    options = {"methods": list(_SYNC_METHODS)}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "forward":
            return
        stack = self.ctx.stack
        if len(stack) < 2 or not isinstance(stack[-2], cst.ClassDef):
            return
        klass = stack[-2]
        if not klass.bases:
            return
        if any(w in _NOT_NETWORK_WORDS for w in _words(klass.name.value)):
            return
        for base in klass.bases:
            qual = self.ctx.qualname(base.value) or dotted_name(base.value) or ""
            if qual.endswith("Function") or qual == "object" or any(w in _NOT_NETWORK_WORDS for w in _last_words(qual)):
                return
        params = node.params.params
        if params and params[0].name.value == "ctx":
            return
        methods = set(self.config.get("methods", _SYNC_METHODS))
        from nnlint.walker import children

        handled: set[int] = set()
        found: list[tuple[cst.Call, str, str, tuple]] = []
        names: list[tuple[cst.Name, tuple]] = []
        pending: list[tuple[cst.CSTNode, tuple]] = [(c, ()) for c in reversed(children(node.body))]
        while pending:
            current, ancestors = pending.pop()
            if isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.Assert, cst.Raise)):
                continue
            if isinstance(current, (cst.If, cst.IfExp, cst.While)):
                test = self.ctx.code(current.test)
                if any(w in test for w in _SYNC_SKIP_TEST):
                    continue
            if isinstance(current, cst.Name):
                names.append((current, ancestors))
            if isinstance(current, cst.Call):
                name = call_name(current) or ""
                if (
                    "pack" in name
                    or name in _LOG_CALLS
                    or name in _HOST_CALLS
                    or any(w in _LOG_WORDS for w in _words(dotted_name(current.func) or ""))
                ):
                    continue
                if (
                    isinstance(current.func, cst.Attribute)
                    and name in methods
                    and id(current) not in handled
                    and (not current.args or name == "numpy")
                ):
                    receiver = current.func.value
                    text = self.ctx.code(receiver)
                    if not any(t in text for t in _NOT_TENSOR_TEXT):
                        inner = receiver
                        while isinstance(inner, (cst.Call, cst.Attribute)):
                            if isinstance(inner, cst.Attribute):
                                inner = inner.value
                                continue
                            if isinstance(inner.func, cst.Attribute) and inner.func.attr.value in _SYNC_METHODS:
                                handled.add(id(inner))
                            inner = inner.func
                        if not self._host_tensor(receiver):
                            found.append((current, name, text, ancestors))
            inner_ancestors = (*ancestors, current)
            pending.extend((c, inner_ancestors) for c in reversed(children(current)))
        if not found:
            return
        host_code = any(h in self.ctx.code(node.body) for h in _HOST_CALLS)  # code generation is costly
        for call, name, text, ancestors in found:
            if host_code and name != "item":
                continue  # the forward hands the values to a host routine (Hungarian matching)
            if not self._needed(call, ancestors, names):
                self._report(call, name, text)

    def _host_tensor(self, receiver: cst.BaseExpression) -> bool:
        """``torch.rand(1).item()``: a tensor made on the CPU (no ``device=``) syncs nothing."""
        while isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) and receiver.func.attr.value in (
            "item", "float", "long", "int", "double", "sum", "mean", "max", "min", "squeeze",
        ):
            receiver = receiver.func.value
        if not isinstance(receiver, cst.Call):
            return False
        qual = self.ctx.qualname(receiver.func) or ""
        if qual in _CPU_FACTORIES:
            return arg(receiver, None, "device") is None
        return False

    def _needed(self, call: cst.Call, ancestors: tuple, names: list) -> bool:
        """The host value is needed on the host: it drives control flow, indexing or a shape, directly or
        through the variable it is stored in (``max_len = lengths.max().item(); x[:, :max_len]``)."""
        use = _host_use(call, ancestors)
        if use == "needed":
            return True
        if isinstance(use, str) and use.startswith("name:"):
            var = use[5:]
            if any(w in _SIZE_NAME_WORDS for w in _words(var)):
                return True  # ``dim_size = int(index.max().item()) + 1``: a size
            for name, anc in names:
                if name.value == var and name is not call and _host_use(name, anc) == "needed":
                    return True
        return False

    def _report(self, call: cst.Call, name: str, receiver: str) -> None:
        short = " ".join(receiver.split())
        if len(short) > 40:
            short = short[:37] + "..."
        what = {
            "item": "a Python number",
            "tolist": "a Python list",
            "numpy": "a numpy array",
            "cpu": "host memory",
        }[name]
        self.report(
            call,
            f"'{short}.{name}()' in forward() copies a tensor to {what}: the CPU waits for the GPU on every "
            "forward pass, torch.compile breaks the graph there"
            + (", and no gradient flows through the result" if name != "cpu" else "")
            + "; keep the computation in tensors",
        )

    VALID = [
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def forward(self, x):
                b = x.size(0)
                n = x.shape[-1]
                y = self.fc(x.view(b, -1))
                return y / n
        """,
        # Lengths for pack_padded_sequence must be on the CPU.
        """
        import torch.nn as nn
        from torch.nn.utils.rnn import pack_padded_sequence

        class Encoder(nn.Module):
            def forward(self, x, lengths):
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out, _ = self.rnn(packed)
                return out
        """,
        # Inference-only branches and tracing guards.
        """
        import torch
        import torch.nn as nn

        class Detector(nn.Module):
            def forward(self, x):
                out = self.head(x)
                if not self.training:
                    boxes = out.cpu().numpy()
                    return self.postprocess(boxes)
                if torch.jit.is_scripting():
                    return out.tolist()
                return out
        """,
        # An autograd Function (its forward receives ctx), and a method that is not forward.
        """
        import torch

        class Round(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.scale = x.abs().max().item()
                return x.round()

        class Model(torch.nn.Module):
            def predict(self, x):
                return self(x).argmax(-1).cpu().numpy()

            def extra_repr(self):
                return str(self.weight.mean().item())
        """,
        # Asserts, raises and logging are not the computation.
        """
        import logging
        import torch.nn as nn

        logger = logging.getLogger(__name__)

        class Block(nn.Module):
            def forward(self, x):
                assert x.min().item() >= 0, "negative input"
                if x.isnan().any():
                    raise ValueError(f"nan at {x.isnan().nonzero().tolist()}")
                logger.debug("mean %s", x.mean().item())
                return self.conv(x)
        """,
        # A class without a base is not a module; numpy data in forward.
        """
        import numpy as np

        class Preprocessor:
            def forward(self, x):
                return x.cpu().numpy()

        class Wrapper(Base):
            def forward(self, x):
                table = np.arange(10).tolist()
                return self.model(x, table)
        """,
        # Options: only numpy reported.
        Valid(
            """
            import torch.nn as nn

            class Head(nn.Module):
                def forward(self, x):
                    k = int(x.sum().item())
                    return self.fc(x)[:k]
            """,
            options={"methods": ["numpy"]},
        ),
        # Nested functions are not traced here.
        """
        import torch.nn as nn

        class Net(nn.Module):
            def forward(self, x):
                def log_stats(t):
                    return t.mean().item()
                self.hook = log_stats
                return self.fc(x)
        """,
        # A tensor made on the CPU, Hungarian matching, a data transform with a forward().
        """
        import torch
        import torch.nn as nn
        from scipy.optimize import linear_sum_assignment

        class RandomApplyNoise(nn.Module):
            def forward(self, x):
                if torch.rand(1).item() < self.p:
                    return x + torch.randn_like(x)
                return x

        class HungarianMatcher(nn.Module):
            @torch.no_grad()
            def forward(self, outputs, targets):
                C = self.cost(outputs, targets).cpu()
                return [linear_sum_assignment(c) for c in C.split(self.sizes, -1)]

        class ToSuperpixels(BaseTransform):
            def forward(self, data):
                return self.slic(data.img.numpy())
        """,
        # Sizes and split lengths must be Python values.
        """
        import torch
        import torch.nn as nn

        class VisionEncoder(nn.Module):
            def forward(self, x, cu_seqlens, mask):
                lengths = cu_seqlens[1:] - cu_seqlens[:-1]
                chunks = torch.split(x, lengths.tolist(), dim=0)
                max_len = int(mask.sum(1).max().item())
                dim_size = int(cu_seqlens.max().item()) + 1
                return torch.cat(chunks)[:, :max_len], dim_size
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch.nn as nn

            class Head(nn.Module):
                def forward(self, x):
                    scale = x.abs().max().item()
                    return self.fc(x / scale)
            """,
            line=6,
            message_contains="'x.abs().max().item()' in forward()",
        ),
        # .cpu().numpy() reported once.
        Invalid(
            """
            import torch
            from torch import nn

            class Segmenter(nn.Module):
                def forward(self, x):
                    logits = self.backbone(x)
                    mask = logits.argmax(1).cpu().numpy()
                    return torch.from_numpy(mask).to(x.device)
            """,
            count=1,
            line=8,
        ),
        # .tolist() to drive Python control flow.
        Invalid(
            """
            import torch.nn as nn

            class Router(nn.Module):
                def forward(self, x):
                    ids = self.gate(x).argmax(-1).tolist()
                    return [self.experts[i](x[j]) for j, i in enumerate(ids)]
            """,
            line=6,
        ),
        # .cpu() inside forward of a subclass of another module class.
        Invalid(
            """
            class Decoder(BaseModel):
                def forward(self, z):
                    h = self.net(z)
                    return h.cpu()
            """,
            line=5,
        ),
        # .item() in an if test inside forward.
        Invalid(
            """
            import torch.nn as nn

            class EarlyExit(nn.Module):
                def forward(self, x):
                    h = self.block1(x)
                    if h.norm().item() > self.threshold:
                        return self.head(h)
                    return self.head(self.block2(h))
            """,
            line=7,
        ),
        # Several syncs in one forward.
        Invalid(
            """
            import torch.nn as tnn

            class Loss(tnn.Module):
                def forward(self, pred, target):
                    n = target.sum().item()
                    weights = self.weights.cpu()
                    return (pred - target).pow(2).sum() / n * weights
            """,
            count=2,
        ),
        # numpy(force=True) is a copy too.
        Invalid(
            """
            import torch.nn as nn

            class Metric(nn.Module):
                def forward(self, x):
                    return self.score(x.detach().numpy(force=True))
            """,
            line=6,
        ),
        # Inside a loop in forward.
        Invalid(
            """
            import torch.nn as nn

            class CRF(nn.Module):
                def forward(self, emissions, mask):
                    for t in range(emissions.size(1)):
                        if mask[:, t].sum().item() == 0:
                            break
                    return emissions
            """,
            line=7,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN408 load-state-dict-without-mode
# ---------------------------------------------------------------------------------------------


class LoadStateDictWithoutMode(Rule):
    """Flags inference that loads weights with `load_state_dict` and never calls `model.eval()`.

    ## What it does
    Finds `model.load_state_dict(...)` followed, in the same function (or script), by a run of the
    model (`model(x)`, `model.forward(x)`) when that function neither trains (no backward pass, no
    optimizer step) nor sets a mode (`model.eval()`, `model.train(...)`, a helper whose name says
    eval) on a receiver named for a network (`model`, `net`, `self.encoder`, `model.module`). A model
    received as an argument counts unless callers in this file switch it to evaluation mode first.
    The same holds for a plain class that builds and loads `self.model` in one method and runs it in
    another with no `.eval()` anywhere in the class.

    Silent: training and resumed training (a backward pass in the function), models from
    `from_pretrained` (already in evaluation mode) or from a helper of this file that sets the mode,
    networks of this file without dropout or batch norm (the mode changes nothing), optimizer,
    scheduler and EMA state dicts, and `nn.Module` or framework classes (the owner sets the mode).

    ## Why is this bad?
    `load_state_dict` copies the weights but not the mode: a freshly built model is in training mode,
    so inference runs with dropout on and batch norm normalising with each batch's statistics.
    Predictions become random and depend on the batch (a single image gives garbage), although the
    weights are right.

    ## Example
    ```python
    model = Net()
    model.load_state_dict(torch.load("best.pt", weights_only=True))
    with torch.no_grad():
        preds = model(images).argmax(1)
    ```

    ## Use instead
    ```python
    model = Net()
    model.load_state_dict(torch.load("best.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        preds = model(images).argmax(1)
    ```

    ## Fix safety
    The fix inserts `model.eval()` after the `load_state_dict` statement (when it is a statement of its
    own line, without a trailing comment). It is unsafe: it changes the model's outputs, as intended.
    """

    code = "NN408"
    name = "load-state-dict-without-mode"
    message = "weights loaded with load_state_dict and the model run without model.eval(); call model.eval() after loading"
    # The second entry keeps the functions that call ``.eval()`` when the file is parsed in chunks.
    requires = ("load_state_dict", ("load_state_dict", ".eval("))
    fixable = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.loads: dict[int, tuple[cst.CSTNode, list[str]] | None] = {}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "load_state_dict":
            return
        stack = self.ctx.stack
        fixable = None
        if len(stack) >= 3:
            small, line = stack[-1], stack[-2]
            if isinstance(small, cst.Assign) and small.value is node:
                pass
            elif not isinstance(small, cst.Expr):
                small = None
            if (
                small is not None
                and isinstance(line, cst.SimpleStatementLine)
                and line.body[-1] is small
                and line.trailing_whitespace.comment is None
            ):
                fixable = (small, _indent_tokens(self.ctx))
        self.loads[id(node)] = fixable

    def leave_Module(self, node: cst.Module) -> None:
        if not self.loads:
            return
        index = _index_for(self.ctx)
        for scope in index.scopes:
            for order, call, _ in scope.calls:
                if id(call) not in self.loads:
                    continue
                receiver = _receiver(call)
                if not receiver:
                    continue
                model = _strip_module(receiver)
                if not _is_model_name(model) or any(w in ("ema", "swa", "averaged") for w in _last_words(model)):
                    continue
                if self._judge(index, scope, order, model):
                    self._report(call, model)

    def _judge(self, index: _Index, scope: _Scope, order: int, model: str) -> bool:
        if _root(model) == "self":
            klass = scope.owner
            if klass is None or any(dotted_name(b.value) != "object" for b in klass.bases):
                return False
            methods = index.class_methods.get(id(klass), [])
            if any(index.direct_modes(m) or index.trains(m, 1) or index.sets_eval(m) for m in methods):
                return False
            if not any(self._runs(m, model, -1) for m in methods):
                return False
            return index.model_verdict(scope, model) == "bug"
        if not self._runs(scope, model, order):
            return False
        if index.direct_modes(scope) or index.sets_eval(scope) or index.trains(scope, 1):
            return False
        root = _root(model)
        if scope.is_function and root in scope.params:
            if not index.callers(scope):
                return True  # loaded and run here: nothing switches it to evaluation mode
            return index.paths(scope, root, 1) == "bug"
        home = index.binding_scope(scope, root)
        if home is None:
            return True  # a global of another module, loaded and run here
        if home is not scope and index.sets_eval(home):
            return False
        if index.mode_free(home, root):
            return False
        return index.source(home, root) not in ("pretrained", "loaded")

    @staticmethod
    def _runs(scope: _Scope, model: str, after: int) -> bool:
        for order, call, _ in scope.calls:
            if order <= after:
                continue
            name = dotted_name(call.func)
            if name and _strip_module(name.removesuffix(".forward")) == model:
                return True
        return False

    def _report(self, call: cst.Call, model: str) -> None:
        fix = None
        place = self.loads.get(id(call))
        if place is not None:
            small, indent = place
            newline = self.ctx.module.default_newline
            text = _render(self.ctx, small, indent) + newline + "".join(indent) + f"{model}.eval()"
            fix = self.fix("unsafe", (small, text), description=f"call {model}.eval() after loading")
        self.report(
            call,
            f"weights are loaded into '{model}' and it runs for inference without {model}.eval(): load_state_dict "
            f"does not change the mode, so dropout and batch norm stay in training mode; call {model}.eval() "
            "after loading",
            fix=fix,
        )

    VALID = [
        """
        import torch

        model = Net()
        model.load_state_dict(torch.load("best.pt", weights_only=True))
        model.eval()
        with torch.no_grad():
            preds = model(images)
        """,
        # Resumed training: a backward pass follows.
        """
        import torch

        def resume(path):
            model = Net()
            model.load_state_dict(torch.load(path)["model"])
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for x, y in train_loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """,
        # A loader helper that only returns the model.
        """
        import torch

        def load_model(path):
            model = Net()
            model.load_state_dict(torch.load(path))
            return model
        """,
        # eval() chained or before loading; train(False).
        """
        import torch

        def predict(path, x):
            model = Net().eval()
            model.load_state_dict(torch.load(path))
            return model(x)

        def predict2(path, x):
            net = Net()
            net.train(False)
            net.load_state_dict(torch.load(path))
            return net(x)
        """,
        # Optimizer and EMA state dicts.
        """
        import torch

        ckpt = torch.load("ckpt.pt")
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        ema_model.load_state_dict(ckpt["ema"])
        out = ema_model(x)
        """,
        # from_pretrained is in eval mode already.
        """
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained("bert-base-uncased")
        model.load_state_dict(torch.load("finetuned.pt"))
        outputs = model(**inputs)
        """,
        # An nn.Module that loads a submodule.
        """
        import torch
        import torch.nn as nn

        class Wrapper(nn.Module):
            def __init__(self, path):
                super().__init__()
                self.backbone = Backbone()
                self.backbone.load_state_dict(torch.load(path))

            def forward(self, x):
                return self.backbone(x)
        """,
        # The mode set by the caller.
        """
        import torch

        def infer(model, path, x):
            model.load_state_dict(torch.load(path))
            return model(x)

        net = Net()
        net.eval()
        infer(net, "w.pt", batch)
        """,
        # A class that sets eval() in another method.
        """
        import torch

        class Predictor:
            def __init__(self, path):
                self.model = Net()
                self.model.load_state_dict(torch.load(path))
                self.model.eval()

            def __call__(self, x):
                return self.model(x)
        """,
        # The fixed forms.
        """
        import torch

        model = Net()
        model.load_state_dict(torch.load("best.pt", weights_only=True))
        model.eval()
        with torch.no_grad():
            preds = model(images).argmax(1)
        """,
        """
        import torch
        import torchvision

        def predict(image, path):
            net = torchvision.models.resnet50(num_classes=2)
            net.load_state_dict(
                torch.load(path, map_location="cpu"),
            )
            net.eval()
            with torch.no_grad():
                return net(image.unsqueeze(0)).softmax(1)
        """,
        """
        import torch
        import torch.nn as nn

        model = nn.DataParallel(MyModel()).cuda()
        missing = model.module.load_state_dict(torch.load("m.pt"), strict=False)
        model.eval()
        output = model(batch)
        """,
        # A network without dropout or batch norm: eval() would change nothing.
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 6, 5)
                self.fc = nn.Linear(6 * 28 * 28, 10)

            def forward(self, x):
                return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))

        net = Net()
        net.load_state_dict(torch.load("cifar_net.pth", weights_only=True))
        outputs = net(images)
        """,
        # Not a model: an early-stopping handler's state.
        """
        h2 = EarlyStopping(patience=2)
        h2.load_state_dict(h.state_dict())
        h2(None)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            model = Net()
            model.load_state_dict(torch.load("best.pt", weights_only=True))
            with torch.no_grad():
                preds = model(images).argmax(1)
            """,
            line=5,
            fixed="""
            import torch

            model = Net()
            model.load_state_dict(torch.load("best.pt", weights_only=True))
            model.eval()
            with torch.no_grad():
                preds = model(images).argmax(1)
            """,
        ),
        # Inside a function, torchvision model, multi-line load.
        Invalid(
            """
            import torch
            import torchvision

            def predict(image, path):
                net = torchvision.models.resnet50(num_classes=2)
                net.load_state_dict(
                    torch.load(path, map_location="cpu"),
                )
                with torch.no_grad():
                    return net(image.unsqueeze(0)).softmax(1)
            """,
            line=7,
            fixed="""
            import torch
            import torchvision

            def predict(image, path):
                net = torchvision.models.resnet50(num_classes=2)
                net.load_state_dict(
                    torch.load(path, map_location="cpu"),
                )
                net.eval()
                with torch.no_grad():
                    return net(image.unsqueeze(0)).softmax(1)
            """,
        ),
        # A Kaggle inference loop over folds.
        Invalid(
            """
            import timm
            import torch

            preds = []
            for fold in range(5):
                model = timm.create_model("resnet34", num_classes=1)
                model.to("cuda")
                state = torch.load(f"fold{fold}.pth")
                model.load_state_dict(state["model"])
                for images in test_loader:
                    with torch.no_grad():
                        preds.append(model(images.cuda()).sigmoid())
            """,
            line=10,
        ),
        # The model comes from a caller that builds it.
        Invalid(
            """
            import torch

            def infer(model, path, x):
                model.load_state_dict(torch.load(path))
                return model(x)

            infer(Net(), "w.pt", batch)
            """,
            line=5,
        ),
        # A predictor class that never calls eval().
        Invalid(
            """
            import torch

            class Predictor:
                def __init__(self, path):
                    self.model = UNet(n_classes=1)
                    self.model.load_state_dict(torch.load(path))

                def predict(self, x):
                    with torch.no_grad():
                        return self.model(x)
            """,
            line=7,
        ),
        # The result of load_state_dict kept; DataParallel wrapper.
        Invalid(
            """
            import torch
            import torch.nn as nn

            model = nn.DataParallel(MyModel()).cuda()
            missing = model.module.load_state_dict(torch.load("m.pt"), strict=False)
            output = model(batch)
            """,
            line=6,
            fixed="""
            import torch
            import torch.nn as nn

            model = nn.DataParallel(MyModel()).cuda()
            missing = model.module.load_state_dict(torch.load("m.pt"), strict=False)
            model.eval()
            output = model(batch)
            """,
        ),
        # A trailing comment: no fix, still reported.
        Invalid(
            """
            import torch

            def main():
                encoder = Encoder()
                encoder.load_state_dict(torch.load("enc.pt"))  # best epoch
                features = encoder.forward(images)
                return features
            """,
            line=6,
        ),
        # One-line suite.
        Invalid(
            """
            import torch

            generator = Generator()
            if resume: generator.load_state_dict(torch.load("g.pt"))
            fake = generator(noise)
            """,
            line=5,
        ),
        # A model argument loaded and run here, with no caller in the file.
        Invalid(
            """
            import torch

            def score(model, path, x):
                model.load_state_dict(torch.load(path))
                return model(x)
            """,
            line=5,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN409 unseeded-random-split
# ---------------------------------------------------------------------------------------------


def _seeding_call(call: cst.Call) -> bool:
    name = (call_name(call) or "").lower()
    if "seed" in name and not name.startswith("get") and name not in ("initial_seed",):
        return True
    return any(a.keyword is not None and a.keyword.value in ("seed", "random_seed") for a in call.args)


class UnseededRandomSplit(Rule):
    """Flags `random_split` without a seeded generator in a file that never seeds.

    ## What it does
    Finds `torch.utils.data.random_split(dataset, lengths)` without `generator=` in a file where no
    call seeds anything (`torch.manual_seed`, `seed_everything`, `set_seed`, any call whose name holds
    "seed", or a `seed=` argument).

    Off by default: NN601 (missing-seed) already reports training scripts that never seed, and a
    data module is usually seeded by the script that imports it, which this rule cannot see.
    Enable it for projects whose splits are built in library code.

    ## Why is this bad?
    The split draws from the global generator, so every run (and every process of a distributed
    run, and every resumed run) gets a different train/validation partition: validation samples leak
    into training after a restart, and scores cannot be compared between runs.

    ## Example
    ```python
    train_set, val_set = random_split(dataset, [0.9, 0.1])
    ```

    ## Use instead
    ```python
    train_set, val_set = random_split(dataset, [0.9, 0.1], generator=torch.Generator().manual_seed(42))
    ```

    ## Fix safety
    The fix passes `generator=torch.Generator().manual_seed(42)` (when `torch` is imported). It is
    unsafe: the split changes.
    """

    code = "NN409"
    name = "unseeded-random-split"
    message = "random_split without a seeded generator: the train/validation split changes every run; pass generator="
    requires = ("random_split",)
    default_enabled = False
    fixable = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.splits: list[tuple[cst.Call, tuple | None]] = []
        self.seeded = False

    def visit_Call(self, node: cst.Call) -> None:
        if _seeding_call(node):
            self.seeded = True
            return
        qual = self.ctx.qualname(node.func) or ""
        if not (qual.startswith("torch.utils.data") and qual.endswith("random_split")):
            return
        if any(a.star for a in node.args) or arg(node, 2, "generator") is not None:
            return
        self.splits.append((node, _append_kwarg_fix(self, node, "generator={}.Generator().manual_seed(42)")))

    def leave_Module(self, node: cst.Module) -> None:
        if self.seeded:
            return
        torch = None
        for local, target in self.ctx.imports.aliases.items():
            if target == "torch":
                torch = local
                break
        for call, edit in self.splits:
            fix = None
            if edit is not None and torch is not None:
                old, text = edit
                fix = self.fix("unsafe", (old, text.format(torch)), description="seeded generator")
            self.report(
                call,
                "random_split draws the split from the unseeded global generator: every run gets a different "
                "train/validation partition; pass generator=torch.Generator().manual_seed(...)",
                fix=fix,
            )

    VALID = [
        """
        import torch
        from torch.utils.data import random_split

        train_set, val_set = random_split(dataset, [0.9, 0.1], generator=torch.Generator().manual_seed(42))
        """,
        # Seeded globally.
        """
        import torch
        from torch.utils.data import random_split

        torch.manual_seed(0)
        train_set, val_set = random_split(dataset, [50000, 10000])
        """,
        """
        import lightning as L
        from torch.utils.data import random_split

        L.seed_everything(42)
        train_set, val_set = random_split(dataset, [0.8, 0.2])
        """,
        # A positional generator; a seed= argument to a helper.
        """
        import torch
        from torch.utils import data

        g = torch.Generator()
        train_set, val_set = data.random_split(dataset, [0.8, 0.2], g)
        """,
        """
        from torch.utils.data import random_split

        setup(seed=1234)
        a, b = random_split(ds, [10, 5])
        """,
        # Another library's random_split.
        """
        from mylib.data import random_split

        a, b = random_split(ds, [10, 5])
        """,
        # The fixed forms.
        """
        import torch

        splits = torch.utils.data.random_split(dataset, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(42))
        """,
        """
        import torch as th

        class Data:
            def setup(self, stage):
                self.train, self.val = th.utils.data.random_split(
                    self.full,
                    [55000, 5000], generator=th.Generator().manual_seed(42),
                )
        """,
        # Seeded through a helper of the project.
        """
        from torch.utils.data import random_split
        from utils import fix_seeds

        fix_seeds(1)
        a, b = random_split(ds, [0.5, 0.5])
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch
            from torch.utils.data import random_split

            train_set, val_set = random_split(dataset, [0.9, 0.1])
            """,
            line=5,
            fixed="""
            import torch
            from torch.utils.data import random_split

            train_set, val_set = random_split(dataset, [0.9, 0.1], generator=torch.Generator().manual_seed(42))
            """,
        ),
        Invalid(
            """
            import torch.utils.data as tud

            train_ds, valid_ds = tud.random_split(full_ds, [n_train, len(full_ds) - n_train])
            """,
            line=4,
        ),
        Invalid(
            """
            import torch as th

            class Data:
                def setup(self, stage):
                    self.train, self.val = th.utils.data.random_split(
                        self.full,
                        [55000, 5000],
                    )
            """,
            line=6,
            fixed="""
            import torch as th

            class Data:
                def setup(self, stage):
                    self.train, self.val = th.utils.data.random_split(
                        self.full,
                        [55000, 5000], generator=th.Generator().manual_seed(42),
                    )
            """,
        ),
        # Split sizes computed; the fraction form.
        Invalid(
            """
            from torch.utils.data import random_split

            n_val = int(0.1 * len(full))
            train_set, val_set = random_split(full, [len(full) - n_val, n_val])
            """,
            line=5,
        ),
        Invalid(
            """
            import torch

            splits = torch.utils.data.random_split(dataset, [0.7, 0.15, 0.15])
            train_set, val_set, test_set = splits
            """,
            line=4,
            fixed="""
            import torch

            splits = torch.utils.data.random_split(dataset, [0.7, 0.15, 0.15], generator=torch.Generator().manual_seed(42))
            train_set, val_set, test_set = splits
            """,
        ),
        # Inside a function, imported under an alias.
        Invalid(
            """
            from torch.utils.data import random_split as split

            def make_splits(ds):
                return split(ds, [0.8, 0.2])
            """,
            line=5,
        ),
        # Without a torch import the fix cannot name the generator: reported without a fix.
        Invalid(
            """
            from torch.utils.data import random_split

            train_ds, val_ds = random_split(ImageFolder("data"), [9000, 1000])
            """,
            line=4,
        ),
        # Two splits in one file.
        Invalid(
            """
            from torch.utils.data import random_split

            train_val, test = random_split(ds, [0.9, 0.1])
            train, val = random_split(train_val, [0.8, 0.2])
            """,
            count=2,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN411 mode-switch-not-called / NN412 grad-mode-not-entered
# ---------------------------------------------------------------------------------------------


class ModeSwitchNotCalled(Rule):
    """Flags `model.eval` / `model.train` written without the call parentheses.

    ## What it does
    Finds an expression statement that is just an attribute `x.eval` or `x.train` (not called).

    ## Why is this bad?
    `model.eval` only looks the method up and throws it away: the model stays in training mode, with
    dropout active and batch norm using batch statistics, and nothing fails. It is an easy slip in
    evaluation code and invisible in review.

    ## Example
    ```python
    model.eval
    with torch.no_grad():
        preds = model(x)
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        preds = model(x)
    ```

    ## Fix safety
    The fix adds the parentheses. It is unsafe: the model's mode, and so its outputs, change (as
    intended).
    """

    code = "NN411"
    name = "mode-switch-not-called"
    message = "model.eval / model.train without parentheses does nothing; call it: model.eval()"
    requires = (
        (".eval", ".train"),  # a cheap gate before the exact forms
        tuple(f".{m}{end}" for m in ("eval", "train") for end in ("\n", "\r", ";", " #", "  #", " ;")),
    )

    @classmethod
    def needs_chunk(cls, chunk: str) -> bool:
        return any(form in chunk for form in cls.requires[1])
    fixable = True

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Attribute) or value.attr.value not in ("eval", "train"):
            return
        if self.ctx.qualname(value) is not None:
            return
        owner = self.ctx.code(value.value)
        method = value.attr.value
        self.report(
            value,
            f"'{owner}.{method}' without parentheses does nothing: {owner} keeps its current mode; call "
            f"{owner}.{method}()",
            fix=self.fix("unsafe", (value, f"{self.ctx.code(value)}()"), description=f"call {method}()"),
        )

    VALID = [
        """
        model.eval()
        model.train()
        net.train(False)
        """,
        # Used as a value, not a statement.
        """
        switch = model.eval if evaluating else model.train
        switch()
        modes = [model.eval, model.train]
        fn = model.train
        """,
        # Other attributes and module-level names.
        """
        import torch

        model.training
        torch.eval
        parser.evaluate
        """,
        # Called through a helper, or attribute docstring-like references.
        """
        def switch(m, train):
            (m.train if train else m.eval)()
        """,
        # The fixed forms.
        """
        import torch

        model.eval()
        with torch.no_grad():
            preds = model(x)
        """,
        """
        def train_epoch(self):
            self.model.train()
            for x, y in self.loader:
                self.step(x, y)
        """,
        # A property read on its own line.
        """
        model.training
        model.train_loader
        """,
        # Method references passed around.
        """
        hooks = {"eval": model.eval, "train": model.train}
        callbacks.append(model.eval)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            model.eval
            with torch.no_grad():
                preds = model(x)
            """,
            line=4,
            fixed="""
            import torch

            model.eval()
            with torch.no_grad():
                preds = model(x)
            """,
        ),
        Invalid(
            """
            def train_epoch(self):
                self.model.train
                for x, y in self.loader:
                    self.step(x, y)
            """,
            line=3,
            fixed="""
            def train_epoch(self):
                self.model.train()
                for x, y in self.loader:
                    self.step(x, y)
            """,
        ),
        Invalid(
            """
            for epoch in range(10):
                net.train
                train(net)
                net.eval; validate(net)
            """,
            count=2,
        ),
        # Inside an evaluation function, DDP wrapper.
        Invalid(
            """
            import torch

            def evaluate(model, loader):
                model.module.eval
                with torch.no_grad():
                    return [model(x) for x, _ in loader]
            """,
            line=5,
        ),
        # In a method, on an attribute chain.
        Invalid(
            """
            class Trainer:
                def validate(self):
                    self.ema.module.eval
                    return self.run(self.val_loader)
            """,
            line=4,
        ),
        # After loading weights.
        Invalid(
            """
            import torch

            net = Net()
            net.load_state_dict(torch.load("w.pt"))
            net.eval
            preds = net(x)
            """,
            line=6,
        ),
        # In a branch.
        Invalid(
            """
            if args.evaluate:
                model.eval
            else:
                model.train
            """,
            count=2,
        ),
        # In a loop over models.
        Invalid(
            """
            for m in models:
                m.eval
            """,
            line=3,
        ),
    ]


_GRAD_MODES = {
    "torch.no_grad": "torch.set_grad_enabled(False)",
    "torch.autograd.no_grad": "torch.set_grad_enabled(False)",
    "torch.autograd.grad_mode.no_grad": "torch.set_grad_enabled(False)",
    "torch.enable_grad": "torch.set_grad_enabled(True)",
    "torch.autograd.enable_grad": "torch.set_grad_enabled(True)",
    "torch.inference_mode": None,
    "torch.autograd.inference_mode": None,
}



_GRAD_MODE_CALL_RE = re.compile(r"(?:no_grad|inference_mode|enable_grad)\(\)")


def _bare_grad_mode_calls(text: str):
    """Offsets of ``torch.no_grad()`` / ``inference_mode()`` / ``enable_grad()`` written as a statement:
    after the call only a comment, ``;`` or the line end; before its dotted name a line start, a blank, ``;``
    or ``:`` (a one-line compound statement)."""
    for found in _GRAD_MODE_CALL_RE.finditer(text):
        after = text[found.end(): found.end() + 3].lstrip(" \t")
        if after and after[0] not in ";#\r\n":
            continue
        start = found.start()
        while start and (text[start - 1].isalnum() or text[start - 1] in "_."):
            start -= 1
        if not start or text[start - 1] in " \t\n\r\f;:":
            yield found.start()

class GradModeNotEntered(Rule):
    """Flags `torch.no_grad()` / `torch.inference_mode()` called as a statement instead of a `with` block.

    ## What it does
    Finds an expression statement that is just a call of `torch.no_grad()`, `torch.enable_grad()` or
    `torch.inference_mode()` (under any import alias).

    ## Why is this bad?
    These are context managers (and decorators): calling one builds the object and throws it away,
    and gradient tracking stays as it was. The code below the line still records the autograd graph,
    with the memory and time that costs, while the author believes it does not.

    ## Example
    ```python
    model.eval()
    torch.no_grad()
    preds = model(x)
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.no_grad():
        preds = model(x)
    ```

    ## Fix safety
    For `no_grad()` / `enable_grad()` the fix writes `torch.set_grad_enabled(False)` /
    `torch.set_grad_enabled(True)`, which switches the mode for the rest of the thread (until switched
    back). It is unsafe: gradient tracking changes for everything after the line, including later
    training code. `inference_mode()` has no fix.
    """

    code = "NN412"
    name = "grad-mode-not-entered"
    message = "torch.no_grad() called as a statement does nothing; use it in a with block or as a decorator"
    requires = (("no_grad()", "inference_mode()", "enable_grad()"),)

    @classmethod
    def applies_to(cls, text: str) -> bool:
        """Only files with such a call alone on its line (not ``@torch.no_grad()``, not ``with ...:``)."""
        return super().applies_to(text) and any(True for _ in _bare_grad_mode_calls(text))

    @classmethod
    def needs_chunk(cls, chunk: str) -> bool:
        return any(True for _ in _bare_grad_mode_calls(chunk))

    fixable = True

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Call):
            return
        qual = self.ctx.qualname(value.func) or ""
        if qual not in _GRAD_MODES:
            return
        text = self.ctx.code(value)
        replacement = _GRAD_MODES[qual]
        fix = None
        if replacement is not None and not value.args:
            prefix = self.ctx.code(value.func).split(".", 1)[0]
            torch_local = prefix if self.ctx.imports.aliases.get(prefix) == "torch" else None
            if torch_local is not None:
                fix = self.fix(
                    "unsafe", (value, replacement.replace("torch.", f"{torch_local}.", 1)),
                    description=replacement,
                )
        self.report(
            value,
            f"'{text}' as a statement builds a context manager and discards it: gradient tracking does not change; "
            f"use 'with {text}:' around the code (or a decorator)",
            fix=fix,
        )

    VALID = [
        """
        import torch

        with torch.no_grad():
            preds = model(x)

        @torch.inference_mode()
        def predict(x):
            return model(x)

        torch.set_grad_enabled(False)
        ctx = torch.no_grad()
        """,
        # Another library's no_grad, and a method of an object.
        """
        import paddle

        paddle.no_grad()
        tape.no_grad()
        """,
        # Entered by hand.
        """
        import torch

        guard = torch.no_grad()
        guard.__enter__()
        torch.no_grad().__enter__()
        """,
        # The fixed forms.
        """
        import torch

        model.eval()
        torch.set_grad_enabled(False)
        preds = model(x)
        """,
        """
        import torch as th

        def evaluate(model, loader):
            th.set_grad_enabled(False)
            return [model(x) for x in loader]
        """,
        # Decorators and with blocks with several items.
        """
        import torch

        @torch.no_grad()
        def sample(model, z):
            return model(z)

        with torch.inference_mode(), torch.autocast("cuda"):
            out = model(x)
        """,
        # Returned or stored for later use.
        """
        import torch

        def grad_context(training):
            return torch.enable_grad() if training else torch.no_grad()

        contexts = [torch.no_grad(), torch.inference_mode()]
        """,
        # A function of another library with the same name.
        """
        from mxnet import autograd

        autograd.no_grad()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            model.eval()
            torch.no_grad()
            preds = model(x)
            """,
            line=5,
            fixed="""
            import torch

            model.eval()
            torch.set_grad_enabled(False)
            preds = model(x)
            """,
        ),
        Invalid(
            """
            from torch import inference_mode

            def predict(model, x):
                inference_mode()
                return model(x)
            """,
            line=5,
        ),
        Invalid(
            """
            import torch as th

            def evaluate(model, loader):
                th.autograd.no_grad()
                return [model(x) for x in loader]
            """,
            line=5,
            fixed="""
            import torch as th

            def evaluate(model, loader):
                th.set_grad_enabled(False)
                return [model(x) for x in loader]
            """,
        ),
        # enable_grad as a statement.
        Invalid(
            """
            import torch

            def saliency(model, x):
                torch.enable_grad()
                x.requires_grad_(True)
                model(x).max().backward()
                return x.grad
            """,
            line=5,
            fixed="""
            import torch

            def saliency(model, x):
                torch.set_grad_enabled(True)
                x.requires_grad_(True)
                model(x).max().backward()
                return x.grad
            """,
        ),
        # Imported name.
        Invalid(
            """
            from torch import no_grad

            no_grad()
            out = model(x)
            """,
            line=4,
        ),
        # At the top of an evaluation method.
        Invalid(
            """
            import torch

            class Evaluator:
                def run(self, loader):
                    torch.no_grad()
                    self.model.eval()
                    return [self.model(x) for x in loader]
            """,
            line=6,
        ),
        # torch.autograd.inference_mode.
        Invalid(
            """
            import torch

            torch.autograd.inference_mode()
            preds = model(batch)
            """,
            line=4,
        ),
        # In a loop body.
        Invalid(
            """
            import torch

            for x, y in test_loader:
                torch.no_grad()
                correct += (model(x).argmax(1) == y).sum().item()
            """,
            line=5,
        ),
    ]
