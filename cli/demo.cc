// `causeway demo`: the embedded default. Starts built-in echo services (web x1, api x3,
// auth x2) on loopback ports, writes a config for them, runs the proxy and prints what to try.
// Thread contract: main thread; echo services run on their own threads.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
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

}  // namespace

int run_demo(const DemoOptions& opts) {
  std::vector<std::unique_ptr<echo::EchoServer>> echoes;
  std::string clusters;
  std::string services_line;
  for (const auto& svc : kServices) {
    clusters += std::string("  - name: ") + svc.name + "\n    lb: " + svc.lb +
                "\n    connect_timeout: 1s\n    endpoints:\n";
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
      std::string addr = (*service)->address().text();
      clusters += "      - " + addr + "\n";
      services_line += " " + eo.instance + "=" + addr;
      echoes.push_back(std::move(*service));
    }
  }
  std::string yaml = "# Written by `causeway demo`. Edit it, then reload: kill -HUP " +
                     std::to_string(getpid()) + " (or POST /api/v1/reload).\n"
                     "workers: 2\n"
                     "admin: { listen: " + opts.admin + " }\n";
  if (opts.access_log) yaml += "access_log: { path: stderr, format: json }\n";
  yaml += "listeners:\n"
          "  - name: edge\n"
          "    listen: " + opts.listen + "\n"
          "    routes:\n"
          "      - name: api\n        match: { path_prefix: /api/ }\n        cluster: api\n        timeout: 3s\n"
          "      - name: auth\n        match: { path_prefix: /auth/ }\n        cluster: auth\n"
          "      - name: web\n        match: { path_prefix: / }\n        cluster: web\n"
          "clusters:\n" + clusters;
  std::string path = "/tmp/causeway-demo-" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream f(path);
    f << yaml;
    if (!f) {
      std::fprintf(stderr, "causeway demo: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  std::vector<std::string> errors;
  auto srv = server::Server::create(path, errors);
  if (!srv) {
    for (const auto& e : errors) std::fprintf(stderr, "causeway demo: %s\n", e.c_str());
    std::fprintf(stderr, "  (use --listen / --admin to pick other ports)\n");
    ::unlink(path.c_str());
    return 1;
  }
  std::string proxy = srv->bound_listeners().begin()->second.text();
  std::string admin = srv->admin_address().text();
  std::printf(
      "\nCauseway demo is running.\n"
      "  proxy     http://%s\n"
      "  admin     http://%s/   (/metrics, /api/v1/clusters, /api/v1/config)\n"
      "  services %s\n"
      "  config    %s\n\n"
      "Try:\n"
      "  curl -s http://%s/api/users\n"
      "  for i in $(seq 30); do curl -s http://%s/api/; done | grep -o 'api-[0-9]' | sort | uniq -c\n"
      "  curl -si -H 'x-causeway-trace: 1' http://%s/auth/login\n"
      "  causeway trace http://%s/api/users\n"
      "  curl -s http://%s/metrics | grep causeway_requests_total\n\n"
      "Ctrl-C stops everything.\n\n",
      proxy.c_str(), admin.c_str(), services_line.c_str(), path.c_str(), proxy.c_str(),
      proxy.c_str(), proxy.c_str(), proxy.c_str(), admin.c_str());
  std::fflush(stdout);
  int rc = srv->run();
  srv.reset();
  for (auto& e : echoes) e->stop();
  echoes.clear();
  ::unlink(path.c_str());
  return rc;
}

}  // namespace cw::cli
