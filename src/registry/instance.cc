// Registration parsing and validation. Thread contract: see instance.h.
#include "registry/instance.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "config/units.h"

namespace cw::registry {
namespace {

using Json = nlohmann::json;

Unexpected<FieldError> bad(std::string field, std::string message) {
  return {FieldError{std::move(field), std::move(message)}};
}

// The deepest nesting of arrays/objects in `body`, counted outside strings. The parser is
// iterative, but a deep tree still costs memory and a recursive destructor; a registration is
// 3 levels deep, so anything past kMaxJsonDepth is refused before parsing.
size_t json_depth(std::string_view body) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string type_name(const Json& j) { return j.type_name(); }

// An integer JSON value within [lo, hi]. nlohmann keeps non-negative numbers
// as unsigned and negative ones as signed, so both are read by their kind.
std::optional<int64_t> int_in(const Json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(hi) || int64_t(u) < lo) return std::nullopt;
    return int64_t(u);
  }
  if (!v.is_number_integer()) return std::nullopt;
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) return std::nullopt;
  return i;
}

bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// A key as an error's field: as written when it can be shown, else a description (a field is
// never empty, so a client can always tell which one it was).
std::string field_name(const std::string& k) {
  if (k.empty()) return "(empty key)";
  return printable(k) ? k : std::string("(unprintable)");
}

Result<int64_t, FieldError> duration_field(const Json& j, const std::string& field, int64_t lo,
                                           int64_t hi) {
  if (!j.is_string()) return bad(field, "must be a duration string such as \"2s\", not " + type_name(j));
  const std::string& text = j.get_ref<const std::string&>();
  auto d = config::parse_duration(text);
  if (!d) return bad(field, "\"" + text + "\" is not a duration (use 250ms, 2s, 1m)");
  const int64_t ms = d->count();
  if (ms < lo || ms > hi) {
    return bad(field, "must be between " + duration_text(lo) + " and " + duration_text(hi));
  }
  return ms;
}

Result<Check, FieldError> parse_check(const Json& j) {
  Check c;
  if (j.is_null()) return c;
  if (!j.is_object()) return bad("check", "must be an object or null, not " + type_name(j));
  if (j.empty()) return c;  // {} = no check, as absent
  int kinds = 0;
  for (const auto& [k, v] : j.items()) {
    const std::string f = "check." + k;
    if (k == "http") {
      ++kinds;
      c.kind = CheckKind::kHttp;
      if (!v.is_string()) return bad(f, "must be a path string such as \"/healthz\"");
      const std::string& p = v.get_ref<const std::string&>();
      if (p.empty() || p.front() != '/') return bad(f, "must be a path starting with /");
      if (p.size() > kMaxCheckPath) return bad(f, "longer than " + std::to_string(kMaxCheckPath) + " bytes");
      for (unsigned char ch : p) {
        if (ch <= 0x20 || ch >= 0x7f) return bad(f, "may not hold spaces, control or non-ASCII characters");
      }
      c.http_path = p;
    } else if (k == "tcp") {
      ++kinds;
      c.kind = CheckKind::kTcp;
      if (!v.is_boolean() || !v.get<bool>()) return bad(f, "must be true");
    } else if (k == "ttl") {
      ++kinds;
      c.kind = CheckKind::kTtl;
      auto ms = duration_field(v, f, kMinTtlMs, kMaxTtlMs);
      if (!ms) return Unexpected{ms.error()};
      c.ttl_ms = *ms;
    } else if (k == "interval") {
      auto ms = duration_field(v, f, kMinCheckIntervalMs, kMaxCheckIntervalMs);
      if (!ms) return Unexpected{ms.error()};
      c.interval_ms = *ms;
    } else if (k == "timeout") {
      auto ms = duration_field(v, f, kMinCheckIntervalMs, kMaxCheckIntervalMs);
      if (!ms) return Unexpected{ms.error()};
      c.timeout_ms = *ms;
    } else {
      return bad(f, "unknown check field (known: http, tcp, ttl, interval, timeout)");
    }
  }
  if (kinds == 0) return bad("check", "names no check type (one of http, tcp, ttl)");
  if (kinds > 1) return bad("check", "names more than one check type (one of http, tcp, ttl)");
  if (c.kind == CheckKind::kTtl) {
    if (j.contains("interval")) return bad("check.interval", "does not apply to a ttl check");
    if (j.contains("timeout")) return bad("check.timeout", "does not apply to a ttl check");
  } else if (!j.contains("timeout")) {
    // The default timeout (1s) must not make a short interval an error the caller never wrote.
    c.timeout_ms = std::min(c.timeout_ms, c.interval_ms);
  } else if (c.timeout_ms > c.interval_ms) {
    return bad("check.timeout", "must not be longer than check.interval");
  }
  return c;
}

}  // namespace

