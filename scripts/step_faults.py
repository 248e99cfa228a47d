#!/usr/bin/env python
"""Page faults and system time of one training step, by allocator and by what ran before it.

    python scripts/step_faults.py [--backend jax] [--models focalnet_tiny_srf,focalnet_cifar_conv]
        [--allocators glibc,hugepages,tcmalloc] [--before step,inference] [--steps 7]

For each model and allocator, a fresh process (one at a time) times ``--steps`` AdamW steps
(``train_on_batch`` on the batch of ``focal_utils.speed``, after two warm-up steps) in each order
of ``--before``: ``step``, steps back to back; ``inference``, an untimed inference call of the same
model before each step, as when a benchmark or a notebook alternates the two. Allocators: ``glibc``
(the environment as it is), ``hugepages`` (``focal_utils.speed.hugepages_env``), ``tcmalloc``
(``focal_utils.speed.tcmalloc_env``; skipped if not installed). Each row gives the median step time
and, per step, the user and system CPU seconds and the minor page faults of the process; the last
column is the speed-up against glibc in the same order.

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
# glibc: the environment as it is; the others: focal_utils.speed.ALLOCATOR_ENVS
ALLOCATORS = ("glibc", "hugepages", "tcmalloc")
ORDERS = ("step", "inference")


def _timed_steps(case, steps, before):
    """Median step seconds and per-step user/system seconds and faults, ``before`` untimed."""
    times, user, system, faults = [], 0.0, 0.0, 0
    for _ in range(steps):
        if before == "inference":
            case.run("inference")
        start_usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        case.run("train_step")
        times.append(time.perf_counter() - start)
        end_usage = resource.getrusage(resource.RUSAGE_SELF)
        user += end_usage.ru_utime - start_usage.ru_utime
        system += end_usage.ru_stime - start_usage.ru_stime
        faults += end_usage.ru_minflt - start_usage.ru_minflt
    return dict(ms=1e3 * sorted(times)[len(times) // 2], user_s=user / steps,
                sys_s=system / steps, faults=faults / steps)


def measure(name, steps, orders):
    """Run in the child: time the steps of ``name`` in each order; print one JSON line."""
    import keras

    from focal_utils.speed import KerasCase

    case = KerasCase(name)
    for _ in range(2):
        case.run("inference")
        case.run("train_step")
    rows = {before: _timed_steps(case, steps, before) for before in orders}
    print(json.dumps(dict(backend=keras.backend.backend(), rows=rows)))


def child(name, steps, orders, backend, allocator):
    from focal_utils.speed import ALLOCATOR_ENVS

    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if allocator != "glibc":
        env = ALLOCATOR_ENVS[allocator](env)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name,
                          "--steps", str(steps), "--before", ",".join(orders)], env=env,
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["rows"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--models", default="focalnet_tiny_srf,focalnet_cifar_conv")
    parser.add_argument("--allocators", default=",".join(ALLOCATORS))
    parser.add_argument("--before", default=",".join(ORDERS))
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    orders = [o for o in args.before.split(",") if o]
    if not set(orders) <= set(ORDERS):
        parser.error(f"--before: choose from {', '.join(ORDERS)}; got {args.before!r}")
    if args.child:
        return measure(args.child, args.steps, orders)
    allocators = [a for a in args.allocators.split(",") if a]
    if not set(allocators) <= set(ALLOCATORS):
        parser.error(f"--allocators: choose from {', '.join(ALLOCATORS)}; got {args.allocators!r}")
    sys.path.insert(0, REPO)
    if "tcmalloc" in allocators:
        from focal_utils.speed import tcmalloc_library
        if tcmalloc_library() is None:
            print("tcmalloc is not installed (apt-get install libtcmalloc-minimal4): skipped")
            allocators.remove("tcmalloc")
    print(f"{os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; backend {args.backend}; "
          f"{args.steps} steps after 2 warm-up steps, one process at a time")
    print(f"{'model':20s} {'malloc':10s} {'before':10s} {'ms/step':>8s} {'user s':>7s} {'sys s':>6s} "
          f"{'faults/step':>12s} {'vs glibc':>9s}")
    for name in [m for m in args.models.split(",") if m]:
        results = {a: child(name, args.steps, orders, args.backend, a) for a in allocators}
        for before in orders:
            base = results.get("glibc", {}).get(before)
            for allocator in allocators:
                row = results[allocator][before]
                ratio = f"{base['ms'] / row['ms']:.2f}x" if base else "-"
                print(f"{name:20s} {allocator:10s} {before:10s} {row['ms']:8.0f} {row['user_s']:7.2f} "
                      f"{row['sys_s']:6.2f} {row['faults']:12,.0f} {ratio:>9s}", flush=True)


if __name__ == "__main__":
    main()
