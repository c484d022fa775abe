// causeway: entry point. Parses the command line (CLI11) and dispatches to a subcommand.
// Exit codes: 0 success, 1 runtime/config error, 2 usage error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "base/log.h"
#include "cli/commands.h"
#include "server/server.h"

int main(int argc, char** argv) {
  cw::server::block_signals();
  CLI::App app{
      "Causeway: one binary that carries traffic between services -- an HTTP load balancer\n"
      "and API gateway with per-hop tracing. Start with `causeway demo`."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(CAUSEWAY_VERSION));
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", log_format, "text|json")->check(CLI::IsMember({"text", "json"}));

  std::string config_path;
  auto* run = app.add_subcommand("run", "Run everything the config enables (default ./causeway.yaml)");
  run->add_option("-c,--config", config_path, "config file");

  std::string check_path;
  auto* check = app.add_subcommand("check", "Validate a config file; errors name file:line:column and key");
  check->add_option("-c,--config", check_path, "config file")->required();

  cw::cli::DemoOptions demo_opts;
  auto* demo = app.add_subcommand(
      "demo", "Start causeway with built-in demo services (web x1, api x3, auth x2) on loopback, "
              "registered in its registry and served by its DNS server");
  demo->add_option("--listen", demo_opts.listen, "proxy address")->capture_default_str();
  demo->add_option("--admin", demo_opts.admin, "admin address")->capture_default_str();
  demo->add_option("--dns", demo_opts.dns, "DNS server address (UDP and TCP)")
      ->capture_default_str();
  demo->add_flag("--access-log", demo_opts.access_log, "print an access log line per request");

  cw::cli::EchoCmdOptions echo_opts;
  auto* echo = app.add_subcommand("echo", "A synthetic service for demos, tests and benchmarks");
  echo->add_option("--listen", echo_opts.listen, "address to listen on, e.g. 127.0.0.1:9001")
      ->required();
  echo->add_option("--name", echo_opts.name, "service name reported in responses")
      ->capture_default_str();
  echo->add_option("--instance", echo_opts.instance, "instance id (default NAME-PORT)");
  echo->add_option("--latency", echo_opts.latency, "20ms (fixed), 10ms-50ms (uniform) or exp:20ms");
  echo->add_option("--error-rate", echo_opts.error_rate, "fraction answered 503")
      ->check(CLI::Range(0.0, 1.0));
  echo->add_option("--reset-rate", echo_opts.reset_rate, "fraction reset without an answer")
      ->check(CLI::Range(0.0, 1.0));
  echo->add_option("--hang-rate", echo_opts.hang_rate, "fraction never answered")
      ->check(CLI::Range(0.0, 1.0));
  echo->add_option("--workers", echo_opts.workers, "threads")->capture_default_str()
      ->check(CLI::Range(1, 256));
  echo->add_option("--keepalive-timeout", echo_opts.keepalive_timeout,
                   "close idle keep-alive connections after this long")->capture_default_str();

  std::string trace_url, trace_via;
  auto* trace = app.add_subcommand("trace", "Trace one request hop by hop and print a waterfall");
  trace->add_option("url", trace_url, "http://host:port/path")->required();
  trace->add_option("--via", trace_via, "send through this proxy (host:port)");

  cw::cli::ServicesOptions svc;
  auto* services = app.add_subcommand(
      "services", "The registry from the command line, through the admin API: list (the "
                  "default), show NAME, register FILE, deregister SERVICE ID");
  // The shared options go on `services` and on each action, so they work before or after it.
  auto svc_options = [&svc](CLI::App* sub) {
    sub->add_option("--admin", svc.admin,
                    "admin listener (default: admin.listen of -c FILE, else of ./causeway.yaml, "
                    "else 127.0.0.1:9901)");
    sub->add_option("-c,--config", svc.config_path, "read the admin address from this config");
    sub->add_flag("--json", svc.json, "print the API's JSON answer as it came");
    sub->add_option("--timeout", svc.timeout, "bound on each call to the admin API")
        ->capture_default_str();
  };
  svc_options(services);
  services->require_subcommand(0, 1);
  auto* svc_list =
      services->add_subcommand("list", "Services with their instance and passing counts and tags");
  auto* svc_show = services->add_subcommand(
      "show", "A service's instances: address, health, weight, tags, check");
  svc_show->add_option("name", svc.arg, "service name")->required();
  auto* svc_register = services->add_subcommand(
      "register", "Register (or replace) an instance from a JSON file: {\"service\", \"id\", "
                  "\"address\", \"port\", ...}");
  svc_register->add_option("file", svc.arg, "JSON file, or - for stdin")->required();
  auto* svc_deregister = services->add_subcommand(
      "deregister",
      "Deregister an instance: SERVICE ID, SERVICE/ID, or an ID unique across services");
  svc_deregister->add_option("id", svc.arg, "SERVICE (then ID), SERVICE/ID, or ID")->required();
  svc_deregister->add_option("id_in_service", svc.arg2, "the ID, after SERVICE");
  for (auto* sub : {svc_list, svc_show, svc_register, svc_deregister}) svc_options(sub);

  auto* version = app.add_subcommand("version", "Version, build flags, linked library versions");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!cw::log::init(log_level,
                     log_format == "json" ? cw::log::Format::kJson : cw::log::Format::kText)) {
    std::fprintf(stderr, "causeway: unknown --log-level %s\n", log_level.c_str());
    return 2;
  }

  if (*run) return cw::cli::run_proxy(config_path);
  if (*check) return cw::cli::check_config(check_path);
  if (*demo) return cw::cli::run_demo(demo_opts);
  if (*echo) return cw::cli::run_echo(echo_opts);
  if (*trace) return cw::cli::run_trace(trace_url, trace_via);
  if (*services) {
    if (*svc_show) svc.action = "show";
    if (*svc_register) svc.action = "register";
    if (*svc_deregister) svc.action = "deregister";
    return cw::cli::run_services(svc);
  }
  if (*version) return cw::cli::print_version();
  return 2;
}
