"""The FocalNet model (Yang et al., 2022) in Keras 3.

Departures from the official ``classification/focalnet.py``, none of which
change the function computed:

- channels-last ``(batch, height, width, channels)`` tensors throughout, so
  blocks need no H/W bookkeeping and the official 1x1 conv ``h`` is a Dense;
- optional preprocessing inside the model (``input_mean``/``input_std``), so
  a saved model takes images as a dataset gives them;
- gates and modulators are returned on request (``return_maps``), never
  stored on the layers;
- an image size that the patch and downsampling factors do not divide is an
  error rather than being cropped or padded silently.
"""

import numbers
import warnings

import keras
import numpy as np
from keras import ops

from focal_utils.layers import FocalNetStage, PatchEmbedding, drop_path_rates
from focal_utils.layers.block import BlockConfig
from focal_utils.layers.common import (
    SERIALIZATION_PACKAGE,
    apply_norm,
    as_pair,
    check_bool,
    check_layer_kwargs,
    check_positive_int,
    check_rate,
    dense,
    layer_norm,
)

# Per-stage model arguments and the block option each one sets.
_PER_STAGE = {"focal_levels": "focal_level", "focal_windows": "focal_window"}


def _per_stage(value, name, num_stages):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = [value] * num_stages
    elif isinstance(value, (list, tuple, np.ndarray)):
        values = list(value)
    else:
        raise ValueError(
            f"`{name}` must be an int or one int per stage. Received: {name}={value!r}"
        )
    if len(values) != num_stages:
        raise ValueError(
            f"`{name}` needs one value per stage ({num_stages} stages, from "
            f"`depths`). Received: {name}={value!r}"
        )
    return [check_positive_int(name, v) for v in values]


def _check_focal_windows(focal_windows):
    for window in focal_windows:
        if window % 2 == 0:
            raise ValueError(
                "Every value of `focal_windows` must be odd, so that each depthwise "
                "kernel has a centre (the official sizes are 3, 5, 7). Received: "
                f"focal_windows={focal_windows}"
            )


