"""Reading a FocalNet's gates and modulators: panels per block and gate statistics.

Everything here works on the output of :func:`focal_utils.modulation_maps`:
``{"stage_i/block_j": {"gates": (N, h, w, L + 1), "modulator": (N, h, w, C)}}``.
A *panel* is one ``(h, w)`` map: the gate of each focal level, the global
gate, then the modulator's L2 norm over channels (where the block's context
is strong).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from focal_utils.maps import find_focalnet
from focal_utils.viz import overlay, panel_grid


def block_label(key):
    """``"stage_1/block_0"`` -> ``"stage 1 · block 0"``.

    The book counts stages and blocks from 0 everywhere (keys, labels,
    prose), as the code does, and focal levels as the paper does, from 1
    (level L + 1 is the global one): see :func:`panel_names`.
    """
    try:
        stage, block = (int(part.split("_")[1]) for part in key.split("/"))
    except (ValueError, IndexError):
        raise ValueError(
            f"Expected a key like 'stage_0/block_1' from modulation_maps. Received: {key!r}"
        ) from None
    return f"stage {stage} · block {block}"


def stage_index(key):
    """0-based stage of a ``"stage_i/block_j"`` key."""
    return int(key.split("/")[0].split("_")[1])


def last_block_keys(maps):
    """The key of the last block of each stage (what the next stage or the head reads)."""
    last = {}
    for key in maps:
        last[stage_index(key)] = key
    return [last[s] for s in sorted(last)]


def block_panel_names(modulation):
    """Panel names of one ``FocalModulation``: its levels, global gate, modulator."""
    levels = [f"level {i} gate ({k}×{k})" for i, k in enumerate(modulation.kernel_sizes, start=1)]
    return levels + ["global gate", "modulator norm"]


def _modulations(model):
    net = find_focalnet(model)
    return {f"stage_{i}/block_{j}": block.modulation
            for i, stage in enumerate(net.stages) for j, block in enumerate(stage.blocks)}


def panel_names(model, key=None):
    """Names of the panels of a block, or of the panel layout shared by all blocks.

    With ``key`` (``"stage_i/block_j"``) the names of that block's own panels:
    one per focal level (numbered from 1 as in the paper, with its kernel;
    level ``l`` is ``gates[..., l - 1]``), the global gate and the modulator
    norm. Without it, the layout that :func:`all_panels` uses for
    every block: the focal levels of the block with the most levels, then the
    global gate and the modulator norm, so that the last two columns mean the
    same in every block even when the stages have different focal levels.
    """
    modulations = _modulations(model)
    if key is not None:
        if key not in modulations:
            raise ValueError(f"No block {key!r} in this model. Blocks: {', '.join(modulations)}")
        return block_panel_names(modulations[key])
    deepest = max(modulations.values(), key=lambda m: m.focal_level)
    return block_panel_names(deepest)


def num_levels(block_maps):
    """Focal levels L of a block, from its gates ``(..., L + 1)``."""
    return int(np.shape(block_maps["gates"])[-1]) - 1


def modulator_norm(modulator):
    """L2 norm over channels: ``(..., h, w, C)`` -> ``(..., h, w)``."""
    return np.linalg.norm(np.asarray(modulator, dtype="float32"), axis=-1)


def _pad_levels(values, levels, max_levels, axis):
    """Insert NaN columns for the focal levels a block lacks, before its global gate."""
    if max_levels == levels:
        return values
    shape = list(values.shape)
    shape[axis] = max_levels - levels
    missing = np.full(shape, np.nan, dtype=values.dtype)
    local, global_ = np.split(values, [levels], axis=axis)
    return np.concatenate([local, missing, global_], axis=axis)


def block_panels(block_maps, max_levels=None):
    """``(N, P, h, w)``: the gates' maps then the modulator norm, per image.

    ``P = L + 2`` for the block's own L; with ``max_levels`` (> L) the panels
    of the missing levels are NaN, inserted before the global gate, so that
    blocks with different focal levels share one layout (:func:`panel_names`).
    """
    gates = np.moveaxis(np.asarray(block_maps["gates"], dtype="float32"), -1, 1)
    levels = num_levels(block_maps)
    gates = _pad_levels(gates, levels, levels if max_levels is None else max_levels, axis=1)
    norm = modulator_norm(block_maps["modulator"])[:, None]
    return np.concatenate([gates, norm], axis=1)


def all_panels(maps):
    """``{key: (N, Lmax + 2, h, w)}`` for every block, in network order, one layout."""
    deepest = max(num_levels(block) for block in maps.values())
    return {key: block_panels(block, deepest) for key, block in maps.items()}


def gate_means_by_block(maps, absolute=False):
    """Mean gate value (or mean absolute value) per block and level: ``(num_blocks, Lmax + 1)``.

    Averaged over images and positions, blocks in network order. The last
    column is always the global gate; a block with fewer focal levels than
    the deepest one has NaN in the levels it lacks.
    """
    deepest = max(num_levels(block) for block in maps.values())
    rows = []
    for block in maps.values():
        gates = np.asarray(block["gates"], dtype="float64")
        gates = np.abs(gates) if absolute else gates
        mean = gates.reshape(-1, gates.shape[-1]).mean(axis=0)
        rows.append(_pad_levels(mean, num_levels(block), deepest, axis=0))
    return np.stack(rows)


def gate_means_by_class(maps, labels, num_classes):
    """Mean gate value per stage, class and level: ``(num_stages, num_classes, Lmax + 1)``.

    The layout of :func:`gate_means_by_block`: global gate last, NaN for the
    levels a stage lacks.

    Raises:
        ValueError: when ``labels`` does not give one class per image, or a
            class has no image (its mean would be undefined).
    """
    labels = np.asarray(labels).reshape(-1)
    first = next(iter(maps.values()))["gates"]
    if len(labels) != len(first):
        raise ValueError(
            f"gate_means_by_class needs one label per image: {len(first)} images, "
            f"{len(labels)} labels."
        )
    missing = sorted(set(range(num_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(
            f"Classes {missing} have no image; pass images of every class "
            "(or a smaller num_classes)."
        )
    deepest = max(num_levels(block) for block in maps.values())
    per_stage = {}
    for key, block in maps.items():
        gates = np.asarray(block["gates"], dtype="float64").mean(axis=(1, 2))
        per_class = np.stack([gates[labels == c].mean(axis=0) for c in range(num_classes)])
        per_class = _pad_levels(per_class, num_levels(block), deepest, axis=1)
        per_stage.setdefault(stage_index(key), []).append(per_class)
    return np.stack([np.mean(per_stage[s], axis=0) for s in sorted(per_stage)])


def modulator_centre_mass(maps, border=0.25):
    """Share of the modulator norm inside the central window, per block and image.

    The window leaves out ``border`` of the height and width on each side
    (0.25: the central half of the image, a quarter of its area). CIFAR-10
    objects are mostly centred, so a model that looks at the object puts
    more than a quarter of its modulator norm there.

    Each token counts with the fraction of its cell that lies inside the
    window, so a coarse map is measured on the image's area: on a 2x2 map
    every token is a quarter inside, and the share is 25% whatever the map.

    Returns:
        ``{key: (N,)}`` shares in [0, 1].
    """
    return {key: centre_share(modulator_norm(block["modulator"]), border)
            for key, block in maps.items()}


def centre_share(values, border=0.25):
    """Share of non-negative maps ``(..., h, w)`` inside the central window: ``(...)`` in [0, 1].

    The measure of :func:`modulator_centre_mass`, for any stack of maps (for
    example the modulator norms that ``focal_utils.snapshots`` keeps per
    epoch); NaN maps (a panel a block lacks) give NaN.
    """
    if not 0.0 <= border < 0.5:
        raise ValueError(f"border must be in [0, 0.5). Received: {border}")
    values = np.asarray(values, dtype="float32")
    h, w = values.shape[-2:]
    weights = np.outer(_inside_fraction(h, border), _inside_fraction(w, border))
    centre = (values * weights).sum(axis=(-2, -1))
    return centre / np.maximum(values.sum(axis=(-2, -1)), 1e-12)


def _inside_fraction(cells, border):
    """Fraction of each of ``cells`` equal cells of [0, 1] inside [border, 1 - border]."""
    edges = np.clip(np.linspace(0.0, 1.0, cells + 1), border, 1.0 - border)
    return np.diff(edges) * cells


def plot_block_maps(image, maps, index, names, alpha=0.55, size=1.6, title=None):
    """One image's maps: a row per block, a column per panel, drawn over the image.

    Each panel is scaled to its own range (colour shows where a map is high
    within the image, not how it compares across blocks).

    Args:
        image: the ``(H, W, 3)`` image the maps were computed on.
        maps: output of :func:`focal_utils.modulation_maps`.
        index: which image of ``maps`` to draw.
        names: panel names (:func:`panel_names`).
    """
    panels = all_panels(maps)
    keys = list(panels)
    ncols = len(names)
    fig, axes = panel_grid(len(keys) * ncols, ncols, size)
    for row, key in enumerate(keys):
        for col in range(ncols):
            ax = axes[row * ncols + col]
            overlay(image, panels[key][index, col], ax=ax, alpha=alpha)
            if row == 0:
                ax.set_title(names[col], fontsize=8)
            if col == 0:
                ax.set_ylabel(block_label(key), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gate_means(means, names, xlabels, ax=None, labels=("trained",), ylabel="mean gate value"):
    """Lines of a gate statistic along the network, one colour per level.

    ``means`` is ``(positions, L + 1)`` (e.g. :func:`gate_means_by_block`) or
    a list of them, one per model, drawn solid, dashed, dotted.
    """
    means = [means] if np.ndim(means) == 2 else list(means)
    styles = ["-", "--", ":", "-."]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    x = np.arange(len(xlabels))
    for m, (values, label) in enumerate(zip(means, labels)):
        for level in range(values.shape[1]):
            name = names[level] if len(means) == 1 else f"{names[level]}, {label}"
            ax.plot(x, values[:, level], styles[m % len(styles)], marker="o", ms=4,
                    color=colors[level % len(colors)], label=name)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(xlabels, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, handlelength=3)
    ax.figure.tight_layout()
    return ax.figure


def plot_modulator_norms(images, maps, keys, titles=None, size=1.5, alpha=0.55):
    """Rows: images; columns: the image, then the modulator norm of each block in ``keys``."""
    fig, axes = plt.subplots(len(images), len(keys) + 1,
                             figsize=(size * (len(keys) + 1), size * len(images)), squeeze=False)
    for r, image in enumerate(images):
        axes[r, 0].imshow(image)
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8)
        for c, key in enumerate(keys, start=1):
            norm = modulator_norm(maps[key]["modulator"][r])
            overlay(image, norm, ax=axes[r, c], alpha=alpha)
            if r == 0:
                axes[r, c].set_title(block_label(key), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def epoch_limits(values):
    """``(vmin, vmax)`` per image of ``values`` ``(epochs, images, h, w)``, over all its epochs.

    Why: drawn with one colour scale per image across the epochs, a map that
    grows or sharpens over training shows it; scaled per frame, every frame
    would span the full colour range and the change would be hidden.
    """
    values = np.asarray(values, dtype="float32")
    return np.nanmin(values, axis=(0, 2, 3)), np.nanmax(values, axis=(0, 2, 3))


def plot_maps_over_epochs(images, values, epoch_labels, titles=None, size=1.5, alpha=0.6):
    """Rows: images; columns: the image, then its map at each epoch, one colour scale per row.

    Args:
        images: ``(N, H, W, 3)``.
        values: ``(E, N, h, w)`` maps, e.g. the modulator norms that
            ``focal_utils.snapshots`` kept at ``E`` epochs.
        epoch_labels: ``E`` column titles (e.g. ``"epoch 1"``).
        titles: optional ``N`` row labels.
    """
    values = np.asarray(values, dtype="float32")
    if values.ndim != 4 or values.shape[1] != len(images) or values.shape[0] != len(epoch_labels):
        raise ValueError(f"`values` must be (epochs, images, h, w) with {len(epoch_labels)} epochs and "
                         f"{len(images)} images. Received: shape {values.shape}")
    low, high = epoch_limits(values)
    fig, axes = plt.subplots(len(images), len(epoch_labels) + 1, squeeze=False,
                             figsize=(size * (len(epoch_labels) + 1), size * len(images)))
    for r, image in enumerate(images):
        axes[r, 0].imshow(image)
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8)
        for c, label in enumerate(epoch_labels, start=1):
            overlay(image, values[c - 1, r], ax=axes[r, c], alpha=alpha, vmin=low[r], vmax=high[r])
            if r == 0:
                axes[r, c].set_title(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_snapshot_epochs(snapshot, keys, images=None, panel=-1, titles=None, size=1.2, alpha=0.6):
    """One figure per kept epoch of a ``focal_utils.snapshots`` file, for a slider over epochs.

    Each figure has a row per block in ``keys`` and a column per image (indices
    into ``snapshot["images"]``, default all), showing ``panel`` (default the
    modulator norm) over the image. Each block and image keeps one colour scale
    across all epochs (:func:`epoch_limits`), so stepping through the figures
    shows a map grow, fade or move; scaled per figure, every frame would span
    the full range.

    Returns:
        a list of figures, one per entry of ``snapshot["epochs"]``. They are not
        pyplot figures: a run keeps dozens of epochs, and pyplot would hold them
        all open (and warn) and draw every one under the cell. Pass them to
        ``focal_utils.widgets.FrameStepper``, or show one with ``display(fig)``.
    """
    images = list(range(len(snapshot["images"]))) if images is None else list(images)
    values = {key: np.asarray(snapshot["panels"][key][:, images, panel], dtype="float32") for key in keys}
    limits = {key: epoch_limits(v) for key, v in values.items()}
    figures = []
    for e, epoch in enumerate(snapshot["epochs"]):
        fig = Figure(figsize=(size * len(images), size * len(keys) + 0.4))
        axes = fig.subplots(len(keys), len(images), squeeze=False)
        for r, key in enumerate(keys):
            low, high = limits[key]
            for c, index in enumerate(images):
                overlay(snapshot["images"][index], values[key][e, c], ax=axes[r, c], alpha=alpha,
                        vmin=low[c], vmax=high[c])
                if c == 0:
                    axes[r, c].set_ylabel(block_label(key), fontsize=7)
                if r == 0 and titles is not None:
                    axes[r, c].set_title(titles[c], fontsize=7)
        fig.suptitle(f"epoch {int(epoch) + 1}", fontsize=9)
        fig.tight_layout()
        figures.append(fig)
    return figures


def plot_gate_means_by_class(means, names, class_names, size=2.6):
    """Heat maps class x level, one per stage: each class's mean gate minus the stage's mean.

    The differences between classes are small next to the differences
    between levels and stages, so the per-stage mean over classes is removed
    and one symmetric colour scale is shared by all stages.
    """
    num_stages, _, num_levels = means.shape
    deviation = means - means.mean(axis=1, keepdims=True)
    limit = float(np.abs(deviation).max()) or 1.0
    fig, axes = plt.subplots(1, num_stages, squeeze=False,
                             figsize=(size * num_stages + 1.2, 0.3 * len(class_names) + 1.4))
    short = [n.split(" (")[0].replace(" gate", "") for n in names[:num_levels]]
    for s, ax in enumerate(axes[0]):
        im = ax.imshow(deviation[s], cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_title(f"stage {s}", fontsize=9)
        ax.set_xticks(range(num_levels))
        ax.set_xticklabels(short, fontsize=7)
        ax.set_yticks(range(len(class_names)))
        ax.set_yticklabels(class_names if s == 0 else [], fontsize=8)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.03, pad=0.02,
                 label="gate mean minus stage mean")
    return fig
