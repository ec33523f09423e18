// Threads of gpuflow's compute-bound and large kernels: how many, and how a
// parallel region hands out work (shared by csrc/conv_direct.cpp and
// csrc/optim.cpp).
#ifndef GPUFLOW_GF_THREADS_H_
#define GPUFLOW_GF_THREADS_H_

#include <atomic>
#ifdef __linux__
#include <sched.h>
#endif
#include <utility>

#include "gf_pyutil.h"

namespace gf {

// Threads of the compute-bound kernels (the direct convolution and GEMM) and
// of the optimizer updates of large weights, separate from the memory-bound
// kernels' setting: as many as BLAS uses (the Python loader sets it from the
// BLAS thread count).
inline std::atomic<int>& compute_threads_setting() {
  static std::atomic<int> n{1};
  return n;
}

inline int compute_threads() {
#ifdef _OPENMP
  return compute_threads_setting().load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

// Work is handed out dynamically in small chunks: a worker that gets its CPU
// late (another process, or BLAS threads still spinning after a GEMM) takes
// fewer chunks instead of holding up the whole kernel.
//
// Keeps the workers of a parallel region off the master's CPU.  Linux wakes a
// sleeping thread on the CPU of the thread that wakes it when that CPU looks
// cache-hot ("wake affine"): the OpenMP worker, asleep between two kernels
// (OMP_WAIT_POLICY=PASSIVE, see gpuflow/kernels/native.py), then often shares
// the master's CPU for the whole region and the kernel runs at half speed
// (measured on the 2-core CI machine: 7.5 instead of 3.4 ms for the notes'
// second convolution).  A worker that finds itself on the master's CPU
// narrows its own affinity to the other CPUs the process may use, which
// moves it at once; the process's own mask is read once and never changed.
class Spread {
 public:
  Spread() {
#ifdef __linux__
    master_ = sched_getcpu();
    ok_ = master_ >= 0 && master_ < CPU_SETSIZE && allowed().second > 1;
#endif
  }
  void worker() const {
#ifdef __linux__
    if (!ok_ || sched_getcpu() != master_) return;
    cpu_set_t set = allowed().first;
    CPU_CLR(master_, &set);
    sched_setaffinity(0, sizeof(set), &set);
#endif
  }

 private:
#ifdef __linux__
  // The affinity mask of the process when first asked, and its CPU count.
  static const std::pair<cpu_set_t, int>& allowed() {
    static const std::pair<cpu_set_t, int> mask = [] {
      cpu_set_t set;
      CPU_ZERO(&set);
      if (sched_getaffinity(0, sizeof(set), &set) != 0) return std::make_pair(set, 0);
      return std::make_pair(set, CPU_COUNT(&set));
    }();
    return mask;
  }
  int master_ = -1;
  bool ok_ = false;
#endif
};

// Runs f(item) for items [0, n) on the compute threads (dynamically, workers
// kept off the master's CPU), or inline when the work is small.
template <typename F>
inline void parallel_items(index_t n, index_t work, F f) {
  const int nt = (work >= (index_t(1) << 20) && n > 1) ? compute_threads() : 1;
  if (nt <= 1) {
    for (index_t i = 0; i < n; ++i) f(i);
    return;
  }
  const Spread spread;
#pragma omp parallel num_threads(nt)
  {
    if (thread_id() > 0) spread.worker();
#pragma omp for schedule(dynamic, 1)
    for (index_t i = 0; i < n; ++i) f(i);
  }
}

}  // namespace gf

#endif  // GPUFLOW_GF_THREADS_H_
