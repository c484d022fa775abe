// Listening socket set-up. Thread contract: see listen_socket.h.
#include "runtime/listen_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cw::rt {

OwnedFd& OwnedFd::operator=(OwnedFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void OwnedFd::reset() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Result<OwnedFd> open_listen_socket(const SocketAddress& addr, int backlog) {
  OwnedFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail_errno(errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd.get(), addr.sa(), addr.len()) != 0 || ::listen(fd.get(), backlog) != 0) {
    return fail_errno(errno);
  }
  return fd;
}

SocketAddress bound_address(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace cw::rt
