// `causeway demo`: the embedded default. Starts built-in echo services (web x1, api x3,
// auth x2) on loopback ports, runs causeway with its registry and DNS server, registers the
// services there (each with an HTTP health check), routes through `discovery: registry`
// clusters, and prints what to try once every instance passes its check.
// Thread contract: main thread runs the server; one short-lived thread registers the services
// through the admin API; echo services run on their own threads.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/services_http.h"
#include "echo/echo_service.h"
#include "server/server.h"

namespace cw::cli {
namespace {

struct DemoService {
  const char* name;
  int count;
  const char* lb;
  const char* latency;
};
constexpr DemoService kServices[] = {
    {"web", 1, "round_robin", ""},
    {"api", 3, "least_request", "1ms-5ms"},
    {"auth", 2, "round_robin", "2ms"},
};

struct Instance {
  std::string service, id, address;
  uint16_t port = 0;
};

// A JSON body for one demo instance: api-3 is tagged canary, so `canary.api.internal` answers.
std::string registration(const Instance& i) {
  std::string tags = i.id == "api-3" ? R"(["canary"])" : R"([])";
  return R"({"address":")" + i.address + R"(","port":)" + std::to_string(i.port) +
         R"(,"tags":)" + tags +
         R"(,"check":{"http":"/healthz","interval":"2s","timeout":"1s"}})";
}

// Registers every instance and waits (bounded) until each passes its first check. An error
// is a sentence for the user.
std::string register_all(const AdminTarget& admin, const std::vector<Instance>& all) {
  using namespace std::chrono_literals;
  for (const Instance& i : all) {
    auto r = http_call(admin, "PUT", "/api/v1/services/" + i.service + "/instances/" + i.id,
                       registration(i), 5s);
    if (!r) return "cannot register " + i.id + ": " + r.error().what;
    if (r->status != 200) return "registering " + i.id + " was refused: " + r->body;
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (const auto& svc : kServices) {
    for (;;) {
      auto r = http_call(admin, "GET", std::string("/api/v1/services/") + svc.name + "?healthy=1",
                         "", 5s);
      size_t passing = 0;
      if (r && r->status == 200) {
        auto doc = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
        if (doc.is_object() && doc["instances"].is_array()) passing = doc["instances"].size();
      }
      if (passing >= size_t(svc.count)) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return std::string("the ") + svc.name + " instances did not pass their health checks";
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  return {};
}

}  // namespace

int run_demo(const DemoOptions& opts) {
  std::vector<std::unique_ptr<echo::EchoServer>> echoes;
  std::vector<Instance> instances;
  std::string clusters;
  std::string services_line;
  for (const auto& svc : kServices) {
    clusters += std::string("  - name: ") + svc.name + "\n    discovery: registry\n    service: " +
                svc.name + "\n    lb: " + svc.lb + "\n    connect_timeout: 1s\n";
    for (int i = 1; i <= svc.count; ++i) {
      echo::EchoOptions eo;
      eo.listen = "127.0.0.1:0";
      eo.name = svc.name;
      eo.instance = std::string(svc.name) + "-" + std::to_string(i);
      eo.latency = svc.latency;
      std::string error;
      auto service = echo::EchoServer::start(eo, error);
      if (!service) {
        std::fprintf(stderr, "causeway demo: cannot start %s: %s\n", eo.instance.c_str(),
                     error.c_str());
        return 1;
      }
      const rt::SocketAddress addr = (*service)->address();
      services_line += " " + eo.instance + "=" + addr.text();
      instances.push_back({svc.name, eo.instance, "127.0.0.1", addr.port()});
      echoes.push_back(std::move(*service));
    }
  }
  // The registry lives for this demo only: a fresh data_dir, removed at the end.
  char dir_template[] = "/tmp/causeway-demo-XXXXXX";
  const char* data_dir = ::mkdtemp(dir_template);
  if (!data_dir) {
    std::perror("causeway demo: mkdtemp");
    return 1;
  }
  std::string yaml = "# Written by `causeway demo`. Edit it, then reload: kill -HUP " +
                     std::to_string(getpid()) + " (or POST /api/v1/reload).\n"
                     "workers: 2\n"
                     "admin: { listen: " + opts.admin + " }\n"
                     "registry: { data_dir: " + std::string(data_dir) + " }\n"
                     "dns: { listen: " + opts.dns + ", domain: internal, ttl: 5s }\n";
  if (opts.access_log) yaml += "access_log: { path: stderr, format: json }\n";
  yaml += "listeners:\n"
          "  - name: edge\n"
          "    listen: " + opts.listen + "\n"
          "    routes:\n"
          "      - name: api\n        match: { path_prefix: /api/ }\n        cluster: api\n        timeout: 3s\n"
          "      - name: auth\n        match: { path_prefix: /auth/ }\n        cluster: auth\n"
          "      - name: web\n        match: { path_prefix: / }\n        cluster: web\n"
          "clusters:\n" + clusters;
  const std::string path = std::string(data_dir) + "/causeway.yaml";
  auto cleanup = [&] { std::filesystem::remove_all(data_dir); };
  {
    std::ofstream f(path);
    f << yaml;
    if (!f) {
      std::fprintf(stderr, "causeway demo: cannot write %s\n", path.c_str());
      cleanup();
      return 1;
    }
  }
  std::vector<std::string> errors;
  auto srv = server::Server::create(path, errors);
  if (!srv) {
    for (const auto& e : errors) std::fprintf(stderr, "causeway demo: %s\n", e.c_str());
    std::fprintf(stderr, "  (use --listen / --admin / --dns to pick other ports)\n");
    cleanup();
    return 1;
  }
  const std::string proxy = srv->bound_listeners().begin()->second.text();
  const std::string admin = srv->admin_address().text();
  const rt::SocketAddress dns = srv->dns_address();
  std::string dns_host = dns.text().substr(0, dns.text().rfind(':'));
  if (dns_host.size() > 2 && dns_host.front() == '[') dns_host = dns_host.substr(1, dns_host.size() - 2);
  const std::string dns_port = std::to_string(dns.port());
  AdminTarget target;
  target.connect = config::Address{"127.0.0.1", srv->admin_address().port()};
  target.text = admin;

  // The control loop runs on this thread (run() below); the registrations are ordinary API
  // calls, so they go from a thread of their own, and the banner follows them.
  server::Server* s = srv.get();
  int setup_rc = 0;
  std::thread setup([&] {
    const std::string error = register_all(target, instances);
    if (!error.empty()) {
      std::fprintf(stderr, "causeway demo: %s\n", error.c_str());
      setup_rc = 1;
      s->stop();
      return;
    }
    std::printf(
        "\nCauseway demo is running.\n"
        "  proxy     http://%s\n"
        "  admin     http://%s/   (/metrics, /api/v1/clusters, /api/v1/services)\n"
        "  dns       %s (udp and tcp), domain internal\n"
        "  services %s\n"
        "  config    %s\n\n"
        "Try:\n"
        "  curl -s http://%s/api/users\n"
        "  for i in $(seq 30); do curl -s http://%s/api/; done | grep -o 'api-[0-9]' | sort | uniq -c\n"
        "  dig @%s -p %s api.internal +short; dig @%s -p %s _api._tcp.internal SRV +short\n"
        "  causeway services show api --admin %s\n"
        "  curl -si -H 'x-causeway-trace: 1' http://%s/auth/login\n"
        "  curl -s http://%s/metrics | grep causeway_requests_total\n\n"
        "Ctrl-C stops everything.\n\n",
        proxy.c_str(), admin.c_str(), dns.text().c_str(), services_line.c_str(), path.c_str(),
        proxy.c_str(), proxy.c_str(), dns_host.c_str(), dns_port.c_str(), dns_host.c_str(),
        dns_port.c_str(), admin.c_str(), proxy.c_str(), admin.c_str());
    std::fflush(stdout);
  });
  int rc = srv->run();
  setup.join();
  srv.reset();
  for (auto& e : echoes) e->stop();
  echoes.clear();
  cleanup();
  return setup_rc ? setup_rc : rc;
}

}  // namespace cw::cli
