// The epoll loop: wait, refresh the clock, dispatch readiness to waiters, fire timers, run
// posted control messages, free retired socket states. Thread contract: see event_loop.h.
#include "runtime/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/clock.h"

namespace cw::rt {
namespace {
thread_local EventLoop* t_current = nullptr;
constexpr int kMaxEvents = 256;
}  // namespace

EventLoop* EventLoop::current() { return t_current; }

const Clock& monotonic_clock() {
  static const MonotonicClock clock;
  return clock;
}

EventLoop::EventLoop(const Clock* clock)
    : clock_(clock ? clock : &monotonic_clock()),
      now_ns_(clock_->now_ns()),
      timers_(now_ns_ / 1'000'000) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) {
    perror("causeway: epoll/eventfd");
    std::abort();  // start-up resource failure: nothing sensible to do
  }
  wake_state_.fd = wakefd_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = &wake_state_;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

EventLoop::~EventLoop() {
  free_retired();
  for (IoState* s : free_states_) delete s;
  ::close(wakefd_);
  ::close(epfd_);
}

void EventLoop::refresh_now() { now_ns_ = clock_->now_ns(); }

IoState* EventLoop::add(int fd) {
  IoState* st;
  if (!free_states_.empty()) {
    st = free_states_.back();
    free_states_.pop_back();
    *st = IoState{};
  } else {
    st = new IoState{};
  }
  st->fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = st;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    free_states_.push_back(st);
    return nullptr;
  }
  return st;
}

void EventLoop::close(IoState* st) {
  if (!st || st->dead) return;
  st->dead = true;
  if (IoWaiter* w = st->reader) {
    st->reader = nullptr;
    w->on_cancel(w);
  }
  if (IoWaiter* w = st->writer) {
    st->writer = nullptr;
    w->on_cancel(w);
  }
  ::close(st->fd);  // also removes it from the epoll set (we never dup sockets)
  st->fd = -1;
  retired_.push_back(st);
}

void EventLoop::free_retired() {
  for (IoState* s : retired_) {
    if (free_states_.size() < 4096) {
      free_states_.push_back(s);
    } else {
      delete s;
    }
  }
  retired_.clear();
}

void EventLoop::stop() {
  stop_.store(true, std::memory_order_relaxed);
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  if (!wake_pending_.exchange(true)) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
  }
}

void EventLoop::drain_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(post_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::run_deferred() {
  EventLoop* prev = t_current;
  t_current = this;
  for (int round = 0; round < 1000 && (!deferred_.empty() || !posted_.empty()); ++round) {
    drain_posted();
    auto batch = std::move(deferred_);
    deferred_.clear();
    for (auto h : batch) h.resume();
  }
  free_retired();
  t_current = prev;
}

void EventLoop::iterate(int timeout_ms) {
  epoll_event events[kMaxEvents];
  int timeout = deferred_.empty() ? timeout_ms : 0;
  int n = epoll_wait(epfd_, events, kMaxEvents, timeout);
  refresh_now();
  ++iterations_;
  for (int i = 0; i < n; ++i) {
    auto* st = static_cast<IoState*>(events[i].data.ptr);
    if (st == &wake_state_) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(wakefd_, &v, sizeof v);
      wake_pending_.store(false);
      drain_posted();
      continue;
    }
    if (st->dead) continue;
    uint32_t e = events[i].events;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st->hup = true;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      st->readable = true;
      if (IoWaiter* w = st->reader) w->on_ready(w);
    }
    if (st->dead) continue;  // the reader may have closed it
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      st->writable = true;
      if (IoWaiter* w = st->writer) w->on_ready(w);
    }
  }
  timers_.advance(now_ms());
  while (!deferred_.empty()) {
    auto batch = std::move(deferred_);
    deferred_.clear();
    for (auto h : batch) h.resume();
  }
  free_retired();
}

void EventLoop::run_once(int timeout_ms) {
  EventLoop* prev = t_current;
  t_current = this;
  if (timeout_ms < 0) timeout_ms = timers_.next_timeout_ms();
  iterate(timeout_ms);
  drain_posted();
  t_current = prev;
}

void EventLoop::run() {
  t_current = this;
  while (!stop_.load(std::memory_order_relaxed)) iterate(timers_.next_timeout_ms());
  drain_posted();
  t_current = nullptr;
}

}  // namespace cw::rt
