// Test helper: runs the process out of descriptors (a lowered RLIMIT_NOFILE filled with
// /dev/null), then gives everything back. Thread contract: test thread; one at a time.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace cw::testing {

class FdExhaustion {
 public:
  // Lowers the soft limit to `soft` (when lower than today's) and fills every free slot.
  explicit FdExhaustion(rlim_t soft = 512) {
    getrlimit(RLIMIT_NOFILE, &old_);
    rlimit lowered = old_;
    if (lowered.rlim_cur > soft) lowered.rlim_cur = soft;
    setrlimit(RLIMIT_NOFILE, &lowered);
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fillers_.push_back(fd);
    }
  }
  ~FdExhaustion() { restore(); }
  FdExhaustion(const FdExhaustion&) = delete;
  FdExhaustion& operator=(const FdExhaustion&) = delete;

  void restore() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    setrlimit(RLIMIT_NOFILE, &old_);
  }
  size_t filled() const { return fillers_.size(); }

 private:
  rlimit old_{};
  std::vector<int> fillers_;
};

}  // namespace cw::testing
