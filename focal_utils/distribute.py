"""Training on more than one device: ``keras.distribution.DataParallel``, the batch per device.

On a Colab TPU runtime (8 TPU cores) or a machine with several GPUs, the
recipe of chapter 7 runs unchanged under data parallelism: every device holds
a full copy of the weights, each step splits the global batch across the
devices, and the gradients are averaged, so one step on ``n`` devices gives
the same update as one step on one device with the same global batch (the
test of this module checks exactly that on two virtual CPU devices).

Keras' distribution API (``keras.distribution``) works on the JAX backend. It
is used through a scope, so nothing global changes behind the caller's back::

    dist = distribute.data_parallel()             # every local device
    batch = distribute.global_batch_size(128, dist)
    with dist.scope():
        model = create_model("focalnet_cifar_conv")
        model.compile(...)
        model.fit(dataset_with(batch), ...)

Keep the batch per device (128 on a CPU or one GPU) and scale the global
batch with the device count; the learning rate of the recipe is set per 128
images of batch in ``training`` and scales with it. The input pipeline is
``tf.data`` on every backend, so TensorFlow is needed for training even on
JAX (``pip install focal_utils[training]``).
"""

import keras


def local_devices(device_type=None):
    """The devices Keras sees here, e.g. ``["tpu:0", ..., "tpu:7"]`` on a Colab TPU."""
    return keras.distribution.list_devices(device_type)


def data_parallel(devices=None):
    """A ``keras.distribution.DataParallel`` over ``devices`` (default: every local device).

    Use it as ``with data_parallel().scope(): ...`` around building,
    compiling and fitting the model.

    Raises:
        ValueError: on a backend without Keras' distribution API (it needs JAX)
            or for an empty device list.
    """
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            "Data parallelism with keras.distribution needs the JAX backend "
            "(set KERAS_BACKEND=jax before importing keras). "
            f"Received: backend={backend!r}"
        )
    devices = local_devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("`devices` must name at least one device. Received: devices=[]")
    return keras.distribution.DataParallel(devices=devices)


def num_replicas(distribution):
    """How many copies of the model a ``DataParallel`` distribution trains."""
    return int(distribution.device_mesh.shape[0])


def global_batch_size(per_device_batch, distribution):
    """The batch to feed ``fit``: ``per_device_batch`` images on each device.

    Raises:
        ValueError: for a batch below 1.
    """
    if isinstance(per_device_batch, bool) or not isinstance(per_device_batch, int) \
            or per_device_batch < 1:
        raise ValueError(
            "`per_device_batch` must be an integer >= 1. Received: "
            f"per_device_batch={per_device_batch!r}"
        )
    return per_device_batch * num_replicas(distribution)
