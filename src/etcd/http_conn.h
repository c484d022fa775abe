// One HTTP/1.1 keep-alive connection to one etcd member's JSON gateway: POST a JSON body and
// read the whole answer (Content-Length or chunked), or POST and read a chunked answer as a
// stream of JSON objects (a watch). Heads are parsed by http/h1's strict response parser and
// bodies by its decoder; every buffer is bounded. One request at a time (no pipelining): the
// owner serializes its calls (ConnGate). Errors say whether the request can have reached etcd.
// Also: the endpoint URLs it connects to, parsed.
// Thread contract: the loop's thread only; a connection belongs to the loop it was made on.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/message.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"
#include "runtime/tcp.h"
#include "runtime/timer_wheel.h"

namespace cw::etcd {

struct Endpoint {
  std::string url;  // as configured, for messages: "http://127.0.0.1:2379"
  rt::SocketAddress addr;
};

// "http://IP:PORT" or "http://[IPv6]:PORT", a trailing "/" allowed. The error names the URL
// and says why: https and host names are not supported (but "localhost" is 127.0.0.1, as
// everywhere in causeway), a port is required.
Result<Endpoint, std::string> parse_http_endpoint(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::string body;
};

struct HttpError {
  enum class Kind : uint8_t {
    kConnect,  // no connection could be made: nothing was sent
    kSend,     // the request was not written whole: etcd cannot have acted on it
    kTimeout,  // sent whole, no (whole) answer by the deadline
    kBroken,   // sent whole, then the connection broke or the answer was malformed or too big
    kClosed,   // abort() was called
  };
  Kind kind = Kind::kBroken;
  std::string detail;  // "connect: Connection refused", "read: timeout", ...
  // On a connection kept alive from an earlier request, with not one byte of an answer: the
  // classic keep-alive race (the server closed it as we sent). Then a kSend may be sent again
  // on a new connection, and a kBroken too if the request is idempotent.
  bool reused_and_silent = false;
};

struct HttpConnOptions {
  int64_t connect_timeout_ms = 1000;
  size_t max_response_bytes = 64u << 20;  // a whole unary answer's body
  size_t max_object_bytes = 4u << 20;     // one JSON object of a stream
  size_t max_head_bytes = 16u << 10;
  // Extra request header lines, each ending in CRLF (etcd: "Grpc-Metadata-Hasleader: true").
  std::string extra_headers;
  // TCP keepalive probes (about a minute to notice a dead peer): for streams that may idle
  // for minutes between messages.
  bool tcp_keepalive = false;
};

class HttpConn {
 public:
  // Called with each whole JSON object of a streamed answer; false ends the stream.
  using ObjectFn = std::function<bool(std::string_view object)>;

  HttpConn(rt::EventLoop& loop, rt::SocketAddress addr, HttpConnOptions opts);
  ~HttpConn();
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;

  // POSTs `body` (application/json) to `path` and reads the whole answer, whatever its status.
  // Connects first when no kept-alive connection is open (under connect_timeout_ms, which is
  // not counted against the deadline). deadline_ms: absolute, in loop ms (EventLoop::now_ms),
  // for writing the request and reading the whole answer; rt::kNoDeadline waits forever.
  rt::Task<Result<HttpResponse, HttpError>> post(std::string path, std::string body,
                                                 int64_t deadline_ms);

  // POSTs like post() and, when the answer is 200, hands each JSON object of its body to
  // on_object as soon as it is whole. head_deadline_ms bounds sending and the answer's head;
  // the body has no deadline (a watch may idle for long). Returns {200, ""} when the body
  // ended or on_object returned false (the connection is then closed: the body was not read
  // to its end); a non-200 answer is read whole (under max_response_bytes, within 5 s) and
  // returned as it is, for the caller to read etcd's error from it.
  rt::Task<Result<HttpResponse, HttpError>> stream(std::string path, std::string body,
                                                   int64_t head_deadline_ms, ObjectFn on_object);

