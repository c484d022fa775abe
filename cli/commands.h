// The causeway command line: one function per subcommand, called by main.cc after parsing.
// Thread contract: main thread only.
#pragma once

#include <string>

namespace cw::cli {

struct DemoOptions {
  std::string listen = "127.0.0.1:8080";
  std::string admin = "127.0.0.1:9901";
  std::string dns = "127.0.0.1:8600";
  bool access_log = false;
};

struct EchoCmdOptions {
  std::string listen;
  std::string name = "echo";
  std::string instance;
  std::string latency;
  double error_rate = 0;
  double reset_rate = 0;
  double hang_rate = 0;
  int workers = 1;
  std::string keepalive_timeout = "60s";
};

// `causeway services [list|show NAME|register FILE|deregister ID]` (cli/services.cc).
struct ServicesOptions {
  std::string action = "list";  // list, show, register or deregister
  std::string arg;              // NAME, FILE ("-" = stdin) or ID ("SERVICE/ID" or a bare ID)
  std::string arg2;             // deregister SERVICE ID: the ID
  std::string admin;            // --admin ADDR; empty = from -c, ./causeway.yaml or the default
  std::string config_path;      // -c FILE: where to read admin.listen
  std::string timeout = "10s";  // bounds each call to the admin API
  bool json = false;            // print the API's JSON answer instead of a table
};

int run_proxy(const std::string& config_path);
int check_config(const std::string& config_path);
int run_demo(const DemoOptions& opts);
int run_echo(const EchoCmdOptions& opts);
int run_trace(const std::string& url, const std::string& via);
int run_services(const ServicesOptions& opts);
int print_version();

}  // namespace cw::cli
