"""Widgets that work in the static HTML book and live in Jupyter or Colab.

:class:`GateExplorer` explores a FocalNet's gates and modulators;
:class:`FrameStepper` is a slider over any precomputed pictures (one figure
per focal level, per gate shift, ...). Both have two modes, chosen by
``mode="auto"`` (see :func:`auto_mode`). For the explorer, with one set of
controls (image, block, map, opacity):

- ``"static"`` renders every frame up front, for a fixed set of images, into
  nested ``ipywidgets.Stack`` widgets whose ``selected_index`` is tied to the controls
  with ``ipywidgets.jslink``. The browser switches frames by itself, so the
  sliders keep working in the rendered HTML book, where no kernel runs
  (``interact`` would only keep its first frame there).
- ``"live"`` keeps one image widget and recomputes its frame in the kernel
  when a control moves: any number of images (maps are computed on demand,
  one image at a time) and any opacity. It needs a running kernel (Jupyter,
  Colab) and works with ipywidgets 7 (Colab's 7.7.1, which has no ``Stack``)
  and 8. Its image and opacity sliders redraw when released
  (``continuous_update=False``), not at every step of a drag.

Frames are JPEGs: the image scaled up with nearest neighbours (its pixels
stay visible) and the map upsampled bilinearly with half-pixel centres onto
the same grid (as :func:`focal_utils.viz.overlay`), each map scaled to its
own range.
"""

import io
import sys

import ipywidgets as widgets
import matplotlib
import numpy as np

from focal_utils.evaluation import softmax
from focal_utils.interpretation import all_panels, block_label, panel_names
from focal_utils.maps import modulation_maps
from focal_utils.viz import upsample_map

STATIC_OPACITIES = (0.3, 0.6, 0.9)
# Live mode keeps the maps of this many images (a few MB), dropping the oldest.
LIVE_CACHE = 256


MODES = ("auto", "static", "live")
MODE_NOTES = {
    "static": ("Static explorer: every frame was drawn in advance and the controls switch between them "
               "in your browser, without a kernel (ipywidgets {version})."),
    "live": ("Live explorer: the kernel draws each frame when a control moves, so it needs a running "
             "kernel (ipywidgets {version})."),
}
STEPPER_NOTES = {
    "static": ("Static slider: every frame was drawn in advance and the slider switches between them "
               "in your browser, without a kernel (ipywidgets {version})."),
    "live": ("Live slider: the kernel shows the frame drawn in advance for each position of the slider, "
             "so it needs a running kernel (ipywidgets {version})."),
}


def auto_mode():
    """The mode ``mode="auto"`` picks: ``"static"`` where ``ipywidgets.Stack`` exists and renders.

    Static needs ipywidgets 8's ``Stack``. Colab ships ipywidgets 7.7.1 (no ``Stack``), and even after an
    upgrade to 8 its front end does not render ``Stack`` (its custom widget manager predates it), so in
    Colab, and with ipywidgets 7 anywhere, the explorer runs live in the kernel.
    """
    if "google.colab" in sys.modules or not hasattr(widgets, "Stack"):
        return "live"
    return "static"


def resolve_mode(mode):
    """The mode a widget runs in: ``mode`` checked, ``"auto"`` resolved by :func:`auto_mode`.

    Raises a ValueError for an unknown mode, and for ``"static"`` where ipywidgets has no ``Stack``
    (ipywidgets 7), saying to pass ``"live"`` or ``"auto"`` instead.
    """
    if mode not in MODES:
        raise ValueError(f"Argument `mode` must be one of {MODES}. Received: mode={mode!r}")
    if mode == "auto":
        return auto_mode()
    if mode == "static" and not hasattr(widgets, "Stack"):
        raise ValueError(
            "mode='static' needs ipywidgets>=8 (ipywidgets.Stack); this kernel has ipywidgets "
            f"{widgets.__version__}. Pass mode='live' (or 'auto'), or upgrade ipywidgets.")
    return mode


