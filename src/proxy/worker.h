// Worker: one thread, one event loop, and everything it owns: its SO_REUSEPORT listeners, the
// per-worker view of each cluster (balancer state, connection pools), its stats shard and
// buffers. Shared-nothing: other threads talk to it only through loop().post().
// Thread contract: members are touched only on the worker's thread, except `stats` (see
// stats.h) and the read-only atomics noted below.
#pragma once

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/buffer.h"
#include "proxy/snapshot.h"
#include "proxy/stats.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"
#include "upstream/cluster.h"

namespace cw::proxy {

// What one config snapshot means on one worker. Requests hold a shared_ptr to the generation
// they started under, so a reload never pulls state from under a request in flight. Clusters
// are shared: a cluster update (update_cluster) makes a new generation that shares every
// cluster but the updated one, and requests in flight keep the old one until they finish.
struct WorkerGeneration {
  std::shared_ptr<const ProxySnapshot> snap;
  // Parallel to snap->clusters (same names, same order). After an update_cluster,
  // clusters[i]->snapshot() is newer than snap->clusters[i]: the WorkerCluster's is in force.
  std::vector<std::shared_ptr<upstream::WorkerCluster>> clusters;
  std::vector<std::vector<RouteStats*>> route_stats;  // [listener][route]
};

// A client connection the worker tracks so drain can close idle ones.
struct SessionEntry {
  rt::TcpStream* stream = nullptr;
  bool idle = false;  // waiting for the next request; safe to close on drain
  SessionEntry* prev = nullptr;
  SessionEntry* next = nullptr;
};

class Worker {
 public:
  explicit Worker(int id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int id() const { return id_; }
  rt::EventLoop& loop() { return loop_; }
  WorkerStats& stats() { return stats_; }
  BufferPool& buffers() { return buffers_; }
  AccessLog& access_log() { return access_log_; }
  const std::shared_ptr<WorkerGeneration>& generation() const { return gen_; }
  bool draining() const { return draining_; }
  uint64_t next_random();

  // Loop thread (or before the thread starts): switches to a new snapshot, opening listeners
  // that are new and closing the ones that are gone. `bound` gives each listener key's
  // concrete address (port 0 resolved once by the server).
  void install(std::shared_ptr<const ProxySnapshot> snap,
               const std::map<std::string, rt::SocketAddress>& bound);
  // Loop thread (the control thread posts it): replaces one cluster's hosts without a config
  // reload. Makes a new generation sharing every other cluster, with a WorkerCluster built from
  // the current one (pools, back-off and health carried by key). False, changing nothing, when
  // the current generation has no cluster of that name (a reload removed it meanwhile).
  bool update_cluster(std::shared_ptr<const upstream::ClusterSnapshot> cluster);
  // Binds one listener socket (start-up; called before the thread starts). Errors name it.
  Result<rt::SocketAddress> bind_listener(const std::string& key, const rt::SocketAddress& addr);

  void start();  // runs the loop on a new thread
  void join();
  // Loop thread: stop accepting, close idle keep-alive connections; sessions finish their
  // request in flight and close.
  void begin_drain();
  // Any thread: client connections still open (drain waits for 0).
  int64_t live_sessions() const { return live_sessions_.load(std::memory_order_relaxed); }

  // Request heads are pooled per worker: a reused head keeps its header strings' capacity
  // (no malloc per header when warm) without every idle connection holding one.
  std::unique_ptr<http::RequestHead> take_request_head();
  void give_request_head(std::unique_ptr<http::RequestHead> h);

  // Session bookkeeping (loop thread).
  void session_opened(SessionEntry& e);
  void session_closed(SessionEntry& e);

 private:
  void spawn_acceptor(const std::string& key);

  int id_;
  rt::EventLoop loop_;
  std::thread thread_;
  std::shared_ptr<WorkerGeneration> gen_;
  std::map<std::string, std::unique_ptr<rt::TcpListener>> listeners_;  // by key
  std::set<std::string> acceptors_started_;
  WorkerStats stats_;
  BufferPool buffers_;
  AccessLog access_log_;
  uint64_t rng_;
  bool draining_ = false;
  std::atomic<int64_t> live_sessions_{0};
  SessionEntry sessions_;  // sentinel of the intrusive list
  std::vector<std::unique_ptr<http::RequestHead>> head_pool_;
};

// Borrows a RequestHead from the worker's pool for one request.
class RequestHeadLease {
 public:
  explicit RequestHeadLease(Worker& w) : w_(w), head_(w.take_request_head()) {}
  ~RequestHeadLease() { w_.give_request_head(std::move(head_)); }
  RequestHeadLease(const RequestHeadLease&) = delete;
  RequestHeadLease& operator=(const RequestHeadLease&) = delete;
  http::RequestHead& head() { return *head_; }

 private:
  Worker& w_;
  std::unique_ptr<http::RequestHead> head_;
};

}  // namespace cw::proxy
