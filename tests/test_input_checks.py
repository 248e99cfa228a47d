"""Input checks of FocalNet that hold on every backend and after retracing.

A wrong size, channel count or scale, or an empty batch, is an error or a
warning before Keras computes anything; on JAX the model stays usable after
the error (Keras' JAX predict loop breaks the model if the error is raised
inside it).
"""

import warnings

import keras
import numpy as np
import pytest

from focal_utils import create_model


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    # The trained model's stem, strides and preprocessing (reduction 16,
    # input_mean), with tiny stages so that every retrace is quick.
    return create_model("focalnet_cifar_conv", embed_dim=8, depths=(1, 1, 1))


def _images(n=2, size=32, channels=3, scale=255.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (n, size, size, channels)) * scale).astype("float32")


BAD = {
    "30x30": (_images(size=30), "multiple of 16"),
    "7x7": (_images(size=7), "multiple of 16"),
    "grayscale": (_images(channels=1), "in_channels=3"),
    "empty batch": (_images(n=0), "empty batch"),
    "no batch axis": (_images()[0], "channels last"),
}


def _assert_usable(model, reference):
    np.testing.assert_allclose(model.predict(_images(), verbose=0), reference, atol=1e-5)
    assert len(model.get_weights()) > 0


def test_bad_inputs_are_refused_before_predict_even_after_retracing(model):
    reference = model.predict(_images(), verbose=0)
    with pytest.warns(UserWarning, match="built for 32x32"):
        model.predict(_images(size=48), verbose=0)  # on TF: retraces with shape None
    for case, (images, words) in BAD.items():
        with pytest.raises(ValueError, match=words):
            model.predict(images, verbose=0)
        with pytest.raises(ValueError, match=words):
            model.evaluate(images, np.zeros((len(images), 10)), verbose=0)
        _assert_usable(model, reference)  # on JAX too: nothing broke the model


def test_datasets_are_checked_from_their_element_spec(model):
    tf = pytest.importorskip("tensorflow")
    ds = tf.data.Dataset.from_tensor_slices(_images(4, size=30)).batch(2)
    with pytest.raises(ValueError, match="multiple of 16"):
        model.predict(ds, verbose=0)
    labelled = tf.data.Dataset.from_tensor_slices(
        (_images(4, channels=1), np.zeros((4, 10)))).batch(2)
    with pytest.raises(ValueError, match="in_channels=3"):
        model.evaluate(labelled, verbose=0)


def test_images_in_0_1_get_a_warning(model):
    with pytest.warns(UserWarning, match="0-255"):
        model.predict(_images(scale=1.0), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(_images(), verbose=0)  # 0-255 floats
        model.predict(_images().astype("uint8"), verbose=0)
        model.predict(np.zeros((2, 32, 32, 3), "float32") + 0.5 * 255, verbose=0)


def test_other_sizes_get_a_warning(model):
    for size in (64, 224):
        with pytest.warns(UserWarning, match=f"receives {size}x{size}"):
            model.predict(_images(size=size), verbose=0)


def test_traced_calls_check_shapes_at_run_time(model):
    """A traced function whose input shape is unknown until it runs."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, None))])
        assert fn(_images()).shape == (2, 10)
        for images, words in [(_images(size=30), "multiples of 16"),
                              (_images(channels=1), "in_channels=3"),
                              (_images(n=0), "empty batch")]:
            with pytest.raises(tf.errors.InvalidArgumentError, match=words):
                fn(images)
    else:  # JAX traces every shape separately: the static checks hold
        import jax

        fn = jax.jit(lambda x: model(x))
        assert fn(_images()).shape == (2, 10)
        for images, words in [(_images(size=30), "multiple of 16"),
                              (_images(channels=1), "in_channels=3"),
                              (_images(n=0), "empty batch")]:
            with pytest.raises(ValueError, match=words):
                fn(images)
