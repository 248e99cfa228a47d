"""Analytic FLOPs of a FocalNet, counted as the paper counts them.

The official ``flops()`` methods count one multiply-accumulate as one FLOP
for every linear and convolution, plus one per element for each LayerNorm,
depthwise level and the global gating; activations and element-wise sums
are free. This module follows the same rules, reading kernel sizes and
channels from the built model.
"""

from focal_utils.model import FocalNet


def _modulation_flops(modulation, tokens, channels):
    flops = tokens * channels * (2 * channels + modulation.focal_level + 1)  # f
    flops += sum(tokens * (k * k + 1) * channels for k in modulation.kernel_sizes)
    flops += tokens * channels  # global gating
    flops += tokens * channels * (channels + 1)  # h
    flops += tokens * channels * channels  # proj
    return flops


def _block_flops(block, tokens, channels):
    flops = 2 * tokens * channels  # norm1, norm2
    flops += _modulation_flops(block.modulation, tokens, channels)
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
