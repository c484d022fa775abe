// "Did you mean ...?" hints: the closest known word to a misspelt one (keys, enum values, names).
// Thread contract: pure functions; any thread.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cw::config {

// Optimal-string-alignment (restricted Damerau-Levenshtein) distance: insertions, deletions,
// substitutions and swaps of two adjacent characters each cost 1. ASCII case-insensitive.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or nullopt when none is close. Close means an edit distance
// of at most 2 (at most 1 for words of 3 characters or fewer), or one being a prefix of the
// other when the shorter has at least 3 characters ("path" -> "path_prefix",
// "timeout_ms" -> "timeout"). Ties go to the earlier candidate; an exact match is never
// suggested (the caller asks because the word is unknown).
std::optional<std::string> did_you_mean(std::string_view word,
                                        std::span<const std::string_view> candidates);
std::optional<std::string> did_you_mean(std::string_view word,
                                        std::initializer_list<std::string_view> candidates);
std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace cw::config
