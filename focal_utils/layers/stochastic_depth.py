"""Stochastic depth (DropPath): drop a whole residual branch per sample."""

import keras
from keras import ops

from focal_utils.layers.common import SERIALIZATION_PACKAGE, check_rate


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class StochasticDepth(keras.layers.Layer):
    """Zero a residual branch for a random subset of samples while training.

    Kept branches are scaled by ``1 / (1 - rate)`` so the expected output is
    unchanged, as timm's ``DropPath``; at inference it is the identity.

    Args:
        rate: float in [0, 1), the probability of dropping the branch.
        seed: int or None, for reproducible masks.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_rate("rate", rate)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        noise_shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        return keras.random.dropout(x, self.rate, noise_shape=noise_shape,
                                    seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


def drop_path_rates(drop_path_rate, depths):
    """Per-stage lists of rates rising linearly from 0 over all blocks."""
    total = sum(depths)
    step = drop_path_rate / (total - 1) if total > 1 else 0.0
    rates = [i * step for i in range(total)]
    stages, start = [], 0
    for depth in depths:
        stages.append(rates[start:start + depth])
        start += depth
    return stages
