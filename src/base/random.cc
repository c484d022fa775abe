// Random hex ids. Thread contract: see random.h.
#include "base/random.h"

namespace cw {

void random_hex(SplitMix64& rng, char* out, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i += 16) {
    const uint64_t r = rng.next();
    const size_t m = n - i < 16 ? n - i : 16;
    for (size_t k = 0; k < m; ++k) out[i + k] = kHex[(r >> (4 * k)) & 15];
  }
}

}  // namespace cw
