// Per-worker, per-host upstream connection pool. Thread contract: the owning worker only.
#include "upstream/conn_pool.h"

#include <algorithm>

namespace cw::upstream {

ConnPool::~ConnPool() { close_idle(); }

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
}

void ConnPool::discard(std::unique_ptr<UpstreamConn> c) {
  if (c) loop_.timers().cancel(c->idle_timer);
  --open_;
  stats_->open_connections.dec();
}

void ConnPool::unreserve() {
  --open_;
  stats_->open_connections.dec();
}

void ConnPool::close_idle() {
  for (auto& c : idle_) loop_.timers().cancel(c->idle_timer);
  open_ -= idle_.size();
  stats_->open_connections.add(-int64_t(idle_.size()));
  stats_->idle_connections.add(-int64_t(idle_.size()));
  idle_.clear();
}

}  // namespace cw::upstream
