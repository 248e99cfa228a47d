"""Gates and modulators of a FocalNet, read in one forward pass."""

import keras
import numpy as np

from focal_utils.model import FocalNet


def find_focalnet(model):
    """Return ``model`` if it is a FocalNet, else the FocalNet nested inside it."""
    if isinstance(model, FocalNet):
        return model
    for layer in getattr(model, "_flatten_layers", lambda **_: [])(include_self=False):
        if isinstance(layer, FocalNet):
            return layer
    raise ValueError(
        "modulation_maps needs a FocalNet (or a model that contains one). "
        f"Received: {type(model).__name__}"
    )


def modulation_maps(model, images, batch_size=64, return_logits=False):
    """Gates and modulator of every focal modulation for ``images``.

    One inference forward pass (``training=False``) per batch; the layers keep
    no state, so this works on compiled, trained and reloaded models alike.

    Args:
        model: a FocalNet, or a model that contains one.
        images: array ``(batch, height, width, channels)`` as the model takes it.
        batch_size: images per forward pass.
        return_logits: also return the logits of the same pass.

    Returns:
        ``{"stage_i/block_j": {"gates": (N, h, w, L + 1), "modulator": (N, h, w, C)}}``
        of numpy arrays, keyed in network order; with ``return_logits``, a
        tuple ``(maps, logits)``.
    """
    net = find_focalnet(model)
    images = np.asarray(images)
    if images.ndim == 3:
        raise ValueError(
            "modulation_maps expects a batch of images (batch, height, width, "
            f"channels); add a batch axis. Received: shape {images.shape}"
        )
    parts, logits = [], []
    for start in range(0, len(images), batch_size):
        out, maps = net(images[start:start + batch_size], training=False,
                        return_maps=True)
        logits.append(keras.ops.convert_to_numpy(out))
        parts.append({key: {name: keras.ops.convert_to_numpy(value)
                            for name, value in block.items()}
                      for key, block in maps.items()})
    merged = {key: {name: np.concatenate([p[key][name] for p in parts])
                    for name in parts[0][key]}
              for key in parts[0]}
    return (merged, np.concatenate(logits)) if return_logits else merged
