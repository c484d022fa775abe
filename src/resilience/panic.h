// Panic mode: whether a cluster with too few fit hosts should spread over all of them.
// Thread contract: a pure function.
#pragma once

#include <cstddef>

namespace cw::resilience {

// Panic mode (Envoy): when fewer than `threshold_percent` of the hosts are fit to serve,
// spread over all of them rather than fail every request. 0 disables it.
inline bool in_panic(size_t fit, size_t total, double threshold_percent) {
  return total > 0 && threshold_percent > 0 &&
         100.0 * double(fit) < threshold_percent * double(total);
}

}  // namespace cw::resilience
