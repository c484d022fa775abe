// Inside the config loader (not a public header): the Loader that walks a YAML tree into a
// Config, its typed readers, and the text helpers its sections share. One file per section:
// load.cc (entry points, maps), load_scalars.cc, load_top.cc, load_listeners.cc,
// load_routes.cc, load_clusters.cc, cross_check.cc, errors.cc.
// Thread contract: a Loader is used by one thread for one load; the helpers are pure.
#pragma once

#include <yaml-cpp/mark.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/load.h"
#include "config/yaml_tree.h"

namespace cw::config::detail {

using yaml::Node;
using Keys = std::initializer_list<std::string_view>;

constexpr size_t kMaxErrors = 100;

// ---- text (errors.cc)
// Key paths: "listeners[0].routes[1].match". Keys outside [A-Za-z0-9_-] are quoted: a["x.y"].
std::string child(const std::string& parent, std::string_view key);
std::string item(const std::string& parent, size_t i);
// The path without its last segment; tokenizes from the front so quoted keys are handled.
std::string parent_path(const std::string& path);
// At most `max` bytes of `s` (never splitting a UTF-8 sequence), "..." when cut.
std::string truncate(std::string_view s, size_t max = 40);
// Control characters, DEL, C1 controls and bytes that are not UTF-8 as printable escapes
// (\n, \r, \t, \xNN; U+0080-U+009F as \u0080), so user text shown in an error cannot drive
// the terminal or cut the message short. Everything else, backslashes included, is kept.
std::string escape_text(std::string_view s);
std::string describe(const Node& n);  // "'value'", "a list", "a map", "an empty value"
std::string join(Keys words);         // "a, b, c"
std::string hint(const std::optional<std::string>& suggestion);  // " (did you mean 'x'?)"
bool is_token(std::string_view s);                               // RFC 9110 token
std::string to_lower(std::string s);
std::string to_upper(std::string s);
bool all_digits(std::string_view s);

template <class T, class U>
void set(T& out, std::optional<U> v) {
  if (v) out = std::move(*v);
}

// ---- a YAML map opened for reading (load.cc): its entries (merge keys "<<" resolved),
// checked against the keys known at that level.
struct Entry {
  std::string key;
  Node key_node;
  Node value;
  std::string path;
};

struct Map {
  bool ok = false;  // the node was a map
  Node node;
  std::string path;
  std::vector<Entry> entries;
  std::vector<std::string> suggested;  // hints given for unknown keys here (suppresses "missing")
  // Key -> entry, built once a map grows past a few entries so that a map with many keys is
  // read in linear time. The views point into the YAML tree, which outlives the Map.
  std::unordered_map<std::string_view, size_t> index;

  bool was_suggested(std::string_view key) const {
    return std::find(suggested.begin(), suggested.end(), key) != suggested.end();
  }
  const Entry* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  void add(Entry e);
};

// A hash set of indexes into a vector whose elements hold an Address: finds the first element
// with an equal address in O(1) without copying addresses. The vector may grow (it is held by
// pointer) but earlier elements must not change.
template <class T, Address T::*kField>
class AddressIndex {
 public:
  AddressIndex(const std::vector<T>& list, size_t expected)
      : set_(expected, Hash{&list}, Equal{&list}) {}
  // Adds element i; returns the index of an earlier element with the same address, or i.
  size_t add(size_t i) { return *set_.insert(i).first; }

 private:
  struct Hash {
    const std::vector<T>* list;
    size_t operator()(size_t i) const {
      const Address& a = (*list)[i].*kField;
      return std::hash<std::string_view>()(a.host) ^ (size_t{a.port} * 0x9E3779B97F4A7C15ull);
    }
  };
  struct Equal {
    const std::vector<T>* list;
    bool operator()(size_t i, size_t j) const {
      const Address& a = (*list)[i].*kField;
      const Address& b = (*list)[j].*kField;
      return a.port == b.port && a.host == b.host;
    }
  };
  std::unordered_set<size_t, Hash, Equal> set_;
};

// Where a name was defined, for cross-checks after the walk.
struct Site {
  YAML::Mark mark;
  std::string path;
};

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  std::shared_ptr<Config> load(std::string_view yaml);
  std::vector<ConfigError> take_errors();

 private:
  // --- errors (errors.cc)
  void error(const YAML::Mark& mark, std::string path, std::string message,
             ErrorKind kind = ErrorKind::kInvalid);
  void error(const Node& at, std::string path, std::string message) {
    error(mark_of(at), std::move(path), std::move(message));
  }
  // No more errors will be kept: skip work (hints) that only serves an error message.
  bool full() const { return errors_.size() >= kMaxErrors; }
  // yaml-cpp marks an empty value ("workers:") where the next token starts; point at its key.
  YAML::Mark mark_of(const Node& n) const;
  void expected(const Node& at, const std::string& path, std::string_view what) {
    error(at, path, "expected " + std::string(what) + ", got " + describe(at));
  }