def mode_note(mode, notes=MODE_NOTES):
    """The small print under a widget saying which mode runs, so a reader knows if it needs a kernel."""
    return widgets.HTML(f"<small>{notes[mode].format(version=widgets.__version__)}</small>")


def widget_registry():
    """The dict of every open widget (``Widget._active_widgets`` in ipywidgets 8.1, ``widgets`` before)."""
    registry = getattr(widgets.Widget, "_active_widgets", None)
    return registry if registry is not None else widgets.Widget.widgets


def progress_bar(**kwargs):
    """A ``tqdm.auto`` progress bar whose stored text, in a notebook, reads its final count.

    tqdm's notebook bar stores as its text fallback (what GitHub, Colab before a run and any text-only
    viewer show) the text it had when first displayed, "0/112". This one is displayed with a display id
    and updated when it closes, so the stored text ends at "112/112". Outside a notebook it is tqdm's
    terminal bar. Arguments: those of ``tqdm``.
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):
        return tqdm(**kwargs)

    class NotebookBar(notebook_tqdm):
        def __init__(self, **options):
            show = options.pop("display", True)
            super().__init__(display=False, **options)
            self._handle = None
            if show and not self.disable and self.delay <= 0:
                from IPython.display import display

                self._handle = display(self._bundle(), raw=True, display_id=True)
                self.displayed = True

        def _bundle(self):
            # The widget view and its text, as a raw bundle: ipywidgets 7 displays a widget through
            # _ipython_display_, which would ignore the display id.
            return {"text/plain": repr(self.container),
                    "application/vnd.jupyter.widget-view+json": {
                        "version_major": 2, "version_minor": 0, "model_id": self.container.model_id}}

        def close(self):
            super().close()
            if getattr(self, "_handle", None) is not None:
                self._handle.update(self._bundle(), raw=True)  # its text is now the final count
                self._handle = None

    return NotebookBar(**kwargs)


def widgets_made_since(existing, owner):
    """The open widgets whose ids are not in ``existing`` (a set of ids), less ``owner``: what to close."""
    return [w for key, w in list(widget_registry().items()) if key not in existing and w is not owner]


def to_uint8(image):
    """An image as uint8: integers are clipped, floats in [0, 1] scaled, floats above 1 taken as 0-255."""
    image = np.asarray(image)
    if image.dtype.kind in "iu":
        return np.clip(image, 0, 255).astype("uint8")
    image = image.astype("float64")
    if image.max() <= 1.0:
        image = image * 255.0
    return np.clip(np.round(image), 0, 255).astype("uint8")


def render_frame(image, low_res, opacity, size=128, cmap="jet"):
    """The image scaled to ``size`` with a map blended over it: ``(size, size, 3)`` uint8.

    Args:
        image: ``(H, W, 3)`` image (uint8, or floats in [0, 1] or 0-255).
        low_res: ``(h, w)`` map; scaled to its own min-max range. An all-NaN
            map (a focal level this block does not have) shows the image alone.
        opacity: weight of the map in [0, 1] (0: the image alone).
        size: side of the frame in pixels; a multiple of the image side keeps
            pixels square.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1]. Received: {opacity}")
    image = to_uint8(image)
    height, width = image.shape[:2]
    rows = np.arange(size) * height // size
    cols = np.arange(size) * width // size
    base = image[rows][:, cols].astype("float32") / 255.0
    if np.isnan(low_res).all():
        return np.round(255.0 * base).astype("uint8")
    up = upsample_map(low_res, (size, size))
    span = float(up.max() - up.min())
    up = (up - up.min()) / span if span > 0 else np.zeros_like(up)
    colour = matplotlib.colormaps[cmap](up)[..., :3]
    return np.round(255.0 * ((1.0 - opacity) * base + opacity * colour)).astype("uint8")


