"""Small matplotlib helpers shared by the chapters.

Every function returns the ``matplotlib.figure.Figure`` it drew on (and
takes an optional ``ax`` where one panel is drawn), so a chapter can show,
save or test it. Images are ``(height, width, 3)`` arrays, uint8 in 0-255 or
floats in [0, 1]; maps are ``(height, width)`` arrays.

Pixel convention: ``imshow`` puts pixel ``(r, c)`` on the square
``[c - 0.5, c + 0.5] x [r - 0.5, r + 0.5]``, so an ``H x W`` image spans the
extent ``(-0.5, W - 0.5, H - 0.5, -0.5)``. :func:`overlay` draws a
low-resolution map on exactly that extent, after upsampling it bilinearly
with half-pixel centres: token ``(i, j)`` of a map with stride ``s`` lands on
the centre of the ``s x s`` pixel patch it came from. (The keras-io example
draws its maps without an extent, so a 24x24 map over a 32x32 image is
cropped and shifted.)
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from matplotlib.patches import Rectangle

# Pictures that ship with matplotlib (CIFAR-10 itself cannot be downloaded
# everywhere): name -> (file, crop box (top, bottom, left, right) or None).
SAMPLE_IMAGES = {
    "grace_hopper": ("grace_hopper.jpg", None),
    "grace_hopper_face": ("grace_hopper.jpg", (40, 330, 110, 400)),
    "present": ("Minduka_Present_Blue_Pack.png", None),
}


def resize_image(image, size, interpolation="bilinear"):
    """Resize an ``(H, W, C)`` image to ``size`` (int or (h, w)) with keras.ops.

    Antialiased when shrinking; returns float32 in the input's value range.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    image = np.asarray(image, dtype="float32")
    out = ops.image.resize(image, size, interpolation=interpolation,
                           antialias=True)
    return np.asarray(ops.convert_to_numpy(out), dtype="float32")


def load_sample_image(name="grace_hopper", size=None):
    """A picture that ships with matplotlib, as float32 RGB in [0, 1].

    Args:
        name: a key of ``SAMPLE_IMAGES``: ``"grace_hopper"`` (the full
            portrait), ``"grace_hopper_face"`` (a square crop of the face) or
            ``"present"`` (a gift box, composited on white).
        size: None (native size), an int or ``(height, width)``: resized with
            ``keras.ops.image.resize`` (bilinear, antialiased).

    Returns:
        numpy array ``(height, width, 3)``, float32 in [0, 1].
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError(
            f"`name` must be one of {sorted(SAMPLE_IMAGES)}. Received: name={name!r}"
        )
    filename, box = SAMPLE_IMAGES[name]
    image = plt.imread(cbook.get_sample_data(filename, asfileobj=False))
    image = np.asarray(image, dtype="float32")
    if image.max() > 1.0:
        image = image / 255.0
    if image.shape[-1] == 4:  # composite RGBA on a white background
        alpha = image[..., 3:]
        image = image[..., :3] * alpha + (1.0 - alpha)
    if box is not None:
        top, bottom, left, right = box
        image = image[top:bottom, left:right]
    if size is not None:
        image = resize_image(image, size)
    return np.clip(image, 0.0, 1.0)


def _to_display(image):
    image = np.asarray(image)
    if image.dtype.kind in "iu":
        return image
    return np.clip(image, 0.0, 1.0) if image.ndim == 3 else image


def _new_axes(ax, figsize=(4, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _finish(fig, suptitle=None):
    """Title the figure (if asked), tighten its layout and return it."""
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def panel_grid(n, ncols, size):
    """A figure of ``n`` tick-less panels in rows of ``ncols``; unused cells hidden."""
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows),
                             squeeze=False)
    axes = list(axes.flat)
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
    return fig, axes


def image_grid(images, titles=None, ncols=None, cmap="viridis", size=2.2,
               suptitle=None, vmin=None, vmax=None, colorbar=False):
    """Show a list of images (RGB or single-channel maps) in a grid.

    Args:
        images: sequence of ``(H, W, 3)`` or ``(H, W)`` arrays.
        titles: optional list of panel titles.
        ncols: panels per row (default: all in one row, at most 8).
        cmap: colormap for single-channel panels.
        size: inches per panel.
        suptitle: optional figure title.
        vmin, vmax: shared colour limits for single-channel panels.
        colorbar: add a colour bar to each single-channel panel.

    Returns:
        the figure; its axes are in row-major order, ticks hidden.
    """
    images = list(images)
    n = len(images)
    ncols = min(n, 8) if ncols is None else ncols
    fig, axes = panel_grid(n, ncols, size)
    for k, ax in enumerate(axes[:n]):
        img = _to_display(images[k])
        im = ax.imshow(img, cmap=None if img.ndim == 3 else cmap,
                       vmin=vmin, vmax=vmax)
        if colorbar and img.ndim == 2:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    return _finish(fig, suptitle)


def show_patches(image, patch_size, ax=None, color="white", linewidth=0.8,
                 title=None):
    """Draw an image with the grid of its ``patch_size x patch_size`` patches.

    Grid lines sit on pixel boundaries (``k * patch_size - 0.5``), so each
    cell holds exactly the pixels of one patch.

    Returns:
        the figure.
    """
    fig, ax = _new_axes(ax)
    image = _to_display(image)
    height, width = image.shape[:2]
    ax.imshow(image, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    for r in range(0, height + 1, patch_size):
        ax.axhline(r - 0.5, color=color, linewidth=linewidth)
    for c in range(0, width + 1, patch_size):
        ax.axvline(c - 0.5, color=color, linewidth=linewidth)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = (f"{patch_size}x{patch_size} patches: "
                 f"{height // patch_size}x{width // patch_size} tokens")
    ax.set_title(title, fontsize=9)
    return fig


def exploded_patches(image, patch_size, gap=1, ax=None, background=1.0,
                     title=None):
    """Draw the patches of an image pulled apart by ``gap`` pixels.

    Returns:
        the figure.
    """
    fig, ax = _new_axes(ax)
    image = np.asarray(_to_display(image), dtype="float32")
    if image.max() > 1.0:
        image = image / 255.0
    height, width, channels = image.shape
    rows, cols = height // patch_size, width // patch_size
    step = patch_size + gap
    canvas = np.full((rows * step - gap, cols * step - gap, channels),
                     background, dtype="float32")
    for r in range(rows):
        for c in range(cols):
            canvas[r * step:r * step + patch_size, c * step:c * step + patch_size] = (
                image[r * patch_size:(r + 1) * patch_size,
                      c * patch_size:(c + 1) * patch_size])
    ax.imshow(canvas)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{rows * cols} patches of {patch_size}x{patch_size}x"
                 f"{channels}", fontsize=9)
    return fig


def upsample_map(low_res, size):
    """Bilinear upsampling (half-pixel centres) of a ``(h, w)`` map to ``size``."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    low_res = np.asarray(ops.convert_to_numpy(low_res), dtype="float32")
    out = ops.image.resize(low_res[..., None], size, interpolation="bilinear",
                           antialias=False)
    return np.asarray(ops.convert_to_numpy(out))[..., 0]


