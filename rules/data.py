"""Rules: data."""

from __future__ import annotations

import re

import libcst as cst

from nnlint.astutil import arg, dotted_name, number_value, string_value, walk_nodes
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
