// Client side of the admin socket tests: read one response, read to EOF, end a test.
// Thread contract: the test's loop thread.
#pragma once

#include <string>

#include "admin/admin_server.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::admin {

// Reads one response (head + Content-Length body) from s, keeping extra bytes in `buf`.
inline rt::Task<std::string> read_response(rt::TcpStream* s, rt::EventLoop* loop,
                                           std::string* buf) {
  const int64_t deadline = loop->now_ms() + 5000;
  char tmp[4096];
  for (;;) {
    const size_t end = buf->find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t len = 0;
      const size_t cl = buf->find("Content-Length: ");
      if (cl != std::string::npos && cl < end) len = std::stoul(buf->substr(cl + 16));
      if (buf->size() >= end + 4 + len) {
        std::string out = buf->substr(0, end + 4 + len);
        buf->erase(0, end + 4 + len);
        co_return out;
      }
    }
    auto n = co_await s->read(tmp, sizeof tmp, deadline);
    if (!n || *n == 0) {
      std::string out = std::move(*buf);
      buf->clear();
      co_return out + (n ? "<eof>" : "<error>");
    }
    buf->append(tmp, *n);
  }
}

// Reads until the server closes (or 5 s pass); "<error>" marks a timeout or reset.
inline rt::Task<std::string> read_to_eof(rt::TcpStream* s, rt::EventLoop* loop) {
  const int64_t deadline = loop->now_ms() + 5000;
  std::string out;
  char tmp[4096];
  for (;;) {
    auto n = co_await s->read(tmp, sizeof tmp, deadline);
    if (!n) co_return out + "<error>";
    if (*n == 0) co_return out;
    out.append(tmp, *n);
  }
}

// Ends a socket test: closes the server and turns the loop until its connection coroutines
// have seen the close and finished (so no coroutine frame outlives the test), then stops.
inline rt::Task<void> finish(rt::EventLoop* loop, AdminServer* server) {
  server->close();
  for (int i = 0; i < 1000 && server->connections() > 0; ++i) co_await rt::sleep_for(*loop, 1);
  co_await rt::sleep_for(*loop, 1);  // one more turn: the acceptor's cancellation is deferred
  loop->stop();
}

}  // namespace cw::admin
