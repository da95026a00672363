"""Benchmark: the full static report of a GPT-2-small-sized model on the meta device.

GPT-2 small: 12 layers, 768 wide, 12 heads, vocabulary 50257, context 1024 (124 M parameters). On the
meta device no weight is allocated: nnprof builds the model, counts parameters and FLOPs, records every
GEMM shape of the forward and backward and judges them for Tensor Cores. Target: <= 10 s on a 2-core CPU.

    python benchmarks/bench_prof.py            # prints the seconds
    nnprof benchmarks/bench_prof.py --device meta

This file is itself a model file (``build_model``/``example_input``/``get_batch``), built from the GPT of
``examples/models/gpt.py``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import torch

GPT_FILE = Path(__file__).resolve().parent.parent / "examples" / "models" / "gpt.py"
CAUSAL = True
SEQ_LEN = 1024
BATCH = 1


def _gpt_module():
    spec = importlib.util.spec_from_file_location("_bench_gpt", GPT_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the dataclass in gpt.py looks its module up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def build_model() -> torch.nn.Module:
    gpt = _gpt_module()
    return gpt.GPT(gpt.GPTConfig(vocab_size=50257, block_size=SEQ_LEN, n_layer=12, n_head=12, n_embd=768))


def example_input() -> torch.Tensor:
    return torch.randint(0, 50257, (BATCH, SEQ_LEN))


def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, 50257, (BATCH, SEQ_LEN + 1))
    return tokens[:, :-1], tokens[:, 1:]


def main() -> int:
    from nnprof.loading import load_model
    from nnprof.render.text import render_text
    from nnprof.runner import run_profile

    start = time.perf_counter()
    loaded = load_model(__file__, device="meta")
    loaded_at = time.perf_counter()
    report = run_profile(loaded, device="meta", dtype="bfloat16", checks=["tc-alignment"])
    done = time.perf_counter()
    if "-v" in sys.argv:
        print(render_text(report))
    flops = report.flops
    print(f"GPT-2 small on meta: {report.params / 1e6:.1f} M params, {flops['total'] / 1e9:.1f} GFLOP per forward "
          f"(B={BATCH}, T={SEQ_LEN}), coverage {flops['coverage']:.0%}, "
          f"{sum(f.severity == 'warning' for f in report.findings)} tc-alignment warning(s)")
    print(f"load + build on meta {loaded_at - start:.2f} s, analysis {done - loaded_at:.2f} s, "
          f"total {done - start:.2f} s (target <= 10 s)")
    return 0 if done - start <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