def _batch_shape(images):
    """The (batch, height, width, channels) shape of an array, a tensor or the
    first input of a ``tf.data`` element spec; None if it cannot be known."""
    spec = getattr(images, "element_spec", None)
    if spec is not None:
        while isinstance(spec, (tuple, list)) and spec:
            spec = spec[0]
        shape = getattr(spec, "shape", None)
        return None if shape is None or shape.rank is None else tuple(shape)
    shape = getattr(images, "shape", None)
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalNet(keras.Model):
    """Focal Modulation Network for image classification.

    Patch embedding, ``len(depths)`` stages (channels double and resolution
    halves after every stage but the last), LayerNorm, global average pooling
    and a linear head that returns **logits**.

    Args:
        num_classes: int; 0 drops the head and returns pooled features.
        image_size: int or (height, width), the input size the model is
            built for; it must be a multiple of ``patch_size * 2**(stages-1)``.
        in_channels: int, input channels.
        patch_size: int, stride of the stem.
        embed_dim: int, channels of the first stage.
        depths: blocks per stage.
        focal_levels, focal_windows: int or one per stage (the block options
            ``focal_level`` and ``focal_window`` of that stage's blocks).
        drop_path_rate: float, stochastic depth of the last block; rates rise
            linearly from 0 over all blocks.
        use_conv_embed: bool, overlapping stem and downsampling convolutions.
        input_mean, input_std: None or per-channel floats; if given, inputs
            are standardised inside the model (``(x - mean) / std``).
        **options: the other block options, the same for every block (see
            ``BlockConfig``): ``mlp_ratio``, ``drop_rate`` (also the dropout
            after the stem), ``use_layerscale``, ``layerscale_value``,
            ``use_postln``, ``use_postln_in_modulation``,
            ``normalize_modulator``, ``gate_activation``; plus the usual Keras
            model arguments (``name``, ``dtype``, ...).

    Input shape: ``(batch, height, width, in_channels)``, any numeric dtype.
    Output shape: ``(batch, num_classes)`` logits.

    Raises:
        ValueError: for a bad configuration or an input of the wrong rank,
            channel count or size.

    Reference: https://arxiv.org/abs/2203.11926
    """

    def __init__(self, num_classes=1000, image_size=224, in_channels=3,
                 patch_size=4, embed_dim=96, depths=(2, 2, 6, 2),
                 focal_levels=2, focal_windows=3, drop_path_rate=0.1,
                 use_conv_embed=False, input_mean=None, input_std=None, **options):
        for plural, option in _PER_STAGE.items():
            if option not in options:
                continue
            raise ValueError(
                f"`FocalNet` takes `{plural}` (one value per stage, or one int for "
                f"all stages). Did you mean `{plural}`? Received: "
                f"{option}={options[option]!r}"
            )
        self.block_config, kwargs = BlockConfig.split(options)
        check_layer_kwargs("FocalNet", kwargs, [
            "num_classes", "image_size", "in_channels", "patch_size", "embed_dim",
            "depths", "drop_path_rate", "use_conv_embed", "input_mean",
            "input_std", *_PER_STAGE, *BlockConfig.names()])
        super().__init__(**kwargs)
        if isinstance(depths, numbers.Integral) and not isinstance(depths, bool):
            depths = [depths]
        if not isinstance(depths, (list, tuple, np.ndarray)) or len(depths) == 0:
            raise ValueError(
                "`depths` needs at least one stage: an int or a list with the "
                f"number of blocks per stage. Received: depths={depths!r}"
            )
        self.depths = _per_stage(list(depths), "depths", len(depths))
        num_stages = len(self.depths)
        self.focal_levels = _per_stage(focal_levels, "focal_levels", num_stages)
        self.focal_windows = _per_stage(focal_windows, "focal_windows", num_stages)
        _check_focal_windows(self.focal_windows)
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=0)
        self.image_size = as_pair(image_size, "image_size")
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.use_conv_embed = check_bool("use_conv_embed", use_conv_embed)
        self.input_mean = None if input_mean is None else [float(v) for v in input_mean]
        self.input_std = None if input_std is None else [float(v) for v in input_std]
        self._check_preprocessing()
        self.stage_dims = [self.embed_dim * 2**i for i in range(num_stages)]
        self.num_features = self.stage_dims[-1]

        self.patch_embed = PatchEmbedding(
            self.embed_dim, self.patch_size, use_conv_embed=self.use_conv_embed,
            name="patch_embed"
        )
        self.pos_drop = keras.layers.Dropout(self.block_config.drop_rate, name="pos_drop")
        rates = drop_path_rates(self.drop_path_rate, self.depths)
        self.stages = [
            FocalNetStage(
                rates[i],
                downsample_dim=self.stage_dims[i + 1] if i < num_stages - 1 else None,
                use_conv_embed=self.use_conv_embed,
                block_config=self.block_config.replace(
                    focal_level=self.focal_levels[i], focal_window=self.focal_windows[i]),
                name=f"stage_{i}",
            )
            for i in range(num_stages)
        ]
        self.norm = layer_norm("norm")
        self.head = dense(self.num_classes, "head") if self.num_classes > 0 else None

    # -- checks -----------------------------------------------------------
    @property
    def reduction(self):
        """Total downsampling from the image to the last stage's grid."""
        return self.patch_size * 2 ** (len(self.depths) - 1)

    def _check_preprocessing(self):
        for name in ("input_mean", "input_std"):
            value = getattr(self, name)
            if value is not None and len(value) != self.in_channels:
                raise ValueError(
                    f"`{name}` needs one value per input channel "
                    f"(in_channels={self.in_channels}). Received: {name}={value}"
                )
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError("Give both `input_mean` and `input_std`, or neither.")
        if self.input_std is not None and min(self.input_std) <= 0:
            raise ValueError(f"`input_std` must be positive. Received: {self.input_std}")

    def _check_input_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 4:
            raise ValueError(
                "FocalNet expects images of shape (batch, height, width, "
                f"channels), channels last. Received: input shape {shape}"
            )
        if shape[0] == 0:
            raise ValueError(
                "FocalNet received an empty batch (0 images); pass at least one "
                f"image. Received: input shape {shape}"
            )
        if shape[-1] is not None and shape[-1] != self.in_channels:
            raise ValueError(
                f"FocalNet was configured for in_channels={self.in_channels}, "
                f"but the input has {shape[-1]} channels. Received: input shape "
                f"{shape}"
            )
        for axis, size in zip(("height", "width"), shape[1:3]):
            if size is not None and size % self.reduction:
                raise ValueError(
                    f"The image {axis} ({size}) must be a multiple of "
                    f"{self.reduction} = patch_size ({self.patch_size}) x 2^"
                    f"{len(self.depths) - 1} downsamplings. Resize the images or "
                    f"choose another patch_size/depths. Received: input shape "
                    f"{shape}"
                )

    def _check_dynamic_shape(self, images):
        """The same checks at run time, for a traced TensorFlow function whose
        shape was relaxed to ``None`` (``predict`` retraces that way)."""
        if keras.backend.backend() != "tensorflow" or None not in tuple(images.shape)[1:]:
            return images
        import tensorflow as tf

        shape = tf.shape(images)
        checks = [
            tf.debugging.assert_equal(
                shape[3], self.in_channels,
                message=f"FocalNet was configured for in_channels={self.in_channels}, "
                        "but the input has another number of channels"),
            tf.debugging.assert_equal(
                (shape[1] % self.reduction) + (shape[2] % self.reduction), 0,
                message=f"The image height and width must be multiples of "
                        f"{self.reduction} = patch_size ({self.patch_size}) x 2^"
                        f"{len(self.depths) - 1} downsamplings; resize the images"),
            tf.debugging.assert_positive(shape[0], message="FocalNet received an empty batch"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(images)

    def check_images(self, images):
        """Check a batch before Keras computes anything with it.

        Errors (``ValueError``) for a wrong rank, channel count, a size the
        downsamplings do not divide, or an empty batch; warnings for a size
        other than ``image_size`` and, when the model standardises 0-255
        inputs itself (``input_mean``), for float images within 0-1. Accepts
        arrays, tensors and ``tf.data`` datasets (their element spec).
        ``predict`` and ``evaluate`` call it first: an error raised inside
        Keras' JAX predict loop leaves the model unusable.
        """
        shape = _batch_shape(images)
        if shape is None:
            return
        self._check_input_shape(shape)
        size = tuple(shape[1:3])
        if None not in size and size != tuple(self.image_size):
            warnings.warn(
                f"FocalNet {self.name!r} was built for {self.image_size[0]}x"
                f"{self.image_size[1]} images but receives {size[0]}x{size[1]}; "
                "its accuracy at another resolution is not what it was trained "
                "for. Resize the images to image_size.", UserWarning, stacklevel=3)
        if self.input_mean is not None and hasattr(images, "dtype") and \
                "float" in str(images.dtype) and 0 not in shape:
            values = ops.convert_to_numpy(images)
            if values.max() <= 1.0 and values.min() >= 0.0 and max(self.input_mean) > 1.0:
                warnings.warn(
                    f"FocalNet {self.name!r} standardises 0-255 images itself "
                    f"(input_mean={self.input_mean}), but every value of this "
                    "batch lies in 0-1: were the images divided by 255? Pass them "
                    "on the 0-255 scale.", UserWarning, stacklevel=3)

    def predict(self, x, *args, **kwargs):
        self.check_images(x)
        return super().predict(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self.check_images(x)
        return super().evaluate(x, *args, **kwargs)

    # -- Keras API --------------------------------------------------------
    def build(self, input_shape):
        self._check_input_shape(input_shape)
        shape = self.patch_embed.compute_output_shape(input_shape)
        self.patch_embed.build(input_shape)
        self.pos_drop.build(shape)
        for stage in self.stages:
            stage.build(shape)
            shape = stage.compute_output_shape(shape)
        self.norm.build(shape)
        if self.head is not None:
            self.head.build((shape[0], self.num_features))

    def _preprocess(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.input_mean is not None:
            mean = ops.convert_to_tensor(self.input_mean, dtype=x.dtype)
            std = ops.convert_to_tensor(self.input_std, dtype=x.dtype)
            x = (x - mean) / std
        return x

    def forward_features(self, images, training=None, return_maps=False):
        """Normalised feature map of the last stage, ``(B, h, w, num_features)``.

        With ``return_maps=True`` also returns ``{"stage_i/block_j": maps}``.
        """
        self._check_input_shape(images.shape)
        images = self._check_dynamic_shape(images)
        x = self.pos_drop(self.patch_embed(self._preprocess(images)), training=training)
        all_maps = {}
        for i, stage in enumerate(self.stages):
            x, stage_maps = stage(x, training=training, return_maps=True)
            for j, block_maps in enumerate(stage_maps):
                all_maps[f"stage_{i}/block_{j}"] = block_maps
        x = apply_norm(self.norm, x)
        return (x, all_maps) if return_maps else x

    def forward_head(self, features, pre_logits=False):
        """Pool a feature map and apply the head (skipped if ``pre_logits``)."""
        x = ops.mean(features, axis=(1, 2))
        if pre_logits or self.head is None:
            return x
        return self.head(x)

    def call(self, images, training=None, return_maps=False):
        features, maps = self.forward_features(images, training, return_maps=True)
        logits = self.forward_head(features)
        return (logits, maps) if return_maps else logits

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes or self.num_features)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            image_size=list(self.image_size),
            in_channels=self.in_channels,
            patch_size=self.patch_size,
            embed_dim=self.embed_dim,
            depths=list(self.depths),
            focal_levels=list(self.focal_levels),
            focal_windows=list(self.focal_windows),
            drop_path_rate=self.drop_path_rate,
            use_conv_embed=self.use_conv_embed,
            input_mean=self.input_mean,
            input_std=self.input_std,
            **{key: value for key, value in self.block_config.to_dict().items()
               if key not in _PER_STAGE.values()},
        )
        return config
