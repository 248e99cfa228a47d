"""The FocalNet block: focal modulation and an MLP, each in a residual branch."""

import keras
from keras import ops

from focal_utils.layers.common import SERIALIZATION_PACKAGE, check_feature_map, layer_norm
from focal_utils.layers.focal_modulation import FocalModulation
from focal_utils.layers.mlp import Mlp
from focal_utils.layers.stochastic_depth import StochasticDepth


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalNetBlock(keras.layers.Layer):
    """One FocalNet block (the official ``FocalNetBlock``).

    Pre-norm (default)::

        x = x + drop_path(gamma_1 * modulation(norm1(x)))
        x = x + drop_path(gamma_2 * mlp(norm2(x)))

    Post-norm (``use_postln=True``, for large models) normalises the branch
    outputs instead: ``x + drop_path(gamma_1 * norm1(modulation(x)))``.
    ``gamma_1``/``gamma_2`` (LayerScale, init ``layerscale_value``) exist only
    when ``use_layerscale`` is set.

    Args:
        focal_level, focal_window: passed to ``FocalModulation``.
        use_postln_in_modulation, normalize_modulator, gate_activation:
            passed to ``FocalModulation``.
        mlp_ratio: float, MLP hidden width relative to the channels.
        drop_rate: float, dropout in the modulation projection and the MLP.
        drop_path_rate: float, stochastic depth rate of both branches.
        use_layerscale, layerscale_value: LayerScale (CaiT).
        use_postln: bool, post-norm instead of pre-norm.

    Call arguments: ``x`` of shape ``(batch, height, width, channels)``,
    ``training``, and ``return_maps`` (see ``FocalModulation``).
    """

    def __init__(self, focal_level=2, focal_window=3, mlp_ratio=4.0,
                 drop_rate=0.0, drop_path_rate=0.0, use_layerscale=False,
                 layerscale_value=1e-4, use_postln=False,
                 use_postln_in_modulation=False, normalize_modulator=False,
                 gate_activation=None, **kwargs):
        super().__init__(**kwargs)
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.mlp_ratio = mlp_ratio
        self.drop_rate = drop_rate
        self.drop_path_rate = drop_path_rate
        self.use_layerscale = use_layerscale
        self.layerscale_value = layerscale_value
        self.use_postln = use_postln
        self.use_postln_in_modulation = use_postln_in_modulation
        self.normalize_modulator = normalize_modulator
        self.gate_activation = gate_activation
        self.norm1 = layer_norm("norm1")
        self.modulation = FocalModulation(
            focal_level=focal_level, focal_window=focal_window,
            proj_drop_rate=drop_rate,
            use_postln_in_modulation=use_postln_in_modulation,
            normalize_modulator=normalize_modulator,
            gate_activation=gate_activation, name="modulation",
        )
        self.drop_path = StochasticDepth(drop_path_rate, name="drop_path")
        self.norm2 = layer_norm("norm2")

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        channels = input_shape[-1]
        self.mlp = Mlp(int(channels * self.mlp_ratio), self.drop_rate, name="mlp")
        for layer in (self.norm1, self.modulation, self.norm2, self.mlp):
            layer.build(input_shape)
        self.gamma_1 = self.gamma_2 = None
        if self.use_layerscale:
            init = keras.initializers.Constant(self.layerscale_value)
            self.gamma_1 = self.add_weight(shape=(channels,), initializer=init,
                                           name="gamma_1")
            self.gamma_2 = self.add_weight(shape=(channels,), initializer=init,
                                           name="gamma_2")

    def _scale(self, x, gamma):
        return x if gamma is None else x * ops.cast(gamma, x.dtype)

    def call(self, x, training=None, return_maps=False):
        # focal modulation branch
        y = x if self.use_postln else self.norm1(x)
        y, maps = self.modulation(y, training=training, return_maps=True)
        if self.use_postln:
            y = self.norm1(y)
        x = x + self.drop_path(self._scale(y, self.gamma_1), training=training)
        # MLP branch
        if self.use_postln:
            y = self.norm2(self.mlp(x, training=training))
        else:
            y = self.mlp(self.norm2(x), training=training)
        x = x + self.drop_path(self._scale(y, self.gamma_2), training=training)
        return (x, maps) if return_maps else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            focal_level=self.focal_level,
            focal_window=self.focal_window,
            mlp_ratio=self.mlp_ratio,
            drop_rate=self.drop_rate,
            drop_path_rate=self.drop_path_rate,
            use_layerscale=self.use_layerscale,
            layerscale_value=self.layerscale_value,
            use_postln=self.use_postln,
            use_postln_in_modulation=self.use_postln_in_modulation,
            normalize_modulator=self.normalize_modulator,
            gate_activation=self.gate_activation,
        )
        return config
