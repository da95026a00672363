"""Tensor Core alignment: shapes recorded per module, judged for the training dtype, weighted by FLOPs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnprof.checks.tc_alignment import required_multiple, suggest, tc_alignment
from nnprof.loading import load_model
from nnprof.shapes import record_shapes

from .conftest import EXAMPLES, make_ctx


def _findings(model: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.bfloat16, **options):
    return tc_alignment(make_ctx(model, x, dtype=dtype, options=options))


def test_required_multiple_per_dtype() -> None:
    assert required_multiple(torch.bfloat16) == required_multiple(torch.float16) == 8
    assert required_multiple(torch.float32) == required_multiple("tf32") == 4
    assert required_multiple("int8") == required_multiple("float8_e4m3fn") == 16


def test_suggestions() -> None:
    assert suggest(50257, 8) == 50304  # next multiple of 64 for a big dimension
    assert suggest(1000, 8) == 1024
    assert suggest(10, 8) == 16 and suggest(10, 4) == 12
    assert suggest(3, 8) == 8 and suggest(3, 4) == 4


def test_gpt_vocabulary_head_is_a_warning_with_50304() -> None:
    loaded = load_model(str(EXAMPLES / "gpt.py"))
    findings = tc_alignment(make_ctx(loaded.model, loaded.example_input))
    [warning] = [f for f in findings if f.severity == "warning"]
    assert warning.module == "lm_head" and warning.check == "tc-alignment"
    d = warning.details
    assert (d["dimension"], d["value"], d["suggested"], d["multiple"]) == ("out_features", 50257, 50304, 8)
    assert d["flop_share"] > 0.5 and "50304" in warning.message and "vocab_size" in d["fix"]


def test_gpt_on_meta_gives_the_same_warning() -> None:
    loaded = load_model(str(EXAMPLES / "gpt.py"), device="meta")
    findings = tc_alignment(make_ctx(loaded.model, loaded.example_input, device="meta"))
    assert [(f.severity, f.module, f.details["suggested"]) for f in findings] == [("warning", "lm_head", 50304)]


def test_small_classifier_head_is_at_most_info() -> None:
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    findings = _findings(model, torch.randn(32, 256))
    assert all(f.severity == "info" for f in findings)
    [head] = [f for f in findings if f.module == "2"]
    assert head.details["value"] == 10 and "not worth" in head.message


def test_small_head_stays_info_even_with_a_large_share() -> None:
    findings = _findings(nn.Linear(8, 10), torch.randn(4, 8))
    assert [f.severity for f in findings] == ["info"]


def test_fp32_uses_multiples_of_4() -> None:
    model = nn.Sequential(nn.Linear(128, 1028), nn.ReLU(), nn.Linear(1028, 128))
    x = torch.randn(16, 128)
    bf16 = [f for f in _findings(model, x) if f.severity == "warning"]
    assert {(f.module, f.details["dimension"]) for f in bf16} == {("0", "out_features"), ("2", "in_features")}
    assert {f.details["suggested"] for f in bf16} == {1088}
    tf32 = _findings(model, x, torch.float32)
    assert all(f.severity == "info" for f in tf32)  # 1028 = 4 x 257: aligned for tf32, not a multiple of 64


def test_share_threshold_is_an_option() -> None:
    model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 100), nn.ReLU(), nn.Linear(100, 256))
    x = torch.randn(8, 256)
    default = {(f.module, f.severity) for f in _findings(model, x) if f.details["value"] == 100}
    assert default == {("2", "warning"), ("4", "warning")}
    strict = {(f.module, f.severity) for f in _findings(model, x, tc_warn_share=0.5) if f.details["value"] == 100}
    assert strict == {("2", "info"), ("4", "info")}


def test_three_channel_stem() -> None:
    loaded = load_model(str(EXAMPLES / "resnet_stem.py"))
    findings = tc_alignment(make_ctx(loaded.model, loaded.example_input))
    [stem] = [f for f in findings if f.module == "stem.0"]
    assert stem.severity == "warning" and stem.details["dimension"] == "in_channels"
    assert stem.details["value"] == 3 and stem.details["suggested"] == 8
    assert "channels_last" in stem.details["fix"] and "stem" in stem.message
    assert [f.module for f in findings if f.severity == "warning"] == ["stem.0"]


def test_head_dim_of_attention() -> None:
    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(64, 3 * 60)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).view(2, 16, 3, 4, 15).permute(2, 0, 3, 1, 4)  # head_dim 15
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    findings = _findings(SelfAttention(), torch.randn(2, 16, 64))
    [head] = [f for f in findings if f.details["dimension"] == "head_dim"]
    assert head.module == "" and head.details["value"] == 15 and head.details["suggested"] == 16


def test_multihead_attention_math_path_is_judged_on_its_bmm() -> None:
    layer = nn.TransformerEncoderLayer(60, 4, 128, batch_first=True)  # head_dim 15, need_weights=True: bmm
    findings = _findings(layer, torch.randn(2, 16, 60))
    assert {f.details["value"] for f in findings if f.module == "self_attn"} >= {15, 60, 180}


def test_shapes_are_recorded_per_module_forward_and_backward() -> None:
    model = nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 4))
    records = record_shapes(model, torch.randn(5, 16))
    forward = [(r.module, r.op, r.dims) for r in records if r.phase == "forward"]
    assert forward == [("0", "addmm", {"M": 5, "K": 16, "N": 24}), ("2", "addmm", {"M": 5, "K": 24, "N": 4})]
    backward = {r.module for r in records if r.phase == "backward"}
    assert backward == {"0", "2"}
    assert all(p.grad is None for p in model.parameters())


def test_shapes_on_meta_for_convolutions_and_attention() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.dw(self.conv(x)).flatten(2).transpose(1, 2).unsqueeze(1)
            return torch.nn.functional.scaled_dot_product_attention(y, y, y, is_causal=True)

    with torch.device("meta"):
        net, x = Net(), torch.randn(2, 3, 4, 4)
    records = [r for r in record_shapes(net, x) if r.phase == "forward"]
    kinds = [(r.module, r.kind) for r in records]
    assert kinds == [("conv", "conv"), ("dw", "conv"), ("", "attention")]
    assert records[0].dims["C_in"] == 3 and records[2].dims["causal"] == 1
    findings = tc_alignment(make_ctx(net, x, device="meta"))
    assert "dw" not in {f.module for f in findings}  # depthwise: no Tensor Core judgement


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_healthy_example_has_no_warning(dtype: torch.dtype) -> None:
    loaded = load_model(str(EXAMPLES / "healthy_mlp.py"))
    findings = tc_alignment(make_ctx(loaded.model, loaded.example_input, dtype=dtype))
    assert all(f.severity == "info" for f in findings)
