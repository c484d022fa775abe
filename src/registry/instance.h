// Registry instances (SPEC 5): the model of one registered instance and the strict parser of
// the registration body `PUT /api/v1/services/{service}/instances/{id}`. A bad body is refused
// with the field it names; nothing half-parsed escapes. Pure: no I/O, no clock.
// Thread contract: plain values and free functions, safe on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace cw::registry {

// Limits of one registration; docs/discovery.md lists them.
inline constexpr size_t kMaxBodyBytes = 64 * 1024;
inline constexpr size_t kMaxLabel = 63;          // service, id, tag: one DNS label
inline constexpr size_t kMaxTags = 64;
inline constexpr size_t kMaxMeta = 64;
inline constexpr size_t kMaxMetaKey = 128;
inline constexpr size_t kMaxMetaValue = 512;
inline constexpr size_t kMaxCheckPath = 1024;
inline constexpr size_t kMaxJsonDepth = 8;       // the body is shallow; deeper is refused early
inline constexpr uint32_t kMaxWeight = 65535;    // as Consul: weights 1..65535
inline constexpr int64_t kMinCheckIntervalMs = 100;
inline constexpr int64_t kMaxCheckIntervalMs = 24LL * 3600 * 1000;
inline constexpr int64_t kMinTtlMs = 1000;
inline constexpr int64_t kMaxTtlMs = 24LL * 3600 * 1000;
inline constexpr int64_t kDefaultCheckIntervalMs = 10'000;
inline constexpr int64_t kDefaultCheckTimeoutMs = 1'000;

enum class CheckKind : uint8_t { kNone, kHttp, kTcp, kTtl };
std::string_view check_kind_name(CheckKind k);  // "none", "http", "tcp", "ttl"

// How the registry learns whether an instance serves. kNone: healthy while registered. kHttp
// and kTcp run through the health monitor every interval; kTtl is healthy from a heartbeat
// until ttl passes without another.
struct Check {
  CheckKind kind = CheckKind::kNone;
  std::string http_path;  // kHttp: "/healthz"
  int64_t interval_ms = kDefaultCheckIntervalMs;  // kHttp, kTcp
  int64_t timeout_ms = kDefaultCheckTimeoutMs;    // kHttp, kTcp
  int64_t ttl_ms = 0;                             // kTtl
  bool operator==(const Check&) const = default;
};

struct Instance {
  std::string service;   // DNS label
  std::string id;        // DNS label, unique within the service
  std::string address;   // canonical IP text ("127.0.0.2", "::1")
  bool ipv6 = false;
  uint16_t port = 0;     // 1..65535
  std::vector<std::string> tags;               // DNS labels, no duplicates, in given order
  std::map<std::string, std::string> meta;     // string to string
  uint32_t weight = 1;                         // 1..kMaxWeight
  Check check;
  bool operator==(const Instance&) const = default;  // the registration, not its indexes
};

// What is wrong with a call, naming the field as the client wrote it ("port", "tags[2]",
// "check.interval", "meta.owner", "body", "service", "id").
struct FieldError {
  std::string field;
  std::string message;
};

// A DNS label as SPEC 5 wants names: [a-z0-9-], 1..63, and (RFC 1123) not starting or ending
// with '-'. Upper case is refused rather than folded, so a name is stored as it is served.
bool is_label(std::string_view s);
// Empty when `s` is a good label, else why not (for the error message).
std::string label_problem(std::string_view s);

// The canonical text of an IPv4 or IPv6 literal (inet_pton then inet_ntop), or an error when
// it is not one, or is an address nothing can connect to (unspecified, multicast, broadcast).
Result<std::string, std::string> canonical_ip(std::string_view text, bool& ipv6);

// Parses and validates a registration body for `service`/`id` (checked first). Unknown fields,
// wrong types, out-of-range values, bodies over kMaxBodyBytes or nested deeper than
// kMaxJsonDepth are refused with the first problem found.
Result<Instance, FieldError> parse_instance(std::string_view service, std::string_view id,
                                            std::string_view body);

// The registration as JSON, in the shape parse_instance reads (plus "service" and "id"), so
// instance_json(parse_instance(...)) round-trips and the CLI can show what it stored.
nlohmann::json instance_json(const Instance& inst);
// The check alone ({} for kNone), with durations as "2s"/"250ms" strings.
nlohmann::json check_json(const Check& c);
// A duration in the config's style: "2s", "250ms", "1m30s".
std::string duration_text(int64_t ms);

}  // namespace cw::registry
