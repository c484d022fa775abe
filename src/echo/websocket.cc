// WebSocket echo: after the 101, every data frame is echoed as it streams in (unmasked, same
// opcode and FIN), ping gets pong, close is answered with close; protocol errors close with
// 1002, frames over 16 MiB with 1009. Thread contract: see conn.h and websocket.h.
#include "echo/websocket.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "echo/conn.h"

namespace cw::echo::detail {
namespace {

constexpr std::string_view kWsGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* p, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

void unmask(char* p, size_t n, const uint8_t mask[4], uint64_t offset) {
  for (size_t i = 0; i < n; ++i) p[i] = char(uint8_t(p[i]) ^ mask[(offset + i) & 3]);
}

void append_ws_header(std::string& out, uint8_t b0, uint64_t len) {
  out += char(b0);
  if (len < 126) {
    out += char(len);
  } else if (len <= 0xffff) {
    out += char(126);
    out += char(len >> 8);
    out += char(len & 0xff);
  } else {
    out += char(127);
    for (int shift = 56; shift >= 0; shift -= 8) out += char((len >> shift) & 0xff);
  }
}

void append_ws_frame(std::string& out, uint8_t b0, std::string_view payload) {
  append_ws_header(out, b0, payload.size());
  out += payload;
}

void append_ws_close(std::string& out, uint16_t code) {
  const char payload[2] = {char(code >> 8), char(code & 0xff)};
  append_ws_frame(out, 0x88, std::string_view(payload, 2));
}

}  // namespace

std::string websocket_accept(std::string_view key) {
  std::string in;
  in.reserve(key.size() + kWsGuid.size());
  in.append(key);
  in.append(kWsGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return base64(digest, sizeof digest);
}

rt::Task<void> EchoConn::websocket() {
  const std::string* key = head_.headers.get("sec-websocket-key");
  if (head_.method != "GET" || key == nullptr || key->empty()) {
    w_.stats.bad.inc();
    append_error(400, "bad_request", "websocket upgrade needs GET and Sec-WebSocket-Key", false);
    co_await close_gracefully();
    co_return;
  }
  w_.stats.websockets.inc();
  out_ +=
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  out_ += websocket_accept(*key);
  out_ += "\r\n\r\n";
  for (;;) {
    bool ok = co_await fill_at_least(2, kWsIdleMs);
    if (!ok) co_return;
    const auto b0 = uint8_t(in_.data()[0]);
    const auto b1 = uint8_t(in_.data()[1]);
    const bool fin = (b0 & 0x80) != 0;
    const uint8_t opcode = b0 & 0x0f;
    const bool masked = (b1 & 0x80) != 0;
    uint64_t len = b1 & 0x7f;
    const size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
    ok = co_await fill_at_least(header, kWsIdleMs);
    if (!ok) co_return;
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data());
    if (len == 126) {
      len = uint64_t(p[2]) << 8 | p[3];
    } else if (len == 127) {
      len = 0;
      for (int i = 2; i < 10; ++i) len = len << 8 | p[i];
    }
    uint8_t mask[4] = {};
    if (masked) std::memcpy(mask, p + header - 4, 4);
    in_.consume(header);

    const bool control = (opcode & 0x8) != 0;
    uint16_t close_code = 0;
    if ((b0 & 0x70) != 0 || !masked) {
      close_code = 1002;  // no extension was negotiated; clients must mask (RFC 6455 5.1)
    } else if (control && (!fin || len > 125 || opcode > 10)) {
      close_code = 1002;
    } else if (!control && opcode > 2) {
      close_code = 1002;
    } else if (len > kMaxWsFrame) {
      close_code = 1009;
    }
    if (close_code != 0) {
      append_ws_close(out_, close_code);
      co_await close_gracefully();
      co_return;
    }
    if (control) {
      ok = co_await fill_at_least(size_t(len), kWsIdleMs);
      if (!ok) co_return;
      unmask(in_.data(), size_t(len), mask, 0);
      const std::string_view payload(in_.data(), size_t(len));
      if (opcode == 8) {  // close: answer with the same code, then end the connection
        append_ws_frame(out_, 0x88, payload);
        in_.consume(size_t(len));
        co_await close_gracefully();
        co_return;
      }
      if (opcode == 9) append_ws_frame(out_, 0x8a, payload);  // ping -> pong; a pong is dropped
      in_.consume(size_t(len));
      continue;
    }
    // Data (or continuation) frame: echoed as it streams in, same FIN bit and opcode.
    append_ws_header(out_, uint8_t(b0 & 0x8f), len);
    uint64_t off = 0;
    while (off < len) {
      if (in_.empty()) {
        ok = co_await fill_at_least(1, kWsIdleMs);
        if (!ok) co_return;
      }
      const size_t n = size_t(std::min<uint64_t>(in_.size(), len - off));
      unmask(in_.data(), n, mask, off);
      out_.append(in_.data(), n);
      in_.consume(n);
      off += n;
      if (out_.size() >= kChunk) {
        ok = co_await flush();
        if (!ok) co_return;
      }
    }
  }
}

}  // namespace cw::echo::detail
