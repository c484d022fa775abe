// `causeway services`' way to the admin API: which admin listener, and one HTTP/1.1 exchange.
// Thread contract: main thread; blocking sockets bounded by a deadline (a CLI, not data plane).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/model.h"

namespace cw::cli {

// Where the admin API is: the address to connect to and how to name it in messages.
struct AdminTarget {
  config::Address connect;  // a wildcard bind (0.0.0.0, ::) becomes that family's loopback
  std::string text;         // "127.0.0.1:9901", as messages show it
};

// --admin ADDR if given; else admin.listen of `config_path` (-c FILE) or of ./causeway.yaml
// when present; else the config model's default (127.0.0.1:9901). The error is a sentence for
// the user (an unreadable config, admin.listen on port 0).
Result<AdminTarget, std::string> resolve_admin(const std::string& admin_flag,
                                               const std::string& config_path);

struct HttpReply {
  int status = 0;
  std::string body;
};

// What went wrong reaching or reading the server, without the address ("Connection
// refused", "no answer within 10s", "the answer is not HTTP/1.1: ..."). `reached`: the TCP
// connection was made, so the failure is the server's answer, not the way to it.
struct HttpError {
  std::string what;
  bool reached = false;
};

// One request with `Connection: close` (so the body runs to a known end and nothing lingers)
// and, when `body` is non-empty, Content-Length and Content-Type: application/json. The whole
// exchange (connect, send, the full answer) is bounded by `timeout`.
Result<HttpReply, HttpError> http_call(const AdminTarget& target, std::string_view method,
                                       std::string_view path, std::string_view body,
                                       std::chrono::milliseconds timeout);

}  // namespace cw::cli
