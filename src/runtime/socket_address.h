// SocketAddress: an IPv4 or IPv6 address and port, parsed from "ip:port" / "[ip6]:port".
// Thread contract: plain value.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace cw::rt {

class SocketAddress {
 public:
  SocketAddress() = default;
  static std::optional<SocketAddress> parse(std::string_view text);
  static std::optional<SocketAddress> from_ip_port(std::string_view ip, uint16_t port);
  static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss_); }
  socklen_t len() const { return len_; }
  int family() const { return ss_.ss_family; }
  uint16_t port() const;
  std::string ip() const;      // "127.0.0.1" / "::1"
  std::string text() const;    // "127.0.0.1:80" / "[::1]:80"
  // Address bytes in network order: 4 for v4, 16 for v6 (v4-mapped v6 reported as v4).
  bool ip_bytes(uint8_t out[16], bool& v6) const;

 private:
  sockaddr_storage ss_{};
  socklen_t len_ = 0;
};

}  // namespace cw::rt
