// Worker: snapshot installation, listeners and acceptors, drain. Thread contract: worker.h.
#include "proxy/worker.h"

#include <sys/socket.h>

#include "base/log.h"
#include "proxy/http_session.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

// The protocol handlers: what serves a connection accepted on a listener of each protocol,
// indexed by ListenerProtocol. TLS (https, ALPN), h2c, TCP and UDP listeners add a row.
using ServeConnection = rt::Task<void> (*)(Worker*, rt::TcpStream, std::string listener_key);
constexpr ServeConnection kServe[size_t(ListenerProtocol::kCount)] = {
    &serve_http,  // kHttp: HTTP/1.1 (proxy/http_session.cc)
};

}  // namespace

Worker::Worker(int id, int workers)
    : id_(id),
      workers_(workers),
      rng_(0x9e3779b97f4a7c15ull * uint64_t(id + 1) ^ uint64_t(rt::mono_ns())) {
  sessions_.prev = sessions_.next = &sessions_;
}

Worker::~Worker() {
  // Cancel the acceptors and let them finish, so their frames are freed (the thread is gone;
  // this runs on the destroying thread).
  for (auto& [key, a] : acceptors_) a->close();
  loop_.run_deferred();
  acceptors_.clear();
  gen_.reset();
}

void Worker::on_accept(const std::string& key, rt::TcpStream s) {
  stats_.downstream_connections.inc();
  const ListenerSnapshot* ls = gen_->snap->listener(key);
  if (!ls || !ls->allowed(s.peer())) {
    stats_.downstream_denied.inc();
    return;  // dropping the stream closes it
  }
  rt::spawn(kServe[size_t(ls->protocol)](this, std::move(s), key));
}

void Worker::install(std::shared_ptr<const ProxySnapshot> snap, ListenerFds fresh) {
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
        snap->clusters[i], loop_, next_random(), prev, cstats, stats_.registry_mu, workers_));
    gen->clusters.back()->set_ejection_hook(&ejection_hook_);
  }
  for (const auto& l : snap->listeners) {
    std::vector<RouteStats*> rs;  // empty for listeners without a router (not HTTP)
    if (l->router) {
      for (const auto& r : l->router->routes())
        rs.push_back(&stats_.route(l->cfg.name, r->name, r->cfg.cluster));
    }
    gen->route_stats.push_back(std::move(rs));
  }
  gen_ = std::move(gen);

  for (auto it = acceptors_.begin(); it != acceptors_.end();) {
    if (!snap->listener(it->first)) {
      it->second->close();
      it = acceptors_.erase(it);
    } else {
      ++it;
    }
  }
  if (draining_) return;
  for (const auto& l : snap->listeners) {
    if (acceptors_.count(l->key)) continue;
    auto fd = fresh.find(l->key);
    if (fd == fresh.end() || !fd->second.valid()) {
      CW_ERROR("worker {}: no socket for listener {} ({})", id_, l->cfg.name, l->key);
      continue;
    }
    auto listener = rt::TcpListener::adopt(loop_, std::move(fd->second));
    if (!listener) {
      CW_ERROR("worker {}: cannot serve listener {} ({}): {}", id_, l->cfg.name, l->key,
               listener.error().message());
      continue;
    }
    std::string key = l->key;
    acceptors_.emplace(key, std::make_unique<rt::Acceptor>(
                                std::move(*listener), accept_reserve_, accept_counters_,
                                [this, key](rt::TcpStream s) { on_accept(key, std::move(s)); }));
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
      stats_.registry_mu, workers_);
  gen->clusters[i]->set_ejection_hook(&ejection_hook_);
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
  for (auto& [key, a] : acceptors_) a->close();
  acceptors_.clear();
  // Idle keep-alive connections are closed now; busy ones close after their response.
  for (SessionEntry* e = sessions_.next; e != &sessions_; e = e->next) {
    if (e->idle) e->stream->shutdown_both();
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
