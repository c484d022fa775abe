// Access log: one JSON (or text) line per request, buffered per worker and written in batches
// (a full buffer or a 100 ms timer) so the request path makes no syscall for it.
// Thread contract: one instance per worker, used on its thread; the fd is shared (O_APPEND
// writes of whole batches).
#pragma once

#include <string>

#include "runtime/event_loop.h"

namespace cw::proxy {

class AccessLog {
 public:
  ~AccessLog();
  // fd < 0 disables. The fd is not owned.
  void configure(rt::EventLoop* loop, int fd, bool json);
  bool enabled() const { return fd_ >= 0; }
  bool json() const { return json_; }
  // Append one complete line (with '\n') to the returned buffer, then call commit().
  std::string& buffer() { return buf_; }
  void commit();
  void flush();

 private:
  rt::EventLoop* loop_ = nullptr;
  int fd_ = -1;
  bool json_ = true;
  std::string buf_;
  rt::TimerNode timer_;
};

}  // namespace cw::proxy
