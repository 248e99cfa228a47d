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


def _forward_with_maps(model):
    """``f(images) -> (logits, maps)`` that gives exactly ``model(images)``'s logits.

    A FocalNet is called with ``return_maps=True``. A ``keras.Sequential``
    with one FocalNet among its layers (e.g. ``Sequential([Rescaling(...),
    net])``) runs its layers before the FocalNet, the FocalNet with its maps,
    then the layers after it. Any other wrapper is refused: its FocalNet's
    input and output cannot be told apart from the outside, and reading the
    FocalNet alone would silently skip the wrapper's own layers.
    """
    net = find_focalnet(model)
    if model is net:
        return lambda x: net(x, training=False, return_maps=True)
    layers = list(model.layers) if isinstance(model, keras.Sequential) else []
    positions = [i for i, layer in enumerate(layers) if layer is net]
    if len(positions) != 1:
        raise ValueError(
            "modulation_maps reads a FocalNet, or a keras.Sequential with a FocalNet "
            f"among its own layers; this {type(model).__name__} wraps its FocalNet "
            f"({net.name!r}) in a way whose logits it cannot reproduce. Pass the "
            "FocalNet itself (`find_focalnet(model)`) with the images as that "
            "FocalNet takes them."
        )
    before, after = layers[:positions[0]], layers[positions[0] + 1:]

    def forward(x):
        for layer in before:
            x = layer(x, training=False)
        logits, maps = net(x, training=False, return_maps=True)
        for layer in after:
            logits = layer(logits, training=False)
        return logits, maps

    return forward


def modulation_maps(model, images, batch_size=64, return_logits=False):
    """Gates and modulator of every focal modulation for ``images``.

    One inference forward pass (``training=False``) per batch; the layers keep
    no state, so this works on compiled, trained and reloaded models alike.

    Args:
        model: a FocalNet, or a ``keras.Sequential`` that contains one among
            its layers (its other layers run too, so the logits are the
            wrapper's).
        images: array ``(batch, height, width, channels)`` as the model takes it.
        batch_size: images per forward pass.
        return_logits: also return the logits of the same pass.

    Returns:
        ``{"stage_i/block_j": {"gates": (N, h, w, L + 1), "modulator": (N, h, w, C)}}``
        of numpy arrays, keyed in network order; with ``return_logits``, a
        tuple ``(maps, logits)``.

    Raises:
        ValueError: for an input that is not a non-empty batch of images, a
            ``batch_size`` below 1, or a wrapper other than a Sequential.
    """
    forward = _forward_with_maps(model)
    images = np.asarray(images)
    if images.ndim != 4:
        hint = "; add a batch axis" if images.ndim == 3 else ""
        raise ValueError(
            "modulation_maps expects a batch of images (batch, height, width, "
            f"channels){hint}. Received: shape {images.shape}"
        )
    if len(images) == 0:
        raise ValueError(
            f"modulation_maps needs at least one image. Received: shape {images.shape}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    parts, logits = [], []
    for start in range(0, len(images), int(batch_size)):
        out, maps = forward(images[start:start + batch_size])
        logits.append(keras.ops.convert_to_numpy(out))
        parts.append({key: {name: keras.ops.convert_to_numpy(value)
                            for name, value in block.items()}
                      for key, block in maps.items()})
    merged = {key: {name: np.concatenate([p[key][name] for p in parts])
                    for name in parts[0][key]}
              for key in parts[0]}
    return (merged, np.concatenate(logits)) if return_logits else merged
