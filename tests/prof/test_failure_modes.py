"""The user's model misbehaving: each case is a finding or a one-line error, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nnprof.loading import load_model
from nnprof.runner import run_profile

HEAD = "import time\nimport torch\nfrom torch import nn\n"
LINEAR = "def build_model():\n    return M()\n\ndef example_input():\n    return torch.randn(8, 4)\n\n" \
         "def get_batch():\n    return torch.randn(8, 4), torch.randint(0, 3, (8,))\n"


def model_with_forward(body: str) -> str:
    return HEAD + (
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(4, 3)\n"
        "        self.calls = 0\n\n    def forward(self, x):\n        self.calls += 1\n" + body + "        return self.l(x)\n\n"
    ) + LINEAR


def nnprof(path, *args):
    return subprocess.run([sys.executable, "-m", "nnprof.cli", str(path), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(
    "source, fragment",
    [
        (model_with_forward("        raise ValueError('bad forward')\n"), "the forward pass raised ValueError: bad forward"),
        (HEAD + "class M(nn.Module):\n    def __init__(self):\n        raise KeyError('cfg')\n\n" + LINEAR, "KeyError"),
        (HEAD + "def build_model():\n    return 'a string'\n\ndef example_input():\n    return torch.randn(2, 4)\n",
         "returned a str, not an nn.Module"),
        (HEAD + "def build_model():\n    return nn.Linear(4, 3)\n\ndef example_input():\n    return torch.randn(8, 4)\n\n"
         "def get_batch():\n    return torch.randn(8, 5), torch.randint(0, 3, (8,))\n", "get_batch()"),
    ],
    ids=["forward-raises", "init-raises", "not-a-module", "get-batch-wrong-shape"],
)
def test_unloadable_models_exit_2_with_one_line(model_file, source, fragment):
    path = model_file(source)
    result = nnprof(path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and path.name in lines[0] and fragment in lines[0], lines
    assert "Traceback" not in result.stderr
    verbose = nnprof(path, "--verbose")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_nan_loss_from_the_first_step_is_an_error(model_file):
    loaded = load_model(str(model_file(model_with_forward("        x = x * float('nan')\n"))))
    report = run_profile(loaded, device="cpu", checks=["loss-at-init", "exploding-gradients"], seed=0)
    by_check = {f.check: f for f in report.findings}
    assert by_check["loss-at-init"].severity == "error" and "nan" in by_check["loss-at-init"].message
    assert by_check["exploding-gradients"].severity == "error"


def test_out_of_memory_is_one_finding_and_the_rest_is_skipped(model_file):
    # Out of memory on the first forward a check makes (checks run in threads named nnprof-<check>; FLOP
    # counting runs in nnprof-budget), whichever model instance or copy the check uses.
    body = (
        "        import threading\n"
        "        name = threading.current_thread().name\n"
        "        if name.startswith('nnprof-') and name != 'nnprof-budget':\n"
        "            raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 20 GiB')\n"
    )
    loaded = load_model(str(model_file(model_with_forward(body))))
    report = run_profile(loaded, device="cpu", checks=["exploding-gradients", "dead-relu", "overfit-batch"], seed=0,
                         options={"budget_scale": 50})
    errors = [f for f in report.findings if f.severity == "error" and f.check != "flops"]
    assert len(errors) == 1 and "out of memory" in errors[0].message and "--batch-size" in errors[0].message
    assert report.params == 15  # the partial report is still there
    assert report.extras["check_status"] == {
        "exploding-gradients": "out of memory",
        "dead-relu": "skipped (out of memory)",
        "overfit-batch": "skipped (out of memory)",
    }


def test_a_model_that_never_returns_is_stopped_by_the_budget(model_file):
    body = "        if self.calls > 2:\n            time.sleep(3600)\n"
    loaded = load_model(str(model_file(model_with_forward(body))))
    report = run_profile(loaded, device="cpu", checks=["exploding-gradients", "dead-relu", "overfit-batch"], seed=0,
                         options={"budget_scale": 0.05, "hang_probe_s": 2.0, "flops_budget_s": 2.0})
    status = report.extras["check_status"]
    assert status["overfit-batch"].startswith("skipped")
    assert any(f.severity == "error" and ("did not return" in f.message or "did not finish" in f.message)
               for f in report.findings)
    assert report.params == 15
