// Listening sockets as plain descriptors: opened (socket, bind, listen) on one thread and
// registered with a loop on another, so the control thread can open every socket a reload needs
// before any worker changes. OwnedFd closes what nobody took.
// Thread contract: plain values; an OwnedFd is used by one thread at a time.
#pragma once

#include <utility>

#include "base/result.h"
#include "runtime/socket_address.h"

namespace cw::rt {

// A descriptor closed on destruction unless released.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

// socket + SO_REUSEADDR + SO_REUSEPORT (one socket per worker on the same port) + bind + listen,
// non-blocking and close-on-exec.
Result<OwnedFd> open_listen_socket(const SocketAddress& addr, int backlog = 4096);

// The address a socket is bound to (port 0 resolved); an empty address on error.
SocketAddress bound_address(int fd);

}  // namespace cw::rt