  // --- structure (load.cc)
  const Entry* need(const Map& m, std::string_view key, std::string_view extra = "");
  Map open_map(const Node& node, const std::string& path, Keys known);
  void collect(Map& m, const Node& node, bool merged, int depth);
  bool is_list(const Node& node, const std::string& path, std::string_view what);

  // --- scalars (load_scalars.cc)
  std::optional<std::string> scalar(const Node& n, const std::string& path, std::string_view what);
  std::optional<std::string> string(const Node& n, const std::string& path,
                                    bool allow_empty = false);
  std::optional<std::string> name(const Node& n, const std::string& path);
  std::optional<int64_t> integer(const Node& n, const std::string& path, int64_t min, int64_t max);
  std::optional<double> percent(const Node& n, const std::string& path);
  // A non-negative decimal ("1.9") up to max; `what` names it in errors.
  std::optional<double> decimal(const Node& n, const std::string& path, double max,
                                std::string_view what);
  std::optional<bool> boolean(const Node& n, const std::string& path);
  std::optional<Duration> duration(const Node& n, const std::string& path, bool allow_zero = false);
  std::optional<uint64_t> size(const Node& n, const std::string& path, uint64_t min, uint64_t max);
  std::optional<Address> address(const Node& n, const std::string& path, bool listen);
  std::optional<Cidr> cidr(const Node& n, const std::string& path);
  void cidr_list(const Node& n, const std::string& path, std::vector<Cidr>& out);
  std::optional<std::string> choice(const Node& n, const std::string& path, Keys choices,
                                    std::string_view what);
  bool regex(const Node& n, const std::string& path, const std::string& pattern);
  void string_list(const Node& n, const std::string& path, std::vector<std::string>& out);

  // --- the top level (load_top.cc)
  void top(const Node& root, Config& c);
  // A list of sections (clusters, listeners), each read by `read`.
  template <class T>
  void list(const Entry& e, std::string_view what,
            void (Loader::*read)(const Node&, const std::string&, T&), std::vector<T>& out);
  void workers(const Entry& e, Config& c);
  void registry(const Entry& e, Registry& r);
  void dns(const Entry& e, Dns& d);

  // --- listeners (load_listeners.cc) and their routes (load_routes.cc)
  void listener(const Node& n, const std::string& path, Listener& l);
  void tls(const Entry& e, Tls& t);
  void route(const Node& n, const std::string& path, const std::string& listener_name, size_t index,
             Route& r);
  void match(const Entry& e, RouteMatch& m);
  void header_match(const Node& n, const std::string& path, HeaderMatch& h);
  void retry(const Entry& e, RetryPolicy& p);
  void fault(const Entry& e, Fault& f);
  std::optional<LatencyDist> latency(const Node& n, const std::string& path);

  // --- clusters (load_clusters.cc)
  void cluster(const Node& n, const std::string& path, Cluster& c);
  void endpoints(const Entry& e, bool static_discovery, Cluster& c);
  void resolvers(const Entry& e, Cluster& c);  // a dns cluster's DNS servers
  void endpoint(const Node& n, const std::string& path, Endpoint& ep);
  void hash_on(const Entry& e, Cluster& c);
  void pool(const Entry& e, Pool& p);
  void health_check(const Entry& e, HealthCheck& h);
  void expected_statuses(const Entry& e, HealthCheck& h);
  void outlier_detection(const Entry& e, OutlierDetection& o);
  void circuit_breaker(const Entry& e, CircuitBreaker& b);
  void host_circuit_breaker(const Entry& e, HostCircuitBreaker& b);
  void slow_start(const Entry& e, SlowStart& s);
  void retry_budget(const Entry& e, RetryBudget& b);

  // --- across sections, after the walk (cross_check.cc)
  void cross_check(const Config& c);
  void check_listener_addresses(const Config& c);

  std::string file_;
  std::vector<ConfigError> errors_;
  bool overflowed_ = false;
  std::vector<std::string> unapplied_;
  // Side tables for cross-checks, indexed like the config's vectors.
  std::vector<Site> listener_name_sites_, listener_listen_sites_, cluster_name_sites_;
  struct RouteRef {
    std::string cluster;
    Site site;
  };
  std::vector<RouteRef> route_refs_;
  std::optional<Site> admin_site_;
  std::vector<std::pair<Node, YAML::Mark>> null_marks_;  // empty values -> their keys
};

}  // namespace cw::config::detail
