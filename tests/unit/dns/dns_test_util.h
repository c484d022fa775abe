// Test helpers: hand-encoded DNS queries, written byte by byte independently of the codec.
// Thread contract: test-only pure helpers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace cw::dns::testing {

inline std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

inline void put16(std::string& s, int v) {
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
  s.push_back(static_cast<char>(v & 0xFF));
}

// Wire form of a dotted name, no compression.
inline std::string wire_name(std::string_view name) {
  std::string s;
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    s.push_back(static_cast<char>(label.size()));
    s.append(label);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  s.push_back('\0');
  return s;
}

// A query for `name`/`type` with RD set; edns_size > 0 adds an OPT with that payload size.
inline std::string query(uint16_t id, std::string_view name, int type, int edns_size = 0,
                         int edns_version = 0) {
  std::string s;
  put16(s, id);
  put16(s, 0x0100);  // RD
  put16(s, 1);
  put16(s, 0);
  put16(s, 0);
  put16(s, edns_size > 0 ? 1 : 0);
  s += wire_name(name);
  put16(s, type);
  put16(s, 1);
  if (edns_size > 0) {
    s.push_back('\0');
    put16(s, 41);
    put16(s, edns_size);
    s += bytes({0, edns_version, 0x80, 0});  // ext rcode 0, version, DO
    put16(s, 0);
  }
  return s;
}

}  // namespace cw::dns::testing
