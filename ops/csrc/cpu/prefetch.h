// Software prefetch of the rows a kernel will read next. The backward walks a head's queries at a
// stride of M*D values (1 KiB for 8 heads of 32 float channels), which the hardware prefetchers,
// which follow sequential streams inside a page, do not anticipate.
#pragma once

#include <cstdint>

namespace detr_ops {

// Asks for the 64-byte cache lines covering [p, p + bytes) to be loaded (a hint; no effect where
// unsupported).
inline void prefetch(const void* p, int64_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  for (uintptr_t line = begin & ~uintptr_t(63); line < begin + bytes; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace detr_ops
