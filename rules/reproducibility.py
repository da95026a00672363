"""Rules: reproducibility and safety (NN6xx): seeds, cuDNN determinism, unsafe pickles, deprecated APIs.

Helpers are grouped per rule and prefixed with its theme (``_seed_*`` for NN601/NN603, ``_tv_*`` for
NN604, ``_dep_*`` for NN605); entry-point detection and argument building come from the performance
family module.
"""

from __future__ import annotations

import libcst as cst

from nnlint.astutil import arg, call_name, dotted_name, string_value
from nnlint.rule import Invalid, Rule
from nnlint.rules.performance import (
    EntryInfo,
    has_star_args,
    indent_tokens,
    kwarg,
    render,
    resolved_last,
    torch_name,
    with_arg,
)

# ---------------------------------------------------------------------------------------------
# Shared: seeding calls, branches
# ---------------------------------------------------------------------------------------------

_SEED_TORCH_ONLY = frozenset(
    {"torch.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "torch.random.manual_seed"}
)
# Global-RNG functions of numpy and Python's random (seeded by np.random.seed / random.seed).
_SEED_NUMPY_NOT_SAMPLING = frozenset(
    {
        "seed", "default_rng", "RandomState", "Generator", "SeedSequence", "get_state", "set_state",
        "PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64", "BitGenerator",
    }
)
_SEED_PY_RANDOM = frozenset(
    {
        "random", "randint", "randrange", "shuffle", "choice", "choices", "sample", "uniform", "gauss",
        "normalvariate", "lognormvariate", "betavariate", "gammavariate", "triangular", "expovariate",
        "vonmisesvariate", "paretovariate", "weibullvariate", "getrandbits", "randbytes", "binomialvariate",
    }
)


def _seed_call(call: cst.Call) -> bool:
    """A call that seeds something: its name says so (``manual_seed``, ``set_seed``, ``seed_everything``,
    ``np.random.seed``, ``init_seeds``), or it passes a ``seed=`` argument to a setup helper."""
    name = call_name(call)
    if name:
        low = name.lower()
        if "seed" in low and not low.startswith("get") and low not in ("initial_seed", "seedsequence"):
            return True
    return any(a.keyword is not None and a.keyword.value in ("seed", "random_seed") for a in call.args)


def _branch_path(stack: list[cst.CSTNode]) -> tuple[tuple[int, str], ...]:
    """(id(if), 'body'|'else') for every ``if`` around the current node, outermost first."""
    path = []
    for i, anc in enumerate(stack[:-1]):
        if isinstance(anc, cst.If):
            child = stack[i + 1]
            if child is anc.body:
                path.append((id(anc), "body"))
            elif child is anc.orelse:
                path.append((id(anc), "else"))
    return tuple(path)


def _exclusive(a: tuple, b: tuple) -> bool:
    branches = dict(a)
    return any(key in branches and branches[key] != side for key, side in b)


def _is_true(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


# ---------------------------------------------------------------------------------------------
# NN601 missing-seed
# ---------------------------------------------------------------------------------------------


class MissingSeed(Rule):
    """Flags a training script that never seeds its random number generators.

    ## What it does
    Looks at files that run as a script (an `if __name__ == "__main__":` guard, a module-level
    `main()` call, or a module-level training loop) and train (they call `backward()` and `.step()`).
    If nothing in the file seeds (`torch.manual_seed`, `torch.cuda.manual_seed_all`,
    `pl.seed_everything`, `L.seed_everything`, `transformers.set_seed`, `accelerate.utils.set_seed`,
    or any call whose name holds "seed": a `set_seed`/`seed_everything`/`fix_seed`/`init_seeds`
    helper, `np.random.seed`, `random.seed`, `torch.Generator().manual_seed`, or a `seed=` argument),
    it reports once, on the `__main__` guard (else on `def main`).

    A second message covers a script that seeds torch only (`torch.manual_seed` and
    `torch.cuda.manual_seed*`, no generic helper) but draws from numpy's or Python's global random
    generator (`np.random.shuffle/rand/choice/permutation/...`, `random.shuffle/random/randint/...`)
    without `np.random.seed` / `random.seed`: it is reported on the first such call.

    Silent: library modules (no entry point), scripts without a training step, files that seed
    anywhere, and seeded generators (`np.random.default_rng(seed)`, `random.Random(seed)`).

    ## Why is this bad?
    Weight initialisation, data shuffling, dropout and augmentation all draw random numbers. Without a
    seed two runs of the same script differ, so a change cannot be told apart from noise, and a good
    (or bad) result cannot be reproduced.

    ## Example
    ```python
    def main():
        model = Net().cuda()
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()

    if __name__ == "__main__":
        main()
    ```

    ## Use instead
    ```python
    def main(seed=0):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # seeds the CPU and every CUDA device
        ...
    ```
    """

    code = "NN601"
    name = "missing-seed"
    message = "training entry point never seeds its random number generators; call torch.manual_seed (and numpy/random seeds) at start-up"
    requires = ("backward", "step", ("backward", "seed", "random", "main"))

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.backward: cst.Call | None = None
        self.step = False
        self.seeded = False
        self.torch_only = True
        self.numpy_seeded = False
        self.python_seeded = False
        self.numpy_use: tuple[cst.Call, str] | None = None
        self.python_use: tuple[cst.Call, str] | None = None

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node)
        if name == "backward":
            if self.backward is None:
                self.backward = node
            return
        if name == "step":
            self.step = self.step or isinstance(node.func, cst.Attribute)
            return
        if _seed_call(node):
            self.seeded = True
            qual = self.ctx.qualname(node.func)
            if qual == "numpy.random.seed":
                self.numpy_seeded = True
            elif qual == "random.seed":
                self.python_seeded = True
            elif qual not in _SEED_TORCH_ONLY and name != "manual_seed":
                self.torch_only = False
            return
        if name is None:
            return
        qual = self.ctx.qualname(node.func)
        if not qual:
            return
        if qual.startswith("numpy.random.") and qual.count(".") == 2 and name not in _SEED_NUMPY_NOT_SAMPLING:
            if self.numpy_use is None:
                self.numpy_use = (node, "np.random." + name)
        elif qual.startswith("random.") and qual.count(".") == 1 and qual[7:] in _SEED_PY_RANDOM:
            if self.python_use is None:
                self.python_use = (node, "random." + qual[7:])

    def leave_Module(self, node: cst.Module) -> None:
        if self.backward is None or not self.step:
            return
        entry = EntryInfo(node)
        if not entry.is_script:
            return
        if not self.seeded:
            anchor = entry.anchor(self.backward)
            if anchor is not None:
                self.report(anchor)
            return
        if not self.torch_only:
            return
        if self.numpy_use is not None and not self.numpy_seeded:
            call, label = self.numpy_use
            self.report(
                call,
                f"{label} draws from numpy's global generator, which is never seeded (only torch is); "
                "call np.random.seed(seed) next to torch.manual_seed",
            )
        if self.python_use is not None and not self.python_seeded:
            call, label = self.python_use
            self.report(
                call,
                f"{label} draws from Python's global generator, which is never seeded (only torch is); "
                "call random.seed(seed) next to torch.manual_seed",
            )

    VALID = [
        # Seeded through torch.manual_seed in main.
        """
        import torch

        def main():
            torch.manual_seed(0)
            model = Net()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()

        if __name__ == "__main__":
            main()
        """,
        # An imported helper with "seed" in its name; Lightning and transformers helpers.
        """
        import torch
        from utils import set_random_seed

        if __name__ == "__main__":
            set_random_seed(42)
            for x, y in loader:
                model(x).sum().backward()
                optimizer.step()
        """,
        """
        import torch
        import lightning as L

        L.seed_everything(1234, workers=True)
        for batch in loader:
            loss = model(batch)
            loss.backward()
            opt.step()
        """,
        # transformers' and accelerate's helpers.
        """
        import torch
        from transformers import set_seed
        from accelerate.utils import set_seed as acc_seed

        def main():
            set_seed(42)
            for batch in loader:
                model(**batch).loss.backward()
                optimizer.step()

        if __name__ == "__main__":
            main()
        """,
        # A seed passed to a setup helper.
        """
        import torch
        from engine import setup

        def main(args):
            setup(args.config, seed=args.seed)
            for x in loader:
                model(x).mean().backward()
                opt.step()

        if __name__ == "__main__":
            main(parse())
        """,
        # A library module: no entry point.
        """
        import torch

        def train_one_epoch(model, loader, optimizer):
            for x, y in loader:
                loss = model(x, y)
                loss.backward()
                optimizer.step()
        """,
        # A script with no training step (evaluation).
        """
        import torch

        if __name__ == "__main__":
            model = torch.load("m.pt", weights_only=True)
            for x in loader:
                print(model(x))
        """,
        # Torch and numpy seeded, numpy sampling used.
        """
        import numpy as np
        import torch

        if __name__ == "__main__":
            torch.manual_seed(0)
            np.random.seed(0)
            idx = np.random.permutation(100)
            for x in loader:
                model(x).sum().backward()
                opt.step()
        """,
        # Torch seeded; numpy used through a seeded Generator only.
        """
        import numpy as np
        import torch

        if __name__ == "__main__":
            torch.manual_seed(0)
            rng = np.random.default_rng(0)
            idx = rng.permutation(100)
            for x in loader:
                model(x).sum().backward()
                opt.step()
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            def main():
                model = Net().cuda()
                for x, y in loader:
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()

            if __name__ == "__main__":
                main()
            """,
            line=11,
            count=1,
        ),
        # A module-level script, accelerate's backward.
        Invalid(
            """
            import torch
            from accelerate import Accelerator

            accelerator = Accelerator()
            model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
            for batch in loader:
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
            """,
            line=7,
        ),
        # Seeded torch only; numpy's global generator used for the split.
        Invalid(
            """
            import numpy as np
            import torch

            if __name__ == "__main__":
                torch.manual_seed(0)
                indices = np.random.permutation(len(dataset))
                for x in loader:
                    model(x).sum().backward()
                    opt.step()
            """,
            line=7,
            message_contains="np.random.seed",
        ),
        # Python's random used for augmentation, torch seeded.
        Invalid(
            """
            import random
            import torch

            def augment(x):
                return x.flip(-1) if random.random() < 0.5 else x

            def main():
                torch.cuda.manual_seed_all(1)
                torch.manual_seed(1)
                for x in loader:
                    model(augment(x)).sum().backward()
                    opt.step()

            main()
            """,
            line=6,
            message_contains="random.seed",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN602 torch-load-without-weights-only
# ---------------------------------------------------------------------------------------------

_LOAD_QUALNAMES = frozenset({"torch.load", "torch.serialization.load"})


class TorchLoadWithoutWeightsOnly(Rule):
    """Flags `torch.load` calls that may unpickle arbitrary objects.

    ## What it does
    Finds `torch.load(...)` (and `torch.serialization.load`, under any import alias) without
    `weights_only=True`: either no `weights_only` argument, or `weights_only=False`.

    Silent: `weights_only=True`, a non-literal value (`weights_only=safe`), calls given `**kwargs`,
    fallbacks inside an `except` handler or under an `if` that tests the caller's `weights_only`
    choice (old torch releases without the argument), and other loaders (`torch.jit.load`, `torch.hub.load`, `np.load`, `safetensors.torch.load_file`).

    ## Why is this bad?
    `torch.load` unpickles: a checkpoint can hold any Python object, and unpickling it runs code. A
    downloaded or shared checkpoint can run a payload on the machine that loads it. With
    `weights_only=True` only tensors, primitive types and containers of them are accepted. Torch 2.6
    made `True` the default, but code pinned to older releases, or passing `weights_only=False`,
    stays exposed; writing it out keeps the behaviour the same on every version.

    ## Example
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu")
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
    ```

    ## Fix safety
    Unsafe: checkpoints that pickle whole objects (a full `nn.Module`, an argparse `Namespace`, numpy
    scalars) no longer load with `weights_only=True`; save a `state_dict` instead, or allow the types
    with `torch.serialization.add_safe_globals`. No fix for `weights_only=False` (or when a
    `pickle_module` is given): loading trusted full objects is then deliberate.
    """

    code = "NN602"
    name = "torch-load-without-weights-only"
    message = "torch.load without weights_only=True unpickles arbitrary code from the file; pass weights_only=True"
    requires = ((".load(", "load as"),)
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        if resolved_last(self.ctx, node, ("load",)) is None:
            return
        if self.ctx.qualname(node.func) not in _LOAD_QUALNAMES:
            return
        if any(a.star == "**" for a in node.args) or self._fallback():
            return
        weights_only = arg(node, None, "weights_only")
        if weights_only is None:
            fix = None
            if arg(node, 2, "pickle_module") is None:
                new = render(self.ctx, with_arg(node, kwarg("weights_only", "True")))
                fix = self.fix("unsafe", (node, new), description="weights_only=True")
            self.report(node, fix=fix)
        elif isinstance(weights_only, cst.Name) and weights_only.value == "False":
            self.report(
                weights_only,
                "torch.load with weights_only=False unpickles arbitrary code from the file; load only trusted "
                "files this way, or save a state_dict and load it with weights_only=True",
            )

    def _fallback(self) -> bool:
        """Inside an ``except`` handler (a fallback for a torch without ``weights_only``) or an ``if`` that
        tests the caller's own ``weights_only`` choice."""
        for anc in self.ctx.stack:
            if isinstance(anc, cst.ExceptHandler):
                return True
            if isinstance(anc, (cst.If, cst.IfExp)) and "weights_only" in self.ctx.code(anc.test):
                return True
        return False

    VALID = [
        """
        import torch

        state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        """,
        # Other loaders.
        """
        import numpy as np
        import torch
        from safetensors.torch import load_file

        scripted = torch.jit.load("model.pt")
        hub = torch.hub.load("pytorch/vision", "resnet18")
        arr = np.load("x.npy")
        sd = load_file("model.safetensors")
        """,
        # A non-literal setting and **kwargs.
        """
        import torch

        def load(path, trusted=False, **kw):
            a = torch.load(path, weights_only=not trusted)
            b = torch.load(path, **kw)
            return a, b
        """,
        # A method named load on another object; a local function called load.
        """
        import json

        def load(path):
            return json.load(open(path))

        cfg = load("cfg.json")
        state = checkpoint_manager.load("latest")
        """,
        # A fallback for torch releases without weights_only, chosen by the caller.
        """
        import torch

        def load_checkpoint(path, weights_only=True):
            try:
                return torch.load(path, map_location="cpu", weights_only=weights_only)
            except TypeError:
                if not weights_only:
                    return torch.load(path, map_location="cpu")
                raise
        """,
        # The fixed form, split over lines.
        """
        import torch

        ckpt = torch.load(
            args.resume,
            map_location="cpu",
            weights_only=True,
        )
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            state = torch.load("checkpoint.pt", map_location="cpu")
            """,
            line=4,
            fixed="""
            import torch

            state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
            """,
        ),
        # Imported function, inside a method; multi-line call with a trailing comma.
        Invalid(
            """
            from torch import load as torch_load

            class Trainer:
                def resume(self, path):
                    ckpt = torch_load(
                        path,
                        map_location=self.device,
                    )
                    self.model.load_state_dict(ckpt["model"])
            """,
            line=6,
            fixed="""
            from torch import load as torch_load

            class Trainer:
                def resume(self, path):
                    ckpt = torch_load(
                        path,
                        map_location=self.device,
                        weights_only=True,
                    )
                    self.model.load_state_dict(ckpt["model"])
            """,
        ),
        # Explicit weights_only=False: reported, no fix.
        Invalid(
            """
            import torch

            model = torch.load(args.model_path, weights_only=False)
            """,
            line=4,
            message_contains="weights_only=False",
        ),
        # A single positional argument in a nested expression.
        Invalid(
            """
            import torch as th

            net.load_state_dict(th.load(path))
            """,
            line=4,
            fixed="""
            import torch as th

            net.load_state_dict(th.load(path, weights_only=True))
            """,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN603 deterministic-with-cudnn-benchmark
# ---------------------------------------------------------------------------------------------

_CUDNN = "torch.backends.cudnn."


class DeterministicWithCudnnBenchmark(Rule):
    """Flags `torch.backends.cudnn.benchmark = True` in a file that asks for reproducible runs.

    ## What it does
    Reports `cudnn.benchmark = True` (through any import of `torch.backends.cudnn`) when the same
    file also asks for determinism: `cudnn.deterministic = True` or
    `torch.use_deterministic_algorithms(True)` (the contradiction), or seeds its generators where the
    run is set up (`torch.manual_seed`, a `set_seed(...)` helper call, ... in the same function as the
    benchmark setting, or anywhere in a script that sets it at module level: the runs are meant to
    repeat).

    Silent: the two settings in exclusive branches (`if args.deterministic: ... else:
    cudnn.benchmark = True`), a file with a determinism switch in a branch exclusive with the
    benchmark, `benchmark = False` or a non-literal value, files that neither seed nor ask for
    determinism, and seeds in unrelated functions of a library module (a DataLoader worker's
    `seed_worker`, while a streaming loader turns benchmark on).

    ## Why is this bad?
    Benchmark mode times several convolution algorithms at the first call of each input shape and keeps
    the fastest. The timing differs from run to run, so different algorithms, with different
    floating-point summation orders, are picked: results change between runs with the same seed.
    Together with `cudnn.deterministic = True` the two settings contradict each other.

    ## Example
    ```python
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = True
    ```

    ## Use instead
    ```python
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    ```

    No fix: whether speed or reproducibility matters more is the author's call.
    """

    code = "NN603"
    name = "deterministic-with-cudnn-benchmark"
    message = "cudnn.benchmark = True picks convolution kernels by timing, so seeded runs do not reproduce; set it to False when results must repeat"
    requires = ("benchmark", ("seed", "deterministic"))

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.benchmarks: list[tuple[cst.CSTNode, tuple, int | None]] = []
        self.switches: list[tuple] = []  # determinism requests: cudnn.deterministic / use_deterministic_algorithms
        self.seeds: list[tuple[tuple, int | None]] = []

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if not isinstance(target.target, cst.Attribute) or target.target.attr.value not in ("benchmark", "deterministic"):
                continue
            qual = self.ctx.qualname(target.target)
            if qual == _CUDNN + "benchmark" and _is_true(node.value):
                scope = self.ctx.function
                self.benchmarks.append((node, _branch_path(self.ctx.stack), id(scope) if scope is not None else None))
            elif qual == _CUDNN + "deterministic" and _is_true(node.value):
                self.switches.append(_branch_path(self.ctx.stack))

    def visit_Call(self, node: cst.Call) -> None:
        name = call_name(node)
        if name == "use_deterministic_algorithms":
            if self.ctx.qualname(node.func) == "torch.use_deterministic_algorithms" and _is_true(arg(node, 0, "mode")):
                self.switches.append(_branch_path(self.ctx.stack + [node]))
        elif _seed_call(node):
            scope = self.ctx.function
            self.seeds.append((_branch_path(self.ctx.stack + [node]), id(scope) if scope is not None else None))

    def leave_Module(self, node: cst.Module) -> None:
        script = None
        for assign, path, scope in self.benchmarks:
            if any(_exclusive(path, s) for s in self.switches):
                continue
            if self.switches:
                self.report(
                    assign,
                    "cudnn.benchmark = True picks convolution kernels by timing and undoes the deterministic "
                    "setting in this file; set benchmark = False",
                )
                continue
            # Seeds ask for repeatable runs where the run is set up: in the same function as the
            # benchmark setting, or anywhere in a script that sets it at module level.
            if scope is None and script is None:
                script = EntryInfo(node).is_script
            if any(not _exclusive(path, s) and (s_scope == scope or (scope is None and script)) for s, s_scope in self.seeds):
                self.report(assign)

    VALID = [
        # A switch between the two modes.
        """
        import torch

        def setup(args):
            torch.manual_seed(args.seed)
            if args.deterministic:
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
            else:
                torch.backends.cudnn.benchmark = True
        """,
        # Seeding only when a seed is given, benchmark otherwise.
        """
        import torch
        import torch.backends.cudnn as cudnn

        if args.seed is not None:
            torch.manual_seed(args.seed)
            cudnn.deterministic = True
        else:
            cudnn.benchmark = True
        """,
        # Benchmark on, no seeds, no determinism: a speed-first script.
        """
        import torch

        torch.backends.cudnn.benchmark = True
        model = Net().cuda()
        """,
        # Seeds with benchmark off, or set from a flag.
        """
        import torch
        from torch.backends import cudnn

        torch.manual_seed(0)
        cudnn.benchmark = False
        cudnn.deterministic = True
        cudnn.benchmark = not args.reproducible
        """,
        # A library module: worker seeding in one function, benchmark for a streaming loader elsewhere.
        """
        import numpy as np
        import torch

        def seed_worker(worker_id):
            np.random.seed(torch.initial_seed() % 2**32)

        class LoadStreams:
            def __init__(self, sources):
                torch.backends.cudnn.benchmark = True
                self.sources = sources
        """,
        # Another object's benchmark attribute.
        """
        import torch

        torch.manual_seed(0)
        config.benchmark = True
        trainer.deterministic = True
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            torch.manual_seed(args.seed)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = True
            """,
            line=6,
            message_contains="undoes the deterministic",
        ),
        # Seeds in a helper, benchmark in main (the usual template).
        Invalid(
            """
            import random
            import numpy as np
            import torch
            import torch.backends.cudnn as cudnn

            def set_seed(seed):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)

            def main(args):
                set_seed(args.seed)
                cudnn.benchmark = True
            """,
            line=14,
        ),
        # A script: seeds in main(), benchmark under the __main__ guard.
        Invalid(
            """
            import torch

            def main(args):
                torch.manual_seed(args.seed)
                train(args)

            if __name__ == "__main__":
                torch.backends.cudnn.benchmark = True
                main(parse_args())
            """,
            line=9,
        ),
        # use_deterministic_algorithms with the from-import alias.
        Invalid(
            """
            import torch
            from torch.backends import cudnn

            torch.use_deterministic_algorithms(True)
            if args.fast:
                cudnn.benchmark = True
            """,
            line=7,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN604 torchvision-pretrained-argument
# ---------------------------------------------------------------------------------------------

_TV = "torchvision.models."
# Builders whose legacy ``pretrained=True`` meant weights other than "IMAGENET1K_V1" (from torchvision's
# ``handle_legacy_interface`` decorators), per sub-package; None: no weights (or it depends on other args).
_TV_CLASSIFICATION = frozenset(
    """
    alexnet convnext_base convnext_large convnext_small convnext_tiny densenet121 densenet161 densenet169
    densenet201 efficientnet_b0 efficientnet_b1 efficientnet_b2 efficientnet_b3 efficientnet_b4 efficientnet_b5
    efficientnet_b6 efficientnet_b7 efficientnet_v2_l efficientnet_v2_m efficientnet_v2_s googlenet inception_v3
    maxvit_t mnasnet0_5 mnasnet0_75 mnasnet1_0 mnasnet1_3 mobilenet_v2 mobilenet_v3_large mobilenet_v3_small
    regnet_x_16gf regnet_x_1_6gf regnet_x_32gf regnet_x_3_2gf regnet_x_400mf regnet_x_800mf regnet_x_8gf
    regnet_y_16gf regnet_y_1_6gf regnet_y_32gf regnet_y_3_2gf regnet_y_400mf regnet_y_800mf regnet_y_8gf
    resnet101 resnet152 resnet18 resnet34 resnet50 resnext101_32x8d resnext101_64x4d resnext50_32x4d
    shufflenet_v2_x0_5 shufflenet_v2_x1_0 shufflenet_v2_x1_5 shufflenet_v2_x2_0 squeezenet1_0 squeezenet1_1
    swin_b swin_s swin_t swin_v2_b swin_v2_s swin_v2_t vgg11 vgg11_bn vgg13 vgg13_bn vgg16 vgg16_bn vgg19
    vgg19_bn vit_b_16 vit_b_32 vit_l_16 vit_l_32 wide_resnet101_2 wide_resnet50_2
    """.split()
)
_TV_OTHER: dict[str, dict[str, str | None]] = {
    "segmentation": {
        n: "COCO_WITH_VOC_LABELS_V1"
        for n in ("deeplabv3_mobilenet_v3_large", "deeplabv3_resnet101", "deeplabv3_resnet50", "fcn_resnet101",
                  "fcn_resnet50", "lraspp_mobilenet_v3_large")
    },
    "detection": {
        **{
            n: "COCO_V1"
            for n in ("fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
                      "fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fcos_resnet50_fpn",
                      "keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
                      "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2", "ssd300_vgg16",
                      "ssdlite320_mobilenet_v3_large")
        },
        "resnet_fpn_backbone": None,
        "mobilenet_backbone": None,
    },
    "video": {
        n: "KINETICS400_V1"
        for n in ("mc3_18", "mvit_v1_b", "mvit_v2_s", "r2plus1d_18", "r3d_18", "s3d", "swin3d_b", "swin3d_s", "swin3d_t")
    },
    "optical_flow": {"raft_large": "C_T_SKHT_V2", "raft_small": "C_T_V2"},
    "quantization": {
        n: "quantized"
        for n in ("googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50",
                  "resnext101_32x8d", "resnext101_64x4d", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
                  "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")
    },
}
_TV_QNNPACK = frozenset({"mobilenet_v2", "mobilenet_v3_large"})
_TV_SUBPACKAGES = frozenset(_TV_OTHER)


def _tv_builder(ctx, call: cst.Call) -> tuple[str, str] | None:
    """(sub-package or '', builder name; '?' when chosen at run time) of a torchvision model builder call."""
    func = call.func
    qual = ctx.qualname(func)
    if qual is not None:
        if not qual.startswith(_TV):
            return None
        parts = qual[len(_TV):].split(".")
        name = parts[-1]
        if name == "get_model":
            # ``get_model("resnet50", pretrained=True)``: the builder is named by the string.
            named = string_value(arg(call, 0, "name"))
            if named in _TV_CLASSIFICATION:
                return "", named
            for sub, table in _TV_OTHER.items():
                if sub != "quantization" and named in table:
                    return sub, named
            return "get_model", "?"
        if not name[:1].islower() or name.startswith("_") or name in ("get_weight", "list_models", "get_model_weights"):
            return None
        sub = parts[0] if len(parts) > 1 and parts[0] in _TV_SUBPACKAGES else ""
        return sub, name
    # ``models.__dict__[arch](...)`` and ``getattr(models, arch)(...)``: a classification builder by name.
    if isinstance(func, cst.Subscript) and isinstance(func.value, cst.Attribute) and func.value.attr.value == "__dict__":
        target = ctx.qualname(func.value.value)
    elif isinstance(func, cst.Call) and dotted_name(func.func) == "getattr" and func.args:
        target = ctx.qualname(func.args[0].value)
    else:
        return None
    if target == _TV[:-1]:
        return "", "?"
    if target is not None and target.startswith(_TV) and target[len(_TV):] in _TV_SUBPACKAGES:
        return target[len(_TV):], "?"
    return None


def _tv_legacy_weights(ctx, call: cst.Call, sub: str, name: str, backbone: bool) -> tuple[str | None, bool]:
    """(the weights name that ``pretrained=True`` stood for, whether that is exact): exact from the
    builder's legacy table; "DEFAULT" (not exact) for a builder we do not know."""
    if backbone:
        if sub in ("detection", "segmentation") and _TV_OTHER[sub].get(name):
            return ("IMAGENET1K_FEATURES" if name == "ssd300_vgg16" else "IMAGENET1K_V1"), True
        return None, False
    if sub == "get_model":
        return None, False
    if sub == "":
        if name in _TV_CLASSIFICATION:
            return "IMAGENET1K_V1", True
        if name in ("vit_h_14", "regnet_y_128gf"):
            return None, False
        if name == "?":
            return "IMAGENET1K_V1", True  # every classification builder's legacy weights
        return "DEFAULT", False
    table = _TV_OTHER[sub]
    if name not in table:
        return ("DEFAULT", False) if name != "?" else (None, False)
    weights = table[name]
    if weights == "quantized":
        quantize = arg(call, None, "quantize")
        if quantize is None or (isinstance(quantize, cst.Name) and quantize.value == "False"):
            return "IMAGENET1K_V1", True
        if _is_true(quantize):
            return ("IMAGENET1K_QNNPACK_V1" if name in _TV_QNNPACK else "IMAGENET1K_FBGEMM_V1"), True
        return None, False
    return weights, weights is not None


class TorchvisionPretrainedArgument(Rule):
    """Flags torchvision model builders called with the removed `pretrained=` argument.

    ## What it does
    Finds calls of torchvision model builders (`torchvision.models.resnet50`, `models.vgg16`, imported
    builders, `torchvision.models.detection.fasterrcnn_resnet50_fpn`, segmentation, video, optical
    flow and quantized builders, `models.__dict__[arch]`, `getattr(models, arch)`) that pass
    `pretrained=` or `pretrained_backbone=` (or a positional `True`/`False` first argument), and
    names the `weights=`/`weights_backbone=` value that means the same.

    Silent: `weights=` calls, and other libraries that keep `pretrained=` (timm's `create_model`,
    `segmentation_models_pytorch`, Hugging Face `from_pretrained`, `torch.hub.load`).

    ## Why is this bad?
    `pretrained` was deprecated in torchvision 0.13 for the multi-weight API: it warns on every call and
    is removed from newer releases, where the call fails. It is also ambiguous: `weights=` says which
    checkpoint (and with it which preprocessing and accuracy) the model gets.

    ## Example
    ```python
    model = torchvision.models.resnet50(pretrained=True)
    detector = fasterrcnn_resnet50_fpn(pretrained=False, pretrained_backbone=True)
    ```

    ## Use instead
    ```python
    model = torchvision.models.resnet50(weights="IMAGENET1K_V1")  # or ResNet50_Weights.DEFAULT, newer
    detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone="IMAGENET1K_V1")
    ```

    ## Fix safety
    Safe where the replacement loads exactly what `pretrained` loaded: `pretrained=False` becomes
    `weights=None`, and `pretrained=True` becomes the builder's legacy weights as torchvision maps them
    (`"IMAGENET1K_V1"` for classification models, `"COCO_V1"` for detection, `"KINETICS400_V1"` for
    video, ...); a non-literal flag becomes `weights="..." if flag else None`. Torchvision accepts the
    weights' name as a string. For a builder not in the table the fix writes `weights="DEFAULT"`
    (the newest weights, which may differ from the legacy ones): unsafe.
    """

    code = "NN604"
    name = "torchvision-pretrained-argument"
    message = "torchvision's pretrained= argument is deprecated since 0.13 and removed later; pass weights= instead"
    requires = ("torchvision", ("pretrained", "(True", "(False"))
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        legacy = [a for a in node.args if a.keyword is not None and a.keyword.value in ("pretrained", "pretrained_backbone")]
        positional = None
        if not legacy and node.args and node.args[0].keyword is None and not node.args[0].star:
            first = node.args[0].value
            if isinstance(first, cst.Name) and first.value in ("True", "False"):
                positional = node.args[0]
        if not legacy and positional is None:
            return
        builder = _tv_builder(self.ctx, node)
        if builder is None:
            return
        sub, name = builder
        has_weights = arg(node, None, "weights") is not None
        if positional is not None:
            if name == "?" or sum(1 for a in node.args if a.keyword is None) > 1:
                self.report(positional.value)
                return
            legacy = [positional]
        for a in legacy:
            backbone = a.keyword is not None and a.keyword.value == "pretrained_backbone"
            new_kw = "weights_backbone" if backbone else "weights"
            value = a.value
            weights, exact = _tv_legacy_weights(self.ctx, node, sub, name, backbone)
            if isinstance(value, cst.Name) and value.value == "False":
                new_value, safe = "None", True
            elif _is_true(value):
                new_value, safe = (f'"{weights}"', exact) if weights else (None, False)
            elif weights:
                new_value, safe = f'"{weights}" if {self.ctx.code(value)} else None', exact
            else:
                new_value, safe = None, False
            old = "pretrained_backbone" if backbone else "pretrained"
            shown = f"{new_kw}={new_value}" if new_value else f"{new_kw}=..."
            message = f"torchvision's {old}= is deprecated since 0.13 and removed later; use {shown}"
            fix = None
            if new_value is not None and not has_weights:
                if a.keyword is None:
                    edits = [(a.value, f"{new_kw}={new_value}")]
                else:
                    edits = [(a.keyword, new_kw), (a.value, new_value)]
                fix = self.fix("safe" if safe else "unsafe", *edits, description=shown)
            self.report(a.value if a.keyword is None else a.keyword, message, fix=fix)

    VALID = [
        """
        import torchvision

        model = torchvision.models.resnet50(weights="IMAGENET1K_V1")
        scratch = torchvision.models.resnet18(weights=None, num_classes=10)
        """,
        # timm keeps pretrained=, HF uses from_pretrained, hub takes its own kwargs.
        """
        import timm
        import torch
        from transformers import AutoModel

        m1 = timm.create_model("resnet50", pretrained=True, num_classes=10)
        m2 = AutoModel.from_pretrained("bert-base-uncased")
        m3 = torch.hub.load("pytorch/vision", "resnet18", pretrained=True)
        """,
        # Another library named models; a local builder.
        """
        import segmentation_models_pytorch as smp
        from mymodels import models

        def resnet50(pretrained=False):
            return build("resnet50", pretrained)

        net = smp.Unet("resnet34", encoder_weights="imagenet")
        backbone = models.resnet50(pretrained=True)
        local = resnet50(pretrained=True)
        """,
        # Enum weights and the weights classes themselves.
        """
        from torchvision.models import resnet50, ResNet50_Weights
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        model = resnet50(weights=ResNet50_Weights.DEFAULT)
        det = fasterrcnn_resnet50_fpn(weights="DEFAULT", weights_backbone=None)
        """,
        # A positional argument that is not a pretrained flag; a weights lookup.
        """
        from torchvision import models

        m = models.get_model("resnet50", weights=None)
        w = models.get_weight("ResNet50_Weights.IMAGENET1K_V2")
        """,
        # A non-torchvision model zoo with a positional flag.
        """
        from efficientnet_pytorch import EfficientNet
        import pretrainedmodels

        net = pretrainedmodels.se_resnext50_32x4d(1000, pretrained="imagenet")
        eff = EfficientNet.from_pretrained("efficientnet-b0")
        """,
        # The fixed forms.
        """
        import torchvision.models as models

        model = models.resnet50(weights="IMAGENET1K_V1")
        det = models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone="IMAGENET1K_V1")
        flex = models.vgg16(weights="IMAGENET1K_V1" if args.pretrained else None)
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torchvision.models as models

            model = models.resnet50(pretrained=True)
            """,
            line=4,
            fixed="""
            import torchvision.models as models

            model = models.resnet50(weights="IMAGENET1K_V1")
            """,
        ),
        # Detection builder: both legacy arguments.
        Invalid(
            """
            import torchvision.models as models

            det = models.detection.maskrcnn_resnet50_fpn(pretrained=False, pretrained_backbone=True)
            """,
            count=2,
            fixed="""
            import torchvision.models as models

            det = models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone="IMAGENET1K_V1")
            """,
        ),
        # A flag from argparse.
        Invalid(
            """
            from torchvision.models import vgg16

            def build(args):
                return vgg16(pretrained=args.pretrained)
            """,
            line=5,
            fixed="""
            from torchvision.models import vgg16

            def build(args):
                return vgg16(weights="IMAGENET1K_V1" if args.pretrained else None)
            """,
        ),
        # The imagenet example's builder lookup.
        Invalid(
            """
            import torchvision.models as models

            model = models.__dict__[args.arch](pretrained=True)
            """,
            line=4,
            message_contains='weights="IMAGENET1K_V1"',
        ),
        # The detection sub-package imported directly; COCO weights.
        Invalid(
            """
            from torchvision.models.detection import fasterrcnn_resnet50_fpn

            model = fasterrcnn_resnet50_fpn(pretrained=True)
            """,
            message_contains='weights="COCO_V1"',
            fixed="""
            from torchvision.models.detection import fasterrcnn_resnet50_fpn

            model = fasterrcnn_resnet50_fpn(weights="COCO_V1")
            """,
        ),
        # get_model names the builder; a segmentation model.
        Invalid(
            """
            from torchvision import models

            seg = models.get_model("deeplabv3_resnet50", pretrained=True)
            """,
            fixed="""
            from torchvision import models

            seg = models.get_model("deeplabv3_resnet50", weights="COCO_WITH_VOC_LABELS_V1")
            """,
        ),
        # Positional flag.
        Invalid(
            """
            import torchvision

            backbone = torchvision.models.resnet18(True)
            """,
            fixed="""
            import torchvision

            backbone = torchvision.models.resnet18(weights="IMAGENET1K_V1")
            """,
        ),
    ]


# ---------------------------------------------------------------------------------------------
# NN605 deprecated-torch-api
# ---------------------------------------------------------------------------------------------

# qualname -> (kind, replacement shown in the message)
_DEP_APIS: dict[str, tuple[str, str]] = {
    "torch.cuda.amp.autocast": ("autocast:cuda", 'torch.amp.autocast("cuda", ...)'),
    "torch.cuda.amp.autocast_mode.autocast": ("autocast:cuda", 'torch.amp.autocast("cuda", ...)'),
    "torch.cpu.amp.autocast": ("autocast:cpu", 'torch.amp.autocast("cpu", ...)'),
    "torch.cuda.amp.GradScaler": ("scaler:cuda", 'torch.amp.GradScaler("cuda", ...)'),
    "torch.cuda.amp.grad_scaler.GradScaler": ("scaler:cuda", 'torch.amp.GradScaler("cuda", ...)'),
    "torch.cpu.amp.GradScaler": ("scaler:cpu", 'torch.amp.GradScaler("cpu", ...)'),
    "torch.cuda.amp.custom_fwd": ("custom:custom_fwd", 'torch.amp.custom_fwd(device_type="cuda")'),
    "torch.cuda.amp.custom_bwd": ("custom:custom_bwd", 'torch.amp.custom_bwd(device_type="cuda")'),
    "torch.nn.utils.clip_grad_norm": ("rename:clip_grad_norm_", "torch.nn.utils.clip_grad_norm_"),
    "torch.nn.functional.upsample": ("rename:interpolate", "torch.nn.functional.interpolate"),
    "torch.nn.functional.upsample_bilinear": (
        "upsample:bilinear", 'torch.nn.functional.interpolate(..., mode="bilinear", align_corners=True)'
    ),
    "torch.nn.functional.upsample_nearest": ("upsample:nearest", 'torch.nn.functional.interpolate(..., mode="nearest")'),
    "torch.chain_matmul": ("multi_dot", "torch.linalg.multi_dot([...])"),
    "torch.qr": ("linalg1:qr", "torch.linalg.qr"),
    "torch.cholesky": ("linalg1:cholesky", "torch.linalg.cholesky"),
    "torch.ger": ("rename:outer", "torch.outer"),
    "torch.testing.assert_allclose": ("unsafe-rename:assert_close", "torch.testing.assert_close"),
    "torch.autograd.Variable": ("variable", "the tensor itself (Variable is a no-op wrapper that detaches)"),
    "torch.autograd.variable.Variable": ("variable", "the tensor itself (Variable is a no-op wrapper that detaches)"),
    "torch.range": ("none", "torch.arange (end-exclusive, and integer-typed for integer arguments)"),
    "torch.lu": ("none", "torch.linalg.lu_factor"),
    "torch.triangular_solve": ("none", "torch.linalg.solve_triangular (note the argument order)"),
    "torch.set_default_tensor_type": ("none", "torch.set_default_dtype / torch.set_default_device"),
    "torch.solve": ("removed", "torch.linalg.solve(A, B) (note the argument order)"),
    "torch.symeig": ("removed", "torch.linalg.eigh"),
    "torch.eig": ("removed", "torch.linalg.eig"),
    "torch.lstsq": ("removed", "torch.linalg.lstsq(A, B) (note the argument order)"),
    "torch.matrix_rank": ("removed", "torch.linalg.matrix_rank"),
    **{
        f"torch.nn.init.{n}": (f"rename:{n}_", f"torch.nn.init.{n}_")
        for n in ("uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                  "kaiming_normal", "orthogonal", "sparse")
    },
}
_DEP_NAMES = frozenset(q.rsplit(".", 1)[-1] for q in _DEP_APIS)
_DEP_AUTOCAST_POSITIONAL = ("enabled", "dtype", "cache_enabled")
_DEP_GUARD_WORDS = ("version", "hasattr", "is_torch", "TORCH_", "_TORCH")


def _dep_guarded(ctx, stack: list[cst.CSTNode]) -> bool:
    """Inside a version check or an ``except`` handler: a fallback for old torch releases."""
    for anc in stack:
        if isinstance(anc, cst.ExceptHandler):
            return True
        if isinstance(anc, (cst.If, cst.IfExp)):
            text = ctx.code(anc.test)
            if any(word in text for word in _DEP_GUARD_WORDS):
                return True
    return False


class DeprecatedTorchApi(Rule):
    """Flags deprecated or removed torch APIs and names their replacement.

    ## What it does
    Finds calls (and decorators) of torch APIs that are deprecated, changed, or removed:

    - `torch.cuda.amp.autocast(...)` / `torch.cpu.amp.autocast(...)` -> `torch.amp.autocast("cuda"|"cpu", ...)`;
      `torch.cuda.amp.GradScaler(...)` -> `torch.amp.GradScaler("cuda", ...)`;
      `torch.cuda.amp.custom_fwd/custom_bwd` -> `torch.amp.custom_fwd/custom_bwd(device_type="cuda")`;
    - `torch.nn.utils.clip_grad_norm` -> `clip_grad_norm_`; `nn.init.normal`/`uniform`/`xavier_uniform`/...
      -> the underscore forms;
    - `F.upsample`/`upsample_bilinear`/`upsample_nearest` -> `F.interpolate`;
    - `torch.chain_matmul` -> `torch.linalg.multi_dot`; `torch.qr`/`torch.cholesky` -> `torch.linalg.*`;
      `torch.ger` -> `torch.outer`; `torch.lu` -> `torch.linalg.lu_factor`; `torch.triangular_solve`;
    - removed: `torch.solve`, `torch.symeig`, `torch.eig`, `torch.lstsq`, `torch.matrix_rank` (they raise);
    - `torch.range` (end-inclusive, float) -> `torch.arange`; `torch.testing.assert_allclose` ->
      `assert_close`; `torch.autograd.Variable(x)` -> `x`; `torch.set_default_tensor_type`.

    Names are resolved through imports. Silent: the new APIs, calls inside a version check
    (`if torch.__version__ ...`, `hasattr(torch, "amp")`, `is_torch_greater_or_equal(...)`) or an
    `except` handler (fallbacks for old releases), names bound by two different imports (a
    `try: from torch.amp ... except ImportError: from torch.cuda.amp ...` fallback), and plain
    references that are not called.

    ## Why is this bad?
    Deprecated APIs warn on every call and disappear in later releases, breaking the script on upgrade;
    the removed linear-algebra functions already raise. Several replacements differ in a way that
    matters: `torch.range` includes its end point, `torch.solve(B, A)` and `torch.linalg.solve(A, B)`
    swap their arguments, `Variable(x)` detaches `x`.

    ## Example
    ```python
    scaler = torch.cuda.amp.GradScaler()
    with torch.cuda.amp.autocast():
        loss = model(x)
    torch.nn.utils.clip_grad_norm(model.parameters(), 1.0)
    ```

    ## Use instead
    ```python
    scaler = torch.amp.GradScaler("cuda")
    with torch.amp.autocast("cuda"):
        loss = model(x)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    ```

    ## Fix safety
    Safe for exact renames and the AMP moves (same defaults; positional `autocast` arguments become
    keywords), `upsample*` -> `interpolate` with the mode they implied, `chain_matmul(a, b, ...)` ->
    `linalg.multi_dot([a, b, ...])` (two or more arguments), and single-argument `qr`/`cholesky`.
    Unsafe: `assert_allclose` -> `assert_close` (stricter dtype checks, other tolerances) and
    `Variable(x)` -> `x` (Variable returned a detached alias). A fix that needs the `torch` name is
    offered only when `torch` is imported. No fix where the replacement changes semantics (`range`,
    `solve`, `lu`, ...).
    """

    code = "NN605"
    name = "deprecated-torch-api"
    message = "deprecated torch API; use the replacement"
    requires = (
        (
            "autocast", "GradScaler", "custom_fwd", "custom_bwd", "clip_grad_norm(", "init.uniform(", "init.normal(",
            "init.constant(", "init.xavier_uniform(", "init.xavier_normal(", "init.kaiming_uniform(",
            "init.kaiming_normal(", "init.orthogonal(", "init.sparse(", ".upsample(", "upsample_bilinear(",
            "upsample_nearest(", "chain_matmul", ".qr(", ".cholesky(", ".ger(", ".lu(", "triangular_solve", ".range(",
            ".solve(", ".symeig(", ".eig(", ".lstsq(", "matrix_rank(", "assert_allclose", "Variable(",
            "set_default_tensor_type",
        ),
    )
    fixable = True

    def __init__(self, ctx, options=None) -> None:
        super().__init__(ctx, options)
        self.pending: list[tuple[cst.CSTNode, str, str, cst.CSTNode | None, list[str]]] = []
        self.bindings: dict[str, set[str]] = {}

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings.setdefault(alias.asname.name.value, set()).add(dotted_name(alias.name) or "")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module) if node.module is not None else ""
        for alias in node.names:
            name = dotted_name(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings.setdefault(local, set()).add(f"{module}.{name}")

    def visit_Decorator(self, node: cst.Decorator) -> None:
        deco = node.decorator
        if isinstance(deco, (cst.Name, cst.Attribute)):
            self._check(deco, None)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, (cst.Name, cst.Attribute)):
            self._check(node.func, node)

    def _check(self, func: cst.Name | cst.Attribute, call: cst.Call | None) -> None:
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value
        if last not in _DEP_NAMES and not (isinstance(func, cst.Name) and func.value in self.ctx.imports.aliases):
            return
        qual = self.ctx.qualname(func)
        if qual not in _DEP_APIS or _dep_guarded(self.ctx, self.ctx.stack):
            return
        kind, replacement = _DEP_APIS[qual]
        self.pending.append((func, qual, kind, call, indent_tokens(self.ctx)))

    def leave_Module(self, node: cst.Module) -> None:
        for func, qual, kind, call, indent in self.pending:
            self._indent = indent
            root = dotted_name(func)
            root = root.split(".", 1)[0] if root else ""
            if len(self.bindings.get(root, ())) > 1:
                continue  # bound by two imports: a version fallback
            replacement = _DEP_APIS[qual][1]
            shown = qual.replace("torch.nn.functional.", "F.")
            if kind == "removed":
                message = f"{shown} was removed from torch (it raises); use {replacement}"
            else:
                message = f"{shown} is deprecated; use {replacement}"
            target = call if call is not None else func
            fix = self._fix(func, kind, call)
            self.report(target, message, fix=fix)

    def _fix(self, func: cst.Name | cst.Attribute, kind: str, call: cst.Call | None):
        fix = self._plan(func, kind, call)
        if fix is None:
            return None
        reps = tuple(
            r if isinstance(r.new, str) else type(r)(r.node, render(self.ctx, r.new, self._indent)) for r in fix.replacements
        )
        return type(fix)(fix.applicability, reps, fix.description)

    def _plan(self, func: cst.Name | cst.Attribute, kind: str, call: cst.Call | None):  # noqa: C901
        action, _, detail = kind.partition(":")
        torch = torch_name(self.ctx)
        if action == "variable":
            if call is None or len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
                return None
            return self.fix("unsafe", (call, call.args[0].value), description="drop Variable")
        if action in ("rename", "unsafe-rename"):
            if not isinstance(func, cst.Attribute) or call is None:
                return None
            applicability = "unsafe" if action == "unsafe-rename" else "safe"
            return self.fix(applicability, (func.attr, detail), description=f"use {detail}")
        if action in ("autocast", "scaler", "custom"):
            if torch is None:
                return None
            if action == "custom":
                new_func = cst.parse_expression(f"{torch}.amp.{detail}")
                device = kwarg("device_type", '"cuda"')
                if call is None:
                    return self.fix("safe", (func, f'{torch}.amp.{detail}(device_type="cuda")'), description="torch.amp")
                if has_star_args(call) or any(a.keyword is None for a in call.args):
                    return None
                new_call = call.with_changes(func=new_func, args=[device.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), *call.args]) if call.args else call.with_changes(func=new_func, args=[device])
                return self.fix("safe", (call, new_call), description="torch.amp")
            if call is None or has_star_args(call):
                return None
            new_func = cst.parse_expression(f"{torch}.amp.{'autocast' if action == 'autocast' else 'GradScaler'}")
            args = list(call.args)
            if action == "autocast":
                converted = []
                for i, a in enumerate(args):
                    if a.keyword is None:
                        if i >= len(_DEP_AUTOCAST_POSITIONAL):
                            return None
                        a = a.with_changes(keyword=cst.Name(_DEP_AUTOCAST_POSITIONAL[i]), equal=kwarg("x", "1").equal)
                    converted.append(a)
                args = converted
            device = cst.Arg(cst.SimpleString(f'"{detail}"'))
            if args:
                device = device.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            return self.fix("safe", (call, call.with_changes(func=new_func, args=[device, *args])), description="torch.amp")
        if call is None or has_star_args(call) or not isinstance(func, cst.Attribute):
            return None
        if action == "upsample":
            new = with_arg(call.with_changes(func=func.with_changes(attr=cst.Name("interpolate"))), kwarg("mode", f'"{detail}"'))
            if detail == "bilinear":
                new = with_arg(new, kwarg("align_corners", "True"))
            if any(a.keyword is not None and a.keyword.value in ("mode", "align_corners") for a in call.args):
                return None
            return self.fix("safe", (call, new), description="use interpolate")
        if action == "multi_dot":
            if len(call.args) < 2 or any(a.keyword is not None for a in call.args):
                return None
            elements = [cst.Element(a.value, comma=a.comma) for a in call.args]
            new = call.with_changes(
                func=func.with_changes(attr=cst.parse_expression("linalg.multi_dot")),
                args=[cst.Arg(cst.List(elements))],
            )
            return self.fix("safe", (call, new), description="use torch.linalg.multi_dot")
        if action == "linalg1":
            if len(call.args) != 1 or call.args[0].keyword is not None:
                return None
            return self.fix("safe", (func.attr, f"linalg.{detail}"), description=f"use torch.linalg.{detail}")
        return None

    VALID = [
        """
        import torch

        scaler = torch.amp.GradScaler("cuda")
        with torch.amp.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        torch.nn.init.normal_(w, std=0.02)
        y = torch.nn.functional.interpolate(x, scale_factor=2)
        q, r = torch.linalg.qr(a)
        idx = torch.arange(10)
        """,
        # Version fallbacks.
        """
        import torch

        if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
            scaler = torch.amp.GradScaler("cuda")
        else:
            scaler = torch.cuda.amp.GradScaler()

        try:
            autocast = torch.amp.autocast("cuda")
        except AttributeError:
            autocast = torch.cuda.amp.autocast()
        """,
        # Import fallback: the name is bound twice.
        """
        try:
            from torch.amp import GradScaler
        except ImportError:
            from torch.cuda.amp import GradScaler

        scaler = GradScaler()
        """,
        # Same names on other objects; Python's range; numpy's qr.
        """
        import numpy as np
        import torch

        for i in range(10):
            q, r = np.linalg.qr(a)
        model.init.normal(0.0)
        self.amp.autocast()
        res = solver.solve(a, b)
        """,
        # The new custom_fwd decorator.
        """
        import torch

        class Fn(torch.autograd.Function):
            @staticmethod
            @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
            def forward(ctx, x):
                return x
        """,
        # A reference, not a call.
        """
        import torch

        AUTOCAST = torch.cuda.amp.autocast
        """,
        # The fixed forms.
        """
        import torch
        import torch.nn.functional as F

        with torch.amp.autocast("cuda", enabled=True):
            y = F.interpolate(x, None, 2, mode="bilinear", align_corners=True)
        m = torch.linalg.multi_dot([a, b, c])
        """,
    ]
    INVALID = [
        Invalid(
            """
            import torch

            scaler = torch.cuda.amp.GradScaler()
            with torch.cuda.amp.autocast():
                loss = model(x)
            torch.nn.utils.clip_grad_norm(model.parameters(), 1.0)
            """,
            count=3,
            fixed="""
            import torch

            scaler = torch.amp.GradScaler("cuda")
            with torch.amp.autocast("cuda"):
                loss = model(x)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            """,
        ),
        # Imported names; positional autocast arguments become keywords.
        Invalid(
            """
            import torch
            from torch.cuda.amp import GradScaler, autocast

            scaler = GradScaler(init_scale=1024)
            with autocast(True, torch.bfloat16):
                loss = model(x)
            """,
            count=2,
            fixed="""
            import torch
            from torch.cuda.amp import GradScaler, autocast

            scaler = torch.amp.GradScaler("cuda", init_scale=1024)
            with torch.amp.autocast("cuda", enabled=True, dtype=torch.bfloat16):
                loss = model(x)
            """,
        ),
        # F.upsample_bilinear, nn.init without underscore, chain_matmul.
        Invalid(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            y = F.upsample_bilinear(x, scale_factor=2)
            nn.init.xavier_uniform(layer.weight)
            m = torch.chain_matmul(a, b, c)
            """,
            count=3,
            fixed="""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            nn.init.xavier_uniform_(layer.weight)
            m = torch.linalg.multi_dot([a, b, c])
            """,
        ),
        # Removed functions: no fix; torch.range: no fix.
        Invalid(
            """
            import torch

            x, _ = torch.solve(b, A)
            steps = torch.range(0, 10)
            """,
            count=2,
            message_contains="was removed",
        ),
        # A decorator, bare and called.
        Invalid(
            """
            import torch
            from torch.cuda.amp import custom_fwd, custom_bwd

            class Fn(torch.autograd.Function):
                @staticmethod
                @custom_fwd(cast_inputs=torch.float32)
                def forward(ctx, x):
                    return x

                @staticmethod
                @torch.cuda.amp.custom_bwd
                def backward(ctx, g):
                    return g
            """,
            count=2,
            fixed="""
            import torch
            from torch.cuda.amp import custom_fwd, custom_bwd

            class Fn(torch.autograd.Function):
                @staticmethod
                @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
                def forward(ctx, x):
                    return x

                @staticmethod
                @torch.amp.custom_bwd(device_type="cuda")
                def backward(ctx, g):
                    return g
            """,
        ),
        # Variable wrapper in an old training loop.
        Invalid(
            """
            from torch.autograd import Variable

            for images, labels in loader:
                images = Variable(images.cuda())
            """,
            line=5,
            fixed="""
            from torch.autograd import Variable

            for images, labels in loader:
                images = images.cuda()
            """,
        ),
    ]
