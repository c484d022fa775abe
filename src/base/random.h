// Fast per-thread randomness for ids, load balancing and fault draws: splitmix64 (one add and
// three multiply-xorshifts per draw; any seed, even 0, gives well-mixed output). Not for secrets.
// Thread contract: a generator belongs to one thread (each worker owns its own); no locking.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cw {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), from the top 53 bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

// Fills out[0..n) with random lowercase hex digits (16 per draw).
void random_hex(SplitMix64& rng, char* out, size_t n);

}  // namespace cw
