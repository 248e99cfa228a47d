"""Size reports of the book's models: parameters, FLOPs, token grids.

``describe_model`` summarises one built ``FocalNet``; ``parameter_breakdown``
says where its parameters live; ``compare_with_paper`` builds the registered
ImageNet models one at a time and sets their size beside ``PAPER_METRICS``.
(``focal_utils.tables.Table`` shows such rows in a notebook.)
"""

import gc

import keras
import numpy as np

from focal_utils.flops import count_flops
from focal_utils.model import FocalNet
from focal_utils.registry import PAPER_METRICS, create_model


def _check_focalnet(model, caller):
    if not isinstance(model, FocalNet):
        raise ValueError(
            f"{caller} expects a FocalNet. Received: {type(model).__name__}"
        )


def _num_weights(layer_or_variables):
    variables = getattr(layer_or_variables, "weights", layer_or_variables)
    return int(sum(np.prod(v.shape) for v in variables if v is not None))


def stage_grids(model, image_size=None):
    """Token grid ``(height, width)`` of every stage of a ``FocalNet``.

    Args:
        model: a ``FocalNet``.
        image_size: int or (height, width); defaults to ``model.image_size``.

    Returns:
        list of ``(height, width)``, one per stage.
    """
    _check_focalnet(model, "stage_grids")
    if image_size is None:
        image_size = model.image_size
    height, width = ((image_size, image_size) if isinstance(image_size, int)
                     else tuple(image_size))
    height, width = height // model.patch_size, width // model.patch_size
    return [(height // 2**i, width // 2**i) for i in range(len(model.depths))]


def describe_model(model, image_size=None):
    """One row about a built ``FocalNet``: its shape, parameters and FLOPs.

    Args:
        model: a built ``FocalNet``.
        image_size: int or (height, width) for the FLOPs and token grids;
            defaults to ``model.image_size``.

    Returns:
        dict with ``name``, ``image_size``, ``patch_size``, ``embed_dim``,
        ``depths``, ``focal_levels``, ``stage_dims``, ``grids`` (token grid per
        stage), ``tokens`` (tokens per stage), ``params`` and ``flops`` (one
        image, multiply-accumulates as the paper counts them).
    """
    _check_focalnet(model, "describe_model")
    grids = stage_grids(model, image_size)
    size = model.image_size if image_size is None else image_size
    return dict(
        name=model.name,
        image_size=(size, size) if isinstance(size, int) else tuple(size),
        patch_size=model.patch_size,
        embed_dim=model.embed_dim,
        depths=tuple(model.depths),
        focal_levels=tuple(model.focal_levels),
        stage_dims=tuple(model.stage_dims),
        grids=grids,
        tokens=[h * w for h, w in grids],
        params=model.count_params(),
        flops=count_flops(model, image_size),
    )


def parameter_breakdown(model):
    """Where the parameters of a built ``FocalNet`` live.

    Returns:
        dict ``{part: {component: count}}`` in network order. Parts are
        ``"stem"``, ``"stage_0"``, ... and ``"norm + head"``; the components
        of a stage are ``"modulation"``, ``"mlp"``, ``"norms"`` (norm1 and
        norm2 of every block), ``"layerscale"`` (only if used) and
        ``"downsample"`` (all but the last stage). The counts add up to
        ``model.count_params()``.
    """
    _check_focalnet(model, "parameter_breakdown")
    if not model.built:
        raise ValueError("parameter_breakdown needs a built model; call "
                         "model.build(...) or use create_model.")
    parts = {"stem": {"patch embedding": _num_weights(model.patch_embed)}}
    for i, stage in enumerate(model.stages):
        counts = {"modulation": 0, "mlp": 0, "norms": 0}
        for block in stage.blocks:
            counts["modulation"] += _num_weights(block.modulation)
            counts["mlp"] += _num_weights(block.mlp)
            counts["norms"] += _num_weights(block.norm1) + _num_weights(block.norm2)
            if block.gamma_1 is not None:
                counts["layerscale"] = counts.get("layerscale", 0) + _num_weights(
                    [block.gamma_1, block.gamma_2])
        if stage.downsample is not None:
            counts["downsample"] = _num_weights(stage.downsample)
        parts[f"stage_{i}"] = counts
    last = {"final norm": _num_weights(model.norm)}
    if model.head is not None:
        last["head"] = _num_weights(model.head)
    parts["norm + head"] = last
    return parts


def compare_with_paper(names=None, clear_session=False):
    """Build the paper's models one at a time and compare their sizes.

    Each model is built with ``create_model`` at its registered size
    (224x224, 1000 classes), measured, and freed (``del`` and a garbage
    collection) before the next, so peak memory is that of the largest
    model alone (about 0.35 GB of float32 weights for the base models).

    Args:
        names: names from ``PAPER_METRICS``; default all of them.
        clear_session: also call ``keras.backend.clear_session()`` after each
            model. It resets Keras' global state (layer-name counters, the
            TensorFlow graph), which the caller's own models depend on, so it
            happens only when asked.

    Returns:
        list of dicts: the fields of ``describe_model`` plus ``paper_params``,
        ``paper_gflops``, ``paper_top1``, ``gflops`` (ours, in 1e9 FLOPs),
        ``params_diff`` (ours minus the paper's) and ``gflops_rel_diff``
        (ours relative to the paper's, e.g. 0.003 for +0.3%).
    """
    names = list(PAPER_METRICS) if names is None else list(names)
    unknown = [name for name in names if name not in PAPER_METRICS]
    if unknown:
        raise ValueError(
            f"No paper metrics for {unknown}. Known: {', '.join(PAPER_METRICS)}"
        )
    rows = []
    for name in names:
        model = create_model(name)
        row = describe_model(model)
        del model
        if clear_session:
            keras.backend.clear_session()
        gc.collect()
        paper = PAPER_METRICS[name]
        row.update(
            paper_params=paper["params"],
            paper_gflops=paper["gflops"],
            paper_top1=paper["top1"],
            gflops=row["flops"] / 1e9,
            params_diff=row["params"] - paper["params"],
        )
        row["gflops_rel_diff"] = row["gflops"] / paper["gflops"] - 1
        rows.append(row)
    return rows