  // For good: the operation in flight fails with kClosed on a later turn of the loop (a
  // connect in progress only once it finishes or times out), later ones fail at once.
  void abort();
  bool aborted() const { return aborted_; }
  // Closes the kept-alive connection, if any and if no operation is in flight.
  void disconnect();
  bool connected() const { return conn_.is_open(); }
  const rt::SocketAddress& address() const { return addr_; }

 private:
  struct Head {
    int status = 0;
    http::BodyFraming framing;
    bool keep_alive = true;
  };
  // Connects if needed (moving *deadline on by the time that took) and writes the request;
  // *reused tells whether it went out on a kept connection.
  rt::Task<Result<void, HttpError>> send(const std::string& path, const std::string& body,
                                         int64_t* deadline, bool* reused);
  // Reads one final (non-1xx) response head; consumes it from in_.
  rt::Task<Result<Head, HttpError>> read_head(int64_t deadline, bool reused);
  // Reads a whole body into *out.
  rt::Task<Result<void, HttpError>> read_body(const Head& head, int64_t deadline, std::string* out);
  // Reads more bytes into in_; 0 = EOF.
  rt::Task<Result<size_t, HttpError>> fill(int64_t deadline, const char* step);
  // After an exchange: keep the connection only if etcd may send another answer on it.
  void finish(bool reusable);
  HttpError fail(HttpError::Kind kind, std::string detail);
  HttpError io_fail(HttpError::Kind kind, const char* step, const std::error_code& ec);

  rt::EventLoop& loop_;
  rt::SocketAddress addr_;
  HttpConnOptions opts_;
  std::string host_;  // the Host header: "127.0.0.1:2379"
  rt::TcpStream conn_;
  std::string in_;  // bytes read and not yet consumed
  std::vector<char> rbuf_;
  bool busy_ = false;  // an operation is in flight (abort() must not close under it)
  bool aborted_ = false;
};

// A FIFO lock for the coroutines that share one connection, with a deadline per waiter. The
// holder hands over directly to the next waiter (resumed on a later turn of the loop), so no
// call overtakes one that waits. close() fails every waiter and every later acquire.
class ConnGate {
 public:
  enum class Outcome : uint8_t { kGranted, kTimedOut, kClosed };

  class Awaiter {
   public:
    Awaiter(ConnGate& g, int64_t deadline) : g_(g), deadline_(deadline) {}
    ~Awaiter();
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    Outcome await_resume() const { return outcome_; }

   private:
    friend class ConnGate;
    ConnGate& g_;
    int64_t deadline_;  // absolute, loop ms
    std::coroutine_handle<> h_;
    rt::TimerNode timer_;
    bool linked_ = false;
    Outcome outcome_ = Outcome::kTimedOut;
  };

  explicit ConnGate(rt::EventLoop& loop) : loop_(loop) {}
  ConnGate(const ConnGate&) = delete;
  ConnGate& operator=(const ConnGate&) = delete;

  // `auto w = gate.acquire(deadline); auto outcome = co_await w;` (bound to a name: g++ 12).
  Awaiter acquire(int64_t deadline) { return Awaiter(*this, deadline); }
  // By the holder: the first waiter takes over, or the gate is free.
  void release();
  void close();
  size_t waiting() const { return waiters_.size(); }

 private:
  void unlink(Awaiter* w);

  rt::EventLoop& loop_;
  bool busy_ = false;
  bool closed_ = false;
  std::vector<Awaiter*> waiters_;  // FIFO; short (the calls of one control thread)
};

// Releases the gate when the call that holds it ends, however it ends.
class GateHold {
 public:
  explicit GateHold(ConnGate& g) : g_(g) {}
  ~GateHold() { g_.release(); }
  GateHold(const GateHold&) = delete;
  GateHold& operator=(const GateHold&) = delete;

 private:
  ConnGate& g_;
};

}  // namespace cw::etcd
