"""Diagrams of the network, the block and the modulation layer, drawn from the layers themselves.

Each function reads a built Keras object (its config and its sub-layers: kernel sizes, strides, channels,
depths, options such as LayerScale or post-norm) and draws boxes and arrows with matplotlib. Nothing is
typed in: change the model and the picture changes with it, so the book's figures cannot drift from the
code. Every function returns ``(fig, boxes)``: ``boxes`` lists the label of each box from input to output,
which the tests read to check the drawing against the model.
"""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# One colour per kind of step, shared by the three diagrams.
COLOURS = {
    "io": "#eeeeee",
    "norm": "#fde9c9",
    "mix": "#cfe3f7",
    "conv": "#d7efd2",
    "mlp": "#e8d9f2",
    "op": "#ffffff",
    "head": "#f6d0cf",
}


def _box(ax, x, y, text, kind, width=3.6, height=0.62, fontsize=8.5):
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.12", linewidth=1,
                                edgecolor="#555555", facecolor=COLOURS[kind]))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, style="-|>", connection="arc3", **kwargs):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, linewidth=1,
                                 color="#444444", connectionstyle=connection, shrinkA=0, shrinkB=0,
                                 **kwargs))


def _column(ax, steps, x=0.0, top=0.0, gap=1.0, width=3.6, note_x=None):
    """Draw ``steps`` ((text, kind, note) triples) top to bottom, joined by arrows; return their y."""
    ys = [top - i * gap for i in range(len(steps))]
    for (text, kind, note), y in zip(steps, ys):
        _box(ax, x, y, text, kind, width=width)
        if note:
            ax.text(x + width / 2 + 0.15 if note_x is None else note_x, y, note, ha="left", va="center",
                    fontsize=7.5, color="#555555")
    for y0, y1 in zip(ys, ys[1:]):
        _arrow(ax, (x, y0 - 0.31), (x, y1 + 0.31))
    return ys


def _finish(fig, ax, title):
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.autoscale_view()
    fig.tight_layout()


def _stem_text(embed, is_stem):
    k = embed.proj.kernel_size[0]
    s = embed.proj.strides[0]
    what = "stem" if is_stem else "downsample"
    if embed.use_conv_embed:
        return f"{what}: {k}x{k} conv, stride {s} (overlapping)"
    return f"{what}: {k}x{k} patches (stride {s})"


def _kernels(layer):
    return f"kernels {', '.join(map(str, layer.kernel_sizes))}"


def _mixer_parts(layer):
    """``(box label, stage row name, stage note)`` of a built token mixer (any mixer of chapter 9)."""
    from focal_utils.layers.mixers import DepthwiseContext, PoolingMixer, WindowAttention

    if isinstance(layer, DepthwiseContext):  # before FocalModulation: it is a subclass
        return (f"depthwise levels ({_kernels(layer)}) + global; no gates, no query",
                "block, depthwise mixer", f"levels ({_kernels(layer)}) + global, no gates")
    if isinstance(layer, WindowAttention):
        heads = f"{layer.num_heads} heads of {layer.head_dim}"
        if layer.window_size is None:
            return (f"global self-attention: {heads}, position bias", "block, global attention",
                    f"{layer.num_heads} heads")
        windows = f"{layer.window[0]}x{layer.window[1]} windows"
        shift = f", shifted by {layer.shift_size}" if layer.shift_size else ""
        return f"window attention: {windows}{shift}, {heads}", "block, window attention", windows
    if isinstance(layer, PoolingMixer):
        pool = f"avgpool {layer.pool_size}x{layer.pool_size} - x"
        return f"pooling: {pool} (no weights)", "block, pooling mixer", pool
    n, kernels = len(layer.kernel_sizes), _kernels(layer)
    return (f"FocalModulation: {n} levels ({kernels}) + global", "FocalNet block",
            f"{n} focal levels ({kernels}) + global")


def mixer_label(layer):
    """The box label of a block's token mixer, read from the built layer (any mixer of chapter 9)."""
    return _mixer_parts(layer)[0]


def _stage_mixer(stage):
    """``(block name, note)`` for a stage's row in the network diagram."""
    _, name, note = _mixer_parts(stage.blocks[0].modulation)
    if len(stage.blocks) > 1 and getattr(stage.blocks[1].modulation, "shift_size", 0):
        note += "; shifted in odd blocks"
    return name, note


