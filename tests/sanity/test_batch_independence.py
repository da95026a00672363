import torch
from torch import nn

from .conftest import run_check
from .tiny import BatchMeanMixer, TinyLM, TokenMixer, ViewMixer, cls_batch, make_ctx, mlp, token_batch


def test_view_on_the_batch_axis_is_an_error_naming_the_module():
    x = torch.randn(6, 5, 4)
    [f] = run_check("batch-independence", make_ctx(ViewMixer, (x, torch.randn(6, 5, 3))))
    assert f.severity == "error" and f.module == "block"
    assert "first module whose output mixes them is `block`" in f.message
    assert f.details == {"sample": 3, "batch_size": 6, "located": True}


def test_mixing_in_the_models_own_forward_is_located_between_children():
    [f] = run_check("batch-independence", make_ctx(BatchMeanMixer, (torch.randn(8, 4), torch.randn(8, 3))))
    assert f.severity == "error" and f.module == "head"
    assert "forward code of `(the model)` just before it calls `head`" in f.message


def test_token_inputs_are_charted_through_the_embedding_output():
    [f] = run_check("batch-independence", make_ctx(TokenMixer, token_batch()))
    assert f.severity == "error"
    assert run_check("batch-independence", make_ctx(TinyLM, token_batch())) == []


def test_batch_norm_in_training_mode_is_not_a_false_alarm():
    ctx = make_ctx(mlp, cls_batch())
    assert ctx.model.training
    assert run_check("batch-independence", ctx) == []
    assert ctx.model.training and all(m.training for m in ctx.model.modules())
    assert all(p.requires_grad for p in ctx.model.parameters())


def test_a_batch_of_one_is_widened():
    assert run_check("batch-independence", make_ctx(mlp, (torch.randn(1, 20), torch.tensor([1])))) == []
    [f] = run_check("batch-independence", make_ctx(BatchMeanMixer, (torch.randn(1, 4), torch.randn(1, 3))))
    assert f.severity == "error"


def test_dict_and_tuple_inputs():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

        def forward(self, x, y):
            return self.a(x) + self.b(y).roll(1, 0)  # BUG: y shifted by one sample

    x, y = torch.randn(5, 4), torch.randn(5, 2)
    [f] = run_check("batch-independence", make_ctx(Two, ((x, y), None)))
    assert f.severity == "error"
    ctx = make_ctx(Two, None)
    ctx.example_input = {"x": x, "y": y}
    assert run_check("batch-independence", ctx)[0].severity == "error"


def test_causal_model_passes_the_time_step_test():
    assert run_check("batch-independence", make_ctx(TinyLM, token_batch(), causal=True)) == []


def test_bidirectional_attention_declared_causal_is_an_error():
    [f] = run_check("batch-independence", make_ctx(lambda: TinyLM(causal=False), token_batch(), causal=True))
    assert f.severity == "error" and f.module == "attn"
    assert "declared causal" in f.message and f.details["position"] == 0


def test_time_test_only_when_declared_causal():
    assert run_check("batch-independence", make_ctx(lambda: TinyLM(causal=False), token_batch())) == []


def test_meta_device_is_skipped():
    ctx = make_ctx(mlp, cls_batch())
    ctx.device = torch.device("meta")
    [f] = run_check("batch-independence", ctx)
    assert f.severity == "info" and f.message.startswith("skipped")
