#include "config/load.h"

#include <re2/re2.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "config/did_you_mean.h"
#include "config/net.h"
#include "config/units.h"

namespace cw::config {
namespace {

constexpr size_t kMaxErrors = 100;
constexpr size_t kMaxFileBytes = 16u << 20;
constexpr int kMaxMergeDepth = 4;

using Keys = std::initializer_list<std::string_view>;

// ---------------------------------------------------------------------------------------------
// Key paths: "listeners[0].routes[1].match". Keys outside [A-Za-z0-9_-] are quoted: a["x.y"].

bool plain_key(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string child(const std::string& parent, std::string_view key) {
  if (plain_key(key)) return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  std::string out = parent + "[\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"]";
}

std::string item(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// The path without its last segment; tokenizes from the front so quoted keys are handled.
std::string parent_path(const std::string& path) {
  size_t last = 0;
  size_t i = 0;
  while (i < path.size()) {
    last = i;
    if (path[i] == '.') ++i;
    if (i < path.size() && path[i] == '[') {
      if (i + 1 < path.size() && path[i + 1] == '"') {
        i += 2;
        while (i < path.size() && path[i] != '"') i += (path[i] == '\\') ? 2 : 1;
        i += 2;  // closing quote and bracket
      } else {
        while (i < path.size() && path[i] != ']') ++i;
        ++i;
      }
    } else {
      while (i < path.size() && path[i] != '.' && path[i] != '[') ++i;
    }
  }
  return path.substr(0, std::min(last, path.size()));
}

std::string truncate(std::string_view s, size_t max = 40) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + truncate(n.Scalar()) + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string join(Keys words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

std::string hint(const std::optional<std::string>& suggestion) {
  return suggestion ? " (did you mean '" + *suggestion + "'?)" : "";
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string to_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string to_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------------------------------------
// A YAML map opened for reading: its entries (merge keys "<<" resolved), checked against the
// keys known at that level.

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;
};

struct Map {
  bool ok = false;  // the node was a map
  YAML::Node node;
  std::string path;
  std::vector<Entry> entries;
  std::vector<std::string> suggested;  // hints given for unknown keys here (suppresses "missing")

  bool was_suggested(std::string_view key) const {
    return std::find(suggested.begin(), suggested.end(), key) != suggested.end();
  }
  const Entry* find(std::string_view key) const {
    for (const Entry& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }
};

// Where a name was defined, for cross-checks after the walk.
struct Site {
  YAML::Mark mark;
  std::string path;
};

// What a quick look at the text says that yaml-cpp's Load does not: where the first content is
// and where a second document ("---" at the start of a line after content) begins.
struct TextScan {
  std::optional<YAML::Mark> first_content;
  std::optional<YAML::Mark> second_document;
};

TextScan scan_text(std::string_view text) {
  TextScan out;
  int line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const bool marker = l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    if (marker && out.first_content) {
      YAML::Mark m;
      m.pos = static_cast<int>(pos);
      m.line = line;
      m.column = 0;
      out.second_document = m;
      break;
    }
    const size_t first = l.find_first_not_of(" \t");
    if (!marker && !l.starts_with("%") && first != std::string_view::npos && l[first] != '#' &&
        !out.first_content) {
      YAML::Mark m;
      m.pos = static_cast<int>(pos + first);
      m.line = line;
      m.column = static_cast<int>(first);
      out.first_content = m;
    }
    pos = end + 1;
    ++line;
  }
  return out;
}

template <class T, class U>
void set(T& out, std::optional<U> v) {
  if (v) out = std::move(*v);
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  std::shared_ptr<Config> load(std::string_view yaml);
  std::vector<ConfigError> take_errors();

 private:
  // --- errors
  void error(const YAML::Mark& mark, std::string path, std::string message,
             ErrorKind kind = ErrorKind::kInvalid);
  void error(const YAML::Node& at, std::string path, std::string message) {
    error(mark_of(at), std::move(path), std::move(message));
  }
  // yaml-cpp marks an empty value ("workers:") where the next token starts; point at its key.
  YAML::Mark mark_of(const YAML::Node& n) const {
    if (n.IsNull()) {
      for (const auto& [node, mark] : null_marks_) {
        if (node.is(n)) return mark;
      }
    }
    return n.Mark();
  }
  void expected(const YAML::Node& at, const std::string& path, std::string_view what) {
    error(at, path, "expected " + std::string(what) + ", got " + describe(at));
  }
  const Entry* need(const Map& m, std::string_view key, std::string_view extra = "");

  // --- structure
  Map open_map(const YAML::Node& node, const std::string& path, Keys known);
  void collect(Map& m, const YAML::Node& node, bool merged, int depth);
  bool is_list(const YAML::Node& node, const std::string& path, std::string_view what);

  // --- scalars
  std::optional<std::string> scalar(const YAML::Node& n, const std::string& path,
                                    std::string_view what);
  std::optional<std::string> string(const YAML::Node& n, const std::string& path,
                                    bool allow_empty = false);
  std::optional<std::string> name(const YAML::Node& n, const std::string& path);
  std::optional<int64_t> integer(const YAML::Node& n, const std::string& path, int64_t min,
                                 int64_t max);
  std::optional<double> percent(const YAML::Node& n, const std::string& path);
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path);
  std::optional<Duration> duration(const YAML::Node& n, const std::string& path,
                                   bool allow_zero = false);
  std::optional<uint64_t> size(const YAML::Node& n, const std::string& path, uint64_t min,
                               uint64_t max);
  std::optional<Address> address(const YAML::Node& n, const std::string& path, bool listen);
  std::optional<Cidr> cidr(const YAML::Node& n, const std::string& path);
  void cidr_list(const YAML::Node& n, const std::string& path, std::vector<Cidr>& out);
  std::optional<std::string> choice(const YAML::Node& n, const std::string& path, Keys choices,
                                    std::string_view what);
  bool regex(const YAML::Node& n, const std::string& path, const std::string& pattern);
  void string_list(const YAML::Node& n, const std::string& path);

  // --- sections
  void top(const YAML::Node& root, Config& c);
  void workers(const Entry& e, Config& c);
  void registry(const Entry& e);
  void dns(const Entry& e);
  void listener(const YAML::Node& n, const std::string& path, Listener& l);
  void tls(const Entry& e);
  void route(const YAML::Node& n, const std::string& path, const std::string& listener_name,
             size_t index, Route& r);
  void match(const Entry& e, RouteMatch& m);
  void header_match(const YAML::Node& n, const std::string& path, HeaderMatch& h);
  void retry(const Entry& e, RetryPolicy& p);
  void fault(const Entry& e);
  void cluster(const YAML::Node& n, const std::string& path, Cluster& c);
  void endpoint(const YAML::Node& n, const std::string& path, Endpoint& ep);
  void hash_on(const Entry& e, Cluster& c);
  void pool(const Entry& e, Pool& p);
  void health_check(const Entry& e);
  void outlier_detection(const Entry& e);
  void circuit_breaker(const Entry& e);
  void retry_budget(const Entry& e);
  void cross_check(const Config& c);

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
  std::vector<std::pair<YAML::Node, YAML::Mark>> null_marks_;  // empty values -> their keys
};

void Loader::error(const YAML::Mark& mark, std::string path, std::string message, ErrorKind kind) {
  if (errors_.size() >= kMaxErrors) {
    overflowed_ = true;
    return;
  }
  ConfigError e;
  e.file = file_;
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  e.key_path = std::move(path);
  e.message = std::move(message);
  e.kind = kind;
  errors_.push_back(std::move(e));
}

std::vector<ConfigError> Loader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  if (overflowed_) {
    ConfigError e;
    e.file = file_;
    e.message = "too many errors; stopped after " + std::to_string(kMaxErrors);
    errors_.push_back(std::move(e));
  }
  return std::move(errors_);
}

const Entry* Loader::need(const Map& m, std::string_view key, std::string_view extra) {
  const Entry* e = m.find(key);
  // A misspelt key was already reported with this one as its hint: do not report it twice.
  if (e == nullptr && m.ok && !m.was_suggested(key)) {
    error(m.node, child(m.path, key),
          "missing required key '" + std::string(key) + "'" + std::string(extra));
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Structure

Map Loader::open_map(const YAML::Node& node, const std::string& path, Keys known) {
  Map m;
  m.node = node;
  m.path = path;
  if (!node.IsMap()) {
    expected(node, path, "a map");
    return m;
  }
  m.ok = true;
  collect(m, node, /*merged=*/false, 0);
  std::vector<std::string_view> candidates(known.begin(), known.end());
  for (const Entry& e : m.entries) {
    if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
    auto suggestion = did_you_mean(e.key, std::span<const std::string_view>(candidates));
    error(e.key_node.Mark(), e.path, "unknown key '" + truncate(e.key) + "'" + hint(suggestion),
          ErrorKind::kUnknownKey);
    if (suggestion) m.suggested.push_back(std::move(*suggestion));
  }
  return m;
}

// Adds a map's entries. Explicit keys win over merged ("<<: *defaults") ones; a key written
// twice is an error (yaml-cpp keeps both silently).
void Loader::collect(Map& m, const YAML::Node& node, bool merged, int depth) {
  std::vector<YAML::Node> merges;
  // Copy key and value out: yaml-cpp's iterator yields a temporary pair, so references into
  // it->first dangle.
  for (const auto& kv : node) {
    const YAML::Node k = kv.first;
    const YAML::Node v = kv.second;
    if (!k.IsScalar()) {
      error(k.Mark(), m.path, "keys must be plain strings, got " + describe(k));
      continue;
    }
    const std::string& key = k.Scalar();
    if (key == "<<" && k.Tag() == "?") {
      merges.push_back(v);
      continue;
    }
    if (const Entry* prev = m.find(key)) {
      if (merged) continue;  // an explicit key or an earlier merge already set it
      error(k.Mark(), child(m.path, key),
            "duplicate key '" + truncate(key) + "' (first at line " +
                std::to_string(prev->key_node.Mark().line + 1) + ")");
      continue;
    }
    if (v.IsNull() && null_marks_.size() < kMaxErrors) {
      null_marks_.emplace_back(v, k.Mark());
    }
    m.entries.push_back(Entry{key, k, v, child(m.path, key)});
  }
  for (const YAML::Node& merge : merges) {
    if (depth >= kMaxMergeDepth) {
      error(merge, m.path, "merge keys ('<<') nest too deeply");
      continue;
    }
    if (merge.IsMap()) {
      collect(m, merge, /*merged=*/true, depth + 1);
    } else if (merge.IsSequence()) {
      for (const YAML::Node& each : merge) {
        if (each.IsMap()) {
          collect(m, each, /*merged=*/true, depth + 1);
        } else {
          expected(each, m.path, "a map to merge ('<<')");
        }
      }
    } else {
      expected(merge, m.path, "a map to merge ('<<')");
    }
  }
}

bool Loader::is_list(const YAML::Node& node, const std::string& path, std::string_view what) {
  if (node.IsSequence()) return true;
  expected(node, path, "a list of " + std::string(what));
  return false;
}

// ---------------------------------------------------------------------------------------------
// Scalars

std::optional<std::string> Loader::scalar(const YAML::Node& n, const std::string& path,
                                          std::string_view what) {
  if (n.IsScalar()) return n.Scalar();
  expected(n, path, what);
  return std::nullopt;
}

std::optional<std::string> Loader::string(const YAML::Node& n, const std::string& path,
                                          bool allow_empty) {
  auto s = scalar(n, path, "a string");
  if (s && s->empty() && !allow_empty) {
    error(n, path, "expected a non-empty string");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> Loader::name(const YAML::Node& n, const std::string& path) {
  auto s = string(n, path);
  if (!s) return std::nullopt;
  const bool good = s->size() <= 64 && std::all_of(s->begin(), s->end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                    });
  if (!good) {
    error(n, path,
          "invalid name '" + truncate(*s) +
              "': use letters, digits, '.', '_' and '-' (at most 64 characters)");
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> Loader::integer(const YAML::Node& n, const std::string& path, int64_t min,
                                       int64_t max) {
  const std::string range = min == max ? std::to_string(min)
                            : max == INT64_MAX
                                ? ">= " + std::to_string(min)
                                : "between " + std::to_string(min) + " and " + std::to_string(max);
  auto s = scalar(n, path, "an integer " + range);
  if (!s) return std::nullopt;
  std::string_view digits = *s;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  if (!all_digits(digits) || digits.size() > 18) {
    if (all_digits(digits)) {
      error(n, path, "integer " + truncate(*s) + " is out of range (expected " + range + ")");
    } else {
      expected(n, path, "an integer " + range);
    }
    return std::nullopt;
  }
  int64_t v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  if (negative) v = -v;
  if (v < min || v > max) {
    error(n, path, std::to_string(v) + " is out of range (expected " + range + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<double> Loader::percent(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "a percentage between 0 and 100");
  if (!s) return std::nullopt;
  // Digits with an optional fraction: "10", "0.5".
  const size_t dot = s->find('.');
  const bool well_formed = dot == std::string::npos
                               ? all_digits(*s)
                               : all_digits(s->substr(0, dot)) && all_digits(s->substr(dot + 1));
  if (!well_formed || s->size() > 12) {
    expected(n, path, "a percentage between 0 and 100");
    return std::nullopt;
  }
  double v = 0;
  std::from_chars(s->data(), s->data() + s->size(), v);
  if (v > 100) {
    error(n, path, *s + " is out of range (expected a percentage between 0 and 100)");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Loader::boolean(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  expected(n, path, "true or false");
  return std::nullopt;
}

std::optional<Duration> Loader::duration(const YAML::Node& n, const std::string& path,
                                         bool allow_zero) {
  constexpr std::string_view kWhat = "a duration such as 250ms, 3s or 1m";
  auto s = scalar(n, path, kWhat);
  if (!s) return std::nullopt;
  auto d = parse_duration(*s);
  if (!d) {
    if (all_digits(*s) && s->size() < 12) {
      const std::string guess = std::stoll(*s) >= 100 ? *s + "ms" : *s + "s";
      error(n, path, "duration '" + *s + "' needs a unit (did you mean " + guess + "?)");
    } else if (s->size() > 2 && s->ends_with("us")) {
      error(n, path,
            "duration '" + truncate(*s) +
                "' is not a whole number of milliseconds (the "
                "resolution is 1ms)");
    } else {
      error(n, path,
            "expected " + std::string(kWhat) + " (units: us, ms, s, m, h), got " + describe(n));
    }
    return std::nullopt;
  }
  if (d->count() == 0 && !allow_zero) {
    error(n, path, "duration must be at least 1ms, got '" + *s + "'");
    return std::nullopt;
  }
  return d;
}

std::optional<uint64_t> Loader::size(const YAML::Node& n, const std::string& path, uint64_t min,
                                     uint64_t max) {
  constexpr std::string_view kWhat = "a size such as 64KiB, 1MiB or 512 (bytes)";
  auto s = scalar(n, path, kWhat);
  if (!s) return std::nullopt;
  auto v = parse_size(*s);
  if (!v) {
    error(n, path,
          "expected " + std::string(kWhat) + " (units: B, KiB, MiB, GiB, KB, MB, GB), got " +
              describe(n));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    error(n, path,
          "size " + *s + " is out of range (expected " + std::to_string(min) + " to " +
              std::to_string(max) + " bytes)");
    return std::nullopt;
  }
  return v;
}

std::optional<Address> Loader::address(const YAML::Node& n, const std::string& path, bool listen) {
  constexpr std::string_view kWhat = "an address such as 127.0.0.1:8080 or [::1]:8080";
  auto s = scalar(n, path, kWhat);
  if (!s) return std::nullopt;
  auto a = parse_address(*s);
  if (!a) {
    // Say what is wrong with it.
    const std::string& t = *s;
    const size_t colon = t.rfind(':');
    const bool bracketed = !t.empty() && t.front() == '[';
    std::string why;
    if (colon == std::string::npos || (bracketed && t.back() == ']')) {
      why = "'" + truncate(t) + "' has no port (expected host:port, e.g. 127.0.0.1:8080)";
    } else {
      const std::string port = t.substr(colon + 1);
      const std::string host = t.substr(0, colon);
      if (!all_digits(port)) {
        why = "port '" + truncate(port) + "' is not a number (expected 1-65535)";
      } else if (port.size() > 5 || std::stoul(port) > 65535) {
        why = "port " + truncate(port) + " is out of range (expected 1-65535)";
      } else if (!bracketed && host.find(':') != std::string::npos) {
        why = "IPv6 addresses need brackets, e.g. [::1]:8080";
      } else {
        why = "'" + truncate(host) +
              "' is not an IP address (hostnames are not resolved here; use an IP literal or "
              "localhost)";
      }
    }
    error(n, path, why);
    return std::nullopt;
  }
  if (a->port == 0 && !listen) {
    error(n, path, "port 0 is not a valid upstream port (expected 1-65535)");
    return std::nullopt;
  }
  return a;
}

std::optional<Cidr> Loader::cidr(const YAML::Node& n, const std::string& path) {
  auto s = scalar(n, path, "a CIDR block such as 10.0.0.0/8 or ::1/128");
  if (!s) return std::nullopt;
  auto c = parse_cidr(*s);
  if (!c) expected(n, path, "a CIDR block such as 10.0.0.0/8 or ::1/128");
  return c;
}

void Loader::cidr_list(const YAML::Node& n, const std::string& path, std::vector<Cidr>& out) {
  if (!is_list(n, path, "CIDR blocks")) return;
  size_t i = 0;
  for (const YAML::Node& each : n) {
    if (auto c = cidr(each, item(path, i))) out.push_back(std::move(*c));
    ++i;
  }
}

std::optional<std::string> Loader::choice(const YAML::Node& n, const std::string& path,
                                          Keys choices, std::string_view what) {
  auto s = scalar(n, path, "one of: " + join(choices));
  if (!s) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  error(n, path,
        "unknown " + std::string(what) + " '" + truncate(*s) + "'" +
            hint(did_you_mean(*s, choices)) + "; expected one of: " + join(choices));
  return std::nullopt;
}

bool Loader::regex(const YAML::Node& n, const std::string& path, const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (re.ok()) return true;
  error(n, path, "invalid regular expression: " + re.error());
  return false;
}

void Loader::string_list(const YAML::Node& n, const std::string& path) {
  if (!is_list(n, path, "strings")) return;
  size_t i = 0;
  for (const YAML::Node& each : n) string(each, item(path, i++));
}

// ---------------------------------------------------------------------------------------------
// Sections

std::shared_ptr<Config> Loader::load(std::string_view yaml) {
  auto config = std::make_shared<Config>();
  config->source = file_;
  try {
    // YAML::Load, not LoadAll: yaml-cpp 0.7's LoadAll never returns on some inputs (", x").
    // A second document is found by scanning for its marker instead.
    const YAML::Node root = YAML::Load(std::string(yaml));
    const TextScan scan = scan_text(yaml);
    if (root.IsNull() && scan.first_content) {
      // yaml-cpp returns an empty document for a few malformed inputs (a stray ',').
      error(*scan.first_content, "", "YAML syntax error: unexpected text", ErrorKind::kSyntax);
    } else if (root.IsNull()) {
      error(YAML::Mark::null_mark(), "", "the config is empty");
    } else {
      if (scan.second_document) {
        error(*scan.second_document, "",
              "the file holds more than one YAML document ('---'); a config is one document");
      }
      top(root, *config);
    }
  } catch (const YAML::DeepRecursion& e) {
    error(e.mark, "", "the YAML nests too deeply", ErrorKind::kSyntax);
  } catch (const YAML::Exception& e) {
    error(e.mark, "", "YAML syntax error: " + e.msg, ErrorKind::kSyntax);
  } catch (const std::exception& e) {
    error(YAML::Mark::null_mark(), "", std::string("cannot load the config: ") + e.what());
  }
  if (!errors_.empty()) return nullptr;
  config->unapplied_keys = std::move(unapplied_);
  return config;
}

void Loader::top(const YAML::Node& root, Config& c) {
  const Map m = open_map(root, "",
                         {"workers", "admin", "access_log", "drain_timeout", "listeners",
                          "clusters", "registry", "dns"});
  if (!m.ok) return;
  if (const Entry* e = m.find("workers")) workers(*e, c);
  if (const Entry* e = m.find("admin")) {
    const Map a = open_map(e->value, e->path, {"listen"});
    if (const Entry* l = need(a, "listen")) {
      set(c.admin.listen, address(l->value, l->path, /*listen=*/true));
      admin_site_ = Site{l->value.Mark(), l->path};
    }
  }
  if (const Entry* e = m.find("access_log")) {
    const Map a = open_map(e->value, e->path, {"path", "format"});
    AccessLog log;
    if (const Entry* p = need(a, "path", " (stderr, stdout or a file path)")) {
      set(log.path, string(p->value, p->path));
    }
    if (const Entry* f = a.find("format"))
      set(log.format, choice(f->value, f->path, {"json", "text"}, "format"));
    if (a.ok) c.access_log = std::move(log);
  }
  if (const Entry* e = m.find("drain_timeout")) {
    set(c.drain_timeout, duration(e->value, e->path, /*allow_zero=*/true));
  }
  if (const Entry* e = m.find("registry")) registry(*e);
  if (const Entry* e = m.find("dns")) dns(*e);
  // Clusters first so that route references can be checked in one pass afterwards.
  if (const Entry* e = m.find("clusters"); e && is_list(e->value, e->path, "clusters")) {
    size_t i = 0;
    for (const YAML::Node& each : e->value) {
      Cluster cl;
      cluster(each, item(e->path, i++), cl);
      c.clusters.push_back(std::move(cl));
    }
  }
  if (const Entry* e = m.find("listeners"); e && is_list(e->value, e->path, "listeners")) {
    size_t i = 0;
    for (const YAML::Node& each : e->value) {
      Listener l;
      listener(each, item(e->path, i++), l);
      c.listeners.push_back(std::move(l));
    }
  }
  cross_check(c);
}

void Loader::workers(const Entry& e, Config& c) {
  constexpr std::string_view kWhat = "an integer between 1 and 1024 or 'auto'";
  auto s = scalar(e.value, e.path, kWhat);
  if (!s) return;
  if (*s == "auto") {
    c.workers = 0;
    return;
  }
  if (!all_digits(*s)) {
    expected(e.value, e.path, kWhat);
    return;
  }
  set(c.workers, integer(e.value, e.path, 1, 1024));
}

void Loader::registry(const Entry& e) {
  const Map m = open_map(e.value, e.path, {"backend", "data_dir", "etcd"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* b = m.find("backend"))
    choice(b->value, b->path, {"embedded", "etcd"}, "backend");
  if (const Entry* d = m.find("data_dir")) string(d->value, d->path);
  if (const Entry* et = m.find("etcd")) {
    const Map em = open_map(et->value, et->path, {"endpoints", "prefix"});
    if (const Entry* ep = em.find("endpoints")) string_list(ep->value, ep->path);
    if (const Entry* p = em.find("prefix")) string(p->value, p->path);
  }
}

void Loader::dns(const Entry& e) {
  const Map m = open_map(e.value, e.path, {"listen", "domain", "ttl", "recursors"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* l = m.find("listen")) address(l->value, l->path, /*listen=*/true);
  if (const Entry* d = m.find("domain")) string(d->value, d->path);
  if (const Entry* t = m.find("ttl")) duration(t->value, t->path, /*allow_zero=*/true);
  if (const Entry* r = m.find("recursors"); r && is_list(r->value, r->path, "addresses")) {
    size_t i = 0;
    for (const YAML::Node& each : r->value) {
      const std::string path = item(r->path, i++);
      // "8.8.8.8" (port 53) or "8.8.8.8:53".
      if (each.IsScalar() && parse_cidr(each.Scalar()) &&
          each.Scalar().find('/') == std::string::npos) {
        continue;
      }
      address(each, path, /*listen=*/false);
    }
  }
}

void Loader::listener(const YAML::Node& n, const std::string& path, Listener& l) {
  const Map m = open_map(
      n, path,
      {"name", "listen", "protocol", "tls", "access", "trusted_proxies", "header_read_timeout",
       "idle_timeout", "max_header_bytes", "max_headers", "routes"});
  listener_name_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  listener_listen_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    set(l.name, name(e->value, e->path));
    listener_name_sites_.back() = Site{e->value.Mark(), e->path};
  }
  if (const Entry* e = need(m, "listen")) {
    if (auto a = address(e->value, e->path, /*listen=*/true)) {
      l.listen = std::move(*a);
      listener_listen_sites_.back() = Site{e->value.Mark(), e->path};
    }
  }
  if (const Entry* e = m.find("protocol")) {
    if (auto p = choice(e->value, e->path, {"http", "https", "tcp"}, "protocol")) {
      if (*p != "http") {
        error(e->value, e->path,
              "protocol '" + *p + "' is not supported yet (this version serves 'http')");
      }
      l.protocol = *p;
    }
  }
  if (const Entry* e = m.find("tls")) tls(*e);
  if (const Entry* e = m.find("access")) {
    const Map a = open_map(e->value, e->path, {"allow", "deny"});
    if (const Entry* x = a.find("allow")) cidr_list(x->value, x->path, l.access.allow);
    if (const Entry* x = a.find("deny")) cidr_list(x->value, x->path, l.access.deny);
  }
  if (const Entry* e = m.find("trusted_proxies")) cidr_list(e->value, e->path, l.trusted_proxies);
  if (const Entry* e = m.find("header_read_timeout"))
    set(l.header_read_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("idle_timeout")) set(l.idle_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("max_header_bytes")) {
    set(l.max_header_bytes, size(e->value, e->path, 1024, 1024 * 1024));
  }
  if (const Entry* e = m.find("max_headers"))
    set(l.max_headers, integer(e->value, e->path, 1, 10000));
  if (const Entry* e = need(m, "routes"); e && is_list(e->value, e->path, "routes")) {
    if (e->value.size() == 0) error(e->value, e->path, "a listener needs at least one route");
    size_t i = 0;
    for (const YAML::Node& each : e->value) {
      Route r;
      route(each, item(e->path, i), l.name, i, r);
      ++i;
      l.routes.push_back(std::move(r));
    }
    // Route names are unique within a listener (stats and traces name them).
    std::map<std::string, size_t> seen;
    for (size_t k = 0; k < l.routes.size(); ++k) {
      auto [it, fresh] = seen.emplace(l.routes[k].name, k);
      if (!fresh) {
        const YAML::Node rn = e->value[k];
        error(rn, item(e->path, k),
              "duplicate route name '" + l.routes[k].name + "' (also " + item(e->path, it->second) +
                  ")");
      }
    }
  }
}

void Loader::tls(const Entry& e) {
  const Map m = open_map(e.value, e.path, {"certificates"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* c = need(m, "certificates"); c && is_list(c->value, c->path, "certificates")) {
    size_t i = 0;
    for (const YAML::Node& each : c->value) {
      const Map cm = open_map(each, item(c->path, i++), {"cert", "key"});
      if (const Entry* x = need(cm, "cert")) string(x->value, x->path);
      if (const Entry* x = need(cm, "key")) string(x->value, x->path);
    }
  }
}

void Loader::route(const YAML::Node& n, const std::string& path, const std::string& listener_name,
                   size_t index, Route& r) {
  const Map m = open_map(n, path,
                         {"name", "match", "cluster", "direct_response", "redirect", "timeout",
                          "idle_timeout", "retry", "fault"});
  r.name = listener_name + "/" + std::to_string(index);
  if (!m.ok) return;
  if (const Entry* e = m.find("name")) set(r.name, name(e->value, e->path));
  if (const Entry* e =
          need(m, "match", " (use match: { path_prefix: / } to match every request)")) {
    match(*e, r.match);
  }
  // Exactly one action.
  std::vector<const Entry*> actions;
  for (std::string_view k : {"cluster", "direct_response", "redirect"}) {
    if (const Entry* e = m.find(k)) actions.push_back(e);
  }
  const bool action_misspelt = m.was_suggested("cluster") || m.was_suggested("direct_response") ||
                               m.was_suggested("redirect");
  if (actions.empty() && !action_misspelt) {
    error(n, path, "a route needs one of 'cluster', 'direct_response' or 'redirect'");
  }
  for (size_t i = 1; i < actions.size(); ++i) {
    error(actions[i]->key_node.Mark(), actions[i]->path,
          "'" + actions[i]->key + "' conflicts with '" + actions[0]->key +
              "': a route has exactly one of 'cluster', 'direct_response' or 'redirect'");
  }
  if (const Entry* e = m.find("cluster")) {
    if (auto c = name(e->value, e->path)) {
      r.cluster = *c;
      route_refs_.push_back(RouteRef{*c, Site{e->value.Mark(), e->path}});
    }
  }
  if (const Entry* e = m.find("direct_response")) {
    const Map d = open_map(e->value, e->path, {"status", "body", "content_type"});
    DirectResponse dr;
    if (const Entry* x = d.find("status")) set(dr.status, integer(x->value, x->path, 200, 599));
    if (const Entry* x = d.find("body"))
      set(dr.body, string(x->value, x->path, /*allow_empty=*/true));
    if (const Entry* x = d.find("content_type")) set(dr.content_type, string(x->value, x->path));
    r.direct_response = std::move(dr);
  }
  if (const Entry* e = m.find("redirect")) {
    const Map d = open_map(e->value, e->path, {"location", "status"});
    Redirect rd;
    if (const Entry* x = need(d, "location")) set(rd.location, string(x->value, x->path));
    if (const Entry* x = d.find("status")) {
      if (auto s = integer(x->value, x->path, 300, 399)) {
        if (*s == 301 || *s == 302 || *s == 303 || *s == 307 || *s == 308) {
          rd.status = static_cast<int>(*s);
        } else {
          error(x->value, x->path,
                "redirect status " + std::to_string(*s) + " is not one of 301, 302, 303, 307, 308");
        }
      }
    }
    r.redirect = std::move(rd);
  }
  if (const Entry* e = m.find("timeout")) set(r.timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("idle_timeout")) set(r.idle_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("retry")) {
    RetryPolicy p;
    retry(*e, p);
    r.retry = std::move(p);
  }
  if (const Entry* e = m.find("fault")) fault(*e);
}

void Loader::match(const Entry& e, RouteMatch& rm) {
  const Map m =
      open_map(e.value, e.path, {"path", "path_prefix", "path_regex", "host", "method", "headers"});
  if (!m.ok) return;
  std::vector<const Entry*> paths;
  for (std::string_view k : {"path", "path_prefix", "path_regex"}) {
    if (const Entry* x = m.find(k)) paths.push_back(x);
  }
  for (size_t i = 1; i < paths.size(); ++i) {
    error(paths[i]->key_node.Mark(), paths[i]->path,
          "'" + paths[i]->key + "' conflicts with '" + paths[0]->key +
              "': use one of 'path', 'path_prefix' or 'path_regex'");
  }
  for (std::string_view k : {"path", "path_prefix"}) {
    const Entry* x = m.find(k);
    if (x == nullptr) continue;
    auto s = string(x->value, x->path);
    if (!s) continue;
    if (s->front() != '/') {
      error(x->value, x->path, std::string(k) + " must start with '/', got '" + truncate(*s) + "'");
      continue;
    }
    (k == "path" ? rm.path : rm.path_prefix) = *s;
  }
  if (const Entry* x = m.find("path_regex")) {
    if (auto s = string(x->value, x->path); s && regex(x->value, x->path, *s)) rm.path_regex = *s;
  }
  if (const Entry* x = m.find("host")) {
    if (auto s = string(x->value, x->path)) {
      std::string_view rest = *s;
      if (rest.starts_with("*.")) rest.remove_prefix(2);
      const bool good = !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
      });
      if (good) {
        rm.host = to_lower(*s);
      } else {
        error(x->value, x->path,
              "expected a host name such as api.example.com or *.example.com (no port), got '" +
                  truncate(*s) + "'");
      }
    }
  }
  if (const Entry* x = m.find("method")) {
    auto one = [&](const YAML::Node& node, const std::string& p) {
      auto s = scalar(node, p, "an HTTP method such as GET, or a list of them");
      if (!s) return;
      if (!is_token(*s)) {
        expected(node, p, "an HTTP method such as GET");
      } else if (to_upper(*s) != *s) {
        error(
            node, p,
            "HTTP methods are case-sensitive: '" + *s + "' (did you mean '" + to_upper(*s) + "'?)");
      } else {
        rm.methods.push_back(*s);
      }
    };
    if (x->value.IsSequence()) {
      size_t i = 0;
      for (const YAML::Node& each : x->value) one(each, item(x->path, i++));
    } else {
      one(x->value, x->path);
    }
  }
  if (const Entry* x = m.find("headers"); x && is_list(x->value, x->path, "header matches")) {
    size_t i = 0;
    for (const YAML::Node& each : x->value) {
      HeaderMatch h;
      header_match(each, item(x->path, i++), h);
      rm.headers.push_back(std::move(h));
    }
  }
}

void Loader::header_match(const YAML::Node& n, const std::string& path, HeaderMatch& h) {
  const Map m = open_map(n, path, {"name", "exact", "regex", "present"});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    if (auto s = string(e->value, e->path)) {
      if (is_token(*s)) {
        h.name = to_lower(*s);
      } else {
        error(e->value, e->path, "invalid header name '" + truncate(*s) + "'");
      }
    }
  }
  std::vector<const Entry*> kinds;
  for (std::string_view k : {"exact", "regex", "present"}) {
    if (const Entry* e = m.find(k)) kinds.push_back(e);
  }
  const bool kind_misspelt =
      m.was_suggested("exact") || m.was_suggested("regex") || m.was_suggested("present");
  if (kinds.empty() && !kind_misspelt)
    error(n, path, "a header match needs one of 'exact', 'regex' or 'present'");
  for (size_t i = 1; i < kinds.size(); ++i) {
    error(kinds[i]->key_node.Mark(), kinds[i]->path,
          "'" + kinds[i]->key + "' conflicts with '" + kinds[0]->key +
              "': use one of 'exact', 'regex' or 'present'");
  }
  if (const Entry* e = m.find("exact"))
    set(h.exact, string(e->value, e->path, /*allow_empty=*/true));
  if (const Entry* e = m.find("regex")) {
    if (auto s = string(e->value, e->path); s && regex(e->value, e->path, *s)) h.regex = *s;
  }
  if (const Entry* e = m.find("present")) {
    if (auto b = boolean(e->value, e->path)) {
      if (*b) {
        h.present = true;
      } else {
        error(e->value, e->path, "present: false is not supported; omit the header match instead");
      }
    }
  }
}

void Loader::retry(const Entry& e, RetryPolicy& p) {
  const Map m = open_map(e.value, e.path, {"attempts", "per_try_timeout", "retry_on", "backoff"});
  if (!m.ok) return;
  if (const Entry* x = m.find("attempts")) {
    set(p.attempts, std::optional<int>(integer(x->value, x->path, 1, 10)));
  }
  if (const Entry* x = m.find("per_try_timeout"))
    set(p.per_try_timeout, duration(x->value, x->path));
  if (const Entry* x = m.find("retry_on"); x && is_list(x->value, x->path, "retry conditions")) {
    const Keys kConditions = {"connect-failure", "reset",        "timeout", "5xx",
                              "gateway-error",   "retriable-4xx"};
    size_t i = 0;
    for (const YAML::Node& each : x->value) {
      const std::string path = item(x->path, i++);
      auto s = scalar(each, path, "a retry condition");
      if (!s) continue;
      const bool status = all_digits(*s) && s->size() == 3 && (*s)[0] >= '4' && (*s)[0] <= '5';
      if (status || std::find(kConditions.begin(), kConditions.end(), *s) != kConditions.end()) {
        p.retry_on.push_back(*s);
      } else {
        error(each, path,
              "unknown retry condition '" + truncate(*s) + "'" +
                  hint(did_you_mean(*s, kConditions)) + "; expected one of: " + join(kConditions) +
                  " or a status code 400-599");
      }
    }
  }
  if (const Entry* x = m.find("backoff")) {
    const Map b = open_map(x->value, x->path, {"base", "max"});
    const Entry* base = b.find("base");
    const Entry* max = b.find("max");
    if (base) set(p.backoff_base, duration(base->value, base->path));
    if (max) set(p.backoff_max, duration(max->value, max->path));
    if (b.ok && p.backoff_base > p.backoff_max) {
      error(max ? max->value : base->value, max ? max->path : base->path,
            "backoff max (" + std::to_string(p.backoff_max.count()) + "ms) is below base (" +
                std::to_string(p.backoff_base.count()) + "ms)");
    }
  }
}

void Loader::fault(const Entry& e) {
  const Map m = open_map(e.value, e.path, {"delay", "abort", "reset"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* x = m.find("delay")) {
    const Map d = open_map(x->value, x->path, {"percent", "duration"});
    if (const Entry* y = need(d, "percent")) percent(y->value, y->path);
    if (const Entry* y = need(d, "duration")) duration(y->value, y->path);
  }
  if (const Entry* x = m.find("abort")) {
    const Map d = open_map(x->value, x->path, {"percent", "status"});
    if (const Entry* y = need(d, "percent")) percent(y->value, y->path);
    if (const Entry* y = need(d, "status")) integer(y->value, y->path, 200, 599);
  }
  if (const Entry* x = m.find("reset")) {
    const Map d = open_map(x->value, x->path, {"percent"});
    if (const Entry* y = need(d, "percent")) percent(y->value, y->path);
  }
}

void Loader::cluster(const YAML::Node& n, const std::string& path, Cluster& c) {
  const Map m = open_map(
      n, path,
      {"name", "discovery", "service", "hostname", "endpoints", "lb", "hash_on", "connect_timeout",
       "protocol", "pool", "health_check", "outlier_detection", "circuit_breaker", "retry_budget"});
  cluster_name_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    set(c.name, name(e->value, e->path));
    cluster_name_sites_.back() = Site{e->value.Mark(), e->path};
  }
  bool supported_discovery = true;
  if (const Entry* e = m.find("discovery")) {
    if (auto d = choice(e->value, e->path, {"static", "dns", "registry"}, "discovery")) {
      c.discovery = *d;
      if (*d != "static") {
        supported_discovery = false;
        error(e->value, e->path,
              "discovery '" + *d +
                  "' is not supported yet (this version supports 'static' with endpoints)");
      }
    } else {
      supported_discovery = false;
    }
  }
  // service / hostname belong to registry / dns discovery.
  for (auto [key, wants] : {std::pair<std::string_view, std::string_view>{"service", "registry"},
                            {"hostname", "dns"}}) {
    const Entry* e = m.find(key);
    if (e == nullptr) continue;
    string(e->value, e->path);
    if (supported_discovery) {
      error(e->key_node.Mark(), e->path,
            "'" + std::string(key) + "' is only used with discovery: " + std::string(wants));
    }
  }
  if (const Entry* e = m.find("endpoints"); e && is_list(e->value, e->path, "endpoints")) {
    size_t i = 0;
    for (const YAML::Node& each : e->value) {
      Endpoint ep;
      const std::string p = item(e->path, i++);
      endpoint(each, p, ep);
      if (ep.address.port == 0) continue;  // invalid, already reported
      const bool dup = std::any_of(c.endpoints.begin(), c.endpoints.end(), [&](const Endpoint& o) {
        return o.address.host == ep.address.host && o.address.port == ep.address.port;
      });
      if (dup) {
        error(each, p, "duplicate endpoint " + ep.address.text());
        continue;
      }
      c.endpoints.push_back(std::move(ep));
    }
    if (supported_discovery && e->value.size() == 0) {
      error(e->value, e->path, "a static cluster needs at least one endpoint");
    }
  } else if (e == nullptr && supported_discovery && !m.was_suggested("endpoints")) {
    error(n, child(path, "endpoints"),
          "missing required key 'endpoints' (a static cluster needs at least one endpoint)");
  }
  if (const Entry* e = m.find("lb")) {
    set(c.lb, choice(e->value, e->path,
                     {"round_robin", "weighted_round_robin", "least_request", "peak_ewma", "random",
                      "ring_hash", "maglev"},
                     "load balancer"));
  }
  if (const Entry* e = m.find("hash_on")) hash_on(*e, c);
  if (const Entry* e = m.find("connect_timeout"))
    set(c.connect_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("protocol")) {
    if (auto p = choice(e->value, e->path, {"http1", "http2"}, "protocol")) {
      if (*p != "http1") {
        error(e->value, e->path,
              "protocol '" + *p + "' is not supported yet (this version speaks 'http1' upstream)");
      }
      c.protocol = *p;
    }
  }
  if (const Entry* e = m.find("pool")) pool(*e, c.pool);
  if (const Entry* e = m.find("health_check")) health_check(*e);
  if (const Entry* e = m.find("outlier_detection")) outlier_detection(*e);
  if (const Entry* e = m.find("circuit_breaker")) circuit_breaker(*e);
  if (const Entry* e = m.find("retry_budget")) retry_budget(*e);
}

void Loader::endpoint(const YAML::Node& n, const std::string& path, Endpoint& ep) {
  if (n.IsScalar()) {
    set(ep.address, address(n, path, /*listen=*/false));
    return;
  }
  if (!n.IsMap()) {
    expected(n, path, "an endpoint: \"ip:port\" or { address: \"ip:port\", weight: N }");
    return;
  }
  const Map m = open_map(n, path, {"address", "weight"});
  if (const Entry* e = need(m, "address")) set(ep.address, address(e->value, e->path, false));
  if (const Entry* e = m.find("weight")) {
    set(ep.weight, std::optional<uint32_t>(integer(e->value, e->path, 1, 1'000'000)));
  }
}

void Loader::hash_on(const Entry& e, Cluster& c) {
  auto s = scalar(e.value, e.path, "source_ip, header:NAME or cookie:NAME");
  if (!s) return;
  bool good = *s == "source_ip";
  for (std::string_view prefix : {"header:", "cookie:"}) {
    if (s->starts_with(prefix) && is_token(std::string_view(*s).substr(prefix.size()))) good = true;
  }
  if (!good) {
    expected(e.value, e.path, "source_ip, header:NAME or cookie:NAME");
    return;
  }
  // Only ring_hash and maglev read it; other balancers ignore it (the SPEC's own example sets
  // it beside least_request), so it is not an error.
  c.hash_on = s->starts_with("header:") ? "header:" + to_lower(s->substr(7)) : *s;
}

void Loader::pool(const Entry& e, Pool& p) {
  const Map m = open_map(e.value, e.path, {"max_connections", "max_idle", "idle_timeout"});
  if (const Entry* x = m.find("max_connections")) {
    set(p.max_connections, std::optional<size_t>(integer(x->value, x->path, 1, 1'000'000)));
  }
  if (const Entry* x = m.find("max_idle")) {
    set(p.max_idle, std::optional<size_t>(integer(x->value, x->path, 0, 1'000'000)));
  }
  if (const Entry* x = m.find("idle_timeout")) set(p.idle_timeout, duration(x->value, x->path));
}

void Loader::health_check(const Entry& e) {
  const Map m =
      open_map(e.value, e.path,
               {"http", "tcp", "interval", "timeout", "unhealthy_threshold", "healthy_threshold"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* x = m.find("http")) {
    if (auto s = string(x->value, x->path); s && s->front() != '/') {
      error(x->value, x->path, "http check path must start with '/', got '" + truncate(*s) + "'");
    }
  }
  if (const Entry* x = m.find("tcp")) boolean(x->value, x->path);
  if (m.has("http") && m.has("tcp")) {
    error(m.find("tcp")->key_node.Mark(), m.find("tcp")->path,
          "'tcp' conflicts with 'http': a check is one or the other");
  }
  if (const Entry* x = m.find("interval")) duration(x->value, x->path);
  if (const Entry* x = m.find("timeout")) duration(x->value, x->path);
  if (const Entry* x = m.find("unhealthy_threshold")) integer(x->value, x->path, 1, 1000);
  if (const Entry* x = m.find("healthy_threshold")) integer(x->value, x->path, 1, 1000);
}

void Loader::outlier_detection(const Entry& e) {
  const Map m = open_map(e.value, e.path,
                         {"consecutive_5xx", "consecutive_gateway_failure", "base_ejection_time",
                          "max_ejection_percent"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* x = m.find("consecutive_5xx")) integer(x->value, x->path, 0, 1'000'000);
  if (const Entry* x = m.find("consecutive_gateway_failure"))
    integer(x->value, x->path, 0, 1'000'000);
  if (const Entry* x = m.find("base_ejection_time")) duration(x->value, x->path);
  if (const Entry* x = m.find("max_ejection_percent")) percent(x->value, x->path);
}

void Loader::circuit_breaker(const Entry& e) {
  const Map m =
      open_map(e.value, e.path, {"max_connections", "max_pending", "max_requests", "max_retries"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  for (const Entry& x : m.entries) integer(x.value, x.path, 0, 1'000'000'000);
}

void Loader::retry_budget(const Entry& e) {
  const Map m = open_map(e.value, e.path, {"percent", "min_per_second"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* x = m.find("percent")) percent(x->value, x->path);
  if (const Entry* x = m.find("min_per_second")) integer(x->value, x->path, 0, 1'000'000);
}

// ---------------------------------------------------------------------------------------------
// Cross-checks: unique names, route -> cluster references, address clashes.

void Loader::cross_check(const Config& c) {
  std::map<std::string, size_t> clusters;
  for (size_t i = 0; i < c.clusters.size(); ++i) {
    const Site& site = cluster_name_sites_[i];
    if (c.clusters[i].name.empty()) continue;
    auto [it, fresh] = clusters.emplace(c.clusters[i].name, i);
    if (!fresh) {
      error(site.mark, site.path,
            "duplicate cluster name '" + c.clusters[i].name + "' (first defined at line " +
                std::to_string(cluster_name_sites_[it->second].mark.line + 1) + ")");
    }
  }
  std::map<std::string, size_t> listeners;
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const Site& site = listener_name_sites_[i];
    if (c.listeners[i].name.empty()) continue;
    auto [it, fresh] = listeners.emplace(c.listeners[i].name, i);
    if (!fresh) {
      error(site.mark, site.path,
            "duplicate listener name '" + c.listeners[i].name + "' (first defined at line " +
                std::to_string(listener_name_sites_[it->second].mark.line + 1) + ")");
    }
  }
  std::vector<std::string> cluster_names;
  for (const Cluster& cl : c.clusters) {
    if (!cl.name.empty()) cluster_names.push_back(cl.name);
  }
  for (const RouteRef& ref : route_refs_) {
    if (clusters.count(ref.cluster) != 0) continue;
    error(ref.site.mark, ref.site.path,
          "unknown cluster '" + ref.cluster + "'" + hint(did_you_mean(ref.cluster, cluster_names)));
  }
  // Two sockets on one port clash when the hosts are equal or either is a wildcard (:: also
  // takes IPv4 on a dual-stack host). Port 0 asks the kernel for a fresh port: never a clash.
  auto clash = [](const Address& a, const Address& b) {
    return a.port != 0 && a.port == b.port &&
           (a.host == b.host || is_wildcard(a) || is_wildcard(b));
  };
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const Site& site = listener_listen_sites_[i];
    if (site.path.empty()) continue;  // no valid address
    for (size_t j = 0; j < i; ++j) {
      if (listener_listen_sites_[j].path.empty()) continue;
      if (clash(c.listeners[i].listen, c.listeners[j].listen)) {
        error(site.mark, site.path,
              "listener '" + c.listeners[i].name + "' listens on " + c.listeners[i].listen.text() +
                  ", which clashes with listener '" + c.listeners[j].name + "' on " +
                  c.listeners[j].listen.text());
        break;
      }
    }
    if (clash(c.listeners[i].listen, c.admin.listen)) {
      error(site.mark, site.path,
            "listener '" + c.listeners[i].name + "' listens on " + c.listeners[i].listen.text() +
                ", which clashes with the admin listener on " + c.admin.listen.text());
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string ConfigError::format() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  const std::string shown = kind == ErrorKind::kUnknownKey ? parent_path(key_path) : key_path;
  if (!shown.empty()) out += shown + ": ";
  out += message;
  return out;
}

LoadResult load_config_string(std::string_view yaml, const std::string& source_name) {
  Loader loader(source_name);
  LoadResult result;
  result.config = loader.load(yaml);
  result.errors = loader.take_errors();
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "",
                                   "cannot read the config: " + std::string(std::strerror(err)),
                                   ErrorKind::kIo});
    return r;
  }
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      LoadResult r;
      r.errors.push_back(
          ConfigError{path, 0, 0, "", "the config is larger than 16 MiB", ErrorKind::kIo});
      return r;
    }
  }
  if (in.bad()) {
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "", "cannot read the config", ErrorKind::kIo});
    return r;
  }
  return load_config_string(text, path);
}

}  // namespace cw::config
