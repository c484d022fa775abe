// Test fixture for the admin layer: two real proxy::Workers (threads not started) serving a
// snapshot built from YAML, fake hooks, and an AdminServer on a loop of its own.
// Thread contract: test thread only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "config/load.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "runtime/event_loop.h"
#include "runtime/listen_socket.h"
#include "runtime/task.h"

namespace cw::admin::testing {

inline constexpr std::string_view kYaml = R"(
workers: 2
admin: { listen: 127.0.0.1:0 }
drain_timeout: 1m30s
listeners:
  - name: edge
    listen: 127.0.0.1:0
    access: { allow: [10.0.0.0/8, 127.0.0.0/8], deny: [10.9.0.0/16] }
    trusted_proxies: [127.0.0.0/8]
    header_read_timeout: 2500ms
    routes:
      - name: api
        match: { path_prefix: /api/, method: [GET, POST], headers: [{ name: x-env, exact: prod }] }
        cluster: api
        timeout: 3s
        retry: { attempts: 2, per_try_timeout: 1s, retry_on: [connect-failure, "503"], backoff: { base: 25ms, max: 250ms } }
      - name: hello
        match: { path: /hello }
        direct_response: { status: 200, body: hi }
      - name: old
        match: { path_prefix: /old }
        redirect: { location: /new, status: 301 }
      - match: { path_prefix: / }
        cluster: web
clusters:
  - name: api
    endpoints: [127.0.0.1:9101, { address: 127.0.0.1:9102, weight: 3 }]
    lb: least_request
    pool: { max_connections: 10, max_idle: 5, idle_timeout: 90s }
  - name: web
    endpoints: [127.0.0.1:9001]
)";

// A reload hook's answer that is ready at once (the server's waits for the workers' acks).
inline rt::Task<ReloadOutcome> answered(ReloadOutcome o) { co_return o; }

inline std::shared_ptr<const config::Config> load(std::string_view yaml) {
  auto r = config::load_config_string(yaml, "test.yaml");
  std::string errs;
  for (const auto& e : r.errors) errs += e.format() + "\n";
  EXPECT_TRUE(r.ok()) << errs;
  return r.config;
}

struct Fixture {
  rt::EventLoop loop;  // the admin (control) loop
  std::vector<std::unique_ptr<proxy::Worker>> workers;
  std::shared_ptr<const proxy::ProxySnapshot> snap;
  bool ready = true;
  std::string next_yaml;  // what the fake reload loads
  std::unique_ptr<AdminServer> server;

  explicit Fixture(std::string_view yaml = kYaml, int n = 2, AdminLimits limits = {}) {
    std::string err;
    snap = proxy::build_snapshot(load(yaml), nullptr, err);
    EXPECT_TRUE(snap) << err;
    for (int i = 0; i < n; ++i) {
      workers.push_back(std::make_unique<proxy::Worker>(i));
      workers.back()->install(snap, open_sockets(*snap));
    }
    AdminHooks h;
    for (auto& w : workers) h.workers.push_back(w.get());
    h.snapshot = [this] { return snap; };
    h.ready = [this] { return ready; };
    h.reload = [this] { return answered(reload()); };
    h.version = "9.9.9-test";
    server = std::make_unique<AdminServer>(loop, std::move(h), limits);
  }

  ~Fixture() {
    server.reset();
    // Let each worker's acceptors see their listeners close, so no coroutine frame is left.
    for (auto& w : workers) {
      w->begin_drain();
      proxy::Worker* wp = w.get();
      wp->loop().post([wp] { wp->loop().stop(); });
      wp->loop().run();
    }
  }

  ReloadOutcome reload() {
    ReloadOutcome out;
    out.generation = snap->generation;
    auto r = config::load_config_string(next_yaml, "test.yaml");
    if (!r.ok()) {
      for (const auto& e : r.errors) out.errors.push_back(e.format());
      return out;
    }
    std::string err;
    auto s = proxy::build_snapshot(r.config, snap.get(), err);
    if (!s) {
      out.errors.push_back(err);
      return out;
    }
    snap = s;
    for (auto& w : workers) w->install(snap, open_sockets(*snap));
    out.ok = true;
    out.generation = snap->generation;
    return out;
  }

  // Each worker gets its own sockets for the snapshot's listeners (the server opens them all or
  // nothing on the control thread; here the admin only needs the workers to serve something).
  static proxy::ListenerFds open_sockets(const proxy::ProxySnapshot& s) {
    proxy::ListenerFds fds;
    for (const auto& l : s.listeners) {
      auto fd = rt::open_listen_socket(l->address);
      EXPECT_TRUE(fd) << l->key;
      if (fd) fds[l->key] = std::move(*fd);
    }
    return fds;
  }

  proxy::WorkerStats& stats(int i) { return workers[size_t(i)]->stats(); }
  upstream::HostCounters& host(int i, const std::string& cluster, const std::string& key) {
    return *stats(i).clusters.at(cluster)->hosts.at(key);
  }

  AdminServer::Response get(std::string_view target) { return server->handle("GET", target, ""); }
  nlohmann::json get_json(std::string_view target) {
    auto r = get(target);
    EXPECT_EQ(r.content_type, "application/json");
    return nlohmann::json::parse(r.body);
  }
};

}  // namespace cw::admin::testing
