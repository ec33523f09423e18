"""Build script for gpuflow's optional native parts.

Project metadata lives in pyproject.toml; this file only adds

* the optional pybind11 extension ``gpuflow._C`` built from ``csrc/*.cpp``
  (``-O3 -std=c++17 -fopenmp``).  If it cannot be built (no compiler, no
  OpenMP, no pybind11) the install still succeeds with a warning and gpuflow
  uses its NumPy reference kernels.  OpenMP is dropped first if only it fails.
* the CUDA kernel sources: ``csrc/cuda/*.cu`` and the shared
  ``__host__ __device__`` headers ``csrc/include/gpuflow/*.h`` are copied into
  the built package as ``gpuflow/cuda/*.cu`` and ``gpuflow/cuda/include/*.h``
  (package data; compiled at run time by NVRTC through CuPy).  Editable
  installs read them straight from ``csrc/``.

Environment variables:

* ``GPUFLOW_BUILD_EXT=0``   skip the C++ extension entirely.
* ``GPUFLOW_NATIVE_ARCH=1`` add ``-march=native`` (not for portable wheels).
* ``GPUFLOW_BUILD_JOBS=N``  compile the C++ sources with N parallel jobs
  (default: number of CPUs).
"""
import glob
import os
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

CSRC = "csrc"
CUDA_SOURCES = sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cu")))
SHARED_HEADERS = sorted(glob.glob(os.path.join(CSRC, "include", "gpuflow", "*.h")))
CPP_SOURCES = sorted(glob.glob(os.path.join(CSRC, "*.cpp")))
CPP_HEADERS = sorted(glob.glob(os.path.join(CSRC, "*.h")) + glob.glob(os.path.join(CSRC, "*.inc")))


def _warn(msg):
    sys.stderr.write("\n" + "*" * 72 + "\nWARNING (gpuflow): " + msg + "\n" + "*" * 72 + "\n\n")
    sys.stderr.flush()


def _want_extension():
    return os.environ.get("GPUFLOW_BUILD_EXT", "1").strip().lower() not in ("0", "false", "no", "off")


def _is_msvc():
    return sysconfig.get_platform().startswith("win")


def _ext_modules():
    if not _want_extension():
        _warn("GPUFLOW_BUILD_EXT=0: not building the C++ extension gpuflow._C; "
              "the NumPy reference kernels will be used.")
        return []
    try:
        from pybind11.setup_helpers import Pybind11Extension
    except ImportError as exc:
        _warn("pybind11 is not installed (%s): not building gpuflow._C; the NumPy "
              "reference kernels will be used." % exc)
        return []
    if _is_msvc():
        compile_args, link_args = ["/O2", "/openmp"], []
    else:
        compile_args, link_args = ["-O3", "-fopenmp"], ["-fopenmp"]
        if os.environ.get("GPUFLOW_NATIVE_ARCH", "0") == "1":
            compile_args.append("-march=native")
    return [
        Pybind11Extension(
            "gpuflow._C",
            sources=CPP_SOURCES,
            include_dirs=[os.path.join(CSRC, "include"), CSRC],
            depends=CPP_HEADERS + SHARED_HEADERS,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            cxx_std=17,
        )
    ]


class OptionalBuildExt(build_ext):
    """build_ext whose failure is a warning, not an error.

    A first attempt uses the OpenMP flags; if that fails a second attempt
    builds without OpenMP (serial kernels); if that fails too the extension is
    skipped and gpuflow falls back to its NumPy reference kernels.
    """

    def run(self):
        try:
            from pybind11.setup_helpers import ParallelCompile

            jobs = os.environ.get("GPUFLOW_BUILD_JOBS")
            ParallelCompile(default=int(jobs) if jobs else 0).install()
        except Exception:  # parallel compilation is only a speed-up
            pass
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - the extension is optional
            _warn("building the C++ extension failed (%s: %s); gpuflow will use "
                  "its NumPy reference kernels." % (type(exc).__name__, exc))

    def build_extension(self, ext):
        no_omp = ("-fopenmp", "/openmp")
        attempts = [(list(ext.extra_compile_args), list(ext.extra_link_args))]
        if any(f in ext.extra_compile_args for f in no_omp):
            attempts.append(([f for f in ext.extra_compile_args if f not in no_omp],
                             [f for f in ext.extra_link_args if f not in no_omp]))
        errors = []
        for compile_args, link_args in attempts:
            ext.extra_compile_args, ext.extra_link_args = compile_args, link_args
            try:
                super().build_extension(ext)
            except Exception as exc:  # noqa: BLE001 - retried / reported below
                errors.append("%s: %s" % (type(exc).__name__, exc))
                continue
            if len(errors):
                _warn("built %s without OpenMP (%s); its kernels run on one thread."
                      % (ext.name, errors[0]))
            return
        _warn("could not build the optional extension %s (%s); gpuflow will use "
              "its NumPy reference kernels." % (ext.name, " | ".join(errors)))
        self._failed = getattr(self, "_failed", set())
        self._failed.add(ext.name)

    def copy_extensions_to_source(self):
        failed = getattr(self, "_failed", set())
        saved = self.extensions
        self.extensions = [e for e in saved if e.name not in failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = saved

    def get_outputs(self):
        failed = getattr(self, "_failed", set())
        outputs = super().get_outputs()
        if not failed:
            return outputs
        return [p for p in outputs if os.path.exists(p)]


class BuildPyWithKernels(build_py):
    """build_py that ships the CUDA sources and shared headers as package data."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable installs load the kernels from csrc/ directly
        cuda_dir = os.path.join(self.build_lib, "gpuflow", "cuda")
        include_dir = os.path.join(cuda_dir, "include")
        os.makedirs(include_dir, exist_ok=True)
        for src in CUDA_SOURCES:
            self.copy_file(src, os.path.join(cuda_dir, os.path.basename(src)))
        for src in SHARED_HEADERS:
            self.copy_file(src, os.path.join(include_dir, os.path.basename(src)))

    def get_outputs(self, include_bytecode=1):
        outputs = list(super().get_outputs(include_bytecode=include_bytecode))
        if not getattr(self, "editable_mode", False):
            cuda_dir = os.path.join(self.build_lib, "gpuflow", "cuda")
            outputs += [os.path.join(cuda_dir, os.path.basename(s)) for s in CUDA_SOURCES]
            outputs += [os.path.join(cuda_dir, "include", os.path.basename(s)) for s in SHARED_HEADERS]
        return outputs

    def get_source_files(self):
        # Makes sdists carry the kernel sources without a MANIFEST.in.
        return list(super().get_source_files()) + CUDA_SOURCES + SHARED_HEADERS + CPP_HEADERS + CPP_SOURCES


setup(
    ext_modules=_ext_modules(),
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithKernels},
)
