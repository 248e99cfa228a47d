"""``focal_utils.speed``: the benchmark's Keras cases and the huge-page environment."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from focal_utils import speed


def test_hugepages_env_adds_the_tunable_and_keeps_the_others():
    env = {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"}
    out = speed.hugepages_env(env)
    assert out["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert out["PATH"] == "/bin"
    assert env["GLIBC_TUNABLES"].endswith("hugetlb=0")  # the caller's dict is not changed
    assert speed.hugepages_env({})["GLIBC_TUNABLES"] == speed.HUGEPAGES_TUNABLE


def test_hugepages_env_reaches_a_child_process():
    code = "import os; print(os.environ['GLIBC_TUNABLES'])"
    out = subprocess.run([sys.executable, "-c", code], env=speed.hugepages_env(os.environ),
                         capture_output=True, text=True, check=True).stdout
    assert speed.HUGEPAGES_TUNABLE in out


def test_case_batch_is_the_same_for_every_framework():
    images, labels = speed.case_batch("focalnet_cifar_conv")
    again, _ = speed.case_batch("focalnet_cifar_conv")
    assert images.shape == (128, 32, 32, 3) and labels.shape == (128,)
    np.testing.assert_array_equal(images, again)
    assert labels.max() < 10


def test_keras_case_rejects_an_unknown_mode():
    case = speed.KerasCase("focalnet_cifar_conv")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        case.run("backward")


def test_the_makefile_runs_jax_with_the_same_tunable():
    """The Makefile cannot import the constant, so this keeps the two in step."""
    makefile = open(os.path.join(os.path.dirname(__file__), "..", "Makefile")).read()
    line = next(line for line in makefile.splitlines() if line.startswith("JAX_ENV :="))
    assert f"GLIBC_TUNABLES={speed.HUGEPAGES_TUNABLE}" in line.split()


def test_read_benchmark_types_the_numbers(tmp_path):
    path = tmp_path / "bench.csv"
    path.write_text("model,mode,worker,ms_per_batch,images_per_s,speed_vs_timm,turns_ms\n"
                    "focalnet_cifar_conv,train_step,timm,350.0,365.7,1.0,350 351\n"
                    "focalnet_cifar_conv,train_step,jax,400.0,320.0,,400 401\n")
    table = speed.read_benchmark(path)
    row = table["focalnet_cifar_conv", "train_step", "timm"]
    assert row["ms_per_batch"] == 350.0 and row["speed_vs_timm"] == 1.0
    assert table["focalnet_cifar_conv", "train_step", "jax"]["speed_vs_timm"] is None
    (tmp_path / "empty.csv").write_text("model,mode,worker\n")
    with pytest.raises(ValueError, match="no rows"):
        speed.read_benchmark(tmp_path / "empty.csv")


def test_the_shipped_benchmark_has_every_case_and_timm():
    """Chapter 7 reads this file: every model and mode, for timm and TensorFlow."""
    table = speed.read_benchmark()
    for name in _script("benchmark_cpu").MODELS:
        for mode in speed.MODES:
            for worker in ("timm", "tensorflow"):
                row = table[name, mode, worker]
                assert row["ms_per_batch"] > 0
                assert abs(row["images_per_s"] - speed.CASES[name]["batch_size"]
                           / row["ms_per_batch"] * 1e3) < 0.1 + 1e-3 * row["images_per_s"]


def test_read_mixer_speed_keys_by_mixer_and_types_the_numbers(tmp_path):
    path = tmp_path / "mixers.csv"
    path.write_text("model,mixer,inference_images_per_s,train_images_per_s,inference_peak_mb,"
                    "train_peak_mb,versions,machine,date\n"
                    "focalnet_cifar_conv,focal_modulation,1200.5,390.0,50.0,400.0,v,m,d\n"
                    "cifar_conv_pooling,pooling,2000.0,600.0,,,v,m,d\n")
    table = speed.read_mixer_speed(path)
    assert list(table) == ["focal_modulation", "pooling"]
    assert table["focal_modulation"]["train_images_per_s"] == 390.0
    assert table["pooling"]["train_peak_mb"] is None  # not measurable on that system
    (tmp_path / "empty.csv").write_text("model,mixer\n")
    with pytest.raises(ValueError, match="no rows"):
        speed.read_mixer_speed(tmp_path / "empty.csv")


def test_every_mixer_variant_is_a_case_with_the_training_batch():
    from focal_utils.layers.mixers import MIXERS
    from focal_utils.registry import mixer_variant

    for mixer in MIXERS:
        assert speed.CASES[mixer_variant(mixer)] == dict(image_size=32, batch_size=128, num_classes=10)
    assert speed.machine_name().endswith(f", {os.cpu_count()} cores")


def test_tcmalloc_env_preloads_it_first_and_keeps_the_others(monkeypatch):
    monkeypatch.setattr(speed, "tcmalloc_library", lambda: "libtcmalloc_minimal.so.4")
    env = {"LD_PRELOAD": "libother.so", "PATH": "/bin"}
    out = speed.tcmalloc_env(env)
    assert out["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libother.so"
    assert env["LD_PRELOAD"] == "libother.so" and out["PATH"] == "/bin"
    assert speed.tcmalloc_env({})["LD_PRELOAD"] == "libtcmalloc_minimal.so.4"
    monkeypatch.setattr(speed, "tcmalloc_library", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install libtcmalloc-minimal4"):
        speed.tcmalloc_env(env)


@pytest.mark.skipif(speed.tcmalloc_library() is None, reason="tcmalloc is not installed here")
def test_tcmalloc_env_reaches_a_child_process():
    code = "print(open('/proc/self/maps').read())"
    out = subprocess.run([sys.executable, "-c", code], env=speed.tcmalloc_env(os.environ),
                         capture_output=True, text=True, check=True).stdout
    assert "tcmalloc" in out


def _script(name):
    path = os.path.join(os.path.dirname(__file__), "..", "scripts", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scripts_setups_are_speeds_environment_makers():
    """benchmark_cpu's +setup suffixes are speed.ALLOCATOR_ENVS; step_faults names the same, plus glibc."""
    assert speed.ALLOCATOR_ENVS == {"hugepages": speed.hugepages_env, "tcmalloc": speed.tcmalloc_env}
    assert _script("step_faults").ALLOCATORS == ("glibc", *speed.ALLOCATOR_ENVS)
