// HTTP/1.1 lexical classes (RFC 9110 5.6) and hop-by-hop header handling for the proxy.
// Thread contract: pure functions and constant tables; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace cw::http::h1 {

namespace detail {
inline constexpr uint8_t kTchar = 1;       // token character: name, method, coding
inline constexpr uint8_t kValueChar = 2;   // field-value octet: HTAB, SP, VCHAR, obs-text
inline constexpr uint8_t kTargetChar = 4;  // request-target octet: VCHAR only (no obs-text)
inline constexpr uint8_t kHostChar = 8;    // uri-host [":" port] octet (reg-name, IP literal)
inline constexpr uint8_t kHexDigit = 16;

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> t{};
  constexpr std::string_view kTcharPunct = "!#$%&'*+-.^_`|~";
  constexpr std::string_view kHostPunct = "-._~!$&'()*+,;=%:[]";
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || kTcharPunct.find(static_cast<char>(c)) != std::string_view::npos) f |= kTchar;
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) f |= kValueChar;
    if (c > 0x20 && c < 0x7f) f |= kTargetChar;
    if (alnum || kHostPunct.find(static_cast<char>(c)) != std::string_view::npos) f |= kHostChar;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHexDigit;
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}
inline constexpr std::array<uint8_t, 256> kCharClass = make_char_classes();
}  // namespace detail

inline bool is_tchar(char c) {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & detail::kTchar) != 0;
}
inline bool is_value_char(char c) {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & detail::kValueChar) != 0;
}
inline bool is_target_char(char c) {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & detail::kTargetChar) != 0;
}
inline bool is_host_char(char c) {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & detail::kHostChar) != 0;
}
inline bool is_hex_digit(char c) {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & detail::kHexDigit) != 0;
}

// A non-empty token (RFC 9110 5.6.2): what a field name or method must be.
bool is_valid_field_name(std::string_view name);
// Octets allowed in a field value, without leading/trailing SP/HT. Use before writing a
// header value that did not come from the parser (config, filters): it rules out CR/LF injection.
bool is_valid_field_value(std::string_view value);

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization (case-insensitive).
bool is_hop_by_hop(std::string_view name);

// Removes every hop-by-hop header and every header named in a Connection header
// (except Host and Content-Length, which a client must not be able to strip that way).
// The caller re-adds what the next hop needs (framing, Connection/Upgrade for a tunnel).
void remove_hop_by_hop(HeaderMap& headers);

}  // namespace cw::http::h1