def encode(frame, fmt="jpeg", quality=80):
    """PNG or JPEG bytes of a uint8 RGB array (what ``ipywidgets.Image`` shows)."""
    from PIL import Image

    buffer = io.BytesIO()
    options = {"quality": quality, "optimize": True} if fmt == "jpeg" else {"optimize": True}
    Image.fromarray(frame).save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def _caption(index, labels, predictions, class_names):
    if labels is None and predictions is None:
        return f"image {index}"
    name = (lambda c: class_names[c]) if class_names is not None else str
    parts = [f"image {index}"]
    if labels is not None:
        parts.append(f"true: <b>{name(int(labels[index]))}</b>")
    if predictions is not None:
        pred, prob = predictions[index]
        ok = labels is None or int(pred) == int(labels[index])
        colour = "green" if ok else "crimson"
        parts.append(f"predicted: <b style='color:{colour}'>{name(int(pred))}</b> ({prob:.0%})")
    return " · ".join(parts)


class GateExplorer(widgets.VBox):
    """Sliders over the gate and modulator maps of a FocalNet, over the images.

    Args:
        model: a FocalNet (or a model containing one).
        images: ``(N, H, W, 3)`` images as the model takes them.
        labels: optional true classes, shown under the image.
        class_names: optional names of the classes.
        mode: ``"auto"`` (default: :func:`auto_mode`), ``"static"``
            (precomputed frames, works without a kernel; needs ipywidgets 8) or
            ``"live"`` (recomputed by the kernel, any number of images).
        size: side of a frame in pixels.
        opacities: the opacities offered in static mode, each in [0, 1].
        fmt: ``"jpeg"`` (small pages) or ``"png"``.

    Attributes:
        mode: the mode that runs (``"static"`` or ``"live"``), also stated
            under the controls (``mode_note``).
        image_slider, block_select, map_select, opacity_slider: the controls.
        links: the ``jslink`` links of static mode (control -> stack).
        frames: static mode's image widgets, ``frames[i][b][m][o]``.

    ``close()`` closes every widget the explorer created (a static explorer
    of six images makes several hundred) and drops its frames and maps.
    """

    def __init__(self, model, images, labels=None, class_names=None, mode="auto",
                 size=128, opacities=STATIC_OPACITIES, fmt="jpeg"):
        mode = resolve_mode(mode)
        images = np.asarray(images)
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(
                "Argument `images` must be a non-empty batch of images (N, H, W, C). "
                f"Received: images with shape {images.shape}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(
                f"Argument `labels` must hold one class per image: {len(images)} images but "
                f"{len(labels)} labels. Pass the labels of the same images (e.g. `labels=y[picked]` "
                "with `images=x[picked]`), or labels=None.")
        opacities = tuple(float(o) for o in np.ravel(opacities))
        if not opacities or not all(0.0 <= o <= 1.0 for o in opacities):
            raise ValueError(
                "Argument `opacities` must hold at least one opacity in [0, 1]. "
                f"Received: opacities={opacities}")
        existing = set(widget_registry())
        self.model, self.images, self.mode = model, images, mode
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        self.class_names, self.size, self.fmt = class_names, size, fmt
        self.opacities = opacities
        self._maps = {}  # image index -> {key: (L + 2, h, w)}
        self._predictions = {}
        first = self._panels(0)
        self.block_keys = list(first)
        self.panel_names = panel_names(model)
        self.links, self.frames = [], None
        self._make_controls()
        body = self._static_body() if mode == "static" else self._live_body()
        self.mode_note = mode_note(mode)
        controls = widgets.VBox([self.image_slider, self.block_select, self.map_select,
                                 self.opacity_slider])
        super().__init__([controls, body, self.mode_note])
        self.add_class("focal-explorer")
        # Every widget made above (controls, stacks, images, links, layouts, styles), for close().
        self._created = widgets_made_since(existing, self)

    def close(self):
        """Close this explorer and every widget it created; free its frames and maps."""
        # getattr: ipywidgets also calls close() when it collects an explorer whose __init__ failed.
        for widget in getattr(self, "_created", ()):
            widget.close()
        self._created, self.links, self.frames = [], [], None
        self._maps, self._predictions = {}, {}
        super().close()

    # -- maps ---------------------------------------------------------------
    def _compute(self, indices):
        """Maps and predictions of the images ``indices`` not computed yet."""
        todo = [i for i in indices if i not in self._maps]
        if not todo:
            return
        maps, logits = modulation_maps(self.model, self.images[todo], return_logits=True)
        probs = softmax(logits)
        panels = all_panels(maps)  # one layout for every block (panel_names(model))
        for n, i in enumerate(todo):
            self._maps[i] = {key: block[n] for key, block in panels.items()}
            self._predictions[i] = (int(probs[n].argmax()), float(probs[n].max()))
        if self.mode == "live":
            while len(self._maps) > LIVE_CACHE:
                oldest = next(iter(self._maps))
                del self._maps[oldest], self._predictions[oldest]

    def _panels(self, index):
        self._compute([index])
        return self._maps[index]

    def frame_array(self, index, block, panel, opacity):
        """The uint8 frame for image ``index``, block number, panel number and opacity."""
        low_res = self._panels(index)[self.block_keys[block]][panel]
        return render_frame(self.images[index], low_res, opacity, self.size)

    def caption(self, index):
        self._compute([index])
        return _caption(index, self.labels, self._predictions, self.class_names)

    # -- widgets ------------------------------------------------------------
    def _make_controls(self):
        style = {"description_width": "70px"}
        wide = widgets.Layout(width="420px")
        # Live mode computes an image's maps (a forward pass) when it is first shown: draw when the
        # slider is released, not at each image a drag passes over. Static mode only switches frames.
        live = self.mode == "live"
        self.image_slider = widgets.IntSlider(0, 0, len(self.images) - 1, description="image",
                                              style=style, layout=wide, continuous_update=not live)
        self.block_select = widgets.Dropdown(
            options=[(block_label(k), b) for b, k in enumerate(self.block_keys)], value=0,
            description="block", style=style)
        self.map_select = widgets.ToggleButtons(
            options=[(n, p) for p, n in enumerate(self.panel_names)], value=len(self.panel_names) - 1,
            description="map", style={**style, "button_width": "150px"})
        if self.mode == "static":
            self.opacity_slider = widgets.SelectionSlider(
                options=[(f"{o:.1f}", o) for o in self.opacities],
                value=self.opacities[len(self.opacities) // 2], description="opacity",
                style=style, layout=wide)
        else:
            self.opacity_slider = widgets.FloatSlider(0.6, min=0.0, max=1.0, step=0.05,
                                                      description="opacity", style=style,
                                                      layout=wide, continuous_update=False)

    def _image_widget(self, frame):
        return widgets.Image(value=encode(frame, self.fmt), format=self.fmt,
                             layout=widgets.Layout(width=f"{self.size * 2}px"))

    def _stack(self, children, control, trait):
        stack = widgets.Stack(children, selected_index=getattr(control, trait))
        self.links.append(widgets.jslink((control, trait), (stack, "selected_index")))
        return stack

    def _static_body(self):
        """Nested stacks image > block > map > opacity, each tied to its control."""
        self._compute(range(len(self.images)))
        self.frames, per_image = [], []
        for i in range(len(self.images)):
            blocks, block_stacks = [], []
            for b in range(len(self.block_keys)):
                panels, panel_stacks = [], []
                for p in range(len(self.panel_names)):
                    leaves = [self._image_widget(self.frame_array(i, b, p, o))
                              for o in self.opacities]
                    panels.append(leaves)
                    panel_stacks.append(self._stack(leaves, self.opacity_slider, "index"))
                blocks.append(panels)
                block_stacks.append(self._stack(panel_stacks, self.map_select, "index"))
            self.frames.append(blocks)
            per_image.append(widgets.VBox([
                widgets.HTML(self.caption(i)),
                self._stack(block_stacks, self.block_select, "index"),
            ]))
        return self._stack(per_image, self.image_slider, "value")

    def _live_body(self):
        self.caption_html = widgets.HTML()
        self.live_image = widgets.Image(format=self.fmt,
                                        layout=widgets.Layout(width=f"{self.size * 2}px"))
        for control in (self.image_slider, self.block_select, self.map_select,
                        self.opacity_slider):
            control.observe(self._redraw, names="value")
        self._redraw()
        return widgets.VBox([self.caption_html, self.live_image])

    def _redraw(self, change=None):
        index = self.image_slider.value
        frame = self.frame_array(index, self.block_select.value, self.map_select.value,
                                 self.opacity_slider.value)
        self.caption_html.value = self.caption(index)
        self.live_image.value = encode(frame, self.fmt)

    def shown_frame(self):
        """The image widget the current control values select (both modes)."""
        if self.mode == "live":
            return self.live_image
        return self.frames[self.image_slider.value][self.block_select.value][
            self.map_select.value][self.opacity_slider.index]


# -- a slider over precomputed frames -------------------------------------------------------------------
IMAGE_FORMATS = {b"\x89PNG": "png", b"\xff\xd8": "jpeg", b"GIF8": "gif"}


def frame_bytes(frame, dpi=72, colors=256):
    """``(bytes, format)`` of one frame: PNG/JPEG/GIF bytes as they are, a figure or an array as PNG.

    A matplotlib figure is saved at ``dpi`` and closed, so that it is not also shown as a plot below the
    widget. An array is an ``(H, W, 3)`` image (see :func:`to_uint8`). Figures and arrays become PNGs
    with a palette of ``colors`` colours (None: full RGB): a plot has few colours, and its palette PNG
    is about a third of the RGB one, which matters when a static page embeds every frame.
    """
    if isinstance(frame, (bytes, bytearray)):
        data = bytes(frame)
        for magic, fmt in IMAGE_FORMATS.items():
            if data.startswith(magic):
                return data, fmt
        raise ValueError(
            "Argument `frames` must hold PNG, JPEG or GIF bytes, matplotlib figures or (H, W, 3) arrays; "
            f"these bytes are not a PNG, JPEG or GIF image. Received: bytes starting with {data[:8]!r}")
    if hasattr(frame, "savefig"):
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        frame.savefig(buffer, format="png", dpi=dpi)
        plt.close(frame)
        from PIL import Image

        array = np.asarray(Image.open(buffer).convert("RGB"))
    else:
        array = np.asarray(frame)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            "Argument `frames` must hold encoded images (bytes), matplotlib figures or (H, W, 3) "
            f"arrays. Received: a frame of type {type(frame).__name__} with shape {array.shape}")
    return encode_png(to_uint8(array), colors), "png"


