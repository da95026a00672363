"""Loading a model file: the file convention, one-line errors, fresh namespaces, the meta device."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nnprof.loading import ModelLoadError, default_loss, load_model, primary_output, resize_batch

from .conftest import TINY_MODEL


def _error(spec: str, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(spec, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(spec)
    return message


def test_missing_file() -> None:
    assert _error("no/such/model.py").endswith("no such file")


def test_missing_build_model(model_file) -> None:
    path = model_file("import torch\n\ndef example_input():\n    return torch.zeros(1)\n")
    assert "neither build_model()" in _error(str(path))


def test_missing_example_input(model_file) -> None:
    path = model_file("from torch import nn\n\ndef build_model():\n    return nn.Linear(2, 2)\n")
    assert "no example_input()" in _error(str(path))


def test_user_exception_in_init_keeps_its_message(model_file) -> None:
    path = model_file('''
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                raise ValueError("width must be even,\\n got 7")

        def build_model():
            return Net()

        def example_input():
            return None
    ''')
    message = _error(str(path))
    assert message == f"{path}: build_model() raised ValueError: width must be even, got 7"


def test_non_module_return(model_file) -> None:
    path = model_file("def build_model():\n    return [1, 2]\n\ndef example_input():\n    return 1\n")
    assert _error(str(path)).endswith("build_model() returned a list, not an nn.Module")


def test_syntax_and_import_errors(model_file) -> None:
    assert "syntax error at line 1" in _error(str(model_file("def build_model(:\n", "syntax.py")))
    assert "No module named 'not_a_package'" in _error(str(model_file("import not_a_package\n", "imp.py")))


def test_forward_error_and_loss_that_cannot_take_the_output(model_file) -> None:
    bad_forward = TINY_MODEL.replace("return torch.randn(8, 16)\n", "return torch.randn(8, 15)\n", 1)
    assert "the forward pass raised RuntimeError" in _error(str(model_file(bad_forward, "fwd.py")))
    bad_targets = TINY_MODEL.replace("torch.randint(0, 4, (8,))", "torch.randn(8, 3)")
    message = _error(str(model_file(bad_targets, "loss.py")))
    assert "the default loss cannot take the model's output: ValueError: float targets of shape (8, 3)" in message
    bad_batch = TINY_MODEL.replace("return torch.randn(8, 16), torch.randint(0, 4, (8,))", "return 3")
    assert "get_batch() must return (inputs, targets)" in _error(str(model_file(bad_batch, "batch.py")))


def test_module_factory_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "zoo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(TINY_MODEL + "\n\ndef wide():\n    return nn.Sequential(nn.Linear(16, 64), nn.Linear(64, 4))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_model("zoo.nets:wide")
    assert loaded.model[0].out_features == 64 and loaded.batch is not None
    assert "zoo.nets" not in sys.modules
    assert "has no 'missing'" in _error("zoo.nets:missing")
    assert "no module named 'zoo.nope'" in _error("zoo.nope:build")


def test_each_load_gets_a_fresh_namespace(model_file) -> None:
    path = model_file(TINY_MODEL + "\nCALLS = []\n\ndef make_optimizer(model):\n    CALLS.append(1)\n"
                      "    return torch.optim.SGD(model.parameters(), lr=0.1)\n")
    before = set(sys.modules)
    first, second = load_model(str(path)), load_model(str(path))
    first.make_optimizer(first.model)
    assert first.make_optimizer.__globals__ is not second.make_optimizer.__globals__
    assert second.make_optimizer.__globals__["CALLS"] == []
    added = set(sys.modules) - before  # torch imports some of its own modules lazily
    assert not [m for m in added if m.startswith("_nnprof") or str(path.parent) in str(getattr(sys.modules[m], "__file__", ""))]


def test_module_level_model_and_causal_flag(model_file) -> None:
    path = model_file("import torch\nfrom torch import nn\nCAUSAL = True\nmodel = nn.Linear(4, 2)\n"
                      "def example_input():\n    return torch.randn(3, 4)\n")
    loaded = load_model(str(path))
    assert loaded.causal and isinstance(loaded.model, nn.Linear)
    assert loaded.build_model() is not loaded.model


def test_meta_device_allocates_no_weights(model_file) -> None:
    path = model_file("import torch\nfrom torch import nn\n"
                      "def build_model():\n    return nn.Linear(100_000, 100_000)\n"  # 40 GB in fp32
                      "def example_input():\n    return torch.randn(2, 100_000)\n")
    loaded = load_model(str(path), device="meta")
    assert loaded.model.weight.is_meta and loaded.example_input.is_meta


def test_default_loss() -> None:
    logits = torch.randn(4, 10)
    assert default_loss(logits, torch.randint(0, 10, (4,))).dim() == 0
    assert default_loss(torch.randn(3, 4, 8, 8), torch.randint(0, 4, (3, 8, 8))).dim() == 0
    assert default_loss(torch.zeros(3, 2), torch.ones(3, 2)).item() == pytest.approx(1.0)
    assert default_loss((torch.zeros(3, 2), "aux"), torch.ones(3, 2)).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="integer targets"):
        default_loss(torch.randn(4, 10), torch.randint(0, 10, (4, 3)))


def test_sequence_cross_entropy_flattens() -> None:
    torch.manual_seed(0)
    out, y = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    expected = nn.functional.cross_entropy(out.reshape(10, 7), y.reshape(10))
    assert default_loss(out, y).item() == pytest.approx(expected.item())


def test_primary_output_and_resize() -> None:
    t = torch.ones(2)
    assert primary_output({"loss": 1.0, "logits": t}) is t
    assert primary_output((None, t)) is t
    batch = (torch.arange(4).reshape(4, 1), torch.arange(4))
    grown = resize_batch(batch, 4, 6)
    assert grown[0].shape == (6, 1) and grown[1].tolist() == [0, 1, 2, 3, 0, 1]
    assert resize_batch(batch, 4, 2)[1].tolist() == [0, 1]


def test_sibling_helper_modules_are_not_left_behind(model_file) -> None:
    model_file("import torch\nfrom torch import nn\n\ndef make():\n    return nn.Linear(4, 2)\n", "helper_layers_xyz.py")
    path = model_file("import torch\nfrom helper_layers_xyz import make\n\ndef build_model():\n    return make()\n\n"
                      "def example_input():\n    return torch.randn(2, 4)\n")
    assert isinstance(load_model(str(path)).model, nn.Linear)
    assert "helper_layers_xyz" not in sys.modules
