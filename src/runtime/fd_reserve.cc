// Spare descriptors. Thread contract: see fd_reserve.h.
#include "runtime/fd_reserve.h"

#include <fcntl.h>
#include <unistd.h>

namespace cw::rt {

FdReserve::FdReserve(int target) : target_(target) {
  fds_.reserve(size_t(target));
  refill();
}

FdReserve::~FdReserve() { release_all(); }

bool FdReserve::release_one() {
  if (fds_.empty()) return false;
  ::close(fds_.back());
  fds_.pop_back();
  return true;
}

void FdReserve::release_all() {
  while (release_one()) {
  }
}

int FdReserve::refill() {
  while (int(fds_.size()) < target_) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;  // still short: try again next time
    fds_.push_back(fd);
  }
  return held();
}

}  // namespace cw::rt
