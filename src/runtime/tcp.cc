// TCP streams, listeners and connect. The stream's steps are one syscall each; readiness flags
// cached in IoState skip syscalls that would return EAGAIN (see stream.cc for the awaiters).
// Thread contract: the owning loop's thread.
#include "runtime/tcp.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cw::rt {
namespace detail {

// ---- accept ----

int accept_fd(int listen_fd, SocketAddress& peer) {
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd =
        ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      peer = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      return fd;
    }
    if (errno != EINTR && errno != ECONNABORTED) return -1;
  }
}

Result<TcpStream> adopt_accepted(EventLoop& loop, int fd, const SocketAddress& peer) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return TcpStream::adopt(loop, fd, peer);
}

bool AcceptAwaiter::try_accept() {
  fd_ = accept_fd(st_->fd, peer_);
  if (fd_ >= 0) return true;
  if (errno == EAGAIN) {
    st_->readable = false;
    return false;
  }
  // EMFILE/ENFILE/ENOBUFS: reported; the Acceptor sheds, backs off and counts (acceptor.h).
  err_ = std::error_code(errno, std::system_category());
  return true;
}

bool AcceptAwaiter::await_ready() {
  if (!st_ || st_->dead) {
    err_ = std::make_error_code(std::errc::bad_file_descriptor);
    return true;
  }
  if (st_->readable && try_accept()) return true;
  on_ready = &AcceptAwaiter::ready;
  return false;
}

void AcceptAwaiter::ready(IoWaiter* w) {
  auto* self = static_cast<AcceptAwaiter*>(w);
  if (self->try_accept()) self->complete(self->st_->reader);
}

Result<TcpStream> AcceptAwaiter::await_resume() {
  if (err_) return fail(err_);
  return adopt_accepted(loop_, fd_, peer_);
}

}  // namespace detail

// ---- TcpStream ----

Result<TcpStream> TcpStream::adopt(EventLoop& loop, int fd, SocketAddress peer) {
  IoState* st = loop.add(fd);
  if (!st) {
    int err = errno;
    ::close(fd);
    return fail_errno(err);
  }
  st->writable = true;
  return TcpStream(loop, st, peer);
}

TcpStream::TcpStream(TcpStream&& o) noexcept
    : Stream(o.loop_, std::exchange(o.st_, nullptr)), peer_(o.peer_) {}

TcpStream& TcpStream::operator=(TcpStream&& o) noexcept {
  if (this != &o) {
    close();
    loop_ = o.loop_;
    st_ = std::exchange(o.st_, nullptr);
    peer_ = o.peer_;
  }
  return *this;
}

IoStep TcpStream::read_some(char* buf, size_t len) {
  for (;;) {
    ssize_t n = ::read(st_->fd, buf, len);
    if (n > 0) {
      // A short read drained the socket: the next read waits for an edge instead of paying
      // for an EAGAIN. Not after the peer closed: no edge follows the FIN, and the next read
      // must return the EOF at once.
      if (size_t(n) < len && !st_->hup) st_->readable = false;
      return {size_t(n)};
    }
    if (n == 0) return {};
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      st_->readable = false;
      return {0, true};
    }
    return {0, false, std::error_code(errno, std::system_category())};
  }
}

IoStep TcpStream::write_some(const iovec* iov, int n) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = size_t(n);
  for (;;) {
    ssize_t w = ::sendmsg(st_->fd, &msg, MSG_NOSIGNAL);
    if (w >= 0) return {size_t(w)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      st_->writable = false;
      return {0, true};
    }
    return {0, false, std::error_code(errno, std::system_category())};
  }
}

bool TcpStream::idle_and_open() {
  if (!st_ || st_->dead || st_->hup) return false;
  if (!st_->readable) return true;
  char c;
  ssize_t n = ::recv(st_->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) {
    st_->readable = false;
    return true;
  }
  return false;  // data we did not ask for, EOF, or an error: not reusable
}

void TcpStream::shutdown_write() {
  if (st_ && !st_->dead) ::shutdown(st_->fd, SHUT_WR);
}

void TcpStream::close() {
  if (st_) {
    loop_->close(st_);
    st_ = nullptr;
  }
}

void TcpStream::reset() {
  if (st_ && !st_->dead) {
    linger lg{1, 0};
    setsockopt(st_->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close();
}

// ---- TcpListener ----

Result<TcpListener> TcpListener::bind(EventLoop& loop, const SocketAddress& addr, int backlog) {
  auto fd = open_listen_socket(addr, backlog);
  if (!fd) return fail(fd.error());
  return adopt(loop, std::move(*fd));
}

Result<TcpListener> TcpListener::adopt(EventLoop& loop, OwnedFd fd) {
  IoState* st = loop.add(fd.get());
  if (!st) return fail_errno(errno);  // fd closes with `fd`
  fd.release();
  TcpListener l;
  l.loop_ = &loop;
  l.st_ = st;
  return l;
}

TcpListener::TcpListener(TcpListener&& o) noexcept
    : loop_(o.loop_), st_(std::exchange(o.st_, nullptr)) {}

TcpListener& TcpListener::operator=(TcpListener&& o) noexcept {
  if (this != &o) {
    close();
    loop_ = o.loop_;
    st_ = std::exchange(o.st_, nullptr);
  }
  return *this;
}

SocketAddress TcpListener::local_address() const { return bound_address(fd()); }

void TcpListener::close() {
  if (st_) {
    loop_->close(st_);
    st_ = nullptr;
  }
}

// ---- connect ----

namespace {
// Waits for a connecting socket to become writable.
class ConnectAwaiter : public detail::IoAwaiterBase {
 public:
  ConnectAwaiter(EventLoop& loop, IoState* st, int64_t deadline)
      : IoAwaiterBase(loop, st, deadline) {}
  bool await_ready() {
    if (st_->writable || st_->hup) return true;
    on_ready = [](IoWaiter* w) {
      auto* self = static_cast<ConnectAwaiter*>(w);
      self->complete(self->st_->writer);
    };
    return false;
  }
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->writer, h); }
  std::error_code await_resume() { return err_; }
};
}  // namespace

Task<Result<TcpStream>> connect(EventLoop& loop, SocketAddress addr, int64_t timeout_ms) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return fail_errno(errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, addr.sa(), addr.len());
  if (rc != 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    co_return fail_errno(err);
  }
  IoState* st = loop.add(fd);
  if (!st) {
    int err = errno;
    ::close(fd);
    co_return fail_errno(err);
  }
  TcpStream stream(loop, st, addr);
  if (rc != 0) {
    int64_t deadline = timeout_ms > 0 ? loop.now_ms() + timeout_ms : kNoDeadline;
    std::error_code ec = co_await ConnectAwaiter(loop, st, deadline);
    if (ec) co_return fail(ec);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) co_return fail_errno(soerr);
  }
  st->writable = true;
  co_return std::move(stream);
}

Result<void> probe_bind(const SocketAddress& addr) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = ::bind(fd, addr.sa(), addr.len());
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail_errno(err);
  return {};
}

}  // namespace cw::rt
