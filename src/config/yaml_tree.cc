#include "config/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <istream>
#include <limits>
#include <stdexcept>
#include <streambuf>

namespace cw::config::yaml {

Type Node::type() const { return tree_ ? tree_->nodes_[id_].type : Type::kNull; }

std::string_view Node::scalar() const {
  if (!is_scalar()) return {};
  const Tree::Rec& r = tree_->nodes_[id_];
  return std::string_view(tree_->text_).substr(r.first, r.count);
}

bool Node::plain() const { return tree_ && tree_->nodes_[id_].plain; }

YAML::Mark Node::mark() const {
  if (!tree_) return YAML::Mark::null_mark();
  const Tree::Rec& r = tree_->nodes_[id_];
  YAML::Mark m;
  m.pos = r.pos;
  m.line = r.line;
  m.column = r.column;
  return m;
}

size_t Node::size() const { return is_sequence() || is_map() ? tree_->nodes_[id_].count : 0; }

Node Node::item(size_t i) const {
  return Node(tree_, tree_->children_[tree_->nodes_[id_].first + i]);
}

std::pair<Node, Node> Node::entry(size_t i) const {
  const uint32_t at = tree_->nodes_[id_].first + 2 * static_cast<uint32_t>(i);
  return {Node(tree_, tree_->children_[at]), Node(tree_, tree_->children_[at + 1])};
}

// Mirrors yaml-cpp's NodeBuilder (what YAML::Load uses): the same nodes, marks, tags and
// alias sharing, stored flat. A collection's children are gathered on `pending_` while it is
// open and copied to `children_` in one piece when it closes.
class Builder : public YAML::EventHandler {
 public:
  explicit Builder(Tree& t) : t_(t) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    done(open(mark, Type::kNull, false, anchor));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // The parser has already refused an alias to an undefined anchor.
    const uint32_t id = anchors_.at(anchor - 1);
    if (weights_[id] > worst_weight_) {
      worst_weight_ = weights_[id];
      t_.worst_alias_ = mark;
    }
    done(id);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    const uint32_t id = open(mark, Type::kScalar, tag == "?", anchor);
    Tree::Rec& r = t_.nodes_[id];
    r.first = static_cast<uint32_t>(t_.text_.size());
    r.count = static_cast<uint32_t>(value.size());
    t_.text_ += value;
    done(id);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    stack_.push_back({open(mark, Type::kSequence, tag == "?", anchor), pending_.size()});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    stack_.push_back({open(mark, Type::kMap, tag == "?", anchor), pending_.size()});
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    uint32_t id;
    size_t first_pending;
  };

  uint32_t open(const YAML::Mark& mark, Type type, bool plain, YAML::anchor_t anchor) {
    if (t_.nodes_.size() >= std::numeric_limits<uint32_t>::max()) {
      throw std::length_error("the YAML has too many nodes");
    }
    const auto id = static_cast<uint32_t>(t_.nodes_.size());
    Tree::Rec r;
    r.type = type;
    r.plain = plain;
    r.pos = mark.pos;
    r.line = mark.line;
    r.column = mark.column;
    t_.nodes_.push_back(r);
    weights_.push_back(1);
    // Anchors count from 1 in document order; a node is anchored when it starts, so an alias
    // inside the node it names refers to it (a cycle, as in yaml-cpp).
    if (anchor != 0) {
      if (anchors_.size() < anchor) anchors_.resize(anchor, id);
      anchors_[anchor - 1] = id;
    }
    return id;
  }

  // A finished node (or an alias to one) becomes a child of the open collection or the root.
  void done(uint32_t id) {
    if (stack_.empty()) {
      t_.root_ = Node(&t_, id);
      t_.expanded_ = weights_[id];
    } else {
      pending_.push_back(id);
    }
  }

  void close() {
    const Frame f = stack_.back();
    stack_.pop_back();
    Tree::Rec& r = t_.nodes_[f.id];
    const size_t n = pending_.size() - f.first_pending;
    r.first = static_cast<uint32_t>(t_.children_.size());
    r.count = static_cast<uint32_t>(r.type == Type::kMap ? n / 2 : n);
    uint64_t weight = 1;
    for (size_t i = f.first_pending; i < pending_.size(); ++i) {
      weight = saturating_add(weight, weights_[pending_[i]]);
      t_.children_.push_back(pending_[i]);
    }
    weights_[f.id] = weight;
    pending_.resize(f.first_pending);
    done(f.id);
  }

  static uint64_t saturating_add(uint64_t a, uint64_t b) {
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max() / 2;
    return a > kMax - std::min(b, kMax) ? kMax : a + b;
  }

  Tree& t_;
  std::vector<Frame> stack_;
  std::vector<uint32_t> pending_;
  std::vector<uint32_t> anchors_;  // anchor - 1 -> node
  std::vector<uint64_t> weights_;  // per node: nodes it stands for with aliases expanded
  uint64_t worst_weight_ = 0;
};

namespace {

// Reads the text in place: no copy into a stringstream.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view text) {
    char* p = const_cast<char*>(text.data());
    setg(p, p, p + text.size());
  }
};

}  // namespace

void Tree::parse(std::string_view text) {
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("the YAML is larger than 4 GiB");
  }
  // Scalars hold at most the document's bytes: one allocation, no doubling as they arrive.
  text_.reserve(text.size());
  ViewBuf buf(text);
  std::istream in(&buf);
  YAML::Parser parser(in);
  Builder builder(*this);
  parser.HandleNextDocument(builder);
}

}  // namespace cw::config::yaml
