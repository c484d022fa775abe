// Worker: snapshot installation, listeners and acceptors, drain. Thread contract: worker.h.
#include "proxy/worker.h"

#include <sys/socket.h>

#include "base/log.h"
#include "proxy/http_session.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

rt::Task<void> accept_loop(Worker* w, rt::TcpListener* listener, std::string key) {
  for (;;) {
    auto s = co_await listener->accept();
    if (!s) {
      if (s.error() == std::errc::operation_canceled ||
          s.error() == std::errc::bad_file_descriptor)
        co_return;  // listener closed (reload removed it, or drain)
      // Out of descriptors or buffers: say so, back off briefly, keep serving the others.
      CW_WARN("worker {}: accept on {} failed: {}", w->id(), key, s.error().message());
      co_await rt::sleep_for(w->loop(), 50);
      if (!listener->is_open()) co_return;
      continue;
    }
    w->stats().downstream_connections.inc();
    const ListenerSnapshot* ls = w->generation()->snap->listener(key);
    if (!ls || !ls->allowed(s->peer())) {
      w->stats().downstream_denied.inc();
      continue;  // dropping the stream closes it
    }
    rt::spawn(serve_http(w, std::move(*s), key));
  }
}

}  // namespace

Worker::Worker(int id) : id_(id), rng_(0x9e3779b97f4a7c15ull * uint64_t(id + 1) ^ uint64_t(rt::mono_ns())) {
  sessions_.prev = sessions_.next = &sessions_;
}

Worker::~Worker() {
  // Cancel the acceptors and let them finish, so their frames are freed (the thread is gone;
  // this runs on the destroying thread).
  for (auto& [key, l] : listeners_) l->close();
  loop_.run_deferred();
  listeners_.clear();
  gen_.reset();
}

uint64_t Worker::next_random() {
  // splitmix64: fast, good enough for ids and balancing; not for secrets.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Result<rt::SocketAddress> Worker::bind_listener(const std::string& key,
                                                const rt::SocketAddress& addr) {
  auto l = rt::TcpListener::bind(loop_, addr);
  if (!l) return fail(l.error());
  rt::SocketAddress local = l->local_address();
  listeners_[key] = std::make_unique<rt::TcpListener>(std::move(*l));
  return local;
}

void Worker::spawn_acceptor(const std::string& key) {
  rt::spawn(accept_loop(this, listeners_[key].get(), key));
}

void Worker::install(std::shared_ptr<const ProxySnapshot> snap,
                     const std::map<std::string, rt::SocketAddress>& bound) {
  auto gen = std::make_shared<WorkerGeneration>();
  gen->snap = snap;
  for (size_t i = 0; i < snap->clusters.size(); ++i) {
    upstream::WorkerCluster* prev = nullptr;
    if (gen_) {
      for (auto& pc : gen_->clusters) {
        if (pc->snapshot().name == snap->clusters[i]->name) prev = pc.get();
      }
    }
    auto& cstats = stats_.cluster(snap->clusters[i]->name);
    gen->clusters.push_back(std::make_shared<upstream::WorkerCluster>(
        snap->clusters[i], loop_, next_random(), prev, cstats, stats_.registry_mu));
  }
  for (const auto& l : snap->listeners) {
    std::vector<RouteStats*> rs;
    for (const auto& r : l->router.routes()) {
      rs.push_back(&stats_.route(l->cfg.name, r->name, r->cfg.cluster));
    }
    gen->route_stats.push_back(std::move(rs));
  }
  gen_ = std::move(gen);

  // Listeners: keep the sockets of unchanged addresses (no connection is dropped), open new
  // ones, close removed ones.
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (!snap->listener(it->first)) {
      it->second->close();
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  if (!draining_) {
    for (const auto& l : snap->listeners) {
      auto& slot = listeners_[l->key];
      bool fresh = !slot;
      if (!slot) {
        auto b = bound.find(l->key);
        rt::SocketAddress addr = b != bound.end() ? b->second : l->address;
        auto bl = rt::TcpListener::bind(loop_, addr);
        if (!bl) {
          CW_ERROR("worker {}: cannot listen on {}: {}", id_, addr.text(), bl.error().message());
          listeners_.erase(l->key);
          continue;
        }
        slot = std::make_unique<rt::TcpListener>(std::move(*bl));
      }
      if (fresh || !acceptors_started_.count(l->key)) {
        acceptors_started_.insert(l->key);
        spawn_acceptor(l->key);
      }
    }
  }
  for (auto it = acceptors_started_.begin(); it != acceptors_started_.end();) {
    it = listeners_.count(*it) ? std::next(it) : acceptors_started_.erase(it);
  }
}

bool Worker::update_cluster(std::shared_ptr<const upstream::ClusterSnapshot> cluster) {
  if (!gen_) return false;
  size_t i = 0;
  while (i < gen_->clusters.size() && gen_->clusters[i]->snapshot().name != cluster->name) ++i;
  if (i == gen_->clusters.size()) {
    CW_DEBUG("worker {}: update for cluster {} not in the current config, dropped", id_,
             cluster->name);
    return false;
  }
  // A copy of the current generation: the same snapshot, routes and clusters (shared), but for
  // the updated one. The old generation object is untouched for the requests that hold it.
  auto gen = std::make_shared<WorkerGeneration>(*gen_);
  auto& cstats = stats_.cluster(cluster->name);
  gen->clusters[i] = std::make_shared<upstream::WorkerCluster>(
      std::move(cluster), loop_, next_random(), gen_->clusters[i].get(), cstats,
      stats_.registry_mu);
  gen_ = std::move(gen);
  return true;
}

void Worker::start() {
  thread_ = std::thread([this] { loop_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::begin_drain() {
  draining_ = true;
  for (auto& [key, l] : listeners_) l->close();
  listeners_.clear();
  acceptors_started_.clear();
  // Idle keep-alive connections are closed now; busy ones close after their response.
  for (SessionEntry* e = sessions_.next; e != &sessions_; e = e->next) {
    if (e->idle && e->stream->is_open()) ::shutdown(e->stream->fd(), SHUT_RDWR);
  }
  access_log_.flush();
}

std::unique_ptr<http::RequestHead> Worker::take_request_head() {
  if (head_pool_.empty()) return std::make_unique<http::RequestHead>();
  auto h = std::move(head_pool_.back());
  head_pool_.pop_back();
  return h;
}

void Worker::give_request_head(std::unique_ptr<http::RequestHead> h) {
  constexpr size_t kMaxPooledHeads = 256;  // bounds what an idle worker keeps
  if (head_pool_.size() < kMaxPooledHeads) head_pool_.push_back(std::move(h));
}

void Worker::session_opened(SessionEntry& e) {
  e.prev = sessions_.prev;
  e.next = &sessions_;
  sessions_.prev->next = &e;
  sessions_.prev = &e;
  live_sessions_.fetch_add(1, std::memory_order_relaxed);
  stats_.downstream_active.inc();
}

void Worker::session_closed(SessionEntry& e) {
  e.prev->next = e.next;
  e.next->prev = e.prev;
  live_sessions_.fetch_sub(1, std::memory_order_relaxed);
  stats_.downstream_active.dec();
}

}  // namespace cw::proxy
