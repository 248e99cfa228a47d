"""Shared fixtures and numpy references for the focal_utils test suite.

The same suite runs on every Keras backend the package supports::

    KERAS_BACKEND=tensorflow pytest -q tests/
    KERAS_BACKEND=jax pytest -q tests/

The numpy functions below are independent re-implementations of the paper's
equations (channels-last), used as ground truth for the layers.
"""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend: {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    # Fail loudly rather than skip when run on a backend the package does not
    # claim to support: nothing in this suite is skipped silently.
    if keras.backend.backend() not in SUPPORTED_BACKENDS:
        raise pytest.UsageError(
            f"focal_utils is tested on {SUPPORTED_BACKENDS}; "
            f"KERAS_BACKEND={keras.backend.backend()!r}"
        )


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from a clean Keras session and a fixed seed.

    ``free_memory=False`` skips the ``gc.collect()`` (about 0.5 s per test);
    the tests that build the big ImageNet models free memory themselves.
    """
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- numpy references --------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_gelu(x):
    """Exact (erf) GELU, computed with math.erf."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def np_layer_norm(x, gamma=None, beta=None, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma + beta
    return y


def np_depthwise_same(x, kernel):
    """Depthwise conv, stride 1, zero 'same' padding, no bias.

    x: (B, H, W, C); kernel: (k, k, C, 1) (the Keras DepthwiseConv2D layout).
    """
    k = kernel.shape[0]
    p = k // 2
    b, h, w, c = x.shape
    padded = np.zeros((b, h + 2 * p, w + 2 * p, c))
    padded[:, p:p + h, p:p + w] = x
    out = np.zeros((b, h, w, c))
    for i in range(k):
        for j in range(k):
            out += padded[:, i:i + h, j:j + w, :] * kernel[i, j, :, 0]
    return out


def np_conv2d(x, kernel, bias, stride, pad):
    """Plain conv (cross-correlation) with symmetric zero padding ``pad``."""
    b, h, w, c = x.shape
    k = kernel.shape[0]
    padded = np.zeros((b, h + 2 * pad, w + 2 * pad, c))
    padded[:, pad:pad + h, pad:pad + w] = x
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = np.zeros((b, oh, ow, kernel.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            patch = padded[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def np_focal_modulation(x, weights, focal_level, kernel_sizes, use_postln=False,
                        normalize_modulator=False, softmax_gates=False):
    """The paper's focal modulation in numpy, from a layer's named weights.

    ``weights`` maps names (``f/kernel``, ``focal_layer_0/kernel``, ...) to
    arrays. Returns ``(out, gates, modulator, levels)`` where ``levels`` holds
    the local contexts z_1..z_L and the global one.
    """
    x = np.asarray(x, dtype=np.float64)
    c = x.shape[-1]
    z = x @ weights["f/kernel"] + weights["f/bias"]
    q, ctx, gates = z[..., :c], z[..., c:2 * c], z[..., 2 * c:]
    assert gates.shape[-1] == focal_level + 1
    if softmax_gates:
        e = np.exp(gates - gates.max(-1, keepdims=True))
        gates = e / e.sum(-1, keepdims=True)
    levels, ctx_all = [], 0.0
    for level in range(focal_level):
        kernel = weights[f"focal_layer_{level}/kernel"]
        assert kernel.shape[0] == kernel_sizes[level]
        ctx = np_gelu(np_depthwise_same(ctx, kernel))
        levels.append(ctx)
        ctx_all = ctx_all + ctx * gates[..., level:level + 1]
    ctx_global = np_gelu(ctx.mean(axis=(1, 2), keepdims=True))
    levels.append(ctx_global)
    ctx_all = ctx_all + ctx_global * gates[..., focal_level:]
    if normalize_modulator:
        ctx_all = ctx_all / (focal_level + 1)
    modulator = ctx_all @ weights["h/kernel"] + weights["h/bias"]
    out = q * modulator
    if use_postln:
        out = np_layer_norm(out, weights["ln/gamma"], weights["ln/beta"])
    out = out @ weights["proj/kernel"] + weights["proj/bias"]
    return out, gates, modulator, levels


def named_weights(layer):
    """``{"sublayer/var": array}`` for a layer's weights (paths relative to it)."""
    prefix = layer.path + "/"
    out = {}
    for w in layer.weights:
        path = w.path[len(prefix):] if w.path.startswith(prefix) else w.path
        out[path] = keras.ops.convert_to_numpy(w).astype(np.float64)
    return out


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)
