// Server: wires config, workers, admin and signals into a running proxy. Start-up opens every
// listener socket for every worker (clear errors, exit 1), then the calling thread runs the
// control loop: admin API, SIGHUP/API reloads (all or nothing: a new immutable snapshot and its
// new sockets handed to workers by message, each worker acknowledging by message), SIGTERM/
// SIGINT drain. Thread contract: create() and run() on the main thread; stop() from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "config/model.h"
#include "health/monitor.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "registry/etcd_backend.h"
#include "registry/registry.h"
#include "registry/store.h"
#include "runtime/event_loop.h"
#include "runtime/fd_reserve.h"
#include "runtime/tcp.h"
#include "server/listener_sockets.h"
#include "server/dns_clusters.h"
#include "server/dns_service.h"
#include "server/registry_checks.h"
#include "server/registry_clusters.h"

namespace cw::server {

class Server {
 public:
  // Loads and validates config_path, binds listeners and the admin port. On failure returns
  // null and fills `errors` with one line per problem (each names file:line:col / the port).
  static std::unique_ptr<Server> create(const std::string& config_path,
                                        std::vector<std::string>& errors);
  ~Server();

  // Runs until SIGTERM/SIGINT (drain) or stop(). Returns the process exit code.
  int run();
  // Thread-safe: begins a graceful drain and makes run() return.
  void stop();

  // Control thread: re-reads the config file and applies it, all or nothing: a bad config, or
  // a listener socket that cannot be opened, changes nothing and is logged with its reasons.
  // Completes once every worker has acknowledged the new config, or after
  // kInstallAckTimeoutMs (then the outcome names the workers still pending).
  rt::Task<admin::ReloadOutcome> reload();
  static constexpr int64_t kInstallAckTimeoutMs = 5000;
  // Descriptors the control thread holds back for reading the config file at the fd limit.
  static constexpr int kControlReserveFds = 4;

  const std::map<std::string, rt::SocketAddress>& bound_listeners() const { return bound_; }
  rt::SocketAddress admin_address() const { return admin_addr_; }
  // The DNS server's address (port 0 resolved); empty without a dns: section.
  rt::SocketAddress dns_address() const { return dns_ ? dns_->address() : rt::SocketAddress(); }
  int workers() const { return int(workers_.size()); }

 private:
  Server() = default;
  struct Prepared {
    std::shared_ptr<const proxy::ProxySnapshot> snap;
    OpenedListeners listeners;
  };
  bool start(std::shared_ptr<const config::Config> cfg, std::vector<std::string>& errors);
  // Everything a reload can fail at, before anything changes: config, snapshot, sockets.
  Result<Prepared, std::vector<std::string>> prepare_reload();
  // Hands the snapshot and each worker's new sockets over; yields the workers that did not
  // acknowledge in time (0 = all serve it).
  rt::Task<int> install_everywhere(std::shared_ptr<const proxy::ProxySnapshot> snap,
                                   std::vector<proxy::ListenerFds> fds);
  void configure_access_log(const config::Config& cfg);
  // Opens the registry's store and restores it; false (with the reason) when it cannot.
  bool open_registry(const config::Config& cfg, std::vector<std::string>& errors);
  rt::Task<void> drain_and_stop();
  // At exit: lets the admin connections see their closed sockets and end, then finishes the
  // control loop's deferred work.
  void finish_admin();
  // Health verdicts to every worker: each applies it to its current generation's cluster.
  void post_host_health(const std::string& cluster, const std::string& key, bool healthy);
  // A discovery update of one cluster: the server's snapshot, health checks and every worker.
  void apply_cluster_update(std::shared_ptr<const upstream::ClusterSnapshot> cluster);
  // What build_snapshot asks for a discovered cluster's hosts.
  proxy::DiscoveredEndpoints discovered();
  static rt::Task<void> signal_loop(Server* self);

  std::string config_path_;
  rt::EventLoop control_;
  rt::FdReserve control_reserve_{kControlReserveFds};
  std::vector<std::unique_ptr<proxy::Worker>> workers_;
  std::shared_ptr<const proxy::ProxySnapshot> snap_;
  std::map<std::string, rt::SocketAddress> bound_;
  std::unique_ptr<health::HealthMonitor> health_;  // active checks, on control_
  // The service registry (when configured): its store before it, so the registry goes first.
  std::unique_ptr<registry::Store> registry_store_;
  std::unique_ptr<registry::Registry> registry_;
  // backend: etcd: where the registry's writes go and its changes come from. Declared after
  // the registry so it goes first (the registry points at it).
  std::unique_ptr<registry::EtcdBackend> registry_etcd_;
  std::unique_ptr<RegistryChecks> registry_checks_;  // its instances' http/tcp checks
  std::unique_ptr<DnsService> dns_;                  // with a dns: section
  std::unique_ptr<RegistryClusters> registry_clusters_;  // discovery: registry clusters
  std::unique_ptr<DnsClusters> dns_clusters_;            // discovery: dns clusters
  std::unique_ptr<admin::AdminServer> admin_;
  rt::SocketAddress admin_addr_;
  int access_log_fd_ = -1;
  bool owns_access_log_fd_ = false;
  int signal_fd_ = -1;
  rt::TcpStream signal_stream_;  // the signalfd, read by signal_loop
  std::atomic<bool> draining_{false};
  bool drain_started_ = false;
  int64_t abandoned_ = 0;  // connections still open when the drain deadline passed
};

// Blocks SIGHUP/SIGTERM/SIGINT in the calling thread (and threads it starts later) so the
// control loop receives them through a signalfd; ignores SIGPIPE. Call first thing in main.
void block_signals();

}  // namespace cw::server
