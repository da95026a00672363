"""FLOP formulas, both backends (fvcore on real devices, the dispatch counter on meta), coverage."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnprof.flops import (
    UNIT,
    attention_flops,
    causal_pairs,
    count_flops,
    count_flops_dispatch,
    count_flops_fvcore,
    rnn_flops,
)
from nnprof.loading import load_model

from .conftest import EXAMPLES

BACKENDS = ["fvcore", "dispatch"]


class Attention(nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)


def _meta(model: nn.Module, *inputs: torch.Tensor):
    return model.to("meta"), tuple(x.to("meta") for x in inputs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_is_2mnk(backend: str) -> None:
    m, k, n = 6, 16, 32
    result = count_flops(nn.Linear(k, n), torch.randn(m, k), backend=backend)
    assert result.total == 2 * m * n * k
    assert result.by_module == {"": 2 * m * n * k}
    assert result.coverage == 1.0 and result.uncounted_ops == []


def test_linear_on_meta_uses_the_dispatch_counter() -> None:
    model, (x,) = _meta(nn.Linear(16, 32), torch.randn(4, 5, 16))
    result = count_flops(model, x)
    assert result.counter == "dispatch" and result.total == 2 * 20 * 16 * 32


@pytest.mark.parametrize("backend", BACKENDS)
def test_sdpa_counts_qk_and_av_and_halves_for_a_causal_mask(backend: str) -> None:
    b, h, t, e = 2, 4, 16, 8
    q = torch.randn(b, h, t, e)
    full = count_flops(Attention(False), (q, q, q), backend=backend).total
    causal = count_flops(Attention(True), (q, q, q), backend=backend).total
    assert full == 2 * b * h * t * t * (e + e)  # QK^T and AV
    assert causal == 2 * b * h * (t * (t + 1) // 2) * (e + e)
    assert causal / full == pytest.approx(0.5, abs=0.05)


def test_sdpa_on_meta_is_counted_whole_not_by_its_math_decomposition() -> None:
    q = torch.randn(1, 2, 64, 16)
    model, (qm,) = _meta(Attention(True), q)
    assert count_flops(model, (qm, qm, qm)).total == attention_flops(q.shape, q.shape, q.shape, causal=True)


def test_causal_pairs() -> None:
    assert causal_pairs(4, 4) == 10
    assert causal_pairs(1024, 1024) / 1024**2 == pytest.approx(0.5, abs=1e-3)
    assert causal_pairs(6, 4) == 10 + 2 * 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_counts_every_gate(backend: str) -> None:
    t, b, i, h = 8, 2, 16, 32
    result = count_flops(nn.LSTM(i, h, num_layers=2, batch_first=True), torch.randn(b, t, i), backend=backend)
    rows = t * b
    matmul = 2 * (4 * h * i + 4 * h * h) + 2 * (4 * h * h + 4 * h * h)
    elementwise = 21 * h * 2  # per unit and step: sums, biases, 3 sigmoid, 2 tanh, cell and hidden updates
    assert result.total == rows * (matmul + elementwise)
    assert result.coverage == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_and_rnn(backend: str) -> None:
    gru = count_flops(nn.GRU(16, 32), torch.randn(8, 2, 16), backend=backend).total
    assert gru == 16 * (2 * (3 * 32 * 16 + 3 * 32 * 32) + 16 * 32)
    rnn = count_flops(nn.RNN(16, 32, nonlinearity="relu"), torch.randn(8, 16), backend=backend).total
    assert rnn == 8 * (2 * (32 * 16 + 32 * 32) + 4 * 32)


def test_rnn_formula_with_projection_and_two_directions() -> None:
    lstm = nn.LSTM(16, 32, bidirectional=True, proj_size=8)
    shapes = [list(p.shape) for p in lstm._flat_weights]
    assert rnn_flops("lstm", 10, shapes, True, 2) == 10 * (2 * 2 * (128 * 16 + 128 * 8 + 8 * 32) + 2 * 21 * 32)
    cpu = count_flops(lstm, torch.randn(5, 2, 16), backend="fvcore").total
    assert cpu == count_flops(lstm, torch.randn(5, 2, 16), backend="dispatch").total == rnn_flops("lstm", 10, shapes, True, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multihead_attention(backend: str) -> None:
    b, t, e, heads = 2, 8, 64, 4
    x = torch.randn(b, t, e)
    result = count_flops(nn.MultiheadAttention(e, heads, batch_first=True), (x, x, x), backend=backend)
    projections = 4 * 2 * b * t * e * e  # q, k, v and out
    attention = 2 * b * t * t * e * 2  # QK^T and AV over all heads
    assert result.total == projections + attention


def test_the_two_backends_and_meta_agree_on_the_example_gpt() -> None:
    loaded = load_model(str(EXAMPLES / "gpt.py"))
    fv = count_flops_fvcore(loaded.model, loaded.example_input)
    disp = count_flops_dispatch(loaded.model, loaded.example_input)
    meta = load_model(str(EXAMPLES / "gpt.py"), device="meta")
    on_meta = count_flops(meta.model, meta.example_input)
    assert fv.total == disp.total == on_meta.total
    assert fv.by_module == pytest.approx(disp.by_module)
    assert sum(share for _, _, share in fv.top_modules()) == pytest.approx(1.0)
    assert fv.top_modules(1)[0][0] == "lm_head"


def test_conv_on_meta() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    x = torch.randn(2, 3, 16, 16)
    cpu = count_flops(model, x, backend="fvcore")
    meta_model, (xm,) = _meta(model, x)
    meta = count_flops(meta_model, xm)
    assert meta.counter == "dispatch" and meta.by_module["0"] == cpu.by_module["0"] == 2 * 2 * 8 * 3 * 9 * 14 * 14


class Uncounted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.inv(self.fc(x).reshape(-1, 2, 2, 2)).reshape(x.shape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_coverage_names_the_ops_without_a_formula(backend: str) -> None:
    result = count_flops(Uncounted(), torch.randn(4, 8), backend=backend)
    assert result.coverage < 1.0
    assert any("inv" in op for op in result.uncounted_ops)
    assert result.total == 2 * 4 * 8 * 8  # the linear layer still counts


def test_fvcore_falls_back_for_dict_outputs_and_kwargs_inputs() -> None:
    class DictOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": self.fc(x) * scale, "n": x.shape[0]}

    inputs = {"x": torch.randn(3, 4), "scale": torch.ones(1)}
    result = count_flops(DictOut(), inputs)
    assert result.total == 2 * 3 * 4 * 4 and result.by_module == {"fc": 96.0}


def test_unit_says_multiply_add_is_two() -> None:
    assert UNIT.startswith("flop") and "multiply-add = 2" in UNIT