def network_steps(model):
    """``[(text, kind, note)]`` of a ``FocalNet``, input to logits, read from the model."""
    from focal_utils.maps import find_focalnet

    net = find_focalnet(model) if not hasattr(model, "stages") else model
    h, w = net.image_size
    steps = [(f"image {h}x{w}x{net.in_channels}", "io", "0-255, as stored" if net.input_mean else None)]
    if net.input_mean is not None:
        steps.append(("standardise (x - mean) / std", "norm", "inside the model"))
    embed = net.patch_embed
    stride = embed.proj.strides[0]
    h, w = h // stride, w // stride
    channels = embed.embed_dim
    steps.append((_stem_text(embed, True) + (" + LN" if embed.norm is not None else ""), "conv",
                  f"{h}x{w} tokens x {channels}"))
    for index, stage in enumerate(net.stages):
        name, note = _stage_mixer(stage)
        steps.append((f"stage {index}: {len(stage.blocks)} x {name}", "mix",
                      f"{h}x{w} x {channels}; {note}"))
        if stage.downsample is not None:
            stride = stage.downsample.proj.strides[0]
            h, w, channels = h // stride, w // stride, stage.downsample.embed_dim
            steps.append((_stem_text(stage.downsample, False), "conv", f"{h}x{w} x {channels}"))
    steps += [("LayerNorm", "norm", None), ("global average pool", "op", f"{channels}"),
              (f"Dense {net.num_classes}", "head", "logits")]
    return steps


def draw_network(model, figsize=(8.5, None), ax=None):
    """The whole network, input to logits: stem, stages (with their token grids and widths), head.

    ``ax``: draw into this matplotlib axis (e.g. to set two models side by side) instead of a new figure.
    """
    steps = network_steps(model)
    if ax is None:
        fig, ax = plt.subplots(figsize=(figsize[0], figsize[1] or 0.62 * len(steps) + 0.6))
    else:
        fig = ax.figure
    _column(ax, steps, width=5.4)
    ax.set_xlim(-2.9, 8.2)
    _finish(fig, ax, f"{model.name}: the network")
    return fig, [text for text, _, _ in steps]


def block_steps(block):
    """``[(text, kind, note)]`` of a ``FocalNetBlock``, read from its config and sub-layers."""
    config = block.get_config()
    scale = " x LayerScale" if config.get("use_layerscale") else ""
    rate = config.get("drop_path_rate", 0.0)
    note = f"drop path {rate:.3g}" if rate else None
    mixer = mixer_label(block.modulation)
    mlp = f"MLP: Dense {block.mlp.hidden_dim}, GELU, Dense"
    mlp_note = f"ratio {config.get('mlp_ratio', 4.0):g}" + (f"; {note}" if note else "")
    if config.get("use_postln"):  # post-norm: normalise the branch's output
        first = [(mixer, "mix", None), (f"LayerNorm{scale}", "norm", note)]
        second = [(mlp, "mlp", mlp_note.split(";")[0]), (f"LayerNorm{scale}", "norm", note)]
    else:
        first = [("LayerNorm", "norm", None), (mixer + scale, "mix", note)]
        second = [("LayerNorm", "norm", None), (mlp + scale, "mlp", mlp_note)]
    return [("tokens h x w x C", "io", None), *first, ("+", "op", "residual"), *second,
            ("+", "op", "residual")]


def draw_block(block, figsize=(8.5, None), ax=None, title=None):
    """One block: two residual branches, the token mixer then the MLP (pre- or post-norm as configured).

    ``ax``: draw into this matplotlib axis instead of a new figure; ``title``: instead of the default.
    """
    steps = block_steps(block)
    if ax is None:
        fig, ax = plt.subplots(figsize=(figsize[0], figsize[1] or 0.62 * len(steps) + 0.6))
    else:
        fig = ax.figure
    # wide enough for the longest label (the token mixers' labels differ in length)
    width = max(5.2, 0.11 * max(len(text) for text, _, _ in steps))
    ys = _column(ax, steps, width=width)
    sums = [i for i, (text, _, _) in enumerate(steps) if text == "+"]
    skip_x = -width / 2 - 0.5
    # The skip connections, on the left: the second leaves from the first sum,
    # on its own lane, so the two branches cannot be read as one line.
    for lane, (start, end) in enumerate(zip([0, sums[0]], sums)):
        x = skip_x - 0.35 * lane
        _arrow(ax, (-width / 2, ys[start]), (x, ys[start]), style="-")
        _arrow(ax, (x, ys[start]), (x, ys[end]), style="-")
        _arrow(ax, (x, ys[end]), (-width / 2, ys[end]))
    ax.set_xlim(skip_x - 0.75, width / 2 + 2.2)
    _finish(fig, ax, title or f"{block.name}: a FocalNet block")
    return fig, [text for text, _, _ in steps]


