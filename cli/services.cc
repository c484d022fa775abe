// `causeway services [list|show NAME|register FILE|deregister SERVICE ID]`: the registry via admin API.
// Thread contract: main thread; one blocking HTTP exchange at a time (services_http.h).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/services_http.h"
#include "config/net.h"
#include "config/units.h"
#include "registry/instance.h"

namespace cw::cli {
namespace {

// ordered_json keeps the registration file's field order, so the API reports the first bad
// field as the user reads the file.
using Json = nlohmann::ordered_json;

constexpr size_t kMaxFileBytes = 1u << 20;  // 16x what the API takes: refuse absurd input early

struct Ctx {
  const ServicesOptions& opts;
  const char* verb;  // "list", "show", "register", "deregister": the prefix of every message
  AdminTarget target;
  std::chrono::milliseconds timeout{10000};
};

void say(const Ctx& c, const std::string& msg) {
  std::fprintf(stderr, "causeway: %s: %s\n", c.verb, msg.c_str());
}

struct Answer {
  int status = 0;
  std::string raw;  // the body as it came, for --json
  Json json;        // the body parsed (an object for every registry answer)
};

// One call to the admin API. A failure to reach it, or an answer that is not the registry's
// JSON, is reported here (nullopt); an HTTP error status is the caller's to interpret.
std::optional<Answer> call(const Ctx& c, std::string_view method, const std::string& path,
                           std::string_view body = {}) {
  auto r = http_call(c.target, method, path, body, c.timeout);
  if (!r) {
    if (r.error().reached) {
      say(c, "the admin API at " + c.target.text + " did not answer " + std::string(method) + " " +
                 path + ": " + r.error().what);
    } else {
      say(c, "cannot reach the admin API at " + c.target.text + ": " + r.error().what +
                 " (is causeway running there? name it with --admin ADDR or -c FILE)");
    }
    return std::nullopt;
  }
  Answer a;
  a.status = r->status;
  a.raw = std::move(r->body);
  a.json = Json::parse(a.raw, nullptr, /*allow_exceptions=*/false);
  if (a.json.is_discarded() || !a.json.is_object()) {
    // Something else listens there (another program, an old causeway without the registry).
    say(c, "the server at " + c.target.text + " answered " + std::string(method) + " " + path +
               " with HTTP " + std::to_string(a.status) +
               " but not the registry API's JSON (is it causeway's admin listener?)");
    return std::nullopt;
  }
  return a;
}

// With --json every answer the API gave goes to stdout as it came, errors included, so a
// script reads the same JSON the API documents.
void print_raw(const Answer& a) {
  std::fputs(a.raw.c_str(), stdout);
  if (a.raw.empty() || a.raw.back() != '\n') std::fputc('\n', stdout);
}

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->dump() : std::string("?");
}

// The API's error answer as one line; always exit code 1 (a runtime error, SPEC 1).
int api_error(const Ctx& c, const Answer& a) {
  if (c.opts.json) print_raw(a);
  const std::string code = str(a.json, "error");
  const std::string field = str(a.json, "field");
  const std::string detail = str(a.json, "detail");
  if (code == "registry_disabled") {
    say(c, "the causeway at " + c.target.text +
               " has no registry: its config needs a registry: section, such as "
               "`registry: { data_dir: ./causeway-data }` (docs/discovery.md)");
  } else if (!field.empty()) {
    say(c, field + ": " + (detail.empty() ? code : detail));  // "port: must be 1-65535, not 0"
  } else {
    say(c, (code.empty() ? "error" : code) + " (HTTP " + std::to_string(a.status) + ")" +
               (detail.empty() ? "" : ": " + detail));
  }
  return 1;
}

bool ok(const Answer& a) { return a.status >= 200 && a.status < 300; }

// Columns padded to their widest cell, two spaces apart, the last one unpadded (no trailing
// blanks for grep and diff).
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

std::string join_tags(const Json& j) {
  std::string out;
  auto it = j.find("tags");
  if (it != j.end() && it->is_array()) {
    for (const auto& t : *it) {
      if (!t.is_string()) continue;
      if (!out.empty()) out += ',';
      out += t.get<std::string>();
    }
  }
  return out.empty() ? "-" : out;
}

// "http /healthz every 2s", "tcp every 2s", "ttl 30s" or "none"; the timeout is in --json.
std::string check_text(const Json& inst) {
  auto it = inst.find("check");
  if (it == inst.end() || !it->is_object() || it->empty()) return "none";
  const Json& ch = *it;
  if (ch.contains("ttl")) return "ttl " + str(ch, "ttl");
  const std::string every = " every " + str(ch, "interval");
  if (ch.contains("http")) return "http " + str(ch, "http") + every;
  if (ch.contains("tcp")) return "tcp" + every;
  return ch.dump();  // a kind this CLI does not know yet: show it rather than hide it
}

std::string address_port(const Json& inst) {
  const std::string addr = str(inst, "address");
  const std::string port = num(inst, "port");
  return addr.find(':') != std::string::npos ? "[" + addr + "]:" + port : addr + ":" + port;
}

// A shared registry that cannot reach etcd serves its last known state: say so first, on
// stderr, so a table on stdout stays parseable.
void warn_stale(const Json& j) {
  if (!j.is_object() || !j.value("stale", false)) return;
  const auto ms = j["stale_for_ms"].is_number_integer() ? j["stale_for_ms"].get<int64_t>() : 0;
  std::fprintf(stderr, "warning: the registry is stale for %lld s (serving its last known "
               "state; writes are refused): %s\n", static_cast<long long>(ms / 1000),
               str(j, "stale_reason").c_str());
}

// ---- the subcommands ----

int cmd_list(const Ctx& c) {
  auto a = call(c, "GET", "/api/v1/services");
  if (!a) return 1;
  if (!ok(*a)) return api_error(c, *a);
  if (c.opts.json) {
    print_raw(*a);
    return 0;
  }
  warn_stale(a->json);
  const Json& list = a->json["services"];
  if (!list.is_array() || list.empty()) {
    std::printf("no services registered\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"SERVICE", "INSTANCES", "PASSING", "TAGS"}};
  for (const auto& s : list) {
    rows.push_back({str(s, "name"), num(s, "instances"), num(s, "passing"), join_tags(s)});
  }
  print_table(rows);
  return 0;
}

int cmd_show(const Ctx& c, const std::string& name) {
  if (auto p = registry::label_problem(name); !p.empty()) {
    say(c, "the service name " + p);
    return 2;
  }
  auto a = call(c, "GET", "/api/v1/services/" + name);
  if (!a) return 1;
  if (!ok(*a)) return api_error(c, *a);
  if (c.opts.json) {
    print_raw(*a);
    return 0;
  }
  warn_stale(a->json);
  const Json& list = a->json["instances"];
  // The API answers an unknown service with an empty list (as Consul's catalog does): not an
  // error, so scripts polling for a service to appear see exit 0.
  if (!list.is_array() || list.empty()) {
    std::printf("no instances of %s\n", name.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"ID", "ADDRESS:PORT", "HEALTH", "WEIGHT", "TAGS", "CHECK"}};
  std::vector<std::string> why;  // why the instances that are not served are not
  for (const auto& i : list) {
    const bool ejected = i.value("ejected", false);
    std::string health = str(i, "health");
    if (ejected) health += ",ejected";
    rows.push_back(
        {str(i, "id"), address_port(i), health, num(i, "weight"), join_tags(i), check_text(i)});
    if (!i.value("serving", true)) {
      std::string detail = str(i, "health_detail");
      if (ejected) detail = "ejected by outlier detection" + (detail.empty() ? "" : "; " + detail);
      if (detail.empty()) detail = "no check result yet";
      why.push_back(str(i, "id") + ": " + str(i, "health") + ": " + detail);
    }
  }
  print_table(rows);
  if (!why.empty()) {
    std::printf("\n");
    for (const auto& w : why) std::printf("%s\n", w.c_str());
  }
  return 0;
}

// Reads FILE, or stdin for "-"; nullopt after saying why.
std::optional<std::string> read_input(const Ctx& c, const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      say(c, "cannot read " + file + ": " + std::strerror(errno));
      return std::nullopt;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (text.size() > kMaxFileBytes) {
    say(c, (file == "-" ? std::string("stdin") : file) +
               " is larger than 1 MiB; a registration "
               "is a small JSON object");
    return std::nullopt;
  }
  return text;
}

int cmd_register(const Ctx& c, const std::string& file) {
  const std::string name = file == "-" ? "stdin" : file;
  auto text = read_input(c, file);
  if (!text) return 1;
  Json reg;
  try {
    reg = Json::parse(*text);
  } catch (const Json::parse_error& e) {
    std::string why = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix: the position is what helps.
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    say(c, name + " is not JSON: " + why);
    return 1;
  }
  if (!reg.is_object()) {
    say(c, name +
               " must hold one JSON object: {\"service\": ..., \"id\": ..., \"address\": ..., "
               "\"port\": ...}");
    return 1;
  }
  std::string names[2];
  const char* keys[2] = {"service", "id"};
  for (int k = 0; k < 2; ++k) {
    auto it = reg.find(keys[k]);
    if (it == reg.end() || !it->is_string()) {
      say(c, name + (it == reg.end() ? " has no \"" : " has a non-string \"") + keys[k] +
                 "\": a registration file names the instance with \"service\" and \"id\" beside "
                 "the body (address, port, tags, meta, weight, check)");
      return 1;
    }
    names[k] = it->get<std::string>();
    // Checked here because they go into the URL path: a '/' or '?' would address another
    // resource. The words are the API's own (registry::label_problem).
    if (auto p = registry::label_problem(names[k]); !p.empty()) {
      say(c, std::string(keys[k]) + ": the " + (k == 0 ? "service name " : "instance id ") + p);
      return 1;
    }
    reg.erase(it);
  }
  auto a = call(c, "PUT", "/api/v1/services/" + names[0] + "/instances/" + names[1], reg.dump());
  if (!a) return 1;
  if (!ok(*a)) return api_error(c, *a);
  if (c.opts.json) {
    print_raw(*a);
    return 0;
  }
  std::printf("registered %s/%s (index %s)\n", names[0].c_str(), names[1].c_str(),
              num(a->json, "index").c_str());
  return 0;
}

int deregister_one(const Ctx& c, const std::string& service, const std::string& id) {
  auto a = call(c, "DELETE", "/api/v1/services/" + service + "/instances/" + id);
  if (!a) return 1;
  if (a->status == 404 && str(a->json, "error") == "not_found") {
    if (c.opts.json) print_raw(*a);
    say(c, "no instance " + id + " in service " + service);
    return 1;
  }
  if (!ok(*a)) return api_error(c, *a);
  if (c.opts.json) {
    print_raw(*a);
    return 0;
  }
  std::printf("deregistered %s/%s (index %s)\n", service.c_str(), id.c_str(),
              num(a->json, "index").c_str());
  return 0;
}

int cmd_deregister(const Ctx& c, const std::string& arg) {
  const auto slash = arg.find('/');
  const std::string service = slash == std::string::npos ? "" : arg.substr(0, slash);
  const std::string id = slash == std::string::npos ? arg : arg.substr(slash + 1);
  if (slash != std::string::npos) {
    if (auto p = registry::label_problem(service); !p.empty()) {
      say(c, "the service name " + p + " (want SERVICE/ID or ID)");
      return 2;
    }
  }
  if (auto p = registry::label_problem(id); !p.empty()) {
    say(c, "the instance id " + p + " (want SERVICE/ID or ID)");
    return 2;
  }
  if (!service.empty()) return deregister_one(c, service, id);

  // A bare id: ids are unique only within a service, so look in every one and act only when
  // exactly one instance answers to it.
  auto all = call(c, "GET", "/api/v1/services");
  if (!all) return 1;
  if (!ok(*all)) return api_error(c, *all);
  std::vector<std::string> owners;
  const Json& list = all->json["services"];
  for (const auto& s : list.is_array() ? list : Json()) {  // null iterates as empty
    const std::string name = str(s, "name");
    if (registry::label_problem(name) != "") continue;  // never build a path from odd input
    auto one = call(c, "GET", "/api/v1/services/" + name);
    if (!one) return 1;
    if (!ok(*one)) return api_error(c, *one);
    const Json& insts = one->json["instances"];
    for (const auto& i : insts.is_array() ? insts : Json()) {
      if (str(i, "id") == id) owners.push_back(name);
    }
  }
  if (owners.empty()) {
    say(c, "no instance " + id);
    return 1;
  }
  if (owners.size() > 1) {
    std::string msg = "instance id " + id + " is in " + std::to_string(owners.size()) +
                      " services; name one as SERVICE/ID:";
    for (const auto& o : owners) msg += "\n  " + o + "/" + id;
    say(c, msg);
    return 1;
  }
  return deregister_one(c, owners[0], id);
}

}  // namespace

int run_services(const ServicesOptions& opts) {
  Ctx c{opts, opts.action.c_str()};
  if (!opts.admin.empty()) {
    auto a = config::parse_address(opts.admin);
    if (!a || a->port == 0) {
      say(c, "--admin " + opts.admin + ": want IP:PORT, such as 127.0.0.1:9901 or [::1]:9901");
      return 2;
    }
  }
  auto t = config::parse_duration(opts.timeout);
  if (!t || t->count() <= 0) {
    say(c, "--timeout " + opts.timeout + ": want a duration such as 10s or 500ms");
    return 2;
  }
  c.timeout = *t;
  auto target = resolve_admin(opts.admin, opts.config_path);
  if (!target) {
    say(c, target.error());
    return 1;
  }
  c.target = std::move(*target);
  if (opts.action == "show") return cmd_show(c, opts.arg);
  if (opts.action == "register") return cmd_register(c, opts.arg);
  if (opts.action == "deregister") {
    if (!opts.arg2.empty()) {
      if (opts.arg.find('/') != std::string::npos) {
        say(c, "give SERVICE ID or SERVICE/ID, not both");
        return 2;
      }
      return cmd_deregister(c, opts.arg + "/" + opts.arg2);
    }
    return cmd_deregister(c, opts.arg);
  }
  return cmd_list(c);
}

}  // namespace cw::cli
