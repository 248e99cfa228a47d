"""The attention side: MHSA (keras.ops) against numpy, TransformerBlock, and a
ViT sized like focalnet_cifar."""

import math

import keras
import numpy as np
import pytest
from conftest import named_weights, np_gelu, np_layer_norm, to_numpy

from focal_utils import (
    MultiHeadSelfAttention,
    TransformerBlock,
    VisionTransformer,
    attention_weights,
    create_model,
)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mhsa(x, w, num_heads, qkv_bias=True):
    """Multi-head self-attention, one head at a time, in float64."""
    b, n, c = x.shape
    d = c // num_heads
    qkv = x @ w["qkv/kernel"] + (w["qkv/bias"] if qkv_bias else 0.0)
    q, k, v = qkv[..., :c], qkv[..., c:2 * c], qkv[..., 2 * c:]
    heads, weights = [], []
    for h in range(num_heads):
        sl = slice(h * d, (h + 1) * d)
        a = np_softmax(q[..., sl] @ np.swapaxes(k[..., sl], 1, 2) / math.sqrt(d))
        weights.append(a)
        heads.append(a @ v[..., sl])
    out = np.concatenate(heads, -1) @ w["proj/kernel"] + w["proj/bias"]
    return out, np.stack(weights, 1)


def randomize(layer, rng, scale=0.3):
    for w in layer.weights:
        w.assign(rng.normal(0.0, scale, size=w.shape).astype("float32"))
    return named_weights(layer)


def test_attention_weights_against_numpy(rng):
    q = rng.normal(size=(2, 3, 5, 4)).astype("float32")
    k = rng.normal(size=(2, 3, 5, 4)).astype("float32")
    expected = np_softmax(np.einsum("bhqd,bhkd->bhqk", q, k) / 2.0)
    out = to_numpy(attention_weights(q, k))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("num_heads, qkv_bias", [(1, True), (2, True), (4, False)])
def test_mhsa_against_numpy(num_heads, qkv_bias, rng):
    layer = MultiHeadSelfAttention(num_heads=num_heads, qkv_bias=qkv_bias)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    layer.build(x.shape)
    w = randomize(layer, rng)
    out, scores = layer(x, return_attention_scores=True)
    expected, expected_scores = np_mhsa(x.astype(np.float64), w, num_heads, qkv_bias)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-4, atol=1e-5)
    assert to_numpy(scores).shape == (2, num_heads, 6, 6)
    np.testing.assert_allclose(to_numpy(scores), expected_scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(out), rtol=1e-6, atol=1e-7)


def test_mhsa_params_and_permutation_equivariance(rng):
    layer = MultiHeadSelfAttention(num_heads=4)
    layer.build((None, 64, 96))
    c = 96
    assert layer.count_params() == (3 * c * c + 3 * c) + (c * c + c)
    # attention has no notion of position: permuting tokens permutes outputs
    small = MultiHeadSelfAttention(num_heads=2)
    x = rng.normal(size=(1, 7, 8)).astype("float32")
    perm = rng.permutation(7)
    out = to_numpy(small(x))
    np.testing.assert_allclose(to_numpy(small(x[:, perm])), out[:, perm],
                               rtol=1e-5, atol=1e-6)


def test_transformer_block_against_numpy(rng):
    block = TransformerBlock(num_heads=2, mlp_ratio=2.0)
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    block.build(x.shape)
    w = randomize(block, rng)
    attn = {k[len("attn/"):]: v for k, v in w.items() if k.startswith("attn/")}
    x64 = x.astype(np.float64)
    y = x64 + np_mhsa(np_layer_norm(x64, w["norm1/gamma"], w["norm1/beta"]), attn, 2)[0]
    h = np_layer_norm(y, w["norm2/gamma"], w["norm2/beta"])
    y = y + np_gelu(h @ w["mlp/fc1/kernel"] + w["mlp/fc1/bias"]) @ w["mlp/fc2/kernel"] \
        + w["mlp/fc2/bias"]
    np.testing.assert_allclose(to_numpy(block(x)), y, rtol=1e-4, atol=1e-4)


def vit_params(num_classes, image_size, in_channels, patch_size, embed_dim, depth,
               mlp_ratio=4.0):
    c, tokens = embed_dim, (image_size // patch_size) ** 2
    hidden = int(c * mlp_ratio)
    block = 4 * c + (3 * c * c + 3 * c) + (c * c + c) + (c * hidden + hidden) + (hidden * c + c)
    return (patch_size * patch_size * in_channels * c + c + tokens * c
            + depth * block + 2 * c + c * num_classes + num_classes)


def test_vit_cifar_matches_focalnet_cifar_params():
    vit = create_model("vit_cifar")
    focal = create_model("focalnet_cifar")
    assert vit.count_params() == vit_params(10, 32, 3, 2, 184, 6) == 2_503_698
    assert abs(vit.count_params() - focal.count_params()) / focal.count_params() < 0.02
    assert vit.patch_size == focal.patch_size == 2  # the same 16 x 16 tokens


@pytest.mark.parametrize("embed_dim, depth", [(64, 2)])
def test_vit_is_configurable(embed_dim, depth):
    vit = VisionTransformer(num_classes=10, image_size=32, patch_size=4,
                            embed_dim=embed_dim, depth=depth, num_heads=4)
    vit.build((None, 32, 32, 3))
    assert vit.count_params() == vit_params(10, 32, 3, 4, embed_dim, depth)


def test_vit_forward_and_preprocessing(rng):
    vit = create_model("vit_cifar")
    images = rng.integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    logits = vit(images)
    assert tuple(logits.shape) == (2, 10)
    rates = [b.drop_path.rate for b in vit.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, 0.1, 6), atol=1e-12)
    assert {b.norm1.epsilon for b in vit.blocks} == {1e-5}
    assert isinstance(vit.head.kernel_initializer, keras.initializers.RandomNormal)