def draw_mixers(blocks, figsize=(8.5, None)):
    """The token mixer of each of ``blocks`` (``{name: FocalNetBlock}``), one box each, read from the layers.

    For models that differ only in their mixer (chapter 9): draw one whole block with
    :func:`draw_block`, then this figure for the box that changes.
    """
    labels = {name: mixer_label(block.modulation) for name, block in blocks.items()}
    fig, ax = plt.subplots(figsize=(figsize[0], figsize[1] or 0.75 * len(labels) + 0.8))
    width = max(5.2, 0.11 * max(len(text) for text in labels.values()))
    for i, (name, text) in enumerate(labels.items()):
        ax.text(-width / 2 - 0.3, -i, name, ha="right", va="center", fontsize=9)
        _box(ax, 0, -i, text, "mix", width=width)
    ax.set_xlim(-width / 2 - 3.6, width / 2 + 0.3)
    ax.set_ylim(-len(labels) + 0.4, 0.6)
    _finish(fig, ax, "the token mixer of each variant (the blue box of the block above)")
    return fig, list(labels.values())


def modulation_parts(layer):
    """The pieces of a ``FocalModulation`` layer as ``dict`` of lists of box labels, read from the layer."""
    config = layer.get_config()
    levels = layer.kernel_sizes
    n = len(levels)
    contexts = [f"level {i + 1}: {k}x{k} depthwise conv + GELU" for i, k in enumerate(levels)]
    contexts.append(f"level {n + 1} (global): mean over h x w + GELU")
    gate = "gates" if config.get("gate_activation") in (None, "linear") else f"gates ({config['gate_activation']})"
    return {
        "projection": [f"f: Dense -> q (C), Z^0 (C), {gate} ({n + 1})"],
        "contexts": contexts,
        "aggregate": ["sum of g^l * Z^l over the levels" + (" / (L + 1)" if config.get("normalize_modulator") else ""),
                      "h: 1x1 conv -> modulator m"
                      + (" + LayerNorm" if config.get("use_postln_in_modulation") else ""),
                      "y = q * m", "proj: Dense"],
    }


def draw_modulation(layer, figsize=(9.5, None)):
    """The modulation layer: projection, the stack of focal levels, gated aggregation, modulator, query."""
    parts = modulation_parts(layer)
    contexts, aggregate = parts["contexts"], parts["aggregate"]
    rows = 2 + len(contexts) + len(aggregate)
    fig, ax = plt.subplots(figsize=(figsize[0], figsize[1] or 0.7 * rows + 0.6))
    width = 4.6
    _box(ax, 0, 0, "tokens x (h x w x C)", "io", width=width)
    _box(ax, 0, -1, parts["projection"][0], "conv", width=width + 0.8)
    _arrow(ax, (0, -0.31), (0, -0.69))
    ys = _column(ax, [(text, "conv", None) for text in contexts], x=0, top=-2.2, gap=0.95, width=width)
    _arrow(ax, (0, -1.31), (0, ys[0] + 0.31))
    ax.text(0.1, (-1.31 + ys[0] + 0.31) / 2, "Z^0", fontsize=7.5, color="#555555", va="center")
    agg = _column(ax, [(text, "mix" if i == 0 else "op", None) for i, text in enumerate(aggregate)],
                  x=0, top=ys[-1] - 1.15, gap=0.95, width=width)
    _arrow(ax, (0, ys[-1] - 0.31), (0, agg[0] + 0.31), alpha=0.4)
    # Each level's context Z^l, weighted by its gate g^l (one number per token), goes into the sum.
    gate_x = width / 2 + 0.9
    for i, y in enumerate(ys):
        _arrow(ax, (width / 2, y), (gate_x - 0.3, y), style="-")
        ax.text(gate_x, y, f"x g^{i + 1}", ha="center", va="center", fontsize=8, color="#1f4e79",
                bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor="#1f4e79"))
        _arrow(ax, (gate_x, y - 0.28), (gate_x, agg[0]), style="-" if i < len(ys) - 1 else "-",
               alpha=0.5)
    _arrow(ax, (gate_x, agg[0]), (width / 2, agg[0]))
    ax.text(gate_x + 0.45, ys[0] + 0.55, "gates from f", fontsize=7.5, color="#1f4e79")
    # The query skips the whole context path.
    q_x, q_y = -width / 2 - 0.5, agg[2]
    _arrow(ax, (-(width + 0.8) / 2, -1), (q_x, -1), style="-")
    _arrow(ax, (q_x, -1), (q_x, q_y), style="-")
    _arrow(ax, (q_x, q_y), (-width / 2, q_y))
    ax.text(q_x - 0.12, (-1 + q_y) / 2, "q", ha="right", va="center", fontsize=9, color="#555555")
    ax.set_xlim(q_x - 0.6, gate_x + 1.6)
    _finish(fig, ax, f"{layer.name}: focal modulation")
    boxes = ["tokens x (h x w x C)", *parts["projection"], *contexts, *aggregate]
    return fig, boxes
