// gpuflow._C: pybind11 module of the CPU kernels.  Each kernel validates its
// inputs (see gf_pyutil.h) and releases the GIL while it computes.
#include <string>

#include "gf_pyutil.h"

namespace gf {
void register_conv(py::module_& m);
void register_conv_direct(py::module_& m);
void register_bias_act(py::module_& m);
void register_pool(py::module_& m);
void register_xent(py::module_& m);
void register_norm(py::module_& m);
void register_rnn(py::module_& m);
void register_optim(py::module_& m);

namespace {
void set_num_threads(int n) {
  if (n < 1) {
    value_error("set_num_threads", "the number of threads must be >= 1, got " +
                                         std::to_string(n));
  }
  num_threads_setting().store(n, std::memory_order_relaxed);
}

int get_num_threads() { return num_threads(); }
}  // namespace
}  // namespace gf

PYBIND11_MODULE(_C, m) {
  m.doc() =
      "gpuflow native CPU kernels (float32/float64, NHWC, OpenMP). Use the "
      "wrappers in gpuflow.kernels; these functions expect C-contiguous "
      "arrays and explicit geometry.";
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
  gf::register_conv(m);
  gf::register_conv_direct(m);
  gf::register_bias_act(m);
  gf::register_pool(m);
  gf::register_xent(m);
  gf::register_norm(m);
  gf::register_rnn(m);
  gf::register_optim(m);
  m.def("set_num_threads", &gf::set_num_threads, py::arg("n"),
        "Threads of the OpenMP kernels (default 1; ignored without OpenMP).");
  m.def("get_num_threads", &gf::get_num_threads,
        "Threads the OpenMP kernels use (1 without OpenMP).");
}
