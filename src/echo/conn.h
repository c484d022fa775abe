// One echo client connection: reads pipelined heads, answers them (knobs, faults, latency),
// and hands the connection to the WebSocket echo after an upgrade. Lives in its coroutine's
// frame and is linked into its worker's list so a stop can interrupt it.
// Thread contract: the owning worker's loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/buffer.h"
#include "echo/worker.h"
#include "http/message.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::echo::detail {

// One client connection, living in its coroutine's frame.
class EchoConn {
 public:
  EchoConn(EchoWorker& w, rt::TcpStream s) : w_(w), s_(std::move(s)), in_(w.pool) {
    next_ = w_.conns;
    if (next_) next_->prev_ = this;
    w_.conns = this;
    ++w_.nconns;
    w_.stats.active.inc();
  }
  EchoConn(const EchoConn&) = delete;
  EchoConn& operator=(const EchoConn&) = delete;
  ~EchoConn() {
    if (prev_) {
      prev_->next_ = next_;
    } else {
      w_.conns = next_;
    }
    if (next_) next_->prev_ = prev_;
    --w_.nconns;
    w_.stats.active.dec();
    w_.maybe_finish();
  }

  rt::Task<void> run();
  // Stop: cut a sleep short and shut the socket so every pending read/write completes.
  void interrupt() {
    if (pause_) pause_->wake();
    if (s_.is_open()) ::shutdown(s_.fd(), SHUT_RDWR);
  }
  EchoConn* next() const { return next_; }

 private:
  rt::Task<bool> flush();
  rt::Task<bool> read_body(uint64_t& bytes);
  rt::Task<bool> fill_at_least(size_t n, int64_t idle_ms);
  rt::Task<bool> stream_spaces(uint64_t n);
  rt::Task<void> close_gracefully();
  rt::Task<void> hang();
  rt::Task<void> websocket();  // websocket.cc

  int64_t deadline(int64_t ms) const { return w_.loop.now_ms() + ms; }
  void append_head(int status, bool has_length, uint64_t length, bool keep);
  void append_json_response(int status, bool keep, std::string_view body);
  void append_error(int status, std::string_view code, std::string_view reason, bool keep);
  void build_echo_body(bool has_body, uint64_t body_bytes, bool echo_headers);
  void append_headers_json();

  EchoWorker& w_;
  rt::TcpStream s_;
  ConnBuffer in_;
  http::RequestHead head_;  // reused: header strings keep their capacity
  std::string out_;         // responses not yet written (pipelined answers batch here)
  std::string body_;        // the JSON being built
  Pause* pause_ = nullptr;
  EchoConn* prev_ = nullptr;
  EchoConn* next_ = nullptr;
};

}  // namespace cw::echo::detail
