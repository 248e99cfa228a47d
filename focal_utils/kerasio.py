"""The keras-io Focal Modulation example, re-implemented as a comparison baseline.

Source: "Focal Modulation: A replacement for Self-Attention" by A. R. Gosthipaty
and R. Raha, keras-io ``examples/vision/focal_modulation_network.py``, Keras 3
version (last modified 2026-01-27). The layers below compute what that example
computes, quirks included, so the book can measure them against the official
semantics of ``focal_utils.FocalModulation``. Do not use this module to train
a FocalNet; use ``focal_utils.create_model``.

Where the example departs from the official FocalNet (reproduced on purpose):

1. ``BasicLayer`` defaults to ``focal_level=1, focal_window=1`` and the model
   never overrides them, so every block has a single 1x1 "depthwise" conv:
   the local context of a token is the token itself.
2. ``FocalModulationBlock`` creates ``norm1`` but never applies it: the
   modulation sees the raw residual stream. Here ``norm1`` is created and
   left unbuilt, exactly as in the example, so it owns no weights (building
   it would add 2,048 parameters to the default model).
3. Softmax on the gates (the official gates are raw linear outputs).
4. LayerNorm epsilon 1e-7 in the patch embeddings and the final norm
   (official: 1e-5; the example's block norms do use 1e-5).
5. The global level uses ``keras.ops.gelu``, whose default is the tanh
   approximation; the focal convs and the MLP use the exact (erf) GELU.
6. A softmax head (the model returns probabilities, not logits), trained
   without label smoothing.
7. No stochastic depth or LayerScale, every dropout rate 0, and the MLP has
   no dropout after its GELU.
8. Keras default initialisers (Glorot uniform, zero bias) everywhere.
9. The focal levels are ``Conv2D(groups=dim)`` behind ``ZeroPadding2D``
   rather than ``DepthwiseConv2D(padding="same")``: the same function, but on
   TensorFlow CPU the grouped conv is several times slower.
10. Preprocessing inside the model: rescale by 1/255, then while training
    resize to ``image_size + 10``, random crop to ``image_size`` and random
    horizontal flip; at inference resize to ``image_size``.

Training-side choices of the example that are not part of the model and are
not reproduced here: AdamW (1e-4, weight decay 1e-4 on every variable,
clipnorm 1.0) with warm-up + cosine, 20 epochs, and gate overlays drawn
without an ``extent``.

Changes that do not alter the function computed:

- every layer has ``build``, ``compute_output_shape`` and ``get_config``;
- gates and modulators are returned on request (``return_maps=True``)
  instead of being stored on the layer during ``call``;
- tensors stay ``(batch, height, width, channels)`` between blocks instead of
  being flattened to ``(batch, height * width, channels)`` with the sizes
  passed alongside (LayerNorm, Dense and the token mean act the same way).

``build_book_model_kerasio_way`` is the other direction: the book's
architecture with only the focal convolutions swapped for the example's
grouped-conv construction, for timing comparisons.
"""

import keras
from keras import ops

from focal_utils.layers.common import conv_initializer
from focal_utils.layers.focal_modulation import focal_kernel_sizes
from focal_utils.layers.stage import BlocksThenDownsample
from focal_utils.model import FocalNet
from focal_utils.registry import model_config

