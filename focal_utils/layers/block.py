"""The FocalNet block: focal modulation and an MLP, each in a residual branch.

``BlockConfig`` is the one place where a block option is defined, checked and
serialised: ``FocalNetBlock``, ``FocalNetStage`` and ``FocalNet`` all take
the options as keyword arguments, hand them on as one ``BlockConfig`` and
write them back into their configs with ``BlockConfig.to_dict()``. Adding an
option is one field here, plus its use in ``FocalNetBlock``.
"""

import dataclasses
from typing import Optional

import keras
from keras import ops

from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    apply_norm,
    check_bool,
    check_feature_map,
    check_layer_kwargs,
    check_positive_float,
    check_positive_int,
    check_rate,
    layer_norm,
)
from focal_utils.layers.focal_modulation import GATE_ACTIVATIONS
from focal_utils.layers.mixers import MIXERS, make_mixer
from focal_utils.layers.mlp import Mlp
from focal_utils.layers.stochastic_depth import StochasticDepth


@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """The options of one FocalNet block (the official ``FocalNetBlock`` arguments).

    Attributes:
        focal_level: int >= 1, depthwise context levels L of the modulation.
        focal_window: int, odd, kernel size of the first level.
        mlp_ratio: float > 0, MLP hidden width relative to the channels.
        drop_rate: float in [0, 1), dropout in the modulation projection and
            the MLP.
        use_layerscale: bool, LayerScale (CaiT) on both branches.
        layerscale_value: float > 0, LayerScale's initial value.
        use_postln: bool, post-norm instead of pre-norm.
        use_postln_in_modulation: bool, LayerNorm on ``q * m`` inside the
            modulation.
        normalize_modulator: bool, divide the aggregated context by L + 1.
        gate_activation: None (official, raw gates) or ``"softmax"`` (the
            keras-io example's choice).
        mixer: the token mixer (``focal_utils.layers.mixers.MIXERS``):
            ``"focal_modulation"`` (the FocalNet), or one of the mixers that
            chapter 9 puts in its place.
        head_dim: int, channels per attention head (attention mixers).
        window_size: int, side of the attention windows (``"window_attention"``).

    Values are checked and normalised on creation (NumPy numbers become
    Python ones), so a config always serialises to plain JSON.
    """

    focal_level: int = 2
    focal_window: int = 3
    mlp_ratio: float = 4.0
    drop_rate: float = 0.0
    use_layerscale: bool = False
    layerscale_value: float = 1e-4
    use_postln: bool = False
    use_postln_in_modulation: bool = False
    normalize_modulator: bool = False
    gate_activation: Optional[str] = None
    mixer: str = "focal_modulation"
    head_dim: int = 32
    window_size: int = 4

    def __post_init__(self):
        checks = {
            "focal_level": check_positive_int,
            "focal_window": check_positive_int,
            "mlp_ratio": check_positive_float,
            "drop_rate": check_rate,
            "use_layerscale": check_bool,
            "layerscale_value": check_positive_float,
            "use_postln": check_bool,
            "use_postln_in_modulation": check_bool,
            "normalize_modulator": check_bool,
            "head_dim": check_positive_int,
            "window_size": check_positive_int,
        }
        for name, check in checks.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))
        if self.mixer not in MIXERS:
            raise ValueError(f"`mixer` must be one of {MIXERS}. Received: mixer={self.mixer!r}")
        if self.gate_activation not in GATE_ACTIVATIONS:
            raise ValueError(
                "`gate_activation` must be None (official, raw gates) or "
                f"'softmax'. Received: gate_activation={self.gate_activation!r}"
            )

    @classmethod
    def names(cls):
        """The option names, in declaration order."""
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def split(cls, kwargs, base=None):
        """``(BlockConfig, other_kwargs)`` from a layer's keyword arguments.

        Options found in ``kwargs`` override ``base`` (a ``BlockConfig``, a
        dict from ``to_dict()``, or None for the defaults); everything else is
        returned for the layer's own use.
        """
        if isinstance(base, dict):
            base = cls(**base)
        options = {key: kwargs[key] for key in cls.names() if key in kwargs}
        rest = {key: value for key, value in kwargs.items() if key not in options}
        config = dataclasses.replace(base or cls(), **options)
        return config, rest

    def replace(self, **changes):
        """A copy with some options changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The options as a flat dict: what ``get_config`` stores."""
        return dataclasses.asdict(self)

    def modulation_options(self):
        """The ``FocalModulation`` arguments that these options set."""
        return dict(
            focal_level=self.focal_level,
            focal_window=self.focal_window,
            proj_drop_rate=self.drop_rate,
            use_postln_in_modulation=self.use_postln_in_modulation,
            normalize_modulator=self.normalize_modulator,
            gate_activation=self.gate_activation,
        )


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
        drop_path_rate: float in [0, 1), stochastic depth rate of both branches.
        shift: bool, shifted windows (window attention only; a stage sets it
            on its odd blocks, as Swin does).
        block_config: optional ``BlockConfig`` (or its dict) to start from.
        **options: any ``BlockConfig`` field (``focal_level``,
            ``focal_window``, ``mlp_ratio``, ``drop_rate``, ``use_layerscale``,
            ``layerscale_value``, ``use_postln``,
            ``use_postln_in_modulation``, ``normalize_modulator``,
            ``gate_activation``), overriding ``block_config``; plus the usual
            Keras layer arguments (``name``, ``dtype``, ...).

    Call arguments: ``x`` of shape ``(batch, height, width, channels)``,
    ``training``, and ``return_maps`` (see ``FocalModulation``).

    Example:

    >>> block = FocalNetBlock(focal_level=3, drop_path_rate=0.1)
    >>> block.config.focal_level, block.modulation.kernel_sizes
    (3, [3, 5, 7])
    """

    def __init__(self, drop_path_rate=0.0, shift=False, block_config=None, **options):
        self.config, kwargs = BlockConfig.split(options, block_config)
        check_layer_kwargs("FocalNetBlock", kwargs, ["drop_path_rate", "shift", "block_config",
                                                     *BlockConfig.names()])
        super().__init__(**kwargs)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.shift = check_bool("shift", shift)
        self.norm1 = layer_norm("norm1")
        # The token mixer keeps the name "modulation" whatever it is, so that
        # a FocalNet's weights keep the names they were saved with.
        self.modulation = make_mixer(self.config, self.shift, name="modulation")
        self.drop_path = StochasticDepth(self.drop_path_rate, name="drop_path")
        self.norm2 = layer_norm("norm2")

    def build(self, input_shape):
        check_feature_map(self, input_shape)
        channels = input_shape[-1]
        self.mlp = Mlp(int(channels * self.config.mlp_ratio), self.config.drop_rate,
                       name="mlp")
        for layer in (self.norm1, self.modulation, self.norm2, self.mlp):
            layer.build(input_shape)
        self.gamma_1 = self.gamma_2 = None
        if self.config.use_layerscale:
            init = keras.initializers.Constant(self.config.layerscale_value)
            self.gamma_1 = self.add_weight(shape=(channels,), initializer=init,
                                           name="gamma_1")
            self.gamma_2 = self.add_weight(shape=(channels,), initializer=init,
                                           name="gamma_2")

    def _scale(self, x, gamma):
        return x if gamma is None else x * ops.cast(gamma, x.dtype)

    def call(self, x, training=None, return_maps=False):
        postln = self.config.use_postln
        # focal modulation branch
        y = x if postln else apply_norm(self.norm1, x)
        y, maps = self.modulation(y, training=training, return_maps=True)
        if postln:
            y = apply_norm(self.norm1, y)
        x = x + self.drop_path(self._scale(y, self.gamma_1), training=training)
        # MLP branch
        if postln:
            y = apply_norm(self.norm2, self.mlp(x, training=training))
        else:
            y = self.mlp(apply_norm(self.norm2, x), training=training)
        x = x + self.drop_path(self._scale(y, self.gamma_2), training=training)
        return (x, maps) if return_maps else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(drop_path_rate=self.drop_path_rate, shift=self.shift,
                      **self.config.to_dict())
        return config
