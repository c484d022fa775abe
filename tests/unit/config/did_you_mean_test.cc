#include "config/did_you_mean.h"

#include <gtest/gtest.h>

namespace cw::config {
namespace {

TEST(EditDistance, CountsInsertDeleteSubstituteAndSwap) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("port", "prot"), 1u);               // swap
  EXPECT_EQ(edit_distance("path_prefx", "path_prefix"), 1u);  // insert
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("Workers", "workers"), 0u);  // case-insensitive
}

TEST(DidYouMean, SuggestsTheClosestCandidate) {
  EXPECT_EQ(did_you_mean("path_prefx", {"path", "path_prefix", "path_regex"}), "path_prefix");
  EXPECT_EQ(did_you_mean("listner", {"workers", "listeners", "clusters"}), "listeners");
  EXPECT_EQ(did_you_mean("least_requests", {"round_robin", "least_request"}), "least_request");
  EXPECT_EQ(did_you_mean("clsuter", {"name", "cluster", "match"}), "cluster");  // swap
}

TEST(DidYouMean, PrefixesCountEitherWay) {
  EXPECT_EQ(did_you_mean("timeout_ms", {"name", "timeout"}), "timeout");
  EXPECT_EQ(did_you_mean("max_conn", {"max_idle", "max_connections"}), "max_connections");
}

TEST(DidYouMean, StaysQuietWhenNothingIsClose) {
  EXPECT_EQ(did_you_mean("banana", {"workers", "listeners", "clusters"}), std::nullopt);
  EXPECT_EQ(did_you_mean("", {"a"}), std::nullopt);
  // Short words need a closer match: "xy" is 2 edits from "lb" but too short to guess.
  EXPECT_EQ(did_you_mean("xy", {"lb"}), std::nullopt);
  EXPECT_EQ(did_you_mean("lv", {"lb"}), "lb");
}

TEST(DidYouMean, NeverSuggestsTheWordItself) {
  EXPECT_EQ(did_you_mean("lb", {"lb"}), std::nullopt);
}

TEST(DidYouMean, AcceptsVectorsOfStrings) {
  const std::vector<std::string> names = {"api", "auth", "web"};
  EXPECT_EQ(did_you_mean("apii", names), "api");
  EXPECT_EQ(did_you_mean("wbe", names), "web");
}

}  // namespace
}  // namespace cw::config
