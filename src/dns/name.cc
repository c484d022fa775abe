// DNS name reading and writing with compression (see name.h).
// Thread contract: pure; NameWriter is used by one thread at a time.
#include "dns/name.h"

namespace cw::dns {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower(c);
  return r;
}

const char* read_name(std::string_view msg, size_t pos, std::string& out, size_t& next) {
  out.clear();
  size_t wire_len = 1;     // the final root label
  size_t run_start = pos;  // start of the current run of labels: pointers must go before it
  bool jumped = false;
  while (true) {
    if (pos >= msg.size()) return "name runs past the end of the message";
    auto len = static_cast<uint8_t>(msg[pos]);
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return "compression pointer runs past the end";
      size_t target = (static_cast<size_t>(len & 0x3F) << 8) | static_cast<uint8_t>(msg[pos + 1]);
      if (target >= run_start) return "compression pointer does not point backwards";
      if (!jumped) next = pos + 2;
      jumped = true;
      pos = run_start = target;
      continue;
    }
    if ((len & 0xC0) != 0) return "reserved label type";
    if (len == 0) {
      if (!jumped) next = pos + 1;
      return nullptr;
    }
    wire_len += 1 + len;
    if (wire_len > kMaxName) return "name longer than 255 octets";
    if (pos + 1 + len > msg.size()) return "label runs past the end of the message";
    std::string_view label = msg.substr(pos + 1, len);
    if (label.find('.') != std::string_view::npos) return "label contains a dot";
    if (!out.empty()) out.push_back('.');
    out.append(label);
    pos += 1 + len;
  }
}

bool NameWriter::write(std::string& out, std::string_view name, bool compress) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.size() + 2 > kMaxName && !name.empty()) return false;  // text + first length + root
  // Validate every label before writing any, so a bad name leaves `out` untouched.
  for (size_t p = 0; !name.empty() && p <= name.size();) {
    size_t dot = name.find('.', p);
    if (dot == std::string_view::npos) dot = name.size();
    if (dot == p || dot - p > kMaxLabel) return false;
    p = dot + 1;
  }
  size_t p = 0;
  while (p < name.size()) {
    std::string_view suffix = name.substr(p);
    if (compress) {
      for (const auto& [seen, offset] : suffixes_) {
        if (iequals(seen, suffix)) {
          out.push_back(static_cast<char>(0xC0 | (offset >> 8)));
          out.push_back(static_cast<char>(offset & 0xFF));
          return true;
        }
      }
      if (out.size() < 0x4000) suffixes_.emplace_back(suffix, static_cast<uint16_t>(out.size()));
    }
    size_t dot = name.find('.', p);
    if (dot == std::string_view::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - p));
    out.append(name.substr(p, dot - p));
    p = dot + 1;
  }
  out.push_back('\0');
  return true;
}

void NameWriter::rollback(size_t size) {
  std::erase_if(suffixes_, [size](const auto& s) { return s.second >= size; });
}

}  // namespace cw::dns
