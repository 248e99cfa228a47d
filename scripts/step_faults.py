#!/usr/bin/env python
"""Page faults and system time of one training step, with and without huge pages for malloc.

    python scripts/step_faults.py [--backend jax] [--models focalnet_tiny_srf,focalnet_cifar_conv]
        [--steps 7]

For each model, two fresh processes (taking turns, one at a time) time ``--steps`` AdamW steps
(``train_on_batch`` on the batch of ``focal_utils.speed``, after two warm-up steps): one started
with the environment as it is, one with ``focal_utils.speed.hugepages_env``. Each prints the median
step time and, per step, the user and system CPU seconds and the minor page faults of the process.
The last column is the ratio of the two medians (above 1: huge pages are faster).

Why it exists: on a CPU, XLA takes fresh memory from malloc for every large buffer of a step and
the kernel zero-fills it page by page on first touch. ``scripts/benchmark_cpu.py`` keeps one
process per framework resident and taking turns, and there JAX's step varied several-fold from turn
to turn; a process alone on the machine shows the effect of the allocator cleanly.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(name, steps):
    """Run in the child: time the steps of ``name`` and print one JSON line."""
    import keras

    from focal_utils.speed import KerasCase

    case = KerasCase(name)
    for _ in range(2):
        case.run("train_step")
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        case.run("train_step")
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    times.sort()
    print(json.dumps(dict(
        backend=keras.backend.backend(), ms=1e3 * times[len(times) // 2],
        user_s=(after.ru_utime - before.ru_utime) / steps,
        sys_s=(after.ru_stime - before.ru_stime) / steps,
        faults=(after.ru_minflt - before.ru_minflt) / steps)))


def child(name, steps, backend, hugepages):
    from focal_utils.speed import hugepages_env

    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if hugepages:
        env = hugepages_env(env)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name,
                          "--steps", str(steps)], env=env, cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--models", default="focalnet_tiny_srf,focalnet_cifar_conv")
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return measure(args.child, args.steps)
    sys.path.insert(0, REPO)
    print(f"{os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; backend {args.backend}; "
          f"{args.steps} steps after 2 warm-up steps, one process at a time")
    print(f"{'model':20s} {'malloc':10s} {'ms/step':>8s} {'user s':>7s} {'sys s':>6s} "
          f"{'faults/step':>12s} {'speed-up':>9s}")
    for name in [m for m in args.models.split(",") if m]:
        plain = child(name, args.steps, args.backend, hugepages=False)
        huge = child(name, args.steps, args.backend, hugepages=True)
        for label, row in (("4 KiB", plain), ("hugepages", huge)):
            ratio = f"{plain['ms'] / row['ms']:.2f}x"
            print(f"{name:20s} {label:10s} {row['ms']:8.0f} {row['user_s']:7.2f} {row['sys_s']:6.2f} "
                  f"{row['faults']:12,.0f} {ratio:>9s}", flush=True)


if __name__ == "__main__":
    main()
