// Network literals in the config: "ip:port" addresses and CIDR blocks, and CIDR matching.
// Thread contract: pure functions; any thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/model.h"

namespace cw::config {

// "127.0.0.1:8080", "[::1]:80", "0.0.0.0:8080", "localhost:8080" (host becomes 127.0.0.1).
// The host must be an IP literal; IPv6 needs brackets. The host is stored canonically
// ("[0:0::1]:80" -> host "::1"). Port 0..65535: the caller decides whether 0 is allowed
// (listeners may bind 0 to let the kernel pick, upstream endpoints may not).
std::optional<Address> parse_address(std::string_view text);

// "10.0.0.0/8", "::1/128", or a bare IP (= /32 or /128). Host bits below the prefix are
// accepted and cleared ("10.1.2.3/8" is 10.0.0.0/8), as Linux `ip route` does; `text` keeps
// what was written. No brackets, no zone ids.
std::optional<Cidr> parse_cidr(std::string_view text);

// Whether the block holds the address. `addr` is 4 network-order bytes (v6 = false) or 16
// (v6 = true). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket reports
// for an IPv4 peer) match IPv4 blocks, and IPv4 addresses match IPv6 blocks written in
// mapped form (::ffff:10.0.0.0/104).
bool cidr_contains(const Cidr& cidr, bool v6, const uint8_t* addr);
// The same for a socket address; false for families other than AF_INET and AF_INET6.
bool cidr_contains(const Cidr& cidr, const sockaddr* addr);

// True for 0.0.0.0 and ::, which bind every local address.
bool is_wildcard(const Address& address);

}  // namespace cw::config
