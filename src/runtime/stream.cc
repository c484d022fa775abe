// Stream awaiters. The fast path of every operation is one step (one syscall for TCP) and no
// suspension; readiness cached in IoState skips steps that would only say "again".
// Thread contract: the owning loop's thread.
#include "runtime/stream.h"

#include <sys/socket.h>

namespace cw::rt {

void Stream::shutdown_both() {
  if (IoState* st = io_state(); st && !st->dead) ::shutdown(st->fd, SHUT_RDWR);
}

bool Stream::maybe_readable() const {
  IoState* st = io_state();
  return st && (st->readable || st->hup || has_buffered_input());
}

bool Stream::peer_closed() const {
  IoState* st = io_state();
  return st && st->hup;
}

namespace detail {

void IoAwaiterBase::suspend_on(IoWaiter*& slot, std::coroutine_handle<> h) {
  h_ = h;
  slot = this;
  slot_ = &slot;
  on_cancel = [](IoWaiter* w) {
    auto* self = static_cast<IoAwaiterBase*>(w);
    self->loop_.timers().cancel(self->timer_);
    self->err_ = std::make_error_code(std::errc::operation_canceled);
    self->loop_.defer(self->h_);
  };
  if (deadline_ != kNoDeadline) {
    timer_.ctx = this;
    timer_.fire = [](TimerNode* n) {
      auto* self = static_cast<IoAwaiterBase*>(n->ctx);
      *self->slot_ = nullptr;
      self->err_ = std::make_error_code(std::errc::timed_out);
      self->h_.resume();
    };
    loop_.timers().arm(timer_, deadline_);
  }
}

void IoAwaiterBase::complete(IoWaiter*& slot) {
  slot = nullptr;
  loop_.timers().cancel(timer_);
  h_.resume();
}

// ---- read ----

ReadAwaiter::ReadAwaiter(Stream& s, char* buf, size_t len, int64_t deadline)
    : IoAwaiterBase(s.loop(), s.io_state(), deadline), s_(s), buf_(buf), len_(len) {}

bool ReadAwaiter::try_read() {
  IoStep r = s_.read_some(buf_, len_);
  if (r.again) return false;
  err_ = r.err;
  got_ = r.n;
  return true;
}

bool ReadAwaiter::await_ready() {
  if (dead()) {
    err_ = std::make_error_code(std::errc::bad_file_descriptor);
    return true;
  }
  if ((st_->readable || st_->hup || s_.has_buffered_input()) && try_read()) return true;
  if (expired()) {
    err_ = std::make_error_code(std::errc::timed_out);
    return true;
  }
  on_ready = &ReadAwaiter::ready;
  return false;
}

void ReadAwaiter::ready(IoWaiter* w) {
  auto* self = static_cast<ReadAwaiter*>(w);
  if (self->try_read()) self->complete(self->st_->reader);
}

Result<size_t> ReadAwaiter::await_resume() {
  if (err_) return fail(err_);
  return got_;
}

// ---- readable ----

ReadableAwaiter::ReadableAwaiter(Stream& s, int64_t deadline)
    : IoAwaiterBase(s.loop(), s.io_state(), deadline), s_(s) {}

bool ReadableAwaiter::await_ready() {
  if (dead()) {
    err_ = std::make_error_code(std::errc::bad_file_descriptor);
    return true;
  }
  if (st_->readable || st_->hup || s_.has_buffered_input()) return true;
  if (expired()) {
    err_ = std::make_error_code(std::errc::timed_out);
    return true;
  }
  on_ready = &ReadableAwaiter::ready;
  return false;
}

void ReadableAwaiter::ready(IoWaiter* w) {
  auto* self = static_cast<ReadableAwaiter*>(w);
  self->complete(self->st_->reader);
}

Result<void> ReadableAwaiter::await_resume() {
  if (err_) return fail(err_);
  return {};
}

// ---- write ----

WriteAwaiter::WriteAwaiter(Stream& s, const iovec* iov, int n, int64_t deadline)
    : IoAwaiterBase(s.loop(), s.io_state(), deadline), s_(s), n_(n > kMaxIov ? kMaxIov : n) {
  for (int i = 0; i < n_; ++i) iov_[i] = iov[i];
}

bool WriteAwaiter::try_write() {
  while (first_ < n_) {
    if (iov_[first_].iov_len == 0) {
      ++first_;
      continue;
    }
    IoStep r = s_.write_some(iov_ + first_, n_ - first_);
    if (r.again) return false;
    if (r.err) {
      err_ = r.err;
      return true;
    }
    size_t left = r.n;
    while (first_ < n_ && left >= iov_[first_].iov_len) {
      left -= iov_[first_].iov_len;
      ++first_;
    }
    if (first_ < n_) {
      iov_[first_].iov_base = static_cast<char*>(iov_[first_].iov_base) + left;
      iov_[first_].iov_len -= left;
    }
  }
  return true;
}

bool WriteAwaiter::await_ready() {
  if (dead()) {
    err_ = std::make_error_code(std::errc::bad_file_descriptor);
    return true;
  }
  if (try_write()) return true;
  if (expired()) {
    err_ = std::make_error_code(std::errc::timed_out);
    return true;
  }
  on_ready = &WriteAwaiter::ready;
  return false;
}

void WriteAwaiter::ready(IoWaiter* w) {
  auto* self = static_cast<WriteAwaiter*>(w);
  if (self->try_write()) self->complete(self->st_->writer);
}

Result<void> WriteAwaiter::await_resume() {
  if (err_) return fail(err_);
  return {};
}

}  // namespace detail
}  // namespace cw::rt
