"""The networks: registered layers, towers, the Siamese model, losses over a batch."""
from .layers import (
    PACKAGE,
    AbsDiff,
    FusedBatchNorm,
    ScaledCosine,
    SplitPair,
    StackPair,
    batch_norm,
    initializer,
)
from .losses import NPairLoss, UnitPair, npair_trainer
from .towers import (
    build_koch_tower,
    build_resnet_tower,
    build_siamese,
    build_tower,
    layer_table,
    load_model,
    parameter_counts,
)
from .weights import weight_histograms, weight_snapshot

__all__ = ['PACKAGE', 'AbsDiff', 'ScaledCosine', 'StackPair', 'SplitPair', 'FusedBatchNorm', 'batch_norm', 'initializer', 'build_tower', 'build_koch_tower', 'build_resnet_tower', 'tower_flops', 'build_siamese', 'parameter_counts', 'layer_table', 'load_model', 'weight_snapshot', 'weight_histograms', 'UnitPair', 'NPairLoss', 'npair_trainer']