SERIALIZATION_PACKAGE = "focal_utils.kerasio"
PATCH_NORM_EPSILON = 1e-7  # keras-io: patch embeddings and final norm
BLOCK_NORM_EPSILON = 1e-5  # keras-io: norm1 (unused) and norm2


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def grouped_conv_level(kernel_size, channels, activation=None, name=None,
                       kernel_initializer="glorot_uniform"):
    """One focal level the keras-io way: ``ZeroPadding2D`` + grouped ``Conv2D``.

    ``Conv2D(channels, kernel_size, groups=channels)`` on an input padded by
    ``kernel_size // 2`` on each side equals ``DepthwiseConv2D(kernel_size,
    padding="same")`` for odd kernel sizes; the kernel is stored as
    ``(k, k, 1, channels)`` instead of ``(k, k, channels, 1)``.
    """
    return keras.Sequential(
        [
            keras.layers.ZeroPadding2D(padding=kernel_size // 2, name="pad"),
            keras.layers.Conv2D(
                channels, kernel_size, groups=channels, activation=activation,
                use_bias=False, kernel_initializer=kernel_initializer,
                name="conv",
            ),
        ],
        name=name,
    )


def MLP(in_features, hidden_features=None, out_features=None, mlp_drop_rate=0.0,
        name=None):
    """The example's MLP: Dense + exact GELU, Dense, Dropout (no mid dropout)."""
    hidden_features = hidden_features or in_features
    out_features = out_features or in_features
    return keras.Sequential(
        [
            keras.layers.Dense(hidden_features, activation="gelu", name="fc1"),
            keras.layers.Dense(out_features, name="fc2"),
            keras.layers.Dropout(mlp_drop_rate, name="drop"),
        ],
        name=name,
    )


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class PatchEmbed(keras.layers.Layer):
    """Conv with kernel = stride = ``patch_size``, then LayerNorm (eps 1e-7).

    Input ``(B, H, W, C_in)``; output ``(B, H / p, W / p, embed_dim)``.
    """

    def __init__(self, embed_dim=96, patch_size=(4, 4), **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.patch_size = _pair(patch_size)
        self.proj = keras.layers.Conv2D(embed_dim, self.patch_size,
                                        strides=self.patch_size, name="proj")
        self.norm = keras.layers.LayerNormalization(epsilon=PATCH_NORM_EPSILON,
                                                    name="norm")

    def build(self, input_shape):
        self.proj.build(input_shape)
        self.norm.build(self.compute_output_shape(input_shape))

    def call(self, x):
        return self.norm(self.proj(x))

    def compute_output_shape(self, input_shape):
        def reduce(size, p):
            return None if size is None else size // p

        return (input_shape[0], reduce(input_shape[1], self.patch_size[0]),
                reduce(input_shape[2], self.patch_size[1]), self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(embed_dim=self.embed_dim, patch_size=list(self.patch_size))
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalModulationLayer(keras.layers.Layer):
    """The example's focal modulation: softmax gates, grouped-conv levels.

    ``initial_proj`` (Dense, 2 * dim + L + 1) splits into query, context and
    gates; gates go through a softmax over the L + 1 levels; level l is
    ``ZeroPadding2D`` + ``Conv2D(groups=dim, activation="gelu")`` (exact
    GELU) with kernel ``focal_factor * l + focal_window``; the global level
    is ``ops.gelu`` (tanh approximation) of the spatial mean; the modulator is
    a 1x1 ``Conv2D`` with bias; output ``proj(query * modulator)``, dropout.

    Call arguments: ``x`` ``(B, H, W, dim)``, ``training``, ``return_maps``
    (also return ``{"gates": (B, H, W, L + 1), "modulator": (B, H, W, dim)}``;
    the gates are the softmax outputs, as the example visualises them).
    """

    def __init__(self, dim, focal_window, focal_level, focal_factor=2,
                 proj_drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.focal_window = focal_window
        self.focal_level = focal_level
        self.focal_factor = focal_factor
        self.proj_drop_rate = proj_drop_rate
        self.kernel_sizes = focal_kernel_sizes(focal_level, focal_window, focal_factor)
        self.initial_proj = keras.layers.Dense(2 * dim + focal_level + 1,
                                               name="initial_proj")
        self.focal_layers = [
            grouped_conv_level(size, dim, activation="gelu", name=f"focal_layer_{i}")
            for i, size in enumerate(self.kernel_sizes)
        ]
        self.mod_proj = keras.layers.Conv2D(dim, 1, name="mod_proj")
        self.proj = keras.layers.Dense(dim, name="proj")
        self.proj_drop = keras.layers.Dropout(proj_drop_rate, name="proj_drop")

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(
                f"`FocalModulationLayer` was created with dim={self.dim}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.initial_proj.build(input_shape)
        for layer in self.focal_layers + [self.mod_proj, self.proj]:
            layer.build(input_shape)

    def call(self, x, training=None, return_maps=False):
        x_proj = self.initial_proj(x)
        query, context, gates = ops.split(x_proj, [self.dim, 2 * self.dim], axis=-1)
        gates = ops.softmax(gates, axis=-1)  # keras-io: softmax on the gates

        context = self.focal_layers[0](context)
        context_all = context * gates[..., 0:1]
        for i in range(1, self.focal_level):
            context = self.focal_layers[i](context)
            context_all = context_all + context * gates[..., i:i + 1]
        # keras.ops.gelu defaults to approximate=True (tanh GELU)
        context_global = ops.gelu(ops.mean(context, axis=(1, 2), keepdims=True))
        context_all = context_all + context_global * gates[..., self.focal_level:]

        modulator = self.mod_proj(context_all)
        out = self.proj_drop(self.proj(query * modulator), training=training)
        if return_maps:
            return out, {"gates": gates, "modulator": modulator}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, focal_window=self.focal_window,
                      focal_level=self.focal_level, focal_factor=self.focal_factor,
                      proj_drop_rate=self.proj_drop_rate)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalModulationBlock(keras.layers.Layer):
    """The example's block: ``x + mod(x)``, then ``x + mlp(norm2(x))``.

    ``norm1`` exists but is never called (and therefore never built), so the
    modulation sees the unnormalised residual stream. No stochastic depth, no
    LayerScale.
    """

    def __init__(self, dim, mlp_ratio=4.0, drop=0.0, focal_level=1,
                 focal_window=3, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.mlp_ratio = mlp_ratio
        self.drop = drop
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.norm1 = keras.layers.LayerNormalization(epsilon=BLOCK_NORM_EPSILON,
                                                     name="norm1")  # never used
        self.modulation = FocalModulationLayer(dim, focal_window, focal_level,
                                               proj_drop_rate=drop, name="modulation")
        self.norm2 = keras.layers.LayerNormalization(epsilon=BLOCK_NORM_EPSILON,
                                                     name="norm2")
        self.mlp = MLP(dim, int(dim * mlp_ratio), mlp_drop_rate=drop, name="mlp")

    def build(self, input_shape):
        # norm1 is deliberately left unbuilt: the example never calls it.
        for layer in (self.modulation, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None, return_maps=False):
        y, maps = self.modulation(x, training=training, return_maps=True)
        x = x + y
        x = x + self.mlp(self.norm2(x), training=training)
        return (x, maps) if return_maps else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, mlp_ratio=self.mlp_ratio, drop=self.drop,
                      focal_level=self.focal_level, focal_window=self.focal_window)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class BasicLayer(BlocksThenDownsample, keras.layers.Layer):
    """``depth`` blocks, then a ``PatchEmbed(out_dim, 2)`` unless ``out_dim`` is None.

    The defaults ``focal_level=1, focal_window=1`` are the example's, and the
    example's model never passes other values.
    """

    def __init__(self, dim, out_dim, depth, mlp_ratio=4.0, drop=0.0,
                 focal_level=1, focal_window=1, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.out_dim = out_dim
        self.depth = depth
        self.mlp_ratio = mlp_ratio
        self.drop = drop
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.blocks = [
            FocalModulationBlock(dim, mlp_ratio, drop, focal_level, focal_window,
                                 name=f"block_{i}")
            for i in range(depth)
        ]
        self.downsample = (PatchEmbed(out_dim, (2, 2), name="downsample")
                           if out_dim is not None else None)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, out_dim=self.out_dim, depth=self.depth,
                      mlp_ratio=self.mlp_ratio, drop=self.drop,
                      focal_level=self.focal_level, focal_window=self.focal_window)
        return config


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FocalModulationNetwork(keras.Model):
    """The example's model, preprocessing and softmax head included.

    Takes 0-255 images of any size (CIFAR-10: 32x32), resizes them to
    ``image_size`` (with a random crop and flip while training) and returns
    class probabilities. ``return_maps=True`` also returns
    ``{"stage_i/block_j": {"gates", "modulator"}}`` as ``FocalNet`` does.
    """

    def __init__(self, image_size=(48, 48), patch_size=(4, 4), num_classes=10,
                 embed_dim=64, depths=(2, 3, 2), **kwargs):
        super().__init__(**kwargs)
        self.image_size = _pair(image_size)
        self.patch_size = _pair(patch_size)
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.depths = list(depths)
        height, width = self.image_size
        self.rescaling = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")
        self.resizing_larger = keras.layers.Resizing(height + 10, width + 10,
                                                     name="resizing_larger")
        self.random_crop = keras.layers.RandomCrop(height, width, name="random_crop")
        self.resizing_target = keras.layers.Resizing(height, width,
                                                     name="resizing_target")
        self.random_flip = keras.layers.RandomFlip("horizontal", name="random_flip")
        self.patch_embed = PatchEmbed(embed_dim, self.patch_size, name="patch_embed")
        num_stages = len(self.depths)
        self.basic_layers = [
            BasicLayer(embed_dim * 2**i,
                       embed_dim * 2**(i + 1) if i < num_stages - 1 else None,
                       depth, name=f"basic_layer_{i}")
            for i, depth in enumerate(self.depths)
        ]
        self.norm = keras.layers.LayerNormalization(epsilon=PATCH_NORM_EPSILON,
                                                    name="norm")
        self.head = keras.layers.Dense(num_classes, activation="softmax", name="head")

    def build(self, input_shape):
        shape = (input_shape[0],) + self.image_size + (input_shape[-1],)
        self.patch_embed.build(shape)
        shape = self.patch_embed.compute_output_shape(shape)
        for layer in self.basic_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.norm.build(shape)
        self.head.build((shape[0], shape[-1]))

    def preprocess(self, images, training=None):
        """Rescale, then random-resized-crop + flip (training) or resize."""
        x = self.rescaling(ops.cast(images, "float32"))
        if training:
            x = self.resizing_larger(x)
            x = self.random_crop(x, training=True)
            return self.random_flip(x, training=True)
        return self.resizing_target(x)

    def call(self, images, training=None, return_maps=False):
        x = self.patch_embed(self.preprocess(images, training=training))
        all_maps = {}
        for i, layer in enumerate(self.basic_layers):
            x, maps = layer(x, training=training, return_maps=True)
            for j, block_maps in enumerate(maps):
                all_maps[f"stage_{i}/block_{j}"] = block_maps
        # LayerNorm, then GlobalAveragePooling1D over the tokens, softmax head
        probs = self.head(ops.mean(self.norm(x), axis=(1, 2)))
        return (probs, all_maps) if return_maps else probs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=list(self.image_size),
                      patch_size=list(self.patch_size),
                      num_classes=self.num_classes, embed_dim=self.embed_dim,
                      depths=list(self.depths))
        return config


KERASIO_NUM_PARAMS = 2_446_680  # the example's model.summary() total
# The example's published result: validation accuracy after its last epoch (the book's yardstick for
# "as good as the example", chapter 7).
KERASIO_EPOCHS = 20
KERASIO_VAL_ACCURACY = 0.5775


def build_kerasio_model(image_size=48, num_classes=10, embed_dim=64,
                        depths=(2, 3, 2), input_shape=(32, 32, 3), name="kerasio"):
    """The keras-io example's model with its defaults, built.

    Args:
        image_size: int or (height, width) the images are resized to (48).
        num_classes: int, classes of the softmax head.
        embed_dim: int, channels of the first stage (doubling per stage).
        depths: blocks per stage.
        input_shape: shape of one input image (CIFAR-10: (32, 32, 3)).

    Returns:
        A built ``FocalModulationNetwork``; with the defaults it has exactly
        2,446,680 parameters (``KERASIO_NUM_PARAMS``).
    """
    model = FocalModulationNetwork(image_size=image_size, num_classes=num_classes,
                                   embed_dim=embed_dim, depths=depths, name=name)
    model.build((None,) + tuple(input_shape))
    return model


class _GroupedConvTwin(FocalNet):
    """A ``FocalNet`` whose focal levels were swapped for grouped convs.

    Its config would describe the depthwise model and its weights have other
    shapes, so a saved file could never be loaded: saving it is refused.
    """

    def get_config(self):
        raise NotImplementedError(
            f"`{self.name}` is the book's FocalNet with its focal levels built the "
            "keras-io way, for speed comparisons only: its config describes the "
            "depthwise model, so a saved file could not be loaded. Save "
            "`create_model(...)` instead, after `copy_depthwise_to_grouped` in the "
            "other direction if you need these weights."
        )

    def save(self, *args, **kwargs):
        # Keras would open the file before asking for the config and leave a
        # broken archive behind: refuse before anything is written.
        self.get_config()


def build_book_model_kerasio_way(name="focalnet_cifar", **overrides):
    """The book's FocalNet with its focal levels built the keras-io way.

    Same architecture and semantics as ``create_model(name, **overrides)``
    (raw gates, exact GELU, norm1 applied, eps 1e-5 ...); the only change is
    that each focal level's ``DepthwiseConv2D(padding="same")`` becomes
    ``ZeroPadding2D`` + ``Conv2D(groups=channels)`` (kernel ``(k, k, 1, C)``,
    initialised as the official depthwise conv: bound ``1 / k``). Meant for
    speed comparisons only: its ``get_config`` (and so ``save``) raises
    ``NotImplementedError``, since the config of the depthwise model could not
    load these weights.
    """
    config = model_config(name)
    config.update(overrides)
    model = _GroupedConvTwin(name=f"{name}_grouped_conv", **config)
    for stage, channels in zip(model.stages, model.stage_dims):
        for block in stage.blocks:
            modulation = block.modulation
            # swap the (still unbuilt) levels; clear() also untracks them
            modulation.focal_layers.clear()
            modulation.focal_layers.extend(
                grouped_conv_level(size, channels, name=f"focal_layer_{i}",
                                   kernel_initializer=conv_initializer())
                for i, size in enumerate(modulation.kernel_sizes)
            )
    height, width = model.image_size
    model.build((None, height, width, model.in_channels))
    return model


def copy_depthwise_to_grouped(source, target):
    """Copy all weights of a book ``FocalNet`` into its grouped-conv twin.

    Depthwise kernels ``(k, k, C, 1)`` are transposed to ``(k, k, 1, C)``;
    every other weight is copied as is. Both models must come from the same
    configuration (``create_model(name)`` and ``build_book_model_kerasio_way(name)``).
    """
    if len(source.weights) != len(target.weights):
        raise ValueError(
            "The two models do not have the same weights. Received: "
            f"{len(source.weights)} and {len(target.weights)} weights."
        )
    for src, dst in zip(source.weights, target.weights):
        value = ops.convert_to_numpy(src)
        if tuple(src.shape) != tuple(dst.shape):
            value = value.transpose(0, 1, 3, 2)
        dst.assign(value)


__all__ = [
    "BasicLayer",
    "FocalModulationBlock",
    "FocalModulationLayer",
    "FocalModulationNetwork",
    "KERASIO_EPOCHS",
    "KERASIO_NUM_PARAMS",
    "KERASIO_VAL_ACCURACY",
    "MLP",
    "PatchEmbed",
    "build_book_model_kerasio_way",
    "build_kerasio_model",
    "copy_depthwise_to_grouped",
    "grouped_conv_level",
]