std::string_view check_kind_name(CheckKind k) {
  switch (k) {
    case CheckKind::kNone: return "none";
    case CheckKind::kHttp: return "http";
    case CheckKind::kTcp: return "tcp";
    case CheckKind::kTtl: return "ttl";
  }
  return "none";
}

std::string label_problem(std::string_view s) {
  if (s.empty()) return "is empty";
  if (s.size() > kMaxLabel) {
    return "is " + std::to_string(s.size()) + " characters long (a DNS label holds at most 63)";
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      std::string shown = printable(std::string_view(&c, 1)) ? std::string(1, c) : "a control character";
      return "may hold only a-z, 0-9 and '-' (a DNS label), not '" + shown + "'";
    }
  }
  if (s.front() == '-' || s.back() == '-') return "may not start or end with '-'";
  return {};
}

bool is_label(std::string_view s) { return label_problem(s).empty(); }

Result<std::string, std::string> canonical_ip(std::string_view text, bool& ipv6) {
  if (text.empty() || text.size() > 45) return Unexpected<std::string>{"is not an IP address"};
  const std::string t(text);
  char out[INET6_ADDRSTRLEN];
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, t.c_str(), &a4) == 1) {
    const uint32_t h = ntohl(a4.s_addr);
    if (h == 0) return Unexpected<std::string>{"0.0.0.0 is not an address to connect to"};
    if ((h >> 28) == 0xE) return Unexpected<std::string>{"is a multicast address"};
    if (h == 0xFFFFFFFFu) return Unexpected<std::string>{"is the broadcast address"};
    inet_ntop(AF_INET, &a4, out, sizeof out);
    ipv6 = false;
    return std::string(out);
  }
  if (inet_pton(AF_INET6, t.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&a6)) return Unexpected<std::string>{":: is not an address to connect to"};
    if (IN6_IS_ADDR_MULTICAST(&a6)) return Unexpected<std::string>{"is a multicast address"};
    inet_ntop(AF_INET6, &a6, out, sizeof out);
    ipv6 = true;
    return std::string(out);
  }
  return Unexpected<std::string>{"\"" + (printable(text) ? t : std::string("(unprintable)")) +
                                 "\" is not an IPv4 or IPv6 address (names are not accepted)"};
}

