// TCP sockets on the event loop: TcpStream (the plain byte Stream), TcpListener
// (SO_REUSEPORT, one per worker) and connect(). Each socket is registered with epoll once.
// Thread contract: a socket belongs to the loop that created it; only that thread touches it.
#pragma once

#include <sys/uio.h>

#include <coroutine>
#include <cstddef>
#include <string_view>

#include "base/result.h"
#include "runtime/event_loop.h"
#include "runtime/listen_socket.h"
#include "runtime/socket_address.h"
#include "runtime/stream.h"
#include "runtime/task.h"

namespace cw::rt {

class TcpStream;

namespace detail {

class AcceptAwaiter : public IoAwaiterBase {
 public:
  AcceptAwaiter(EventLoop& loop, IoState* st) : IoAwaiterBase(loop, st, kNoDeadline) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
  Result<TcpStream> await_resume();

 private:
  bool try_accept();
  static void ready(IoWaiter* w);
  int fd_ = -1;
  SocketAddress peer_;
};

}  // namespace detail

// A TCP connection: the plain Stream. Final, so calls through a TcpStream& devirtualize.
class TcpStream final : public Stream {
 public:
  TcpStream() = default;
  TcpStream(EventLoop& loop, IoState* st, SocketAddress peer) : Stream(&loop, st), peer_(peer) {}
  // Wraps an already-connected non-blocking fd (registers it with the loop).
  static Result<TcpStream> adopt(EventLoop& loop, int fd, SocketAddress peer);
  TcpStream(TcpStream&& o) noexcept;
  TcpStream& operator=(TcpStream&& o) noexcept;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  ~TcpStream() override { close(); }

  const SocketAddress& peer() const override { return peer_; }
  int fd() const { return st_ ? st_->fd : -1; }

  IoStep read_some(char* buf, size_t len) override;
  IoStep write_some(const iovec* iov, int n) override;
  // Checks with a non-blocking MSG_PEEK only when the cache says something happened.
  bool idle_and_open() override;
  void shutdown_write() override;
  void close() override;
  void reset() override;

 private:
  SocketAddress peer_;
};

class TcpListener {
 public:
  TcpListener() = default;
  // Binds with SO_REUSEADDR + SO_REUSEPORT (one listener per worker on the same port).
  static Result<TcpListener> bind(EventLoop& loop, const SocketAddress& addr, int backlog = 4096);
  // Registers a listening socket opened elsewhere (open_listen_socket) with this loop.
  static Result<TcpListener> adopt(EventLoop& loop, OwnedFd fd);
  TcpListener(TcpListener&& o) noexcept;
  TcpListener& operator=(TcpListener&& o) noexcept;
  ~TcpListener() { close(); }

  detail::AcceptAwaiter accept() { return {*loop_, st_}; }
  SocketAddress local_address() const;
  bool is_open() const { return st_ != nullptr; }
  int fd() const { return st_ ? st_->fd : -1; }
  EventLoop& loop() const { return *loop_; }
  // The backlog was emptied outside accept() (accept_fd saw EAGAIN): the next accept() waits
  // for a new connection instead of trying (at EMFILE the kernel fails before it looks).
  void note_drained() {
    if (st_) st_->readable = false;
  }
  // Stops accepting; a coroutine blocked in accept() gets an error.
  void close();

 private:
  EventLoop* loop_ = nullptr;
  IoState* st_ = nullptr;
};

namespace detail {
// One accept4 (non-blocking, close-on-exec) on a listening socket: the fd, or -1 with errno set.
int accept_fd(int listen_fd, SocketAddress& peer);
// Wraps a freshly accepted fd as a stream (TCP_NODELAY, registered with the loop).
Result<TcpStream> adopt_accepted(EventLoop& loop, int fd, const SocketAddress& peer);
}  // namespace detail

// Connects with a timeout in ms (0 = none). Errors: connection_refused, timed_out, ...
Task<Result<TcpStream>> connect(EventLoop& loop, SocketAddress addr, int64_t timeout_ms);

// Binds a plain (non-reusable) socket to check whether addr is free, for clear start-up errors.
Result<void> probe_bind(const SocketAddress& addr);

}  // namespace cw::rt
