#!/usr/bin/env python3
"""Run chapters top to bottom as a reader would, each in a fresh kernel; fail on any error or stderr.

Usage (run with the Python whose nbclient should drive the kernels):
  COLAB_VENV/bin/python scripts/run_chapters.py --colab COLAB_VENV --wheel WHEEL [--out DIR] NB...
  .venv/bin/python scripts/run_chapters.py --build [--out DIR] NB...

--colab: Google Colab's runtime (scripts/colab_env.sh makes COLAB_VENV). Each chapter gets what a Colab
  reader gets: a new runtime (a throwaway venv layered on COLAB_VENV, whose packages it sees through a
  .pth file, so installing into it leaves the cached Colab venv untouched), an empty working folder, no
  focal_utils, Colab's kernel defaults (ipykernel 6.17 forwards the C++ stderr of TensorFlow into the
  cells), no TF_CPP_MIN_LOG_LEVEL and no pip configuration of this machine. The install cell runs for real,
  through its override FOCAL_BOOK_PACKAGE=WHEEL (the package built from the clone), and must install
  focal_utils and nothing else: it must not upgrade what Colab has (the Colab venv's packages are compared
  before and after).
--build: the build environment (this Python, the clone's focal_utils on PYTHONPATH), for comparison.

Fails when a cell raises, when any cell writes to stderr (what Colab and Jupyter show in a red box), or,
in --colab, when the install did more than add focal_utils. Prints a table of chapter, result and run
time; --out DIR keeps the executed notebooks and results.json. --jobs N runs N chapters at a time, each
in its own process (on 2 cores, the light chapters run beside the long one: give the long one first).
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import multiprocessing
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 1800  # s; chapter 7 (FOCAL_QUICK) in Colab's runtime took over 900 s on a busy 2-core machine


def site_packages(prefix):
    return Path(prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def distributions(prefix):
    return sorted(p.name for p in site_packages(prefix).glob("*.dist-info"))


def colab_runtime(colab_venv, folder):
    """A throwaway venv that sees COLAB_VENV's packages and installs into itself: (python, env)."""
    venv = folder / "runtime"
    subprocess.run([str(Path(colab_venv) / "bin" / "python"), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    # addsitedir, not a plain path line: the Colab venv's own .pth files run too (setuptools' distutils).
    (site_packages(venv) / "_colab_runtime.pth").write_text(
        f"import site; site.addsitedir({str(site_packages(colab_venv))!r})\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "TF_CPP_", "PYTHON", "JUPYTER", "IPYTHON", "VIRTUAL_ENV",
                                "KERAS_BACKEND", "MPLBACKEND"))}
    env.update(PIP_CONFIG_FILE=os.devnull, IPYTHONDIR=str(folder / "ipython"),
               JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"), PATH=f"{venv}/bin:{env['PATH']}")
    return venv / "bin" / "python", env


def build_runtime(folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT), IPYTHONDIR=str(folder / "ipython"))
    return Path(sys.executable), env


def run_one(path, args, workdir):
    """Execute one chapter; return a result dict (and keep the executed notebook in workdir)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{path.stem}.", dir=workdir))
    python, env = colab_runtime(args.colab, folder) if args.colab else build_runtime(folder)
    if args.colab:
        env["FOCAL_BOOK_PACKAGE"] = str(Path(args.wheel).resolve())
    # The kernel: this runtime's Python, found by nbclient through a kernelspec of its own.
    spec = folder / "kernels" / "kernels" / "book"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "book", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(folder / "kernels")  # this process runs one chapter at a time
    cwd = folder / "content"  # an empty folder, like Colab's /content
    cwd.mkdir()
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="book",
                            resources={"metadata": {"path": str(cwd)}})
    result = {"chapter": path.stem, "ok": True, "problems": []}
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()[-1]  # no colour codes
        result["problems"].append(f"error: {message}")
    except Exception as error:  # a timeout or a dead kernel
        result["problems"].append(f"{type(error).__name__}: {error}")
    result["seconds"] = round(time.perf_counter() - start, 1)
    for index, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output["text"].strip().replace("\n", " | ")
                result["problems"].append(f"stderr in code cell {index}: {text[:300]}")
    if args.colab:
        installed = set(distributions(folder / "runtime"))
        if not any(d.startswith("focal_utils-") for d in installed):
            result["problems"].append("the install cell did not install focal_utils")
        others = sorted(d for d in installed if not d.startswith("focal_utils-"))
        if others:
            result["problems"].append(f"the install cell installed more than focal_utils: {others}")
        install_outputs = [o for o in notebook.cells[
            next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")].get("outputs", [])]
        if install_outputs:
            result["problems"].append(f"the install cell printed: {install_outputs}")
    nbformat.write(notebook, workdir / f"{path.stem}.ipynb")
    shutil.rmtree(folder / "runtime", ignore_errors=True)
    result["ok"] = not result["problems"]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--colab", metavar="COLAB_VENV", help="run in Colab's runtime (scripts/colab_env.sh)")
    mode.add_argument("--build", action="store_true", help="run in this Python, with the clone's package")
    parser.add_argument("--wheel", help="--colab: the focal_utils wheel the install cell installs")
    parser.add_argument("--out", type=Path, help="keep the executed notebooks and results.json here")
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at a time (default 1)")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    if args.colab and not (args.wheel and Path(args.wheel).is_file()):
        parser.error("--colab needs --wheel, a built focal_utils wheel")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    workdir = Path(tempfile.mkdtemp(prefix="chapters.")) if args.out is None else args.out
    workdir.mkdir(parents=True, exist_ok=True)
    before = distributions(args.colab) if args.colab else None
    results = []
    # Each chapter in a process of its own (a fresh interpreter: run_one sets JUPYTER_PATH for it).
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, path.resolve(), args, workdir) for path in args.notebooks]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            print(f"{result['chapter']:<28} {'pass' if result['ok'] else 'FAIL'} "
                  f"{result['seconds']:8.1f} s", flush=True)
            for problem in result["problems"]:
                print(f"    {problem}", flush=True)
    results.sort(key=lambda r: r["chapter"])
    if args.colab and distributions(args.colab) != before:
        print("FAILED: running the chapters changed the Colab venv's packages", file=sys.stderr)
        results.append({"chapter": "(Colab venv unchanged)", "ok": False})
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    failed = [r["chapter"] for r in results if not r["ok"]]
    print(f"{len(results) - len(failed)} of {len(results)} passed"
          f"{'; failed: ' + ', '.join(failed) if failed else ''}. Notebooks and results.json in {workdir}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