Result<Instance, FieldError> parse_instance(std::string_view service, std::string_view id,
                                            std::string_view body) {
  if (auto p = label_problem(service); !p.empty()) return bad("service", "the service name " + p);
  if (auto p = label_problem(id); !p.empty()) return bad("id", "the instance id " + p);
  if (body.size() > kMaxBodyBytes) {
    return bad("body", "is " + std::to_string(body.size()) + " bytes; a registration holds at most " +
                           std::to_string(kMaxBodyBytes));
  }
  if (json_depth(body) > kMaxJsonDepth) return bad("body", "is nested too deeply");
  // A key given twice would silently mean its last value: refuse it instead.
  std::vector<std::set<std::string>> open_objects;
  std::string repeated;
  auto watch_keys = [&](int, Json::parse_event_t ev, Json& parsed) {
    if (ev == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (ev == Json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (ev == Json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(k).second && repeated.empty()) repeated = k;
    }
    return true;
  };
  Json j = Json::parse(body, watch_keys, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("body", "is not valid JSON");
  if (!repeated.empty()) {
    return bad(field_name(repeated),
               "is given twice (a key may appear once per object)");
  }
  if (!j.is_object()) return bad("body", "must be a JSON object, not " + type_name(j));

  Instance inst;
  inst.service = std::string(service);
  inst.id = std::string(id);
  bool have_address = false, have_port = false;
  for (const auto& [k, v] : j.items()) {
    if (k == "address") {
      if (!v.is_string()) return bad(k, "must be an IP address string, not " + type_name(v));
      auto ip = canonical_ip(v.get_ref<const std::string&>(), inst.ipv6);
      if (!ip) return bad(k, ip.error());
      inst.address = std::move(*ip);
      have_address = true;
    } else if (k == "port") {
      if (!v.is_number_integer()) return bad(k, "must be an integer 1-65535, not " + type_name(v));
      const auto p = int_in(v, 1, 65535);
      if (!p) return bad(k, "must be 1-65535, not " + v.dump());
      inst.port = uint16_t(*p);
      have_port = true;
    } else if (k == "tags") {
      if (v.is_null()) continue;
      if (!v.is_array()) return bad(k, "must be an array of strings, not " + type_name(v));
      if (v.size() > kMaxTags) return bad(k, "holds more than " + std::to_string(kMaxTags) + " tags");
      std::set<std::string_view> seen;
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string f = "tags[" + std::to_string(i) + "]";
        if (!v[i].is_string()) return bad(f, "must be a string, not " + type_name(v[i]));
        const std::string& t = v[i].get_ref<const std::string&>();
        if (auto p = label_problem(t); !p.empty()) return bad(f, "the tag " + p);
        if (!seen.insert(t).second) return bad(f, "repeats the tag \"" + t + "\"");
        inst.tags.push_back(t);
      }
    } else if (k == "meta") {
      if (v.is_null()) continue;
      if (!v.is_object()) return bad(k, "must be an object of strings, not " + type_name(v));
      if (v.size() > kMaxMeta) return bad(k, "holds more than " + std::to_string(kMaxMeta) + " keys");
      for (const auto& [mk, mv] : v.items()) {
        const std::string f = "meta." + (printable(mk) ? mk : std::string("(unprintable)"));
        if (mk.empty() || mk.size() > kMaxMetaKey) {
          return bad(f, "keys are 1-" + std::to_string(kMaxMetaKey) + " characters");
        }
        for (char c : mk) {
          if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.')) {
            return bad(f, "keys may hold only letters, digits, '-', '_' and '.'");
          }
        }
        if (!mv.is_string()) return bad(f, "must be a string, not " + type_name(mv));
        const std::string& s = mv.get_ref<const std::string&>();
        if (s.size() > kMaxMetaValue) {
          return bad(f, "is longer than " + std::to_string(kMaxMetaValue) + " bytes");
        }
        inst.meta.emplace(mk, s);
      }
    } else if (k == "weight") {
      if (!v.is_number_integer()) return bad(k, "must be an integer 1-65535, not " + type_name(v));
      const auto w = int_in(v, 1, kMaxWeight);
      if (!w) return bad(k, "must be 1-65535, not " + v.dump());
      inst.weight = uint32_t(*w);
    } else if (k == "check") {
      auto c = parse_check(v);
      if (!c) return Unexpected{c.error()};
      inst.check = std::move(*c);
    } else {
      return bad(field_name(k),
                 "unknown field (known: address, port, tags, meta, weight, check)");
    }
  }
  if (!have_address) return bad("address", "is required");
  if (!have_port) return bad("port", "is required");
  return inst;
}

std::string duration_text(int64_t ms) {
  if (ms % 3'600'000 == 0 && ms > 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0 && ms > 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

nlohmann::json check_json(const Check& c) {
  Json j = Json::object();
  switch (c.kind) {
    case CheckKind::kNone: return j;
    case CheckKind::kHttp: j["http"] = c.http_path; break;
    case CheckKind::kTcp: j["tcp"] = true; break;
    case CheckKind::kTtl: j["ttl"] = duration_text(c.ttl_ms); return j;
  }
  j["interval"] = duration_text(c.interval_ms);
  j["timeout"] = duration_text(c.timeout_ms);
  return j;
}

nlohmann::json instance_json(const Instance& inst) {
  Json meta = Json::object();
  for (const auto& [k, v] : inst.meta) meta[k] = v;
  Json j = {{"service", inst.service}, {"id", inst.id},     {"address", inst.address},
            {"port", inst.port},       {"tags", inst.tags}, {"meta", std::move(meta)},
            {"weight", inst.weight}};
  if (inst.check.kind != CheckKind::kNone) j["check"] = check_json(inst.check);
  return j;
}

}  // namespace cw::registry
