#include "config/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace cw::config {
namespace {

bool parse_port(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

// Parses an IP literal into bytes; returns false unless it is a valid v4 or v6 address.
bool parse_ip(std::string_view text, bool& v6, uint8_t (&bytes)[16]) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return false;
  std::string s(text);  // inet_pton needs a terminator
  std::memset(bytes, 0, sizeof(bytes));
  if (s.find(':') == std::string::npos) {
    v6 = false;
    return inet_pton(AF_INET, s.c_str(), bytes) == 1;
  }
  v6 = true;
  return inet_pton(AF_INET6, s.c_str(), bytes) == 1;
}

std::string ip_text(bool v6, const uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, buf, sizeof(buf));
  return buf;
}

bool prefix_equal(const uint8_t* a, const uint8_t* b, unsigned bits) {
  const unsigned full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

}  // namespace

std::string Address::text() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Address> parse_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // "[1.2.3.4]:80"
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  Address out;
  if (!parse_port(port, out.port)) return std::nullopt;
  if (host == "localhost") {
    out.host = "127.0.0.1";
    return out;
  }
  bool v6 = false;
  uint8_t bytes[16];
  if (!parse_ip(host, v6, bytes)) return std::nullopt;
  out.host = ip_text(v6, bytes);
  return out;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  Cidr out;
  out.text = std::string(text);
  std::string_view ip = text;
  std::optional<unsigned> prefix;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    ip = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    unsigned value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    prefix = value;
  }
  if (!parse_ip(ip, out.v6, out.addr)) return std::nullopt;
  const unsigned max_prefix = out.v6 ? 128 : 32;
  if (!prefix) prefix = max_prefix;
  if (*prefix > max_prefix) return std::nullopt;
  out.prefix = static_cast<uint8_t>(*prefix);
  // Clear host bits.
  for (unsigned bit = *prefix; bit < max_prefix; ++bit) {
    out.addr[bit / 8] = static_cast<uint8_t>(out.addr[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  return out;
}

bool cidr_contains(const Cidr& cidr, bool v6, const uint8_t* addr) {
  if (cidr.v6 == v6) return prefix_equal(cidr.addr, addr, cidr.prefix);
  if (!cidr.v6) {  // v4 block, v6 address: only a mapped address can match
    if (std::memcmp(addr, kMappedPrefix, sizeof(kMappedPrefix)) != 0) return false;
    return prefix_equal(cidr.addr, addr + 12, cidr.prefix);
  }
  // v6 block, v4 address: compare as ::ffff:a.b.c.d
  uint8_t mapped[16];
  std::memcpy(mapped, kMappedPrefix, sizeof(kMappedPrefix));
  std::memcpy(mapped + 12, addr, 4);
  return prefix_equal(cidr.addr, mapped, cidr.prefix);
}

bool cidr_contains(const Cidr& cidr, const sockaddr* addr) {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    return cidr_contains(cidr, false, reinterpret_cast<const uint8_t*>(&in->sin_addr));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    return cidr_contains(cidr, true, reinterpret_cast<const uint8_t*>(&in6->sin6_addr));
  }
  return false;
}

bool is_wildcard(const Address& address) {
  return address.host == "0.0.0.0" || address.host == "::";
}

}  // namespace cw::config
