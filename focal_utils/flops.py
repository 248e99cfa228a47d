"""Analytic FLOPs of a FocalNet, counted as the paper counts them.

The official ``flops()`` methods count one multiply-accumulate as one FLOP
for every linear and convolution, plus one per element for each LayerNorm,
depthwise level and the global gating; activations and element-wise sums
are free. This module follows the same rules, reading kernel sizes and
channels from the built model. It is the one home of the FLOPs formulas:
``attention_flops`` and ``focal_modulation_flops`` count one token mixer,
``count_flops`` a whole network.
"""

from focal_utils.layers.focal_modulation import focal_kernel_sizes
from focal_utils.model import FocalNet


def attention_flops(tokens, channels):
    """Multiply-accumulates of multi-head self-attention on ``tokens`` tokens.

    ``4 N C^2`` for the q, k, v and output projections plus ``2 N^2 C`` for
    the scores ``q k^T`` and the weighted sum of the values (the count of
    the Swin Transformer paper; softmax and biases are not counted). The
    number of heads does not change it.
    """
    return 4 * tokens * channels ** 2 + 2 * tokens ** 2 * channels


def focal_modulation_flops(tokens, channels, focal_level=2, focal_window=3,
                           focal_factor=2):
    """Multiply-accumulates of one focal modulation on ``tokens`` tokens.

    ``f`` (``N C (2C + L + 1)``), the depthwise levels (``N C (k^2 + 1)``
    each, kernels from ``focal_kernel_sizes``), the global gating (``N C``),
    ``h`` (``N C (C + 1)``) and ``proj`` (``N C^2``): linear in the number
    of tokens ``N``. ``tokens`` may be a NumPy array.
    """
    kernels = focal_kernel_sizes(focal_level, focal_window, focal_factor)
    flops = tokens * channels * (2 * channels + focal_level + 1)  # f
    flops += sum(tokens * (k * k + 1) * channels for k in kernels)  # levels
    flops += tokens * channels  # global gating
    flops += tokens * channels * (channels + 1)  # h
    flops += tokens * channels * channels  # proj
    return flops


def window_attention_flops(tokens, channels, window_tokens):
    """Multiply-accumulates of self-attention inside windows of ``window_tokens`` tokens.

    ``4 N C^2`` for the projections and ``2 N T C`` for the scores and the
    weighted sum, ``T`` tokens per window (Swin's count): linear in ``N`` for
    a fixed window, and ``attention_flops`` when one window holds every token.
    """
    return 4 * tokens * channels ** 2 + 2 * tokens * window_tokens * channels


def depthwise_context_flops(tokens, channels, focal_level=2, focal_window=3, focal_factor=2):
    """``focal_modulation_flops`` without the gates and the query: ``f`` makes C channels."""
    return (focal_modulation_flops(tokens, channels, focal_level, focal_window, focal_factor)
            - tokens * channels * (channels + focal_level + 1))


def _mixer_flops(mixer, tokens, channels):
    """FLOPs of a block's token mixer, by its kind (pooling counts none: sums are free)."""
    kind = type(mixer).__name__
    if kind in ("FocalModulation", "DepthwiseContext"):
        formula = (focal_modulation_flops if kind == "FocalModulation"
                   else depthwise_context_flops)
        return formula(tokens, channels, mixer.focal_level, mixer.focal_window,
                       mixer.focal_factor)
    if kind == "WindowAttention":
        return window_attention_flops(tokens, channels, mixer.window[0] * mixer.window[1])
    if kind == "PoolingMixer":
        return 0
    raise ValueError(f"count_flops has no formula for the mixer {kind}.")


def _block_flops(block, tokens, channels):
    flops = 2 * tokens * channels  # norm1, norm2
    flops += _mixer_flops(block.modulation, tokens, channels)
    flops += 2 * tokens * channels * block.mlp.hidden_dim  # fc1, fc2
    return flops


def _embed_flops(embed, out_height, out_width, in_channels):
    kernel = embed.proj.kernel_size
    tokens = out_height * out_width
    flops = tokens * embed.embed_dim * in_channels * kernel[0] * kernel[1]
    return flops + (tokens * embed.embed_dim if embed.norm is not None else 0)


def count_flops(model, image_size=None):
    """FLOPs (multiply-accumulates) of one forward pass of a ``FocalNet``.

    Args:
        model: a ``FocalNet``.
        image_size: int or (height, width); defaults to ``model.image_size``.

    Returns:
        int, the FLOPs for one image.
    """
    if not isinstance(model, FocalNet):
        raise ValueError(
            f"count_flops expects a FocalNet. Received: {type(model).__name__}"
        )
    height, width = model.image_size if image_size is None else (
        (image_size, image_size) if isinstance(image_size, int) else image_size)
    height, width = height // model.patch_size, width // model.patch_size
    flops = _embed_flops(model.patch_embed, height, width, model.in_channels)
    for stage, channels in zip(model.stages, model.stage_dims):
        tokens = height * width
        flops += sum(_block_flops(block, tokens, channels) for block in stage.blocks)
        if stage.downsample is not None:
            height, width = height // 2, width // 2
            flops += _embed_flops(stage.downsample, height, width, channels)
    flops += height * width * model.num_features  # final norm
    if model.head is not None:
        flops += model.num_features * model.num_classes
    return flops
