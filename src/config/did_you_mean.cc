#include "config/did_you_mean.h"

#include <algorithm>
#include <limits>

namespace cw::config {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (prefix.size() > s.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows: the swap rule looks two rows back.
  const size_t n = b.size();
  std::vector<size_t> prev2(n + 1), prev(n + 1), cur(n + 1);
  for (size_t j = 0; j <= n; ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= n; ++j) {
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  if (word.empty()) return std::nullopt;
  const size_t max_distance = word.size() <= 3 ? 1 : 2;
  size_t best = std::numeric_limits<size_t>::max();
  std::optional<std::string> best_word;
  for (std::string_view c : candidates) {
    if (c.empty() || c == word) continue;
    size_t d = edit_distance(word, c);
    if (d > max_distance) {
      // A prefix either way counts, ranked just behind real typos.
      const std::string_view shorter = word.size() < c.size() ? word : c;
      const std::string_view longer = word.size() < c.size() ? c : word;
      if (shorter.size() < 3 || !starts_with_ci(longer, shorter)) continue;
      d = max_distance + 1;
    }
    if (d < best) {
      best = d;
      best_word = std::string(c);
    }
  }
  return best_word;
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        std::initializer_list<std::string_view> candidates) {
  return did_you_mean(word,
                      std::span<const std::string_view>(candidates.begin(), candidates.size()));
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  std::vector<std::string_view> views(candidates.begin(), candidates.end());
  return did_you_mean(word, std::span<const std::string_view>(views));
}

}  // namespace cw::config
