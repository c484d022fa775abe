// Per-worker, per-host upstream connection pool. Thread contract: the owning worker only.
#include "upstream/conn_pool.h"

#include <algorithm>

namespace cw::upstream {

// Queued tries hold the pool (their attempt's shared_ptr), so none is left when it goes.
ConnPool::~ConnPool() { close_idle(); }

void ConnPool::set_limits(PoolLimits l) {
  limits_ = l;
  serve_queue();
}

std::unique_ptr<UpstreamConn> ConnPool::checkout() {
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(idle_.back());
    idle_.pop_back();
    stats_->idle_connections.dec();
    loop_.timers().cancel(c->idle_timer);
    // The upstream may have closed while the connection sat idle: the readiness cache (kept
    // current by epoll) tells us without a syscall in the common case.
    if (c->stream->idle_and_open()) {
      c->reused = true;
      stats_->reuses.inc();
      return c;
    }
    stats_->stale_closed.inc();
    stats_->open_connections.dec();
    --open_;
  }
  serve_queue();  // a stale one closed: room for a queued try, if any
  return nullptr;
}

bool ConnPool::reserve() {
  if (open_ >= limits_.max_connections) {
    stats_->pool_exhausted.inc();
    return false;
  }
  ++open_;
  stats_->open_connections.inc();
  return true;
}

void ConnPool::release(std::unique_ptr<UpstreamConn> c) {
  if (first_ && c->stream->idle_and_open()) {
    // Straight to the longest-waiting try: it never idles, so no newcomer can take it first.
    c->reused = true;
    stats_->reuses.inc();
    wake_first(PoolWait::Outcome::kConnection, std::move(c));
    return;
  }
  if (idle_.size() >= limits_.max_idle || !c->stream->idle_and_open()) {
    discard(std::move(c));
    return;
  }
  c->idle_timer.ctx = this;
  c->idle_timer.fire = &ConnPool::on_idle_timeout;
  loop_.arm_timer_ms(c->idle_timer, limits_.idle_timeout_ms);
  idle_.push_back(std::move(c));
  stats_->idle_connections.inc();
}

void ConnPool::on_idle_timeout(rt::TimerNode* n) {
  auto* pool = static_cast<ConnPool*>(n->ctx);
  auto it = std::find_if(pool->idle_.begin(), pool->idle_.end(),
                         [n](const auto& c) { return &c->idle_timer == n; });
  if (it == pool->idle_.end()) return;
  pool->stats_->idle_expired.inc();
  pool->stats_->idle_connections.dec();
  pool->stats_->open_connections.dec();
  --pool->open_;
  pool->idle_.erase(it);  // closes the socket
  pool->serve_queue();
}

void ConnPool::discard(std::unique_ptr<UpstreamConn> c) {
  if (c) loop_.timers().cancel(c->idle_timer);
  --open_;
  stats_->open_connections.dec();
  serve_queue();
}

void ConnPool::unreserve() {
  --open_;
  stats_->open_connections.dec();
  serve_queue();
}

void ConnPool::close_idle() {
  for (auto& c : idle_) loop_.timers().cancel(c->idle_timer);
  open_ -= idle_.size();
  stats_->open_connections.add(-int64_t(idle_.size()));
  stats_->idle_connections.add(-int64_t(idle_.size()));
  idle_.clear();
  serve_queue();
}

void ConnPool::serve_queue() {
  while (first_ && open_ < limits_.max_connections) {
    ++open_;
    stats_->open_connections.inc();
    wake_first(PoolWait::Outcome::kSlot, nullptr);
  }
}

void ConnPool::wake_first(PoolWait::Outcome o, std::unique_ptr<UpstreamConn> c) {
  PoolWait& w = *first_;
  dequeue(w);
  loop_.timers().cancel(w.timer_);
  w.outcome_ = o;
  w.conn_ = std::move(c);
  w.woken_ = true;
  loop_.defer(w.h_);  // never resumed inside the releasing request's stack
}

void ConnPool::enqueue(PoolWait& w) {
  w.prev_ = last_;
  w.next_ = nullptr;
  (last_ ? last_->next_ : first_) = &w;
  last_ = &w;
  w.queued_ = true;
  ++waiting_;
}

void ConnPool::dequeue(PoolWait& w) {
  (w.prev_ ? w.prev_->next_ : first_) = w.next_;
  (w.next_ ? w.next_->prev_ : last_) = w.prev_;
  w.prev_ = w.next_ = nullptr;
  w.queued_ = false;
  --waiting_;
}

void PoolWait::await_suspend(std::coroutine_handle<> h) {
  h_ = h;
  timer_.ctx = this;
  timer_.fire = &PoolWait::on_timeout;
  pool_.loop_.timers().arm(timer_, deadline_ms_);
  pool_.enqueue(*this);
}

void PoolWait::on_timeout(rt::TimerNode* n) {
  auto* w = static_cast<PoolWait*>(n->ctx);
  w->pool_.dequeue(*w);
  w->outcome_ = Outcome::kTimeout;
  w->h_.resume();
}

PoolWait::~PoolWait() {
  pool_.loop_.timers().cancel(timer_);
  if (queued_) {
    pool_.dequeue(*this);
    return;
  }
  // Handed something it never used (its frame went away before it resumed, or the caller left
  // the connection behind): give it back so the pool's count stays true.
  if (conn_) pool_.release(std::move(conn_));
  if (woken_ && !claimed_ && outcome_ == Outcome::kSlot) pool_.unreserve();
}

}  // namespace cw::upstream
