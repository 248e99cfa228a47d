"""Sphinx extension for the API reference: show a Keras class's own constructor signature.

Keras's ``Layer`` and ``Model`` define ``__new__(cls, *args, **kwargs)``, which autodoc prefers to
``__init__``, so every layer would be documented as ``FocalNet(*args, **kwargs)``. This replaces that
with the signature of the class's ``__init__``. Loaded from _config.yml (``sphinx.local_extensions``).
"""

import inspect


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    if what != "class" or not inspect.isclass(obj) or "__init__" not in vars(obj):
        return None
    parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]  # drop self
    return str(inspect.Signature(parameters)), return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
