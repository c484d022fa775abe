// `causeway echo`: runs the synthetic service until SIGINT/SIGTERM.
// Thread contract: main thread; the service runs on its own threads.
#include <signal.h>

#include <cstdio>

#include "cli/commands.h"
#include "config/units.h"
#include "echo/echo_service.h"

namespace cw::cli {

int run_echo(const EchoCmdOptions& o) {
  echo::EchoOptions eo;
  eo.listen = o.listen;
  eo.name = o.name;
  eo.instance = o.instance;
  eo.latency = o.latency;
  eo.error_rate = o.error_rate;
  eo.reset_rate = o.reset_rate;
  eo.hang_rate = o.hang_rate;
  eo.workers = o.workers;
  auto ka = config::parse_duration(o.keepalive_timeout);
  if (!ka) {
    std::fprintf(stderr, "causeway echo: --keepalive-timeout: expected a duration like 60s\n");
    return 2;
  }
  eo.keepalive_timeout_ms = ka->count();
  std::string error;
  auto service = echo::EchoServer::start(eo, error);
  if (!service) {
    std::fprintf(stderr, "causeway echo: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "echo %s listening on %s\n", eo.name.c_str(),
               (*service)->address().text().c_str());
  // Signals are blocked in every thread (main blocked them first); wait for one here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  (*service)->stop();
  return 0;
}

}  // namespace cw::cli
