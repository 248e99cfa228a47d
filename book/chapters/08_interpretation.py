# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Looking inside a trained FocalNet
#
# A FocalNet computes, at every position and in every block, gates that say how much near, far and global
# context the token takes, and a modulator that carries that context to the query. This chapter asks what
# those quantities look like in a trained model: where the gates open, which objects the modulator
# highlights, and how that compares with the attention maps of the Transformer baseline. You need Chapter 4
# (gates and modulator) and the weights trained in Chapter 7.
#
# ```{note}
# This chapter is a placeholder: it states the plan, and the full text arrives with the trained weights of
# Chapter 7. The cells below take a few seconds.
# ```
#
# ## The plan
#
# 1. **Reading the maps.** `focal_utils.modulation_maps` returns, for every block, the gates
#    `(N, h, w, L + 1)` and the modulator `(N, h, w, C)` of one inference pass; no state is kept on the
#    layers, so the same call works on a trained, reloaded model.
# 2. **Showing them faithfully.** The modulator as its L2 norm over channels, one map per gate level,
#    upsampled bilinearly onto the image with the right extent (nearest-neighbour upsampling draws
#    checkerboards, and an overlay without an extent is misregistered).
# 3. **What the gates do.** How the weight of each focal level changes with depth and between classes, and
#    where the global gate dominates.
# 4. **Against attention.** The modulator maps next to the attention of `vit_cifar` for the same images
#    {cite}`dosovitskiy2021image`.
# 5. **Failure cases.** Misclassified test images and what the maps show for them.

# %%
# Colab or a fresh runtime: install the book's package if it is missing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("focal_utils") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/focal-modulation-book/focal-modulation-book"],
                   check=True)

# %%
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import focal_utils

keras.utils.set_random_seed(0)

# %% [markdown]
# The maps the chapter will show, here for an untrained `focalnet_cifar` and two images (their shapes are
# what matters until the trained weights arrive):

# %%
# NBVAL_CHECK_OUTPUT
model = focal_utils.create_model("focalnet_cifar")
images = np.zeros((2, 32, 32, 3), dtype="float32")
maps = focal_utils.modulation_maps(model, images)
for key, block in maps.items():
    print(f"{key}: gates {block['gates'].shape}, modulator {block['modulator'].shape}")
