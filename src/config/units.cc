#include "config/units.h"

#include <array>
#include <limits>
#include <utility>

namespace cw::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Multiplies with overflow detection.
bool mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

constexpr uint64_t kMaxDurationUs = 1000ULL * 24 * 3600 * 1000 * 1000;  // 1000 days

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration{0};
  if (text.empty()) return std::nullopt;
  uint64_t total_us = 0;
  size_t i = 0;
  while (i < text.size()) {
    // <digits>[.<digits>]
    uint64_t whole = 0;
    size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      if (whole > kMaxDurationUs) return std::nullopt;
      whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
    }
    const bool has_whole = i > start;
    uint64_t frac = 0;      // fraction digits as an integer
    uint64_t frac_div = 1;  // 10^(number of fraction digits)
    bool has_frac = false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && is_digit(text[i])) {
        if (frac_div < 1'000'000'000ULL) {  // digits beyond 1e-9 cannot matter at us resolution
          frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
          frac_div *= 10;
        } else if (text[i] != '0') {
          return std::nullopt;  // finer than we can represent exactly
        }
        has_frac = true;
        ++i;
      }
      if (!has_frac) return std::nullopt;  // "1.s"
    }
    if (!has_whole && !has_frac) return std::nullopt;
    // <unit>
    size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    uint64_t unit_us = 0;
    if (unit == "us")
      unit_us = 1;
    else if (unit == "ms")
      unit_us = 1000;
    else if (unit == "s")
      unit_us = 1000 * 1000;
    else if (unit == "m")
      unit_us = 60ULL * 1000 * 1000;
    else if (unit == "h")
      unit_us = 3600ULL * 1000 * 1000;
    else
      return std::nullopt;  // includes a missing unit
    uint64_t part = 0;
    if (!mul(whole, unit_us, part)) return std::nullopt;
    uint64_t frac_scaled = 0;
    if (!mul(frac, unit_us, frac_scaled)) return std::nullopt;
    if (frac_scaled % frac_div != 0) return std::nullopt;  // below a microsecond
    part += frac_scaled / frac_div;
    total_us += part;
    if (total_us > kMaxDurationUs) return std::nullopt;
  }
  if (total_us % 1000 != 0) return std::nullopt;  // not a whole millisecond
  return Duration{static_cast<int64_t>(total_us / 1000)};
}

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && is_digit(text[i])) {
    if (!mul(value, 10, value)) return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > std::numeric_limits<uint64_t>::max() - digit) return std::nullopt;
    value += digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 10> kUnits{{
      {"", 1},
      {"b", 1},
      {"kib", 1ULL << 10},
      {"mib", 1ULL << 20},
      {"gib", 1ULL << 30},
      {"tib", 1ULL << 40},
      {"kb", 1000ULL},
      {"mb", 1000ULL * 1000},
      {"gb", 1000ULL * 1000 * 1000},
      {"tb", 1000ULL * 1000 * 1000 * 1000},
  }};
  uint64_t scale = 0;
  for (const auto& [name, mult] : kUnits) {
    if (equals_ci(unit, name)) scale = mult;
  }
  if (scale == 0) return std::nullopt;
  uint64_t out = 0;
  if (!mul(value, scale, out)) return std::nullopt;
  return out;
}

}  // namespace cw::config
