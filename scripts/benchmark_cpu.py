#!/usr/bin/env python
"""FocalNet step times on the CPU: focal_utils (TensorFlow, JAX) against timm (PyTorch).

    python scripts/benchmark_cpu.py [--repeats 5] [--calls 1] [--warmup 2]
        [--models focalnet_tiny_srf,focalnet_cifar_conv]
        [--workers timm,tensorflow,jax,jax+tcmalloc] [--timm-python PATH] [--csv FILE]

Two models, each for inference and one AdamW training step:

- FocalNet-T (srf) at 224x224, batch 8: ``create_model("focalnet_tiny_srf")``
  and timm's ``FocalNet(embed_dim=96, depths=(2, 2, 6, 2), focal_levels=2)``;
- the book's CIFAR model at 32x32, batch 128: ``focalnet_cifar_conv`` and
  timm's ``FocalNet(num_classes=10, embed_dim=64, depths=(2, 3, 2),
  focal_levels=2, use_overlap_down=True)``. Every option maps one to one
  (the 7/4/2 overlapping stem is timm's only stem with overlap; parameter
  counts are equal, printed below); the only difference is that the Keras
  model standardises its 0-255 input inside (a subtract and a divide).

One worker process per framework (``--workers``; ``tensorflow@native`` and
``jax@native`` run the code before issue 19: the backend's own depthwise
convolution for the focal levels, Keras' ``Dense`` on 4D tokens instead of
``TokenDense``, and Keras' own GELU and LayerNorm instead of the fused ones
of ``layers/fused.py``; only the ``ops.split`` of ``f``'s output stays;
``tensorflow@unfused`` switches off only the fused GELU and LayerNorm;
``tensorflow@xla`` compiles the Keras steps with XLA). A ``+hugepages``
suffix (``jax+hugepages``, ``timm+hugepages``) starts that worker with
glibc's malloc on transparent huge pages (``focal_utils.speed.hugepages_env``):
XLA's CPU runtime takes fresh memory from malloc for every large buffer of a
step, and the kernel then zero-fills it 4 KiB page by page (hundreds of
thousands of page faults per FocalNet-T step, a third of the step's CPU
time); on 2 MiB pages the faults are few, but while other processes work
(here: the other resident workers) a step can spend seconds in the kernel,
so the JAX worker varied several-fold from turn to turn. A ``+tcmalloc``
suffix preloads tcmalloc instead (``focal_utils.speed.tcmalloc_env``), which
keeps freed memory for the next step: no faults, in any order. The
workers build everything, warm up, then wait; the parent asks them for one
timed turn at a time, in rounds (model, mode, worker), so all contenders
share the machine's load alike. Medians over ``--repeats`` turns (each the
median of ``--calls`` calls) are printed as ms/batch, images/s and speed
ratios against timm (``timm_ms / ms``: above 1 is faster than timm).

timm is optional and never a dependency of the book: it runs in its own
interpreter (``--timm-python``, default ``$FOCAL_TIMM_PYTHON`` or
``/work/venv-timm/bin/python``), e.g. a venv made with
``python -m venv venv-timm && venv-timm/bin/pip install torch timm`` (a CPU
build of torch). Without it the timm column is skipped.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TIMM_PYTHON = os.environ.get("FOCAL_TIMM_PYTHON", "/work/venv-timm/bin/python")
MODELS = ("focalnet_tiny_srf", "focalnet_cifar_conv")
MODES = ("inference", "train_step")
# the timm equivalents of the registry entries (see the docstring)
TIMM_CONFIGS = {
    "focalnet_tiny_srf": dict(num_classes=1000, embed_dim=96, depths=(2, 2, 6, 2),
                              focal_levels=(2, 2, 2, 2), focal_windows=(3, 3, 3, 3),
                              drop_path_rate=0.2),
    "focalnet_cifar_conv": dict(num_classes=10, embed_dim=64, depths=(2, 3, 2),
                                focal_levels=(2, 2, 2), focal_windows=(3, 3, 3),
                                use_overlap_down=True, drop_path_rate=0.1),
}
CASE_SHAPES = {"focalnet_tiny_srf": (224, 8), "focalnet_cifar_conv": (32, 128)}


# ------------------------------------------------------------------ workers --

class TimmCase:
    def __init__(self, name):
        import numpy as np
        import torch
        from timm.models.focalnet import FocalNet

        torch.manual_seed(0)
        self.torch = torch
        self.model = FocalNet(**TIMM_CONFIGS[name])
        self.params = sum(p.numel() for p in self.model.parameters())
        size, batch = CASE_SHAPES[name]
        rng = np.random.default_rng(0)  # the same batch as focal_utils.speed.case_batch
        images = rng.standard_normal((batch, size, size, 3)).astype("float32")
        labels = rng.integers(0, TIMM_CONFIGS[name]["num_classes"], batch)
        self.images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        self.labels = torch.from_numpy(labels)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=0.05)

    def run(self, mode):
        torch = self.torch
        if mode == "inference":
            self.model.eval()
            with torch.inference_mode():
                return self.model(self.images)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(self.images), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss


def _keras_cases(kind, models):
    """Keras cases for worker ``kind`` ("tensorflow", "jax", "*@native", "*@unfused", "tensorflow@xla")."""
    from focal_utils.speed import KerasCase

    if kind.endswith(("@native", "@unfused")):  # Keras' own GELU and LayerNorm
        from focal_utils.layers import fused
        fused._fusion_enabled = lambda: False
    if kind.endswith("@native"):
        # issue 19's "before": also the focal levels through the backend's own
        # depthwise conv (XLA's on JAX) and Keras' Dense on 4D tokens
        import keras

        import focal_utils.layers.focal_modulation as fm
        from focal_utils.layers.common import TokenDense
        fm.depthwise_conv = lambda layer, x: layer(x)
        TokenDense.call = keras.layers.Dense.call
    jit = True if kind.endswith("@xla") else "auto"
    return {name: KerasCase(name, jit_compile=jit) for name in models}


def timed(case, mode, calls):
    """Seconds of each of ``calls`` calls of ``case.run(mode)`` (a timm or Keras case)."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        case.run(mode)
        times.append(time.perf_counter() - start)
    return times


