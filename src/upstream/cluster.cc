// Cluster snapshots and each worker's live view of one. Thread contract: see cluster.h.
#include "upstream/cluster.h"

#include <algorithm>

namespace cw::upstream {
namespace {
// A host whose connects keep failing sits out for a doubling back-off, capped; one success
// brings it back. Keeps an unreachable host from eating first tries while it is down.
constexpr int64_t kDownBaseMs = 1000;
constexpr int64_t kDownMaxMs = 30000;
}  // namespace

std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error) {
  auto snap = std::make_shared<ClusterSnapshot>();
  snap->name = c.name;
  snap->settings = c;
  if (!parse_lb_policy(c.lb, snap->policy)) {
    error = "cluster " + c.name + ": unknown lb " + c.lb;
    return nullptr;
  }
  if (c.hash_on.rfind("header:", 0) == 0) {
    snap->hash_on = HashOn::kHeader;
    snap->hash_name = c.hash_on.substr(7);
  } else if (c.hash_on.rfind("cookie:", 0) == 0) {
    snap->hash_on = HashOn::kCookie;
    snap->hash_name = c.hash_on.substr(7);
  }
  for (const auto& ep : c.endpoints) {
    std::string key = ep.address.text();
    HostPtr host;
    if (previous) {
      for (const auto& h : previous->hosts) {
        if (h->key == key && h->weight == ep.weight) host = h;
      }
    }
    if (!host) {
      auto addr = rt::SocketAddress::from_ip_port(ep.address.host, ep.address.port);
      if (!addr) {
        error = "cluster " + c.name + ": bad endpoint " + key;
        return nullptr;
      }
      host = std::make_shared<Host>(key, *addr, ep.weight);
    }
    snap->hosts.push_back(std::move(host));
  }
  return snap;
}

static std::vector<LbHost> lb_hosts(const ClusterSnapshot& s) {
  std::vector<LbHost> out;
  out.reserve(s.hosts.size());
  for (const auto& h : s.hosts) out.push_back({h->key, h->weight});
  return out;
}

WorkerCluster::WorkerCluster(std::shared_ptr<const ClusterSnapshot> snap, rt::EventLoop& loop,
                             uint64_t seed, WorkerCluster* previous, ClusterStats& stats,
                             std::mutex& registry_mu)
    : snap_(std::move(snap)),
      loop_(loop),
      stats_shard_(stats),
      lb_(snap_->policy, lb_hosts(*snap_), seed) {
  hosts_.resize(snap_->hosts.size());
  stats_.resize(snap_->hosts.size());
  PoolLimits limits{snap_->settings.pool.max_connections, snap_->settings.pool.max_idle,
                    snap_->settings.pool.idle_timeout.count()};
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const std::string& key = snap_->hosts[i]->key;
    if (previous) {
      hosts_[i].pool = previous->shared_pool(key);
      for (size_t j = 0; j < previous->hosts_.size(); ++j) {
        if (previous->snap_->hosts[j]->key == key) {
          hosts_[i].lb = previous->hosts_[j].lb;
          hosts_[i].down_until_ms = previous->hosts_[j].down_until_ms;
          hosts_[i].consecutive_connect_failures =
              previous->hosts_[j].consecutive_connect_failures;
        }
      }
    }
    if (hosts_[i].pool) {
      hosts_[i].pool->set_limits(limits);
      hosts_[i].pool->set_stats(&stats);
    } else {
      hosts_[i].pool = std::make_shared<ConnPool>(loop_, limits, &stats);
    }
    std::lock_guard lock(registry_mu);
    auto& hc = stats.hosts[key];
    if (!hc) hc = std::make_unique<HostCounters>();
    hosts_[i].counters = hc.get();
  }
}

std::shared_ptr<ConnPool> WorkerCluster::shared_pool(const std::string& key) {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (snap_->hosts[i]->key == key && hosts_[i].pool) return hosts_[i].pool;
  }
  return nullptr;
}

void WorkerCluster::refresh_availability() {
  int64_t now = loop_.now_ms();
  for (size_t i = 0; i < hosts_.size(); ++i) {
    stats_[i] = hosts_[i].lb;
    // In-flight counts live in the worker's stats shard, shared by every generation, so a
    // request that started before a reload is counted where the balancer looks.
    stats_[i].active_requests = uint32_t(hosts_[i].counters->active_requests.get());
    stats_[i].available = snap_->hosts[i]->healthy.load(std::memory_order_relaxed) &&
                          hosts_[i].down_until_ms <= now;
  }
}

int WorkerCluster::pick(const LbContext& ctx, int exclude) {
  refresh_availability();
  if (exclude >= 0 && size_t(exclude) < stats_.size()) stats_[exclude].available = false;
  // Hosts sitting out a connect back-off are skipped; when every host is, fail fast with
  // 503 no_healthy_upstream until the first back-off ends and a try goes through again.
  return lb_.pick(ctx, stats_);
}

void WorkerCluster::on_connect_failure(size_t i) {
  HostRuntime& h = hosts_[i];
  int shift = std::min(h.consecutive_connect_failures, 5);
  h.down_until_ms = loop_.now_ms() + std::min(kDownBaseMs << shift, kDownMaxMs);
  ++h.consecutive_connect_failures;
}

void WorkerCluster::on_connect_success(size_t i) {
  hosts_[i].consecutive_connect_failures = 0;
  hosts_[i].down_until_ms = 0;
}

}  // namespace cw::upstream
