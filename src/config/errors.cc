// Error formatting for the config loader: key paths, the text helpers messages are built from,
// escaping of user text, and ConfigError::format.
#include <cstdio>

#include "config/loader.h"

namespace cw::config {
namespace detail {
namespace {

bool plain_key(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0.
size_t utf8_length(std::string_view s) {
  const auto at = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0; };
  const unsigned char c = at(0);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (!is_continuation(at(i))) return 0;
  }
  return len;
}

void append_hex(std::string& out, const char* format, unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), format, value);
  out += buf;
}

}  // namespace

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c == '\n' || c == '\r' || c == '\t') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
      ++i;
      continue;
    }
    const size_t len = c < 0x80 ? 0 : utf8_length(s.substr(i));
    if (len == 0) {  // C0 control, DEL, or a byte that is not UTF-8
      append_hex(out, "\\x%02x", c);
      ++i;
    } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      // U+0080-U+009F: C1 controls (U+009B is CSI on terminals that honour them).
      append_hex(out, "\\u%04x", 0x80u + (static_cast<unsigned char>(s[i + 1]) & 0x3Fu));
      i += 2;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
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

std::string truncate(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  for (int back = 0; back < 3 && cut > 0 && is_continuation(static_cast<unsigned char>(s[cut]));
       ++back) {
    --cut;
  }
  return std::string(s.substr(0, cut)) + "...";
}

std::string describe(const Node& n) {
  switch (n.type()) {
    case yaml::Type::kScalar:
      return "'" + truncate(n.scalar()) + "'";
    case yaml::Type::kSequence:
      return "a list";
    case yaml::Type::kMap:
      return "a map";
    case yaml::Type::kNull:
      return "an empty value";
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

bool is_token(std::string_view s) {
  const auto tchar = [](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  return !s.empty() && std::all_of(s.begin(), s.end(), tchar);
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

void Loader::error(const YAML::Mark& mark, std::string path, std::string message, ErrorKind kind) {
  if (full()) {
    overflowed_ = true;
    return;
  }
  ConfigError e;
  e.file = file_;
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  // Keys, names and values in here come from the file: stored escaped, so that every consumer
  // (terminal, log, admin API) gets text that is safe to show.
  e.key_path = escape_text(path);
  e.message = escape_text(message);
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

YAML::Mark Loader::mark_of(const Node& n) const {
  if (n.is_null()) {
    for (const auto& [node, mark] : null_marks_) {
      if (node.same(n)) return mark;
    }
  }
  return n.mark();
}

}  // namespace detail

std::string ConfigError::format() const {
  // The file name is user text too, and errors not made by the Loader are escaped here.
  std::string out = detail::escape_text(file);
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  const std::string shown =
      kind == ErrorKind::kUnknownKey ? detail::parent_path(key_path) : key_path;
  if (!shown.empty()) out += detail::escape_text(shown) + ": ";
  out += detail::escape_text(message);
  return out;
}

}  // namespace cw::config
