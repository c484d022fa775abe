// The causeway command line: one function per subcommand, called by main.cc after parsing.
// Thread contract: main thread only.
#pragma once

#include <string>

namespace cw::cli {

struct DemoOptions {
  std::string listen = "127.0.0.1:8080";
  std::string admin = "127.0.0.1:9901";
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

int run_proxy(const std::string& config_path);
int check_config(const std::string& config_path);
int run_demo(const DemoOptions& opts);
int run_echo(const EchoCmdOptions& opts);
int run_trace(const std::string& url, const std::string& via);
int print_version();

}  // namespace cw::cli
