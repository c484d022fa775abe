// AdminServer: the admin listener (SPEC 6): /healthz, /ready, /metrics, /api/v1/clusters,
// /api/v1/listeners, /api/v1/config, /api/v1/reload. Serves HTTP/1.1 with our own codec on the
// control thread's loop; reads workers' stats shards without stopping them.
// Thread contract: constructed and run on the control thread; hooks are called there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/tcp.h"

namespace cw::admin {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // formatted "file:line:col: key: message"
  uint64_t generation = 0;          // the snapshot generation now serving
};

struct AdminHooks {
  std::vector<proxy::Worker*> workers;
  // The snapshot workers are being given now.
  std::function<std::shared_ptr<const proxy::ProxySnapshot>()> snapshot;
  // Loads the config file again and applies it; a bad config changes nothing.
  std::function<ReloadOutcome()> reload;
  // True once every listener is up and the process is not draining.
  std::function<bool()> ready;
  std::string version;
  // Optional: each listener key's bound address (port 0 resolved), as given to
  // Worker::install. /api/v1/listeners shows it; without it, the configured address.
  std::function<std::map<std::string, rt::SocketAddress>()> bound_listeners;
};

class AdminServer {
 public:
  AdminServer(rt::EventLoop& loop, AdminHooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts accepting; returns the bound address (port 0 resolved). Once per server.
  Result<rt::SocketAddress> listen(const rt::SocketAddress& addr);
  // Stops accepting and ends open admin connections (they stop calling hooks at once).
  void close();
  // Admin connections open now (at most kMaxConnections; more are closed on accept).
  size_t connections() const;
  static constexpr size_t kMaxConnections = 64;

  // Exposed for tests: renders one request's response without sockets.
  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow on 405
  };
  Response handle(std::string_view method, std::string_view target, std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cw::admin
