// Channel loops of the CPU kernels, vectorised with at::vec::Vectorized of the capability this
// translation unit is compiled for (include only from ms_deform_attn_cpu_kernels.h). Values are
// read in their dtype and widened to the accumulation type acc_t (float for float16/bfloat16).
#pragma once

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <type_traits>

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

using at::vec::Vectorized;

// Vectorized<acc_t>::size() consecutive values, widened to the accumulation type.
inline Vectorized<float> load_acc(const float* p) { return Vectorized<float>::loadu(p); }
inline Vectorized<double> load_acc(const double* p) { return Vectorized<double>::loadu(p); }
inline Vectorized<float> load_acc(const c10::BFloat16* p) {
  Vectorized<float> out;
  at::vec::load_fp32_from_bf16(p, out);
  return out;
}
inline Vectorized<float> load_acc(const c10::Half* p) {
  Vectorized<float> out;
  at::vec::load_fp32_from_fp16(p, out);
  return out;
}

// acc[k] += w * row[k * V, (k + 1) * V) for k < K: one corner's contribution to K vectors of
// channels.
template <int K, typename scalar_t, typename acc_t>
inline void add_row(Vectorized<acc_t>* acc, acc_t w, const scalar_t* row) {
  constexpr int64_t V = Vectorized<acc_t>::size();
  const Vectorized<acc_t> weight(w);
  for (int k = 0; k < K; ++k) {
    acc[k] = at::vec::fmadd(weight, load_acc(row + k * V), acc[k]);
  }
}

// grad_values[d] += w * go[d] for d < D, and the dot product sum_d go[d] * values[d] (one corner
// of the backward: the value-gradient scatter and the product behind the location gradient).
// Returns the dot product of the whole vectors as lanes still to be summed, and that of the
// remaining D % V channels in `tail`. K > 0: D is exactly K vectors (unrolled, tail unused).
// go_vectors: go's first K vectors, already loaded (K > 0).
template <int K, typename scalar_t, typename acc_t>
inline Vectorized<acc_t> dot_and_scatter(const acc_t* go, const Vectorized<acc_t>* go_vectors,
                                         const scalar_t* values, acc_t* grad_values, acc_t w,
                                         int64_t D, acc_t& tail) {
  using Vec = Vectorized<acc_t>;
  constexpr int64_t V = Vec::size();
  const Vec wv(w);
  Vec dot(acc_t(0));
  if constexpr (K > 0) {
    for (int k = 0; k < K; ++k) {
      dot = at::vec::fmadd(go_vectors[k], load_acc(values + k * V), dot);
      at::vec::fmadd(wv, go_vectors[k], Vec::loadu(grad_values + k * V))
          .store(grad_values + k * V);
    }
    return dot;
  }
  int64_t d = 0;
  for (; d + V <= D; d += V) {
    const Vec g = Vec::loadu(go + d);
    dot = at::vec::fmadd(g, load_acc(values + d), dot);
    at::vec::fmadd(wv, g, Vec::loadu(grad_values + d)).store(grad_values + d);
  }
  tail = 0;
  for (; d < D; ++d) {
    tail += go[d] * static_cast<acc_t>(values[d]);
    grad_values[d] += w * go[d];
  }
  return dot;
}

// Calls f(std::integral_constant<int, K>()) with K = D / V when D is 1, 2 or 4 whole vectors of
// the accumulation type, else with K = 0 (any D, with a loop and a scalar tail).
template <typename acc_t, typename F>
inline void with_channel_vectors(int64_t D, const F& f) {
  constexpr int64_t V = Vectorized<acc_t>::size();
  if (D == V) {
    f(std::integral_constant<int, 1>());
  } else if (D == 2 * V) {
    f(std::integral_constant<int, 2>());
  } else if (D == 4 * V) {
    f(std::integral_constant<int, 4>());
  } else {
    f(std::integral_constant<int, 0>());
  }
}

// sums[j] = the sum of the lanes of vectors[j], for the V = Vectorized::size() vectors (V a power
// of two; vectors is overwritten). Each round pairs the vectors up and adds the even to the odd
// lanes of each pair, which halves the vectors and keeps their order, so after log2(V) rounds
// one vector holds the V sums: 2(V - 1) shuffles and V - 1 additions instead of V reductions.
template <typename acc_t>
inline void sum_lanes(Vectorized<acc_t>* vectors, acc_t* sums) {
  constexpr int64_t V = Vectorized<acc_t>::size();
  for (int64_t count = V; count > 1; count /= 2) {
    for (int64_t j = 0; j < count / 2; ++j) {
      const auto halves = at::vec::deinterleave2(vectors[2 * j], vectors[2 * j + 1]);
      vectors[j] = halves.first + halves.second;
    }
  }
  vectors[0].store(sums);
}

// dst[d] = src[d] (widened) for d < D.
template <typename scalar_t, typename acc_t>
inline void widen(const scalar_t* src, acc_t* dst, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    dst[d] = static_cast<acc_t>(src[d]);
  }
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
