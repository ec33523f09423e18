// Which SIMD variant a family of kernels runs: the widest the CPU reports,
// or a narrower one a test asks for (shared by csrc/optim.cpp and
// csrc/conv_direct.cpp, which each keep one IsaChoice).
#ifndef GPUFLOW_GF_ISA_H_
#define GPUFLOW_GF_ISA_H_

#include <string>

#include "gf_pyutil.h"

namespace gf {

// kBase: the family's fallback (scalar loops, or none at all).
enum class Isa { kBase, kAvx2, kAvx512 };

// The widest of AVX-512F and AVX2 (with FMA when `avx2_needs_fma`) this CPU
// reports; kBase when `simd_built` is false (a build without the variants).
inline Isa cpu_isa(bool simd_built, bool avx2_needs_fma) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (simd_built) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
    if (__builtin_cpu_supports("avx2") && (!avx2_needs_fma || __builtin_cpu_supports("fma"))) {
      return Isa::kAvx2;
    }
  }
#else
  (void)simd_built;
  (void)avx2_needs_fma;
#endif
  return Isa::kBase;
}

class IsaChoice {
 public:
  // best: what cpu_isa() found; base_name: kBase's name ('scalar', 'none');
  // base_selectable: whether set() may choose kBase.
  IsaChoice(Isa best, const char* base_name, bool base_selectable)
      : best_(best), now_(best), base_name_(base_name), base_selectable_(base_selectable) {}

  Isa get() const { return now_; }
  std::string name() const { return name_of(now_); }

  // Tests: 'auto' (the best), or a variant's name no wider than the best;
  // returns the name now in use.  `setter` names the Python function.
  std::string set(const char* setter, const std::string& name) {
    Isa want;
    if (name == "auto") {
      want = best_;
    } else if (name == "avx512") {
      want = Isa::kAvx512;
    } else if (name == "avx2") {
      want = Isa::kAvx2;
    } else if (base_selectable_ && name == base_name_) {
      want = Isa::kBase;
    } else {
      value_error(setter, "expected 'auto', " + (base_selectable_ ? "'" + base_name_ + "', " : std::string()) +
                              "'avx2' or 'avx512', got '" + name + "'");
    }
    if (static_cast<int>(want) > static_cast<int>(best_)) {
      value_error(setter, "this CPU (or build) supports at most '" + name_of(best_) + "', not '" + name + "'");
    }
    now_ = want;
    return name_of(want);
  }

 private:
  std::string name_of(Isa isa) const {
    return isa == Isa::kAvx512 ? "avx512" : isa == Isa::kAvx2 ? "avx2" : base_name_;
  }
  Isa best_, now_;
  std::string base_name_;
  bool base_selectable_;
};

}  // namespace gf

#endif  // GPUFLOW_GF_ISA_H_