def overlay(image, low_res, ax=None, alpha=0.5, cmap="jet", title=None,
            colorbar=False, vmin=None, vmax=None):
    """Draw a low-resolution map over an image, registered pixel for pixel.

    The map is upsampled bilinearly to the image size and drawn on the
    image's own extent ``(-0.5, W - 0.5, H - 0.5, -0.5)``, so a token's value
    sits over the patch it was computed from.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``.
        low_res: ``(h, w)`` map (e.g. a gate or a modulator norm).
        alpha: opacity of the map.

    Returns:
        the figure.
    """
    fig, ax = _new_axes(ax)
    image = _to_display(image)
    height, width = image.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(image, extent=extent, cmap="gray" if image.ndim == 2 else None)
    up = upsample_map(low_res, (height, width))
    im = ax.imshow(up, extent=extent, alpha=alpha, cmap=cmap, vmin=vmin,
                   vmax=vmax)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def receptive_field_plot(grad_maps, titles=None, sizes=None, position=None,
                         cmap="magma", size=2.6, log=False, suptitle=None, axes=None):
    """Heatmaps of measured receptive fields, one panel per map.

    Args:
        grad_maps: list of ``(H, W)`` maps, e.g. from
            ``focal_utils.analysis.receptive_field``.
        titles: optional panel titles.
        sizes: optional theoretical side lengths (odd ints, None to skip):
            a dashed square of that size is drawn around ``position``.
        position: ``(i, j)`` the output position (default: the centre).
        log: show ``log10`` of the map (zeros masked), to see its tails.
        axes: optional axes to draw into, one per map (panels of a larger
            figure, e.g. beside a picture); default: a new row of panels.

    Returns:
        the figure.
    """
    grad_maps = [np.asarray(m, dtype="float64") for m in grad_maps]
    n = len(grad_maps)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.3), squeeze=False)
    else:
        axes = np.asarray(axes, dtype=object).reshape(-1)
        if len(axes) != n:
            raise ValueError(f"Argument `axes` must hold one axes per map (or be None for a new figure): "
                             f"{n} maps but {len(axes)} axes. Received: axes with {len(axes)} entries")
        fig = axes[0].figure
    for k, ax in enumerate(axes.flat):
        grad = grad_maps[k]
        height, width = grad.shape
        shown = grad / (grad.max() or 1.0)
        if log:
            shown = np.ma.masked_equal(shown, 0.0)
            shown = np.ma.log10(shown)
        ax.imshow(shown, cmap=cmap, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        i, j = position if position is not None else (height // 2, width // 2)
        ax.plot(j, i, marker="+", color="cyan", markersize=6)
        if sizes is not None and sizes[k] is not None:
            half = sizes[k] / 2
            ax.add_patch(Rectangle((j - half, i - half), sizes[k], sizes[k],
                                   fill=False, edgecolor="cyan", linestyle="--",
                                   linewidth=1))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    return _finish(fig, suptitle)
