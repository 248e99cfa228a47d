"""Data parallelism: one step on 2 devices equals one step on 1 device with the same global batch.

Keras' distribution API runs on JAX; the check runs in a subprocess with two
virtual CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=2``
must be set before JAX starts), so it needs no accelerator.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from focal_utils import distribute

SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["KERAS_BACKEND"] = "jax"
    import keras, numpy as np
    from focal_utils import create_model, distribute

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]

    def one_step(devices):
        dist = distribute.data_parallel(devices)
        with dist.scope():
            keras.utils.set_random_seed(0)
            model = create_model("focalnet_cifar", depths=(1, 1, 1), embed_dim=8,
                                 drop_path_rate=0.0)
            before = [keras.ops.convert_to_numpy(w) for w in model.weights]
            model.compile(optimizer=keras.optimizers.AdamW(1e-2),
                          loss=keras.losses.CategoricalCrossentropy(from_logits=True))
            batch = distribute.global_batch_size(8 // distribute.num_replicas(dist), dist)
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
            sharding = str(model.weights[0].value.sharding)
        after = [keras.ops.convert_to_numpy(w) for w in model.weights]
        return before, after, batch, sharding

    devices = distribute.local_devices()
    b1, a1, batch1, s1 = one_step(devices[:1])
    b2, a2, batch2, s2 = one_step(devices)
    print(json.dumps(dict(
        devices=len(devices), batches=[batch1, batch2], sharding2=s2,
        start_diff=max(float(np.abs(u - v).max()) for u, v in zip(b1, b2)),
        update=max(float(np.abs(u - v).max()) for u, v in zip(b1, a1)),
        diff=max(float(np.abs(u - v).max()) for u, v in zip(a1, a2)))))
""")


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="keras.distribution runs on JAX; checked once, in the JAX suite")
def test_two_devices_give_the_update_of_one_device():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2
    assert report["batches"] == [8, 8]  # 8 per device on one, 4 per device on two
    assert "'batch': 2" in report["sharding2"]  # the weights live on a 2-device mesh
    assert report["start_diff"] == 0.0  # same initial weights
    assert report["update"] > 1e-3  # the step moved the weights
    assert report["diff"] < 1e-5, report  # and both runs moved them alike


def test_data_parallel_needs_jax_and_devices():
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="needs the JAX backend"):
            distribute.data_parallel()
        return
    with pytest.raises(ValueError, match="at least one device"):
        distribute.data_parallel([])
    dist = distribute.data_parallel()
    assert distribute.global_batch_size(16, dist) == 16 * distribute.num_replicas(dist)
    with pytest.raises(ValueError, match="per_device_batch"):
        distribute.global_batch_size(0, dist)
