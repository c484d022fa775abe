// The WebSocket side of echo (RFC 6455): the handshake key and the frame echo loop
// (EchoConn::websocket, defined in websocket.cc). The only user of OpenSSL (SHA-1 for the
// accept key), which is why causeway_echo alone links libcrypto.
// Thread contract: pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace cw::echo::detail {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2).
std::string websocket_accept(std::string_view key);

}  // namespace cw::echo::detail
