// Byte streams: what everything above runtime/ reads and writes through (TCP today, TLS next).
// A stream supplies non-blocking steps (read_some, write_some); the awaiters here (a deadline
// timer each, no allocation, resumed straight from the loop) are shared by every kind.
// Thread contract: a stream belongs to the loop that created it; only that thread touches it.
#pragma once

#include <sys/uio.h>

#include <coroutine>
#include <cstddef>
#include <string_view>
#include <system_error>

#include "base/result.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"

namespace cw::rt {

// Absolute deadline in loop milliseconds (EventLoop::now_ms()); kNoDeadline waits forever.
constexpr int64_t kNoDeadline = 0;

// One non-blocking step of a read or write.
struct IoStep {
  size_t n = 0;         // bytes moved; a read with n == 0, !again and no err is EOF
  bool again = false;   // would block: wait for the socket's next readiness edge
  std::error_code err;  // the stream failed
};

class Stream;

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
  bool dead() const { return !st_ || st_->dead; }

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
  ReadAwaiter(Stream& s, char* buf, size_t len, int64_t deadline);
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
  // Bytes read; 0 means the peer closed its side.
  Result<size_t> await_resume();

 private:
  bool try_read();  // true when finished (data, EOF or error)
  static void ready(IoWaiter* w);
  Stream& s_;
  char* buf_;
  size_t len_;
  size_t got_ = 0;
};

// Waits until the stream is readable (or closed) without reading: idle connections hold no
// buffer while they wait.
class ReadableAwaiter : public IoAwaiterBase {
 public:
  ReadableAwaiter(Stream& s, int64_t deadline);
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
  Result<void> await_resume();

 private:
  static void ready(IoWaiter* w);
  Stream& s_;
};

// Writes every byte of up to kMaxIov buffers, resuming only when all are written or on error.
class WriteAwaiter : public IoAwaiterBase {
 public:
  static constexpr int kMaxIov = 8;
  WriteAwaiter(Stream& s, const iovec* iov, int n, int64_t deadline);
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->writer, h); }
  Result<void> await_resume();

 private:
  bool try_write();  // true when finished (all written or error)
  static void ready(IoWaiter* w);
  Stream& s_;
  iovec iov_[kMaxIov];
  int first_ = 0;
  int n_;
};

}  // namespace detail

// A connected byte stream on one socket of the loop. Implementations supply the non-blocking
// steps; reads wait only for readability and writes only for writability (a TLS stream keeps
// its own handshake/renegotiation output buffered so that holds).
class Stream {
 public:
  virtual ~Stream() = default;

  // The socket underneath (readiness cache, loop); null state when closed. Plain members, not
  // virtual: every awaiter reads them. A stream layered on another (TLS on TCP) keeps them
  // equal to the inner socket's.
  IoState* io_state() const { return st_; }
  EventLoop& loop() const { return *loop_; }
  virtual const SocketAddress& peer() const = 0;

  // Non-blocking steps. write_some moves bytes from the front of iov[0..n).
  virtual IoStep read_some(char* buf, size_t len) = 0;
  virtual IoStep write_some(const iovec* iov, int n) = 0;
  // Bytes the stream already holds that the socket's readiness does not show (TLS records
  // decrypted ahead). Plain TCP never has any.
  virtual bool has_buffered_input() const { return false; }

  // A pooled connection is reusable only if nothing arrived and it did not close.
  virtual bool idle_and_open() = 0;
  virtual void shutdown_write() = 0;
  // Closes now. Must not be called while a coroutine waits on this stream.
  virtual void close() = 0;
  // Close with RST instead of FIN: for "reset" faults and broken peers.
  virtual void reset() = 0;

  bool is_open() const { return io_state() != nullptr; }
  // Wakes every waiter on both directions (they see EOF or an error) without closing: used to
  // end idle connections on drain and both halves of a tunnel.
  void shutdown_both();
  // Readiness cache: the peer may have sent data or closed.
  bool maybe_readable() const;
  bool peer_closed() const;

  // co_await: Result<size_t>, 0 = EOF.
  detail::ReadAwaiter read(char* buf, size_t len, int64_t deadline = kNoDeadline) {
    return {*this, buf, len, deadline};
  }
  detail::ReadableAwaiter wait_readable(int64_t deadline = kNoDeadline) {
    return {*this, deadline};
  }
  detail::WriteAwaiter write(std::string_view data, int64_t deadline = kNoDeadline) {
    iovec v{const_cast<char*>(data.data()), data.size()};
    return {*this, &v, 1, deadline};
  }
  detail::WriteAwaiter writev(const iovec* iov, int n, int64_t deadline = kNoDeadline) {
    return {*this, iov, n, deadline};
  }

 protected:
  Stream() = default;
  Stream(EventLoop* loop, IoState* st) : loop_(loop), st_(st) {}
  Stream(const Stream&) = default;
  Stream& operator=(const Stream&) = default;

  EventLoop* loop_ = nullptr;
  IoState* st_ = nullptr;
};

}  // namespace cw::rt