def worker(kind, models, warmup):
    """Build, warm up, then answer ``name mode calls`` lines with JSON times."""
    if kind.partition("+")[0] == "timm":
        import timm
        import torch
        cases = {name: TimmCase(name) for name in models}
        version = f"timm {timm.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads"
        params = {name: case.params for name, case in cases.items()}
    else:
        import keras
        cases = _keras_cases(kind.partition("+")[0], models)
        framework = keras.backend.backend()
        fw_module = __import__(framework)
        version = f"Keras {keras.__version__}, {framework} {fw_module.__version__}"
        params = {name: case.model.count_params() for name, case in cases.items()}
    start = time.perf_counter()
    for case in cases.values():
        for mode in MODES:
            timed(case, mode, warmup)
    print(json.dumps({"version": version, "params": params,
                      "warmup_s": time.perf_counter() - start}), flush=True)
    for line in sys.stdin:
        name, mode, calls = line.split()
        times = timed(cases[name], mode, int(calls))
        print(json.dumps(times), flush=True)


# ------------------------------------------------------------------- parent --

def _spawn(kind, args):
    framework, _, setup = kind.partition("+")
    if framework == "timm":
        python, env = args.timm_python, dict(os.environ)
    else:
        python = sys.executable
        env = dict(os.environ, KERAS_BACKEND=framework.split("@")[0], TF_CPP_MIN_LOG_LEVEL="3")
    if setup:
        from focal_utils.speed import ALLOCATOR_ENVS
        if setup not in ALLOCATOR_ENVS:
            raise SystemExit(f"--workers: unknown setup +{setup} in {kind!r} "
                             f"(one of {', '.join('+' + s for s in ALLOCATOR_ENVS)})")
        env = ALLOCATOR_ENVS[setup](env)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, os.path.abspath(__file__), "--worker", kind,
           "--models", ",".join(args.models), "--warmup", str(args.warmup)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)


