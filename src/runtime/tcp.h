// TCP sockets on the event loop: TcpStream (read/write awaiters with deadlines), TcpListener
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
#include "runtime/task.h"

namespace cw::rt {

// Absolute deadline in loop milliseconds (EventLoop::now_ms()); kNoDeadline waits forever.
constexpr int64_t kNoDeadline = 0;

class TcpStream;

namespace detail {

// Shared machinery of the socket awaiters: waiter registration and the deadline timer.
class IoAwaiterBase : public IoWaiter {
 protected:
  IoAwaiterBase(EventLoop& loop, IoState* st, int64_t deadline)
      : loop_(loop), st_(st), deadline_(deadline) {}
  ~IoAwaiterBase() { loop_.timers().cancel(timer_); }
  void suspend_on(IoWaiter*& slot, std::coroutine_handle<> h);
  void complete(IoWaiter*& slot);  // unregisters, cancels the timer, resumes
  bool expired() const { return deadline_ != kNoDeadline && deadline_ <= loop_.now_ms(); }

  EventLoop& loop_;
  IoState* st_;
  int64_t deadline_;
  std::coroutine_handle<> h_;
  IoWaiter** slot_ = nullptr;
  TimerNode timer_;
  std::error_code err_;
};

class ReadAwaiter : public IoAwaiterBase {
 public:
  ReadAwaiter(EventLoop& loop, IoState* st, char* buf, size_t len, int64_t deadline)
      : IoAwaiterBase(loop, st, deadline), buf_(buf), len_(len) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
  // Bytes read; 0 means the peer closed its side.
  Result<size_t> await_resume();

 private:
  bool try_read();  // true when finished (data, EOF or error)
  static void ready(IoWaiter* w);
  char* buf_;
  size_t len_;
  size_t got_ = 0;
};

// Waits until the socket is readable (or closed) without reading: idle connections hold no
// buffer while they wait.
class ReadableAwaiter : public IoAwaiterBase {
 public:
  ReadableAwaiter(EventLoop& loop, IoState* st, int64_t deadline)
      : IoAwaiterBase(loop, st, deadline) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
  Result<void> await_resume();

 private:
  static void ready(IoWaiter* w);
};

// Writes every byte of up to kMaxIov buffers, resuming only when all are written or on error.
class WriteAwaiter : public IoAwaiterBase {
 public:
  static constexpr int kMaxIov = 8;
  WriteAwaiter(EventLoop& loop, IoState* st, const iovec* iov, int n, int64_t deadline);
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->writer, h); }
  Result<void> await_resume();

 private:
  bool try_write();  // true when finished (all written or error)
  static void ready(IoWaiter* w);
  iovec iov_[kMaxIov];
  int first_ = 0;
  int n_;
};

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

class TcpStream {
 public:
  TcpStream() = default;
  TcpStream(EventLoop& loop, IoState* st, SocketAddress peer)
      : loop_(&loop), st_(st), peer_(peer) {}
  // Wraps an already-connected non-blocking fd (registers it with the loop).
  static Result<TcpStream> adopt(EventLoop& loop, int fd, SocketAddress peer);
  TcpStream(TcpStream&& o) noexcept;
  TcpStream& operator=(TcpStream&& o) noexcept;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  ~TcpStream() { close(); }

  bool is_open() const { return st_ != nullptr; }
  int fd() const { return st_ ? st_->fd : -1; }
  EventLoop& loop() const { return *loop_; }
  // The backlog was emptied outside accept() (accept_fd saw EAGAIN): the next accept() waits
  // for a new connection instead of trying (at EMFILE the kernel fails before it looks).
  void note_drained() {
    if (st_) st_->readable = false;
  }
  const SocketAddress& peer() const { return peer_; }

  // co_await: Result<size_t>, 0 = EOF.
  detail::ReadAwaiter read(char* buf, size_t len, int64_t deadline = kNoDeadline) {
    return {*loop_, st_, buf, len, deadline};
  }
  detail::ReadableAwaiter wait_readable(int64_t deadline = kNoDeadline) {
    return {*loop_, st_, deadline};
  }
  detail::WriteAwaiter write(std::string_view data, int64_t deadline = kNoDeadline) {
    iovec v{const_cast<char*>(data.data()), data.size()};
    return {*loop_, st_, &v, 1, deadline};
  }
  detail::WriteAwaiter writev(const iovec* iov, int n, int64_t deadline = kNoDeadline) {
    return {*loop_, st_, iov, n, deadline};
  }

  // Readiness cache: the peer may have sent data or closed (used to spot stale pooled
  // connections without a syscall).
  bool maybe_readable() const { return st_ && (st_->readable || st_->hup); }
  bool peer_closed() const { return st_ && st_->hup; }
  // A pooled connection is reusable only if nothing arrived and it did not close; checks with
  // a non-blocking MSG_PEEK when the cache says something happened.
  bool idle_and_open();

  void shutdown_write();
  // Closes now. Must not be called while a coroutine waits on this stream.
  void close();
  // Close with RST instead of FIN (SO_LINGER 0): for "reset" faults and broken peers.
  void reset();

 private:
  EventLoop* loop_ = nullptr;
  IoState* st_ = nullptr;
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
