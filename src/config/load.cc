// The loader's entry points and its view of YAML maps (known keys, merge keys, duplicates).
// The sections are read in load_top.cc, load_listeners.cc, load_routes.cc, load_clusters.cc.
#include "config/load.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/exceptions.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/did_you_mean.h"
#include "config/loader.h"

namespace cw::config {
namespace detail {
namespace {

constexpr size_t kMaxFileBytes = 16u << 20;
constexpr int kMaxMergeDepth = 4;
// Below this many entries a map is searched in place; above it, through its index.
constexpr size_t kIndexFrom = 16;

// What a quick look at the text says that the parser does not: where the first content is
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

}  // namespace

const Entry* Map::find(std::string_view key) const {
  if (index.empty()) {
    for (const Entry& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  const auto it = index.find(key);
  return it == index.end() ? nullptr : &entries[it->second];
}

void Map::add(Entry e) {
  entries.push_back(std::move(e));
  if (entries.size() < kIndexFrom) return;
  if (index.empty()) {
    for (size_t i = 0; i < entries.size(); ++i) index.emplace(entries[i].key_node.scalar(), i);
  } else {
    index.emplace(entries.back().key_node.scalar(), entries.size() - 1);
  }
}

std::shared_ptr<Config> Loader::load(std::string_view yaml) {
  auto config = std::make_shared<Config>();
  config->source = file_;
  try {
    // One document is parsed (yaml-cpp 0.7's LoadAll never returns on some inputs, ", x");
    // a second document is found by scanning for its marker instead.
    yaml::Tree tree;
    tree.parse(yaml);
    const Node root = tree.root();
    const TextScan scan = scan_text(yaml);
    if (root.is_null() && scan.first_content) {
      // yaml-cpp gives an empty document for a few malformed inputs (a stray ',').
      error(*scan.first_content, "", "YAML syntax error: unexpected text", ErrorKind::kSyntax);
    } else if (root.is_null()) {
      error(YAML::Mark::null_mark(), "", "the config is empty");
    } else if (tree.too_expanded()) {
      error(tree.worst_alias(), "",
            "aliases ('*name') expand the config to " + std::to_string(tree.expanded_nodes()) +
                " nodes; a file of this size may expand to at most " +
                std::to_string(tree.expansion_limit()));
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
  null_marks_.clear();  // they pointed into the tree, which is gone
  if (!errors_.empty()) return nullptr;
  config->unapplied_keys = std::move(unapplied_);
  return config;
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

Map Loader::open_map(const Node& node, const std::string& path, Keys known) {
  Map m;
  m.node = node;
  m.path = path;
  if (!node.is_map()) {
    expected(node, path, "a map");
    return m;
  }
  m.ok = true;
  collect(m, node, /*merged=*/false, 0);
  std::vector<std::string_view> candidates(known.begin(), known.end());
  for (const Entry& e : m.entries) {
    if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
    auto suggestion = did_you_mean(e.key, std::span<const std::string_view>(candidates));
    error(e.key_node.mark(), e.path, "unknown key '" + truncate(e.key) + "'" + hint(suggestion),
          ErrorKind::kUnknownKey);
    if (suggestion) m.suggested.push_back(std::move(*suggestion));
  }
  return m;
}

// Adds a map's entries. Explicit keys win over merged ("<<: *defaults") ones; a key written
// twice is an error (yaml-cpp's parser passes both on).
void Loader::collect(Map& m, const Node& node, bool merged, int depth) {
  std::vector<Node> merges;
  for (const auto& [k, v] : node.entries()) {
    if (!k.is_scalar()) {
      error(k.mark(), m.path, "keys must be plain strings, got " + describe(k));
      continue;
    }
    const std::string_view key = k.scalar();
    if (key == "<<" && k.plain()) {
      merges.push_back(v);
      continue;
    }
    if (const Entry* prev = m.find(key)) {
      if (merged) continue;  // an explicit key or an earlier merge already set it
      error(k.mark(), child(m.path, key),
            "duplicate key '" + truncate(key) + "' (first at line " +
                std::to_string(prev->key_node.mark().line + 1) + ")");
      continue;
    }
    if (v.is_null() && null_marks_.size() < kMaxErrors) {
      null_marks_.emplace_back(v, k.mark());
    }
    m.add(Entry{std::string(key), k, v, child(m.path, key)});
  }
  for (const Node& merge : merges) {
    if (depth >= kMaxMergeDepth) {
      error(merge, m.path, "merge keys ('<<') nest too deeply");
      continue;
    }
    if (merge.is_map()) {
      collect(m, merge, /*merged=*/true, depth + 1);
    } else if (merge.is_sequence()) {
      for (const Node& each : merge.items()) {
        if (each.is_map()) {
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

bool Loader::is_list(const Node& node, const std::string& path, std::string_view what) {
  if (node.is_sequence()) return true;
  expected(node, path, "a list of " + std::string(what));
  return false;
}

}  // namespace detail

LoadResult load_config_string(std::string_view yaml, const std::string& source_name) {
  detail::Loader loader(source_name);
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
  // Sized up front (when the size is known) so that the text is not copied as it grows.
  std::error_code ec;
  if (const auto size = std::filesystem::file_size(path, ec); !ec) {
    text.reserve(std::min<size_t>(size, detail::kMaxFileBytes + 1));
  }
  char buf[64 * 1024];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > detail::kMaxFileBytes) {
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
