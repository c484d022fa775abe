// Batched access log writes. Thread contract: see access_log.h.
#include "proxy/access_log.h"

#include <unistd.h>

namespace cw::proxy {
namespace {
constexpr size_t kFlushBytes = 32 * 1024;
constexpr int64_t kFlushMs = 100;
}  // namespace

AccessLog::~AccessLog() {
  flush();
  if (loop_) loop_->timers().cancel(timer_);
}

void AccessLog::configure(rt::EventLoop* loop, int fd, bool json) {
  flush();
  loop_ = loop;
  fd_ = fd;
  json_ = json;
}

void AccessLog::commit() {
  if (buf_.size() >= kFlushBytes) {
    flush();
  } else if (!timer_.armed()) {
    timer_.ctx = this;
    timer_.fire = [](rt::TimerNode* n) { static_cast<AccessLog*>(n->ctx)->flush(); };
    loop_->arm_timer_ms(timer_, kFlushMs);
  }
}

void AccessLog::flush() {
  if (loop_) loop_->timers().cancel(timer_);
  size_t off = 0;
  while (fd_ >= 0 && off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n <= 0) break;  // a full disk must not stop the proxy: drop the batch
    off += size_t(n);
  }
  buf_.clear();
}

}  // namespace cw::proxy
