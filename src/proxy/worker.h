// Worker: one thread, one event loop, and everything it owns: its SO_REUSEPORT listeners and
// their acceptors, the per-worker view of each cluster (balancer state, connection pools), its
// stats shard and buffers. Shared-nothing: other threads talk to it only through loop().post().
// Thread contract: members are touched only on the worker's thread, except `stats`,
// `accept_counters` (single-writer counters) and the read-only atomics noted below.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/buffer.h"
#include "base/random.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "proxy/stats.h"
#include "runtime/acceptor.h"
#include "runtime/event_loop.h"
#include "runtime/fd_reserve.h"
#include "runtime/listen_socket.h"
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
  rt::Stream* stream = nullptr;
  bool idle = false;  // waiting for the next request; safe to close on drain
  SessionEntry* prev = nullptr;
  SessionEntry* next = nullptr;
};

// Listening sockets the control thread opened for one worker, by listener key: the worker
// registers them with its loop when it installs the snapshot that names them.
using ListenerFds = std::map<std::string, rt::OwnedFd>;

class Worker {
 public:
  // workers: how many workers serve the config (each enforces its share of cluster limits).
  explicit Worker(int id, int workers = 1);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int id() const { return id_; }
  int workers() const { return workers_; }
  rt::EventLoop& loop() { return loop_; }
  WorkerStats& stats() { return stats_; }
  BufferPool& buffers() { return buffers_; }
  AccessLog& access_log() { return access_log_; }
  const rt::AcceptCounters& accept_counters() const { return accept_counters_; }
  const std::shared_ptr<WorkerGeneration>& generation() const { return gen_; }
  bool draining() const { return draining_; }
  uint64_t next_random() { return rng_.next(); }
  SplitMix64& rng() { return rng_; }

  // Loop thread (or before the thread starts): switches to a new snapshot. Listeners it keeps
  // keep their sockets (no connection is dropped); those it removes are closed; new ones are
  // served from `fresh`, the sockets the control thread opened for them (all or nothing,
  // before any worker changed). Sockets left in `fresh` (e.g. while draining) are closed.
  void install(std::shared_ptr<const ProxySnapshot> snap, ListenerFds fresh);
  // Loop thread (the control thread posts it): replaces one cluster's hosts without a config
  // reload. Makes a new generation sharing every other cluster, with a WorkerCluster built from
  // the current one (pools, back-off and health carried by key). False, changing nothing, when
  // the current generation has no cluster of that name (a reload removed it meanwhile).
  bool update_cluster(std::shared_ptr<const upstream::ClusterSnapshot> cluster);

  // Before start(): told on this worker's thread when it ejects a host or ends an ejection.
  void set_ejection_hook(upstream::WorkerCluster::EjectionHook hook) {
    ejection_hook_ = std::move(hook);
  }
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
  // An accepted connection: ACL, then the handler of the listener's protocol.
  void on_accept(const std::string& key, rt::TcpStream s);

  int id_;
  int workers_;
  rt::EventLoop loop_;
  std::thread thread_;
  std::shared_ptr<WorkerGeneration> gen_;
  rt::FdReserve accept_reserve_{1};  // the spare descriptor for EMFILE (acceptor.h)
  rt::AcceptCounters accept_counters_;
  std::map<std::string, std::unique_ptr<rt::Acceptor>> acceptors_;  // by listener key
  WorkerStats stats_;
  upstream::WorkerCluster::EjectionHook ejection_hook_;
  BufferPool buffers_;
  AccessLog access_log_;
  SplitMix64 rng_;
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
