"""The `gpuflow` command: `gpuflow info`, `gpuflow demo`, `gpuflow bench`."""
import argparse
import platform
import sys
import time


def _info(args):
    import numpy as np
    import gpuflow as gf
    from gpuflow import backend
    print("gpuflow %s" % gf.__version__)
    print("python %s, numpy %s, %s" % (platform.python_version(), np.__version__, platform.platform()))
    gpus = backend.list_devices("GPU")
    print("devices: %s" % ", ".join(d.short_name for d in backend.list_devices()))
    print("default device: %s" % backend.default_device().short_name)
    if not gpus:
        print("GPU: not used (%s)" % backend.gpu_unavailable_reason())
    from gpuflow.backend import host_memory, threads
    print("host malloc tuning: %s; BLAS threads: %s" % (host_memory.state["reason"],
                                                        threads.get_intra_op_parallelism_threads() or "unknown"))
    try:
        from gpuflow.kernels import native
        print("native CPU kernels (gpuflow._C): %s" % ("available" if native.available() else
                                                      "missing (%s)" % native.reason()))
        mod = native.get()
        if mod is not None and hasattr(mod, "conv_direct_available"):
            if mod.conv_direct_available():
                isa = getattr(mod, "conv_direct_isa", lambda: "avx512")()
                print("direct kernels (float32 convolution, skinny GEMM): %s, %d threads"
                      % ({"avx512": "AVX-512", "avx2": "AVX2 + FMA"}.get(isa, isa), mod.get_compute_threads()))
            else:
                print("direct kernels: not on this CPU (neither AVX-512F nor AVX2 + FMA); float32 "
                      "convolutions use im2col + BLAS")
    except ImportError as e:  # pragma: no cover - the kernels package ships with gpuflow
        print("native CPU kernels: missing (%s)" % e)
    try:
        import cupy  # noqa: F401
        try:
            from cupy.cuda import nvrtc
            v = nvrtc.getVersion()
            print("CuPy %s, NVRTC %d.%d" % (cupy.__version__, v[0], v[1]))
        except Exception as e:
            print("CuPy %s, NVRTC unavailable (%s)" % (cupy.__version__, e))
    except ImportError:
        print("CuPy: not installed (pip install 'gpuflow[cuda12]' or '[cuda13]' for NVIDIA GPUs)")
    return 0


def _demo(args):
    from gpuflow.demo import run_demo
    return run_demo(device=args.device, epochs=args.epochs, verbose=args.verbose)


def _bench(args):
    from gpuflow.demo import run_bench
    return run_bench(json_path=args.json, plot_path=args.plot, quick=args.quick)


def main(argv=None):
    p = argparse.ArgumentParser(prog="gpuflow", description="gpuflow: TensorFlow 2 / Keras on NumPy and CuPy")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("info", help="version, devices, native kernels and CuPy status")
    d = sub.add_parser("demo", help="train a small CNN on the shipped 8x8 digits, then time eager vs compiled steps")
    d.add_argument("--device", choices=["cpu", "gpu"], default=None, help="default: GPU if one is usable, else CPU")
    d.add_argument("--epochs", type=int, default=15)
    d.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    b = sub.add_parser("bench", help="run the benchmark suite and print its table")
    b.add_argument("--json", default=None, help="also write the results as JSON to this path")
    b.add_argument("--plot", default=None, help="write a PNG chart (needs matplotlib)")
    b.add_argument("--quick", action="store_true", help="fewer repeats")
    args = p.parse_args(argv)
    if args.cmd is None:
        p.print_help()
        return 0
    t0 = time.perf_counter()
    rc = {"info": _info, "demo": _demo, "bench": _bench}[args.cmd](args)
    if args.cmd != "info":
        print("(%s took %.1f s)" % (args.cmd, time.perf_counter() - t0))
    return rc


if __name__ == "__main__":
    sys.exit(main())
