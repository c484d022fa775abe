// Random hex ids. Thread contract: see random.h.
#include "base/random.h"

#include <array>
#include <cstring>

namespace cw {

namespace {

// Each byte's two hex digits, low nibble first (the digit order random_hex has always had).
constexpr std::array<char, 512> make_pairs() {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (int b = 0; b < 256; ++b) {
    t[size_t(2 * b)] = kHex[b & 15];
    t[size_t(2 * b + 1)] = kHex[b >> 4];
  }
  return t;
}
constexpr std::array<char, 512> kPairs = make_pairs();

}  // namespace

void random_hex(SplitMix64& rng, char* out, size_t n) {
  // Runs on every request (request id, trace and span ids): two digits per table load.
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t r = rng.next();
    for (size_t k = 0; k < 16; k += 2, r >>= 8)
      std::memcpy(out + i + k, &kPairs[(r & 0xff) * 2], 2);
  }
  if (i < n) {
    const uint64_t r = rng.next();
    for (size_t k = 0; i + k < n; ++k) out[i + k] = kPairs[((r >> (4 * k)) & 15) * 2];
  }
}

}  // namespace cw
