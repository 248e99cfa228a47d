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
# # 7. Training on CIFAR-10
#
# Chapters 1 to 6 built a FocalNet and checked every piece against the paper; this chapter trains the
# small one, `focalnet_cifar`, from scratch on CIFAR-10 {cite}`krizhevsky2009cifar`, on an ordinary CPU.
# You need Chapter 6 (the registry and `create_model`).
#
# ```{note}
# This chapter is a placeholder: it states the plan, and the full text arrives with the training run.
# Its outputs will come from a multi-hour run, stored in the notebook; the book never re-runs it at build
# time. The cells below take a few seconds.
# ```
#
# ## The plan
#
# 1. **Data.** CIFAR-10 from `keras.datasets.cifar10` when the machine is online, or from a local copy in
#    the dataset's python format named by `FOCAL_CIFAR10_DIR` (`focal_utils.data.load_cifar10`); 40,000
#    training, 10,000 validation and 10,000 held-out test images; per-image random crops and flips in a
#    parallel `tf.data` pipeline. The images stay 0-255: the model standardises them itself.
# 2. **Recipe.** AdamW {cite}`loshchilov2019adamw` without weight decay on norms and biases, a linear
#    warm-up followed by cosine decay {cite}`loshchilov2017sgdr`, label smoothing
#    {cite}`szegedy2016rethinking` and stochastic depth {cite}`huang2016deep`
#    (`focal_utils.training.Recipe`).
# 3. **The long run.** Resumable with `BackupAndRestore`, logged per epoch to CSV with cumulative clocks:
#    learning curves, test accuracy, a confusion matrix, per-class accuracy and the worst mistakes, and the
#    saved weights that Chapter 8 loads.
# 4. **A short run you can repeat.** `FOCAL_QUICK=1` trains for a few minutes on a subset with the same code.
# 5. **What the numbers mean.** The time to reach the accuracy of the Keras example
#    {cite}`kerasio2023focalnet`, and its training speed against the book's model.

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

import focal_utils

keras.utils.set_random_seed(0)

# %% [markdown]
# The model this chapter will train, as the registry defines it:

# %%
# NBVAL_CHECK_OUTPUT
print(focal_utils.model_config("focalnet_cifar"))
