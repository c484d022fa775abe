// A compact read-only YAML document for the config loader, built from yaml-cpp's event parser
// (yaml-cpp's own node tree costs ~350 bytes a node; this one 24 plus the scalar's bytes).
// Thread contract: built and read by one thread; a Node is valid while its Tree lives.
#pragma once

#include <yaml-cpp/mark.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cw::config::yaml {

enum class Type : uint8_t { kNull, kScalar, kSequence, kMap };

class Tree;
class Builder;
template <class T>
class NodeRange;

// A handle on one node: two words, copied freely. An alias is the node it names (as in
// yaml-cpp), so `same()` tells a merged map from a copy of it.
class Node {
 public:
  Node() = default;  // a null node outside any tree

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_scalar() const { return type() == Type::kScalar; }
  bool is_sequence() const { return type() == Type::kSequence; }
  bool is_map() const { return type() == Type::kMap; }
  std::string_view scalar() const;              // "" unless a scalar
  bool plain() const;                           // no quotes and no tag (yaml-cpp's tag "?")
  YAML::Mark mark() const;                      // null mark outside a tree
  size_t size() const;                          // items of a sequence, entries of a map, else 0
  Node item(size_t i) const;                    // i < size() of a sequence
  std::pair<Node, Node> entry(size_t i) const;  // i < size() of a map: key, value
  bool same(const Node& other) const { return tree_ == other.tree_ && id_ == other.id_; }

  // for (Node each : n.items()) and for (auto [key, value] : n.entries()).
  NodeRange<Node> items() const;
  NodeRange<std::pair<Node, Node>> entries() const;

 private:
  friend class Tree;
  friend class Builder;
  Node(const Tree* tree, uint32_t id) : tree_(tree), id_(id) {}
  const Tree* tree_ = nullptr;
  uint32_t id_ = 0;
};

// The items of a sequence (T = Node) or the entries of a map (T = pair of key and value).
template <class T>
class NodeRange {
 public:
  struct iterator {
    const Node* parent;
    size_t i;
    T operator*() const {
      if constexpr (std::is_same_v<T, Node>) {
        return parent->item(i);
      } else {
        return parent->entry(i);
      }
    }
    iterator& operator++() {
      ++i;
      return *this;
    }
    bool operator!=(const iterator& o) const { return i != o.i; }
  };
  explicit NodeRange(const Node& n) : n_(n) {}
  iterator begin() const { return {&n_, 0}; }
  iterator end() const { return {&n_, n_.size()}; }

 private:
  Node n_;
};

inline NodeRange<Node> Node::items() const { return NodeRange<Node>(*this); }
inline NodeRange<std::pair<Node, Node>> Node::entries() const {
  return NodeRange<std::pair<Node, Node>>(*this);
}

class Tree {
 public:
  // Aliases may repeat a subtree; beyond this many nodes plus 8 per node written, the document
  // is refused (a "billion laughs" file must not make the loader build billions of objects).
  static constexpr uint64_t kMaxExpansionBase = 1'000'000;

  // Parses the first document of `text`. Throws what yaml-cpp's parser throws
  // (YAML::ParserException, YAML::DeepRecursion). An empty text gives a null root.
  void parse(std::string_view text);
  Node root() const { return root_; }
  // Nodes the document stands for once every alias is expanded, and whether that exceeds the
  // limit (then `worst_alias()` marks the alias that expands the most).
  uint64_t expanded_nodes() const { return expanded_; }
  uint64_t expansion_limit() const {
    return kMaxExpansionBase + 8 * static_cast<uint64_t>(nodes_.size());
  }
  bool too_expanded() const { return expanded_ > expansion_limit(); }
  YAML::Mark worst_alias() const { return worst_alias_; }

 private:
  friend class Node;
  friend class Builder;
  struct Rec {
    Type type = Type::kNull;
    bool plain = false;
    int32_t pos = 0, line = 0, column = 0;
    uint32_t first = 0;  // scalar: offset in text_; collection: offset in children_
    uint32_t count = 0;  // scalar: bytes; sequence: items; map: entries (2 children each)
  };
  std::vector<Rec> nodes_;
  std::vector<uint32_t> children_;  // node ids; a map's as key, value, key, value...
  std::string text_;                // every scalar's bytes, back to back
  Node root_;
  uint64_t expanded_ = 0;
  YAML::Mark worst_alias_ = YAML::Mark::null_mark();
};

}  // namespace cw::config::yaml