def encode_png(frame, colors=256):
    """PNG bytes of a uint8 RGB array, with a palette of at most ``colors`` colours (None: RGB)."""
    if colors is None:
        return encode(frame, "png")
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(frame).quantize(int(colors), method=Image.Quantize.MEDIANCUT)
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class FrameStepper(widgets.VBox):
    """A slider over pictures drawn in advance: slider position ``i`` shows ``frames[i]``.

    For a figure that varies with one setting (the receptive field of each focal level, the modulator
    as the gates shift), draw it once per value and step through the drawings. Because every frame
    exists before the widget does, the same pixels are shown in both modes (see :func:`auto_mode`):

    - ``"static"``: an ``ipywidgets.Stack`` of ``Image`` widgets whose ``selected_index`` is tied to
      the slider with ``ipywidgets.jslink``; the browser switches frames by itself, so the slider keeps
      working in the rendered HTML book, with no kernel.
    - ``"live"``: one ``Image`` whose value an ``observe`` callback replaces when the slider moves;
      needs a kernel, works with ipywidgets 7 (Colab's 7.7.1 has no ``Stack``) and 8.

    Args:
        frames: the pictures, one per slider position: PNG/JPEG/GIF bytes, matplotlib figures (saved
            as PNG at ``dpi``, then closed) or ``(H, W, 3)`` arrays.
        labels: one label per frame, shown by the slider (e.g. ``"level 2"``); default ``"0"``,
            ``"1"``, ...
        description: the slider's description.
        mode: ``"auto"`` (default), ``"static"`` or ``"live"``.
        value: the index of the frame shown first.
        width: CSS width of the picture (e.g. ``"480px"``); default: its natural size.
        dpi: resolution at which figures are saved.
        colors: palette size of the PNGs made from figures and arrays (None: full RGB), see
            :func:`frame_bytes`.

    Attributes:
        mode: the mode that runs, also stated under the picture (``mode_note``).
        slider: the ``SelectionSlider``; its ``index`` is the frame shown.
        images: static mode's ``Image`` widgets, one per frame (None in live mode).
        frames: the encoded frames, ``[(bytes, format)]``.
        link: static mode's ``jslink`` (slider index -> stack).

    Raises:
        ValueError: no frames, labels of another length, a frame that is not a picture, a bad
            ``value`` or ``mode``.

    Example:

    >>> import matplotlib.pyplot as plt
    >>> figures = []
    >>> for k in (1, 2, 3):
    ...     fig, ax = plt.subplots(figsize=(2, 2))
    ...     _ = ax.plot([0, 1], [0, k])
    ...     figures.append(fig)
    >>> stepper = FrameStepper(figures, [f"k={k}" for k in (1, 2, 3)], description="slope")
    >>> stepper.slider.index = 2
    >>> stepper.shown_frame().value == stepper.frames[2][0]
    True
    """

    def __init__(self, frames, labels=None, description="", mode="auto", value=0, width=None, dpi=72,
                 colors=256):
        mode = resolve_mode(mode)
        frames = list(frames)
        if not frames:
            raise ValueError("Argument `frames` must hold at least one picture. Received: frames=[]")
        labels = [str(i) for i in range(len(frames))] if labels is None else [str(l) for l in labels]
        if len(labels) != len(frames):
            raise ValueError(
                f"Argument `labels` must give one label per frame: {len(frames)} frames but "
                f"{len(labels)} labels. Received: labels={labels}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"Argument `labels` must not repeat a label (the slider shows them). "
                             f"Received: labels={labels}")
        if not 0 <= int(value) < len(frames):
            raise ValueError(f"Argument `value` must be a frame index in [0, {len(frames) - 1}]. "
                             f"Received: value={value}")
        existing = set(widget_registry())
        self.mode, self.frames = mode, [frame_bytes(f, dpi, colors) for f in frames]
        self.images, self.link = None, None
        self._layout = widgets.Layout(width=width) if width else widgets.Layout()
        self.slider = widgets.SelectionSlider(
            options=[(label, i) for i, label in enumerate(labels)], index=int(value),
            description=description, style={"description_width": "initial"},
            layout=widgets.Layout(width="480px"))
        body = self._static_body() if mode == "static" else self._live_body()
        self.mode_note = mode_note(mode, STEPPER_NOTES)
        super().__init__([self.slider, body, self.mode_note])
        self.add_class("focal-stepper")
        self._created = widgets_made_since(existing, self)

    def _image(self, index):
        data, fmt = self.frames[index]
        return widgets.Image(value=data, format=fmt, layout=self._layout)

    def _static_body(self):
        self.images = [self._image(i) for i in range(len(self.frames))]
        stack = widgets.Stack(self.images, selected_index=self.slider.index)
        self.link = widgets.jslink((self.slider, "index"), (stack, "selected_index"))
        return stack

    def _live_body(self):
        self.live_image = self._image(self.slider.index)
        # Frames are drawn already: swapping one in is cheap, so the picture follows the drag.
        self.slider.observe(self._show, names="index")
        return self.live_image

    def _show(self, change=None):
        data, fmt = self.frames[self.slider.index]
        self.live_image.format = fmt
        self.live_image.value = data

    def shown_frame(self):
        """The ``Image`` widget showing the slider's current frame (both modes)."""
        return self.live_image if self.mode == "live" else self.images[self.slider.index]

    def close(self):
        """Close this widget and every widget it made."""
        for widget in getattr(self, "_created", ()):
            widget.close()
        self._created, self.images, self.link = [], None, None
        super().close()

    @property
    def nbytes(self):
        """The size in bytes of all the frames, which a static page embeds."""
        return sum(len(data) for data, _ in self.frames)

