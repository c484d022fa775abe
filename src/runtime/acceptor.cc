// The accept loop and its descriptor-exhaustion handling. Thread contract: see acceptor.h.
#include "runtime/acceptor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace cw::rt {

struct Acceptor::State {
  State(TcpListener l, FdReserve& r, AcceptCounters& c, Handler h, AcceptOptions o)
      : loop(l.loop()),
        listener(std::move(l)),
        reserve(&r),
        counters(&c),
        handler(std::move(h)),
        options(std::move(o)) {}
  ~State() { loop.timers().cancel(backoff_timer); }

  EventLoop& loop;
  TcpListener listener;
  FdReserve* reserve;
  AcceptCounters* counters;
  Handler handler;
  AcceptOptions options;
  bool closed = false;
  TimerNode backoff_timer;
  std::coroutine_handle<> backing_off;  // the loop coroutine while it sleeps
};

namespace {

using State = Acceptor::State;

// Sleeps on the state's timer; close() cuts the sleep short.
class BackoffAwaiter {
 public:
  BackoffAwaiter(State& st, int64_t ms) : st_(st), ms_(ms) {}
  bool await_ready() const noexcept { return st_.closed; }
  void await_suspend(std::coroutine_handle<> h) {
    st_.backing_off = h;
    st_.backoff_timer.ctx = &st_;
    st_.backoff_timer.fire = [](TimerNode* n) {
      auto* st = static_cast<State*>(n->ctx);
      std::exchange(st->backing_off, {}).resume();
    };
    st_.loop.arm_timer_ms(st_.backoff_timer, ms_);
  }
  void await_resume() const noexcept {}

 private:
  State& st_;
  int64_t ms_;
};

// Out of descriptors: free a spare, take the next pending connection with it and close it (or
// hand it over), repeat while there are pending connections and spares. True when the backlog
// was emptied (the next accept waits for a new connection, so there is nothing to spin on).
bool use_reserve(State& st) {
  const bool serve = st.options.on_exhausted == AcceptOptions::OnExhausted::kServe;
  for (int i = 0; i < st.options.max_per_round && !st.closed; ++i) {
    if (!st.reserve->release_one()) break;  // no spare left: only the back-off helps
    SocketAddress peer;
    int fd = detail::accept_fd(st.listener.fd(), peer);
    if (fd < 0) {
      const bool drained = errno == EAGAIN;
      st.reserve->refill();
      if (drained) st.listener.note_drained();
      return drained;  // else the freed slot was taken meanwhile (another thread)
    }
    if (serve) {
      // The slot now belongs to the connection; the reserve refills as descriptors free up
      // (sooner when the hook closes something).
      if (st.options.on_spare_hook) st.options.on_spare_hook();
      auto s = detail::adopt_accepted(st.loop, fd, peer);
      if (s) st.handler(std::move(*s));
    } else {
      ::close(fd);
      st.counters->shed.inc();
      st.reserve->refill();
    }
  }
  st.reserve->refill();
  return false;
}

// Errors are told apart by category address and value, with no call on an error_category:
// out of descriptors, UBSan's first check of an object with a vtable (any member call) needs
// a descriptor itself and would report a false error.
bool errno_category(const std::error_code& ec) {
  const std::error_category* c = &ec.category();
  return c == &std::system_category() || c == &std::generic_category();
}

bool listener_closed(const std::error_code& ec) {
  return errno_category(ec) && (ec.value() == ECANCELED || ec.value() == EBADF);
}

Task<void> accept_loop(std::shared_ptr<State> st) {
  int64_t backoff_ms = 0;
  for (;;) {
    auto s = co_await st->listener.accept();
    if (st->closed) co_return;
    if (s) {
      backoff_ms = 0;
      if (st->reserve->held() < st->reserve->target()) st->reserve->refill();
      st->handler(std::move(*s));
      continue;
    }
    if (listener_closed(s.error())) co_return;
    const AcceptError kind = classify_accept_error(s.error());
    st->counters->errors[size_t(kind)].inc();
    if ((kind == AcceptError::kEmfile || kind == AcceptError::kEnfile) && use_reserve(*st)) {
      backoff_ms = 0;  // every pending client was answered; wait for the next one
      continue;
    }
    // No spare (or other errors): the listener still reads as ready, and without a pause the
    // next accept would fail the same way at once, and again (the spin this guards against).
    backoff_ms = backoff_ms == 0 ? st->options.backoff_min_ms
                                 : std::min(backoff_ms * 2, st->options.backoff_max_ms);
    co_await BackoffAwaiter(*st, backoff_ms);
    if (st->closed) co_return;
  }
}

}  // namespace

std::string_view accept_error_name(AcceptError e) {
  switch (e) {
    case AcceptError::kEmfile:
      return "emfile";
    case AcceptError::kEnfile:
      return "enfile";
    case AcceptError::kNoMemory:
      return "nomem";
    default:
      return "other";
  }
}

AcceptError classify_accept_error(const std::error_code& ec) {
  if (!errno_category(ec)) return AcceptError::kOther;
  switch (ec.value()) {
    case EMFILE:
      return AcceptError::kEmfile;
    case ENFILE:
      return AcceptError::kEnfile;
    case ENOBUFS:
    case ENOMEM:
      return AcceptError::kNoMemory;
    default:
      return AcceptError::kOther;
  }
}

Acceptor::Acceptor(TcpListener listener, FdReserve& reserve, AcceptCounters& counters,
                   Handler handler, AcceptOptions options)
    : state_(std::make_shared<State>(std::move(listener), reserve, counters, std::move(handler),
                                     std::move(options))) {
  spawn(accept_loop(state_));
}

Acceptor::~Acceptor() { close(); }

void Acceptor::close() {
  State& st = *state_;
  if (st.closed) return;
  st.closed = true;
  st.listener.close();  // a pending accept is cancelled and resumes on a later turn
  if (st.backing_off) {
    st.loop.timers().cancel(st.backoff_timer);
    st.loop.defer(std::exchange(st.backing_off, {}));
  }
}

bool Acceptor::is_open() const { return !state_->closed; }

SocketAddress Acceptor::local_address() const { return state_->listener.local_address(); }

}  // namespace cw::rt
