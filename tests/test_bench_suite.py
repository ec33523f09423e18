"""Smoke test of the benchmark suite (`gpuflow bench`): one quick run of gpuflow alone
produces the table and the JSON with the documented fields. Nothing here asserts a speed."""
import io
import json
import os
import subprocess
import sys

import pytest

from gpuflow import bench_suite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    out = io.StringIO()
    res = bench_suite.run(quick=True, frameworks=(), json_path=str(d / "bench.json"),
                          plot_path=str(d / "bench.png"), out=out)
    return res, out.getvalue(), d


def _timed(rec):
    for key in ("median", "min", "max", "q1", "q3", "n", "samples_ms", "mode"):
        assert key in rec, key
    assert rec["n"] == len(rec["samples_ms"]) >= 1
    assert rec["min"] <= rec["median"] <= rec["max"]
    assert all(v > 0 for v in rec["samples_ms"])


def test_json_has_machine_and_every_workload(quick_run):
    res, _, d = quick_run
    with open(d / "bench.json") as f:
        saved = json.load(f)
    assert saved["quick"] is True and saved["suite"] == "gpuflow bench"
    m = saved["machine"]
    for key in ("cpu_model", "logical_cpus", "usable_cpus", "blas", "load_average_start", "load_average_end",
                "gpuflow_device", "numpy", "python", "platform", "date"):
        assert key in m, key
    assert "name" in m["blas"] and "threadpools" in m["blas"]
    assert set(saved["workloads"]) == set(bench_suite.WORKLOADS)
    assert saved["frameworks"] == {}


def test_eager_and_compiled_rows_with_samples(quick_run):
    res, _, _ = quick_run
    for wl in ("linear", "mlp", "gemm_forward", "gemm_train"):
        results = res["workloads"][wl]["results"]
        for name in (bench_suite.GF_EAGER, bench_suite.GF_COMPILED):
            assert "error" not in results[name], results[name]
            _timed(results[name])
        assert results[bench_suite.GF_EAGER]["mode"] == "eager"
        assert results[bench_suite.GF_COMPILED]["mode"] == "compiled"
        assert results[bench_suite.GF_COMPILED]["traces"] >= 1


def test_cnn_row_runs_or_says_why_skipped(quick_run):
    res, text, _ = quick_run
    rec = res["workloads"]["cnn"]
    if bench_suite.conv2d_available():
        for name in (bench_suite.GF_EAGER, bench_suite.GF_COMPILED):
            assert "error" not in rec["results"][name], rec["results"][name]
            _timed(rec["results"][name])
    else:
        assert "Conv2D not available" in rec["skipped"]
        assert "skipped: Conv2D not available" in text


def test_gemm_rows_report_gflops_next_to_the_reference(quick_run):
    res, _, _ = quick_run
    for wl in ("gemm_forward", "gemm_train"):
        rec = res["workloads"][wl]
        assert rec["unit"] == "GFLOP/s" and rec["flops"] > 0
        ref = rec["results"]["numpy matmul"]
        assert ref["mode"] == "reference"
        for r in (ref, rec["results"][bench_suite.GF_EAGER], rec["results"][bench_suite.GF_COMPILED]):
            assert r["gflops"]["median"] > 0 and len(r["samples_gflops"]) == r["n"]
    # forward+backward counts the backward matmuls too
    assert res["workloads"]["gemm_train"]["flops"] > 2 * res["workloads"]["gemm_forward"]["flops"]


def test_import_time_measured_in_fresh_processes(quick_run):
    res, _, _ = quick_run
    results = res["workloads"]["import"]["results"]
    _timed(results["gpuflow"])
    _timed(results["numpy"])


def test_table_printed_with_all_columns(quick_run):
    res, text, d = quick_run
    header = next(line for line in text.splitlines() if line.startswith("| workload"))
    for col in ("implementation", "median", "spread (min..max)", "ratio", "target"):
        assert col in header
    for title in ("(a) linear model", "(b) MLP 784-256-256-10", "(c) CNN", "(d) MLP", "(e) import time"):
        assert title in text
    assert "gpuflow gf.function" in text and "x eager" in text and "% of numpy" in text
    assert "load average" in text and "BLAS:" in text and "CPU:" in text
    assert "wrote %s" % (d / "bench.json") in text
    # the PNG when matplotlib is installed, else a message saying so
    if (d / "bench.png").exists():
        assert (d / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in text


def test_plot_message_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib -> ImportError
    res = {"workloads": {}, "machine": {}}
    msg = bench_suite.write_plot(res, str(tmp_path / "x.png"))
    assert "matplotlib is not installed" in msg and not (tmp_path / "x.png").exists()


def test_format_report_shows_errors_and_skips():
    res = {"quick": True, "config": {"repeats": 3, "gemm_repeats": 3}, "frameworks": {"torch": {"error": "boom"}},
           "machine": {"date": "d", "gpuflow_device": "/CPU:0", "platform": "p", "python": "3", "numpy": "2",
                       "cpu_model": "c", "logical_cpus": 2, "physical_cores": None, "threads_per_core": None,
                       "usable_cpus": 2, "avx512": None, "blas": {"name": "b"}, "thread_env": {},
                       "gpuflow": "0", "gpu": "none", "native_kernels": "missing",
                       "load_average_start": None},
           "workloads": {"cnn": {"title": "(c) CNN", "unit": "ms/step", "skipped": "Conv2D not available"},
                         "mlp": {"title": "(b) MLP", "unit": "ms/step", "results": {
                             "torch eager": {"mode": "eager", "error": "RuntimeError: " + "x" * 80}}}}}
    text = "\n".join(bench_suite.format_report(res))
    assert "skipped: Conv2D not available" in text
    assert "torch: boom" in text and "RuntimeError: xxx" in text and "..." in text


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown workload"):
        bench_suite.run(workloads=["nope"], frameworks=())
    with pytest.raises(ValueError, match="unknown framework"):
        bench_suite.run(workloads=[], frameworks=["caffe"])


def test_command_lines_run_the_same_suite(tmp_path):
    """`python benchmarks/run_suite.py` and bench_compiler.py go through the same code."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_suite.py"), "--quick",
                          "--only", "linear", "--frameworks", "none", "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(a) linear model" in out.stdout
    assert set(json.loads((tmp_path / "s.json").read_text())["workloads"]) == {"linear"}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_compiler.py"), "--quick",
                          "--only", "linear", "--frameworks", "none", "--json", str(tmp_path / "c.json")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "gpuflow gf.function" in out.stdout
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "run_suite.py"), "--only", "nope"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "unknown workload" in bad.stderr


def test_framework_worker_process_round_trip():
    """Other frameworks run in a child interpreter; with one that is not installed the child
    reports the import error, with one that is (and no workloads) its version."""
    missing = [f for f in bench_suite.FRAMEWORKS if f not in bench_suite.installed_frameworks()]
    name = missing[0] if missing else "jax"
    cfg = bench_suite.Config(quick=True)
    out = bench_suite.framework_process(name, cfg, [], gpu=False, timeout=300)
    if name in missing:
        assert "ModuleNotFoundError" in out["error"] or "ImportError" in out["error"], out
    else:
        assert "version" in out and out["workloads"] == {}, out
    assert "load_average_start" in out or "error" in out


def test_taped_call_benchmark_runs():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_taped_call.py"), "--repeats", "1",
                          "--steps", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    for row in ("eager (tape records each op)", "gf.function under the outer tape", "gf.function with the tape inside"):
        assert row in out.stdout
