"""The feed-forward part of a FocalNet block."""

import keras

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    check_positive_int,
    check_rate,
    dense,
    gelu,
)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class Mlp(keras.layers.Layer):
    """fc1, exact GELU, dropout, fc2, dropout (the official ``Mlp``).

    Args:
        hidden_dim: int, width of the hidden layer (``mlp_ratio * channels``).
        drop_rate: float, dropout after the activation and after ``fc2``.

    Input shape: ``(..., channels)``. Output shape: the same.
    """

    def __init__(self, hidden_dim, drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.fc1 = dense(self.hidden_dim, "fc1")
        self.drop = keras.layers.Dropout(self.drop_rate, name="drop")

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "`Mlp` needs a known channel count (last axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.fc2 = dense(channels, "fc2")
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))

    def call(self, x, training=None):
        x = self.drop(gelu(self.fc1(x)), training=training)
        return self.drop(self.fc2(x), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, drop_rate=self.drop_rate)
        return config
