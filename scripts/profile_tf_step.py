#!/usr/bin/env python
"""Where a TensorFlow training step (or inference call) of a registry model spends its time, by op type.

    python scripts/profile_tf_step.py [--model focalnet_cifar_conv] [--batch 128] [--steps 6] [--top 20]
        [--mode train_step|inference]

Traces ``--steps`` AdamW steps of ``model.fit`` (``--mode inference``: batches of ``model.predict``)
with TensorFlow's profiler (after an untimed call that traces the function) and prints each op type's share of the host's busy self-time, summed over threads, and
its milliseconds per step. Shares are what to compare; on a shared machine the milliseconds are not.
The profile behind issue 19's closing note, e.g. how much of the step is the backward pass of the
depthwise convolutions, the matmuls, or the gradients of the slices that split ``f``'s output.
Needs TensorFlow's profiler plugin module (part of the TensorFlow wheel).

Read the shares with care: an op's self-time includes the time it waits for a core while the executor
runs other ops beside it, so chains of small elementwise kernels look larger than they are. Before the
fused GELU, this profile put the GELU's kernels at about 40% of FocalNet-T's step; fusing them made the
step 1.10x faster, not 1.6x (``scripts/results/README.md``). Confirm a lead with an A/B in separate
processes (``scripts/benchmark_cpu.py`` workers) before building on it.
"""
import argparse
import collections
import glob
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin  # noqa: E402

from focal_utils import create_model  # noqa: E402


def op_type_times(xplane_path):
    """``{op type: host self-time in us}`` from one profile, idle time left out."""
    data, ok = plugin.xspace_to_tools_data([xplane_path], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"TensorFlow could not read the profile {xplane_path}")
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    times = collections.Counter()
    for row in table["rows"]:
        cell = dict(zip(columns, (c.get("v") if isinstance(c, dict) else c for c in row["c"])))
        if cell["host_or_device"] == "Host" and cell["type"] != "IDLE":
            times[cell["type"]] += cell["total_self_time"]
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="focalnet_cifar_conv")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--mode", choices=("train_step", "inference"), default="train_step")
    args = parser.parse_args()
    model = create_model(args.model)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.integers(0, 256, (n, *model.image_size, 3)).astype("float32")
    y = rng.integers(0, model.num_classes, n)
    if args.mode == "train_step":
        def run(count):
            model.fit(x[:count], y[:count], batch_size=args.batch, verbose=0)
    else:
        def run(count):
            model.predict(x[:count], batch_size=args.batch, verbose=0)
    run(args.batch)  # traces the function
    start = time.perf_counter()
    run(n)
    print(f"{args.model}, {args.mode}, batch {args.batch}: "
          f"{(time.perf_counter() - start) / args.steps * 1e3:.0f} ms per batch unprofiled")
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        run(n)
        tf.profiler.experimental.stop()
        times = op_type_times(sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1])
    busy = sum(times.values())
    print(f"busy host self-time, all threads: {busy / args.steps / 1e3:.0f} ms per batch")
    for op, us in times.most_common(args.top):
        print(f"{us / busy:6.1%} {us / args.steps / 1e3:8.1f} ms/batch  {op}")


if __name__ == "__main__":
    main()
