// The Loader's typed readers: one YAML scalar to one checked value, or an error that says
// what was expected and what was found.
#include <re2/re2.h>

#include <charconv>

#include "config/did_you_mean.h"
#include "config/loader.h"
#include "config/net.h"
#include "config/units.h"

namespace cw::config::detail {

std::optional<std::string> Loader::scalar(const Node& n, const std::string& path,
                                          std::string_view what) {
  if (n.is_scalar()) return std::string(n.scalar());
  expected(n, path, what);
  return std::nullopt;
}

std::optional<std::string> Loader::string(const Node& n, const std::string& path,
                                          bool allow_empty) {
  auto s = scalar(n, path, "a string");
  if (s && s->empty() && !allow_empty) {
    error(n, path, "expected a non-empty string");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> Loader::name(const Node& n, const std::string& path) {
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

std::optional<int64_t> Loader::integer(const Node& n, const std::string& path, int64_t min,
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

std::optional<double> Loader::percent(const Node& n, const std::string& path) {
  return decimal(n, path, 100, "a percentage between 0 and 100");
}

std::optional<double> Loader::decimal(const Node& n, const std::string& path, double max,
                                      std::string_view what) {
  auto s = scalar(n, path, what);
  if (!s) return std::nullopt;
  // Digits with an optional fraction: "10", "0.5".
  const size_t dot = s->find('.');
  const bool well_formed = dot == std::string::npos
                               ? all_digits(*s)
                               : all_digits(s->substr(0, dot)) && all_digits(s->substr(dot + 1));
  if (!well_formed || s->size() > 12) {
    expected(n, path, what);
    return std::nullopt;
  }
  double v = 0;
  std::from_chars(s->data(), s->data() + s->size(), v);
  if (v > max) {
    error(n, path, *s + " is out of range (expected " + std::string(what) + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Loader::boolean(const Node& n, const std::string& path) {
  auto s = scalar(n, path, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  expected(n, path, "true or false");
  return std::nullopt;
}

std::optional<Duration> Loader::duration(const Node& n, const std::string& path, bool allow_zero) {
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

std::optional<uint64_t> Loader::size(const Node& n, const std::string& path, uint64_t min,
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

std::optional<Address> Loader::address(const Node& n, const std::string& path, bool listen) {
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

std::optional<Cidr> Loader::cidr(const Node& n, const std::string& path) {
  auto s = scalar(n, path, "a CIDR block such as 10.0.0.0/8 or ::1/128");
  if (!s) return std::nullopt;
  auto c = parse_cidr(*s);
  if (!c) expected(n, path, "a CIDR block such as 10.0.0.0/8 or ::1/128");
  return c;
}

void Loader::cidr_list(const Node& n, const std::string& path, std::vector<Cidr>& out) {
  if (!is_list(n, path, "CIDR blocks")) return;
  size_t i = 0;
  for (const Node& each : n.items()) {
    if (auto c = cidr(each, item(path, i))) out.push_back(std::move(*c));
    ++i;
  }
}

std::optional<std::string> Loader::choice(const Node& n, const std::string& path, Keys choices,
                                          std::string_view what) {
  auto s = scalar(n, path, "one of: " + join(choices));
  if (!s) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  error(n, path,
        "unknown " + std::string(what) + " '" + truncate(*s) + "'" +
            hint(did_you_mean(*s, choices)) + "; expected one of: " + join(choices));
  return std::nullopt;
}

bool Loader::regex(const Node& n, const std::string& path, const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (re.ok()) return true;
  error(n, path, "invalid regular expression: " + re.error());
  return false;
}

void Loader::string_list(const Node& n, const std::string& path, std::vector<std::string>& out) {
  if (!is_list(n, path, "strings")) return;
  out.clear();
  size_t i = 0;
  for (const Node& each : n.items()) {
    if (auto s = string(each, item(path, i++))) out.push_back(std::move(*s));
  }
}

}  // namespace cw::config::detail
