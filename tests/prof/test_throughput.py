"""Throughput on CPU, the MFU peak table, and the CUDA kernel-name classifier (tested without a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnprof.checks.throughput import (
    KernelSummary,
    ThroughputResult,
    classify_kernel,
    judge,
    peak_tflops,
    summarize_kernels,
    throughput,
)
from nnprof.flops import count_flops

from .conftest import make_ctx


def test_cpu_step_is_measured() -> None:
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    ctx = make_ctx(model, x, y, build=lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)))
    ctx.shared["flops"] = count_flops(model, x, batch_size=8)
    [finding] = throughput(ctx)
    report = ctx.shared["throughput"]
    assert {"samples_per_s", "step_ms", "mfu", "tokens_per_s", "step_ms_runs", "batch_size"} <= set(report)
    assert report["step_ms"] > 0 and report["samples_per_s"] == pytest.approx(8 / (report["step_ms"] / 1e3))
    assert report["mfu"] is None and report["tokens_per_s"] is None and report["batch_size"] == 8
    assert report["flops_per_step"] == 3 * ctx.shared["flops"].total
    assert finding.severity == "info" and "MFU n/a" in finding.message
    assert all(p.grad is None for p in model.parameters())  # timed on a fresh copy


def test_tokens_per_second_for_a_token_batch() -> None:
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50))
    tokens = torch.randint(0, 50, (4, 12))
    ctx = make_ctx(model, tokens, tokens, options={"timed_steps": 2, "warmup_steps": 1})
    throughput(ctx)
    report = ctx.shared["throughput"]
    assert report["tokens_per_s"] == pytest.approx(report["samples_per_s"] * 12)
    assert len(report["step_ms_runs"]) == 2


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("volta_h884gemm_64x64_ldg8_nn", "tensor_core"),
        ("turing_fp16_s1688gemm_fp16_256x128_ldg8_f2f_nn", "tensor_core"),
        ("ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_stages_64x3_tn", "tensor_core"),
        ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas", "tensor_core"),
        ("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTN", "tensor_core"),
        ("void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(Params)", "tensor_core"),
        ("sm80_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize128x128x32", "tensor_core"),
        ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4>>", "tensor_core"),
        ("ampere_sgemm_128x64_nn", "simt"),
        ("void gemv2T_kernel_val<int, int, float, float, float, float, 128, 16, 4, 4, false>", "simt"),
        ("void cutlass::Kernel<cutlass_80_simt_sgemm_128x64_8x5_nn_align1>(Params)", "simt"),
        ("void implicit_convolve_sgemm<float, float, 128, 5, 5, 3, 3, 3, 1, false>", "simt"),
        ("fmha_cutlassF_f32_aligned_64x64_rf_sm80", "simt"),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl>", None),
        ("void cudnn::engines_precompiled::nchwToNhwcKernel<float>", None),
    ],
)
def test_kernel_classifier(name: str, kind: str | None) -> None:
    assert classify_kernel(name) == kind


def test_kernel_summary_and_warning() -> None:
    summary = summarize_kernels([("ampere_sgemm_128x64_nn", 3.0), ("ampere_bf16_s16816gemm_bf16_128x128", 1.0),
                                 ("elementwise_kernel", 5.0)])
    assert summary.tensor_core_share == pytest.approx(0.25) and len(summary.top) == 2
    result = ThroughputResult(10.0, [10.0], 8, 800.0, None, 1e12, "bfloat16", "NVIDIA H100 80GB HBM3", 989.0,
                              0.1, 2, summary)
    findings = judge(result, dtype="bfloat16")
    assert [f.severity for f in findings] == ["info", "warning"]
    assert "25%" in findings[1].message and "MFU 10.0%" in findings[0].message
    healthy = ThroughputResult(10.0, [10.0], 8, 800.0, None, None, "bfloat16", "x", None, None, 2,
                               KernelSummary(tensor_core_ms=9.0, simt_ms=1.0))
    assert [f.severity for f in judge(healthy, dtype="bfloat16")] == ["info"]


def test_peak_table() -> None:
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "bfloat16") == 312
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bfloat16") == 989
    assert peak_tflops("NVIDIA H100 PCIe", "bfloat16") == 756
    assert peak_tflops("NVIDIA H200", "bfloat16") == 989
    assert peak_tflops("NVIDIA A100-SXM4-40GB", "tf32") == 156
    assert peak_tflops("Tesla V100-SXM2-16GB", "float16") == 125
    assert peak_tflops("Tesla V100-SXM2-16GB", "bfloat16") is None
    assert peak_tflops("NVIDIA L4", "bfloat16") == 121 and peak_tflops("NVIDIA L40S", "bfloat16") == 362
    assert peak_tflops("NVIDIA GeForce RTX 4090", "bfloat16") == 165
    assert peak_tflops("NVIDIA A10", "bfloat16") == 125 and peak_tflops("Some GPU", "bfloat16") is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_step_reports_tensor_core_use() -> None:
    model = nn.Sequential(nn.Linear(256, 512), nn.GELU(), nn.Linear(512, 256)).cuda()
    x = torch.randn(64, 256, device="cuda")
    ctx = make_ctx(model, x, x.clone(), device="cuda")
    ctx.shared["flops"] = count_flops(model, x, batch_size=64)
    throughput(ctx)
    report = ctx.shared["throughput"]
    assert report["tensor_core_share"] is not None and report["step_ms"] > 0