def _load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--workers", default="timm,tensorflow,jax,jax+tcmalloc")
    parser.add_argument("--timm-python", default=DEFAULT_TIMM_PYTHON)
    parser.add_argument("--csv", help="also write the medians to this CSV file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    for name in args.models:
        if name not in TIMM_CONFIGS:
            parser.error(f"--models: unknown model {name!r}; choose from {', '.join(MODELS)}")
    if args.worker:
        return worker(args.worker, args.models, args.warmup)

    kinds = [k for k in args.workers.split(",") if k]
    if any(k.startswith("timm") for k in kinds) and not os.path.exists(args.timm_python):
        print(f"no timm interpreter at {args.timm_python}: timm skipped")
        kinds = [k for k in kinds if not k.startswith("timm")]
    if any(k.endswith("+tcmalloc") for k in kinds):
        from focal_utils.speed import tcmalloc_library
        if tcmalloc_library() is None:
            print("tcmalloc is not installed (apt-get install libtcmalloc-minimal4): "
                  "+tcmalloc workers skipped")
            kinds = [k for k in kinds if not k.endswith("+tcmalloc")]
    print(f"{os.cpu_count()} cores; load average at start {_load()}; "
          f"{args.repeats} turns x {args.calls} call(s) after {args.warmup} warm-up calls", flush=True)
    # The workers build and warm up one after the other: all at once, compiling JAX's steps took more
    # memory than a 24 GiB machine had (the kernel killed a worker), and their warm-up times mixed.
    procs, info = {}, {}
    for kind in kinds:
        proc = procs[kind] = _spawn(kind, args)
        line = proc.stdout.readline()
        if not line:
            for other in procs.values():
                other.kill()
            raise SystemExit(f"worker {kind} failed to start (exit status {proc.wait()}; -9 is often "
                             "the kernel's out-of-memory killer: try fewer --workers)")
        info[kind] = json.loads(line)
        print(f"  {kind:16s} {info[kind]['version']}; params "
              f"{info[kind]['params']}; warm-up {info[kind]['warmup_s']:.0f} s", flush=True)
    times = {(k, m, mode): [] for k in kinds for m in args.models for mode in MODES}
    for r in range(args.repeats):
        for name in args.models:
            for mode in MODES:
                for kind, proc in procs.items():
                    proc.stdin.write(f"{name} {mode} {args.calls}\n")
                    proc.stdin.flush()
                    turn = json.loads(proc.stdout.readline())
                    times[kind, name, mode].append(statistics.median(turn))
        print(f"  round {r + 1}/{args.repeats} done, load {_load()}", flush=True)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()

    from focal_utils.speed import machine_name
    machine = machine_name()
    today = time.strftime("%Y-%m-%d")
    rows = []
    for name in args.models:
        batch = CASE_SHAPES[name][1]
        for mode in MODES:
            ref = times.get(("timm", name, mode))
            for kind in kinds:
                ms = 1e3 * statistics.median(times[kind, name, mode])
                row = dict(model=name, mode=mode, worker=kind, ms_per_batch=round(ms, 1),
                           images_per_s=round(batch / ms * 1e3, 1),
                           speed_vs_timm=(round(1e3 * statistics.median(ref) / ms, 3)
                                          if ref else ""),
                           turns_ms=" ".join(f"{1e3 * t:.0f}" for t in times[kind, name, mode]),
                           versions=info[kind]["version"], machine=machine, date=today)
                rows.append(row)
    print(f"\nload average at end {_load()}")
    print(f"{'model':20s} {'mode':10s} {'worker':16s} {'ms/batch':>9s} {'images/s':>9s} {'vs timm':>8s}")
    for row in rows:
        ratio = f"{row['speed_vs_timm']:.2f}x" if row["speed_vs_timm"] != "" else "-"
        print(f"{row['model']:20s} {row['mode']:10s} {row['worker']:16s} "
              f"{row['ms_per_batch']:9.1f} {row['images_per_s']:9.1f} {ratio:>8s}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
