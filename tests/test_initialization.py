"""Initial weights follow the official code (PyTorch defaults where it sets none)."""

import keras
import numpy as np

from focal_utils import create_model


def _weights(model, suffix):
    return [(v.path, keras.ops.convert_to_numpy(v)) for v in model.weights
            if v.path.endswith(suffix)]


def test_initial_weights_match_the_official_scheme():
    keras.utils.set_random_seed(0)
    model = create_model("focalnet_cifar")
    # Depthwise focal levels: PyTorch's U(-1/k, 1/k) (fan-in k*k, not k*k*C).
    levels = [(p, w) for p, w in _weights(model, "kernel") if "/focal_layer_" in p]
    assert levels
    for path, w in levels:
        k = w.shape[0]
        assert np.abs(w).max() <= 1 / k + 1e-7, path
        np.testing.assert_allclose(w.std(), 1 / k / np.sqrt(3), rtol=0.1, err_msg=path)
    # Linear layers (f, proj, fc1, fc2, head): std 0.02 (the official trunc_normal_
    # cuts at +-2 absolute, i.e. never), zero bias.
    for name in ("f/kernel", "proj/kernel", "fc1/kernel", "fc2/kernel", "head/kernel"):
        for path, w in _weights(model, name):
            if "patch_embed" in path or "downsample" in path:
                continue
            np.testing.assert_allclose(w.std(), 0.02, rtol=0.15, err_msg=path)
    for path, w in _weights(model, "bias"):
        assert not np.any(w), path
