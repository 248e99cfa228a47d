"""The fused GELU and LayerNorm (``focal_utils.layers.fused``) against Keras' own ops.

On TensorFlow they run as XLA-fused functions with a hand-written gradient,
so both the values and the gradients are checked; on other backends they
must be Keras' ops exactly.
"""

import keras
import numpy as np
import pytest
from keras import ops

from focal_utils.layers import fused
from focal_utils.layers.common import layer_norm

TOL = dict(rtol=1e-5, atol=1e-5)


def _value_and_grads(fn, x, weights=()):
    """``fn(x)`` and the gradients of ``sum(fn(x) * w)`` for ``x`` and ``weights``."""
    backend = keras.backend.backend()
    probe = np.random.default_rng(1).standard_normal(x.shape).astype("float32")
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(x)
            loss = tf.reduce_sum(y * probe)
        grads = tape.gradient(loss, [x, *[w.value for w in weights]])
        return ops.convert_to_numpy(y), [ops.convert_to_numpy(g) for g in grads]
    if backend == "jax":
        import jax

        def loss(x, *values):
            with keras.StatelessScope(state_mapping=list(zip(weights, values))):
                return ops.sum(fn(x) * probe)
        values = [w.value for w in weights]
        grads = jax.grad(loss, argnums=tuple(range(1 + len(weights))))(x, *values)
        return ops.convert_to_numpy(fn(x)), [np.asarray(g) for g in grads]
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.fixture
def tokens():
    return 3.0 * np.random.default_rng(0).standard_normal((2, 5, 6, 32)).astype("float32")


def test_gelu_matches_exact_gelu_and_its_gradient(tokens):
    y, (grad,) = _value_and_grads(fused.gelu, tokens)
    y_ref, (grad_ref,) = _value_and_grads(lambda t: ops.gelu(t, approximate=False), tokens)
    np.testing.assert_allclose(y, y_ref, **TOL)
    np.testing.assert_allclose(grad, grad_ref, **TOL)
    # not the tanh approximation, which differs by ~1e-3 here
    assert np.abs(y - ops.convert_to_numpy(ops.gelu(tokens, approximate=True))).max() > 1e-4


def test_apply_norm_matches_the_layer_and_its_gradients(tokens):
    norm = layer_norm("norm")
    norm.build(tokens.shape)
    rng = np.random.default_rng(2)
    norm.gamma.assign(1 + 0.1 * rng.standard_normal(32).astype("float32"))
    norm.beta.assign(0.1 * rng.standard_normal(32).astype("float32"))
    weights = (norm.gamma, norm.beta)
    y, grads = _value_and_grads(lambda t: fused.apply_norm(norm, t), tokens + 5.0, weights)
    y_ref, grads_ref = _value_and_grads(norm, tokens + 5.0, weights)
    np.testing.assert_allclose(y, y_ref, **TOL)
    for grad, grad_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-4, atol=1e-4)


def test_apply_norm_on_3d_tokens_and_other_norms():
    x = np.random.default_rng(3).standard_normal((4, 7, 16)).astype("float32")
    norm = layer_norm("norm")
    norm.build(x.shape)
    np.testing.assert_allclose(ops.convert_to_numpy(fused.apply_norm(norm, x)),
                               ops.convert_to_numpy(norm(x)), **TOL)
    # a norm the fused path does not cover is called as it is
    rms = keras.layers.LayerNormalization(center=False)
    rms.build(x.shape)
    np.testing.assert_allclose(ops.convert_to_numpy(fused.apply_norm(rms, x)),
                               ops.convert_to_numpy(rms(x)), **TOL)


def test_fusion_only_on_tensorflow():
    assert fused._fusion_enabled() == (keras.backend.backend() == "tensorflow")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="only TensorFlow fuses; elsewhere both sides are the same code")
def test_fused_model_trains_the_same_as_keras_ops(monkeypatch):
    """One AdamW step of a small FocalNet, fused against Keras' ops: same loss, same weights."""
    from focal_utils import create_model

    x = np.random.default_rng(4).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])

    def one_step():
        keras.utils.set_random_seed(0)  # a narrow, shallow copy: every norm and GELU, traced fast
        model = create_model("focalnet_cifar_conv", embed_dim=16, depths=(1, 1, 1))
        model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = float(model.train_on_batch(x, y))
        return loss, [ops.convert_to_numpy(w) for w in model.weights]

    loss, weights = one_step()
    monkeypatch.setattr(fused, "_fusion_enabled", lambda: False)
    loss_ref, weights_ref = one_step()
    assert abs(loss - loss_ref) < 1e-5
    for w, w_ref in zip(weights, weights_ref):
        np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-5)
