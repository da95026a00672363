"""The rule registry: every rule class, one entry each.

Adding a rule is its class in the family module (``layout``: NN1xx, ``training_loop``: NN2xx,
``architecture``: NN3xx, ``data``: NN4xx, ``performance``: NN5xx, ``reproducibility``: NN6xx) plus one
line here.
"""

from __future__ import annotations

from nnlint.rule import Rule
from nnlint.rules.architecture import DropoutBeforeBatchNorm
from nnlint.rules.data import AugmentationInEvaluation
from nnlint.rules.layout import ViewAsPermute
from nnlint.rules.performance import (
    CpuTensorMovedInLoop,
    CudnnBenchmarkUnset,
    DataloaderWithoutPinMemory,
    DataloaderWithoutWorkers,
    SyncEveryStep,
    TensorCoreUnfriendlySize,
)
from nnlint.rules.reproducibility import (
    DeprecatedTorchApi,
    DeterministicWithCudnnBenchmark,
    MissingSeed,
    TorchLoadWithoutWeightsOnly,
    TorchvisionPretrainedArgument,
)
from nnlint.rules.training_loop import (
    AdamWeightDecay,
    ClipGradMisplaced,
    ClipWithoutUnscale,
    EpochTiedLrDecay,
    ExtremeLearningRate,
    LossAccumulatedWithGraph,
    LossClipping,
    MissingZeroGrad,
    SchedulerBeforeOptimizer,
    StepBeforeBackward,
    ZeroGradBeforeStep,
)

ALL_RULES: list[type[Rule]] = [
    ViewAsPermute,
    LossClipping,
    EpochTiedLrDecay,
    MissingZeroGrad,
    ZeroGradBeforeStep,
    StepBeforeBackward,
    ClipGradMisplaced,
    ClipWithoutUnscale,
    LossAccumulatedWithGraph,
    SchedulerBeforeOptimizer,
    AdamWeightDecay,
    ExtremeLearningRate,
    DropoutBeforeBatchNorm,
    AugmentationInEvaluation,
    TensorCoreUnfriendlySize,
    DataloaderWithoutWorkers,
    DataloaderWithoutPinMemory,
    CpuTensorMovedInLoop,
    CudnnBenchmarkUnset,
    SyncEveryStep,
    MissingSeed,
    TorchLoadWithoutWeightsOnly,
    DeterministicWithCudnnBenchmark,
    TorchvisionPretrainedArgument,
    DeprecatedTorchApi,
]
