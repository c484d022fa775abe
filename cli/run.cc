// `causeway run`, `causeway check` and `causeway version`.
// Thread contract: main thread.
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstring>
#include <nghttp2/nghttp2ver.h>
#include <openssl/opensslv.h>

#include "cli/commands.h"
#include "config/load.h"
#include "server/server.h"

namespace cw::cli {

int run_proxy(const std::string& config_path) {
  std::string path = config_path.empty() ? "causeway.yaml" : config_path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (config_path.empty()) {
      std::fprintf(stderr,
                   "causeway: no ./causeway.yaml here.\n"
                   "  Try `causeway demo` for a running example, or `causeway run -c FILE`.\n");
    } else {
      std::fprintf(stderr, "causeway: cannot read config %s: %s\n", path.c_str(),
                   std::strerror(errno));
    }
    return 1;
  }
  std::vector<std::string> errors;
  auto server = server::Server::create(path, errors);
  if (!server) {
    for (const auto& e : errors) std::fprintf(stderr, "causeway: %s\n", e.c_str());
    return 1;
  }
  return server->run();
}

int check_config(const std::string& config_path) {
  auto r = config::load_config_file(config_path);
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.format().c_str());
    std::fprintf(stderr, "%zu error%s\n", r.errors.size(), r.errors.size() == 1 ? "" : "s");
    return 1;
  }
  for (const auto& key : r.config->unapplied_keys) {
    std::fprintf(stderr, "%s: warning: %s is accepted but not applied by this version\n",
                 config_path.c_str(), key.c_str());
  }
  std::printf("%s: ok (%zu listeners, %zu clusters)\n", config_path.c_str(),
              r.config->listeners.size(), r.config->clusters.size());
  return 0;
}

int print_version() {
  std::printf("causeway %s (%s build, g++ %d.%d, C++%ld)\n", CAUSEWAY_VERSION, CAUSEWAY_BUILD_TYPE,
              __GNUC__, __GNUC_MINOR__, __cplusplus / 100 % 100 + 0L);
  std::printf("  openssl   %s\n", OPENSSL_VERSION_TEXT);
  std::printf("  nghttp2   %s (linked later for HTTP/2)\n", NGHTTP2_VERSION);
  std::printf("  runtime   epoll, edge-triggered, C++20 coroutines\n");
  return 0;
}

}  // namespace cw::cli
