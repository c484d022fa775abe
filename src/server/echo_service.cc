// The echo service (see echo_service.h): per worker, an acceptor coroutine and one coroutine per
// connection on the worker's loop. The keep-alive path is one read and one write per request
// (or per pipelined batch) with no allocation once warm: the head is parsed into a RequestHead
// reused per connection, the response is built in a string that keeps its capacity, and input
// blocks come from a per-worker pool and are returned while the connection is idle.
// Thread contract: a worker's state belongs to its thread; EchoServer posts stop requests to
// the loops and reads only atomics (health flag, counters).
#include "server/echo_service.h"

#include <openssl/sha.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>

#include "base/counter.h"
#include "config/units.h"
#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/message.h"
#include "runtime/clock.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::server {
namespace detail {
namespace {

constexpr size_t kBlock = 16 * 1024;              // pooled input block
constexpr size_t kMaxCachedBlocks = 1024;         // per worker: at most 16 MiB kept idle
constexpr size_t kMaxHead = 64 * 1024;            // request head limit (431 beyond)
constexpr size_t kChunk = 64 * 1024;              // body read/write unit; output flush threshold
constexpr uint64_t kMaxSize = uint64_t{1} << 30;  // ?size= limit
constexpr uint64_t kMaxWsFrame = uint64_t{16} << 20;
constexpr int64_t kHeadTimeoutMs = 30'000;  // between bytes of a started head
constexpr int64_t kIoTimeoutMs = 60'000;    // body reads and writes without progress
constexpr int64_t kHangMs = 10 * 60'000;
constexpr int64_t kWsIdleMs = 10 * 60'000;
constexpr int64_t kMaxDelayMs = 10 * 60'000;  // latency and ?delay cap
constexpr int64_t kLingerMs = 2'000;          // drain after our FIN so the answer survives
constexpr uint64_t kMaxLingerBytes = 1 << 20;
constexpr int64_t kStopGraceMs = 2'000;         // then the loop stops even with stragglers
constexpr size_t kMaxConnsPerWorker = 100'000;  // beyond: accepted and closed at once
constexpr std::string_view kWsGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ---- small helpers ----

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, size_t(r.ptr - buf));
}

// Appends s as a JSON string. Bytes >= 0x80 are escaped as \u00XX so the body is always valid
// JSON whatever a header holds.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    out.append(s.data() + start, i - start);
    start = i + 1;
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out.append(s.data() + start, s.size() - start);
  out += '"';
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::optional<int64_t> parse_ms(std::string_view s) {
  auto d = config::parse_duration(s);
  if (!d) return std::nullopt;
  return int64_t(d->count());
}

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

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2).
std::string websocket_accept(std::string_view key) {
  std::string in;
  in.reserve(key.size() + kWsGuid.size());
  in.append(key);
  in.append(kWsGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return base64(digest, sizeof digest);
}

// The padding source for ?size=: a constant block of spaces shared by every worker.
const char* spaces() {
  static const std::string block(kChunk, ' ');
  return block.data();
}

// splitmix64: tiny, fast, good enough for fault draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t s_;
};

int64_t sample_latency(const LatencyDist& d, Rng& rng) {
  switch (d.kind) {
    case LatencyDist::Kind::kNone:
      return 0;
    case LatencyDist::Kind::kFixed:
      return d.a_ms;
    case LatencyDist::Kind::kUniform:
      return d.a_ms +
             std::min(int64_t(rng.uniform() * double(d.b_ms - d.a_ms + 1)), d.b_ms - d.a_ms);
    case LatencyDist::Kind::kExponential: {
      const double v = -double(d.a_ms) * std::log1p(-rng.uniform());
      return std::min(int64_t(std::llround(v)), kMaxDelayMs);
    }
  }
  return 0;
}

// Input bytes received but not consumed: [begin_, end_) of a block from the worker's pool
// (grown on the heap up to the head limit for large heads).
class BlockPool {
 public:
  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool() {
    for (char* b : free_) std::free(b);
  }
  char* get() {
    if (free_.empty()) return static_cast<char*>(std::malloc(kBlock));
    char* b = free_.back();
    free_.pop_back();
    return b;
  }
  void put(char* b) {
    if (free_.size() < kMaxCachedBlocks) {
      free_.push_back(b);
    } else {
      std::free(b);
    }
  }

 private:
  std::vector<char*> free_;
};

class InBuffer {
 public:
  explicit InBuffer(BlockPool& pool) : pool_(pool) {}
  InBuffer(const InBuffer&) = delete;
  InBuffer& operator=(const InBuffer&) = delete;
  ~InBuffer() { release(); }

  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  char* data() { return data_ + begin_; }
  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room to read into (compacting, or growing up to max_total); 0 when max_total is held.
  size_t prepare(size_t max_total) {
    if (!data_) {
      data_ = pool_.get();
      cap_ = kBlock;
    }
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == cap_ && cap_ < max_total) {
      const size_t ncap = std::min(cap_ * 2, max_total);
      char* nd = static_cast<char*>(std::malloc(ncap));
      std::memcpy(nd, data_, end_);
      free_data();
      data_ = nd;
      cap_ = ncap;
    }
    return cap_ - end_;
  }
  char* write_ptr() { return data_ + end_; }
  void commit(size_t n) { end_ += n; }
  // An idle connection holds no block.
  void release_if_empty() {
    if (empty()) release();
  }

 private:
  void free_data() {
    if (!data_) return;
    if (cap_ == kBlock) {
      pool_.put(data_);
    } else {
      std::free(data_);
    }
    data_ = nullptr;
  }
  void release() {
    free_data();
    cap_ = begin_ = end_ = 0;
  }

  BlockPool& pool_;
  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// co_await Pause(loop, ms, slot): a sleep that EchoWorker::begin_stop can cut short through
// the slot (the connection's pause_ pointer).
class Pause {
 public:
  Pause(rt::EventLoop& loop, int64_t ms, Pause*& slot) : loop_(loop), ms_(ms), slot_(slot) {}
  Pause(const Pause&) = delete;
  Pause& operator=(const Pause&) = delete;
  ~Pause() {
    loop_.timers().cancel(node_);
    if (slot_ == this) slot_ = nullptr;
  }
  bool await_ready() const noexcept { return ms_ <= 0; }
  void await_suspend(std::coroutine_handle<> h) {
    h_ = h;
    slot_ = this;
    node_.ctx = this;
    node_.fire = [](rt::TimerNode* n) {
      auto* self = static_cast<Pause*>(n->ctx);
      self->slot_ = nullptr;
      self->h_.resume();
    };
    loop_.arm_timer_ms(node_, ms_);
  }
  void await_resume() const noexcept {}
  // Resumes the sleeper on a later turn of the loop.
  void wake() {
    loop_.timers().cancel(node_);
    slot_ = nullptr;
    loop_.defer(h_);
  }

 private:
  rt::EventLoop& loop_;
  int64_t ms_;
  Pause*& slot_;
  std::coroutine_handle<> h_;
  rt::TimerNode node_;
};

}  // namespace

struct EchoShared {
  EchoOptions options;
  LatencyDist latency;
  double reset_below = 0;  // one uniform draw u per request: u < reset_below -> reset,
  double hang_below = 0;   // < hang_below -> hang, < error_below -> 503
  double error_below = 0;
  std::string json_prefix;  // {"service":"...","instance":"..."
  std::atomic<bool> healthy{true};
};

struct EchoStatsShard {
  Counter connections;
  Gauge active;
  Counter requests;
  Counter errors;
  Counter resets;
  Counter hangs;
  Counter bad;
  Counter websockets;
};

class EchoConn;

struct EchoWorker {
  EchoWorker(const EchoShared& s, uint64_t seed)
      : shared(s), rng(seed), scratch(new char[kChunk]) {}
  EchoWorker(const EchoWorker&) = delete;
  EchoWorker& operator=(const EchoWorker&) = delete;
  ~EchoWorker() { loop.timers().cancel(grace_timer); }

  // Loop thread: close the listener, interrupt every connection, stop when they are gone.
  void begin_stop();
  void maybe_finish() {
    if (stopping && !acceptor_running && nconns == 0) loop.stop();
  }
  const std::string& date_line() {
    if (loop.now_ms() >= date_next_ms) {
      const int64_t wall = rt::wall_ms();
      const time_t t = time_t(wall / 1000);
      tm g;
      gmtime_r(&t, &g);
      char buf[64];
      const size_t n = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &g);
      date.assign(buf, n);
      date_next_ms = loop.now_ms() + (1000 - wall % 1000);
    }
    return date;
  }

  const EchoShared& shared;
  rt::EventLoop loop;  // declared before everything that registers with it
  rt::TcpListener listener;
  BlockPool pool;
  Rng rng;
  std::unique_ptr<char[]> scratch;  // discarded input lands here; never read back
  EchoConn* conns = nullptr;        // intrusive list of live connections
  size_t nconns = 0;
  bool stopping = false;
  bool acceptor_running = false;
  rt::TimerNode grace_timer;
  std::string date;
  int64_t date_next_ms = 0;
  EchoStatsShard stats;
};

namespace {

// What the query asked for.
struct Knobs {
  bool echo_headers = false;
  int status = 0;  // 0: not set
  bool has_size = false;
  uint64_t size = 0;
  int64_t delay_ms = 0;
};

// nullptr on success, else a static reason.
const char* parse_knobs(std::string_view q, Knobs& k) {
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view val =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (key == "echo_headers") {
      k.echo_headers = val == "1" || val == "true";
    } else if (key == "status") {
      int s = 0;
      auto r = std::from_chars(val.data(), val.data() + val.size(), s);
      if (val.empty() || r.ec != std::errc() || r.ptr != val.data() + val.size() || s < 200 ||
          s > 599) {
        return "status must be a number from 200 to 599";
      }
      k.status = s;
    } else if (key == "size") {
      auto v = config::parse_size(val);
      if (!v || *v > kMaxSize) return "size must be a byte count up to 1GiB";
      k.has_size = true;
      k.size = *v;
    } else if (key == "delay") {
      int64_t ms = -1;
      auto r = std::from_chars(val.data(), val.data() + val.size(), ms);
      if (val.empty() || r.ec != std::errc() || r.ptr != val.data() + val.size()) {
        auto d = parse_ms(val);
        ms = d ? *d : -1;
      }
      if (ms < 0 || ms > kMaxDelayMs) return "delay must be a duration such as 20ms, at most 10m";
      k.delay_ms = ms;
    }
  }
  return nullptr;
}

enum class Fault : uint8_t { kNone, kReset, kHang, kError };

void unmask(char* p, size_t n, const uint8_t mask[4], uint64_t offset) {
  for (size_t i = 0; i < n; ++i) p[i] = char(uint8_t(p[i]) ^ mask[(offset + i) & 3]);
}

}  // namespace

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
  rt::Task<void> websocket();

  int64_t deadline(int64_t ms) const { return w_.loop.now_ms() + ms; }
  void append_head(int status, bool has_length, uint64_t length, bool keep);
  void append_json_response(int status, bool keep, std::string_view body);
  void append_error(int status, std::string_view code, std::string_view reason, bool keep);
  void build_echo_body(bool has_body, uint64_t body_bytes, bool echo_headers);
  void append_headers_json();
  void append_ws_frame(uint8_t b0, std::string_view payload);
  void append_ws_header(uint8_t b0, uint64_t len);
  void append_ws_close(uint16_t code);

  EchoWorker& w_;
  rt::TcpStream s_;
  InBuffer in_;
  http::RequestHead head_;  // reused: header strings keep their capacity
  std::string out_;         // responses not yet written (pipelined answers batch here)
  std::string body_;        // the JSON being built
  Pause* pause_ = nullptr;
  EchoConn* prev_ = nullptr;
  EchoConn* next_ = nullptr;
};

void EchoConn::append_head(int status, bool has_length, uint64_t length, bool keep) {
  out_ += "HTTP/1.1 ";
  append_uint(out_, uint64_t(status));
  out_ += ' ';
  out_ += http::reason_phrase(status);
  out_ += "\r\nServer: causeway-echo\r\n";
  out_ += w_.date_line();
  out_ += "Content-Type: application/json\r\n";
  if (has_length) {
    out_ += "Content-Length: ";
    append_uint(out_, length);
    out_ += "\r\n";
  }
  if (!keep) {
    out_ += "Connection: close\r\n";
  } else if (head_.version_minor == 0) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";
}

void EchoConn::append_json_response(int status, bool keep, std::string_view body) {
  const bool no_body = status == 204 || status == 304;
  append_head(status, !no_body, body.size(), keep);
  if (!no_body && head_.method != "HEAD") out_ += body;
}

void EchoConn::append_error(int status, std::string_view code, std::string_view reason, bool keep) {
  body_.clear();
  body_ += "{\"error\":";
  append_json_string(body_, code);
  body_ += ",\"reason\":";
  append_json_string(body_, reason);
  body_ += "}\n";
  append_head(status, true, body_.size(), keep);
  out_ += body_;  // also for HEAD: the connection closes or the framing is unknown anyway
}

void EchoConn::build_echo_body(bool has_body, uint64_t body_bytes, bool echo_headers) {
  body_.clear();
  body_ += w_.shared.json_prefix;
  body_ += ",\"method\":";
  append_json_string(body_, head_.method);
  body_ += ",\"path\":";
  append_json_string(body_, head_.path());
  if (has_body) {
    body_ += ",\"body_bytes\":";
    append_uint(body_, body_bytes);
  }
  if (echo_headers) append_headers_json();
  body_ += "}\n";
}

void EchoConn::append_headers_json() {
  body_ += ",\"headers\":{";
  const auto& items = head_.headers.items();
  bool first = true;
  for (size_t i = 0; i < items.size(); ++i) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = http::iequals(items[j].name, items[i].name);
    if (seen) continue;  // joined into the first occurrence
    if (!first) body_ += ',';
    first = false;
    body_ += '"';
    for (char c : items[i].name) body_ += (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
    body_ += "\":";
    bool repeated = false;
    for (size_t j = i + 1; j < items.size() && !repeated; ++j) {
      repeated = http::iequals(items[j].name, items[i].name);
    }
    if (!repeated) {
      append_json_string(body_, items[i].value);
      continue;
    }
    std::string joined = items[i].value;
    for (size_t j = i + 1; j < items.size(); ++j) {
      if (!http::iequals(items[j].name, items[i].name)) continue;
      joined += ", ";
      joined += items[j].value;
    }
    append_json_string(body_, joined);
  }
  body_ += '}';
}

rt::Task<bool> EchoConn::flush() {
  if (out_.empty()) co_return true;
  auto r = co_await s_.write(out_, deadline(kIoTimeoutMs));
  out_.clear();
  co_return r.has_value();
}

rt::Task<bool> EchoConn::fill_at_least(size_t n, int64_t idle_ms) {
  while (in_.size() < n) {
    if (!out_.empty()) {
      const bool ok = co_await flush();
      if (!ok) co_return false;
    }
    const size_t space = in_.prepare(kMaxHead);
    if (space == 0) co_return false;
    auto r = co_await s_.read(in_.write_ptr(), space, deadline(idle_ms));
    if (!r || *r == 0) co_return false;
    in_.commit(*r);
  }
  co_return true;
}

// Reads and discards the request body; false when the connection must end (malformed framing
// was answered with 400, or the client went away).
rt::Task<bool> EchoConn::read_body(uint64_t& bytes) {
  if (head_.expect_continue) out_ += "HTTP/1.1 100 Continue\r\n\r\n";
  if (head_.body.kind == http::BodyKind::kContentLength) {
    uint64_t left = head_.body.length;
    const size_t have = size_t(std::min<uint64_t>(in_.size(), left));
    in_.consume(have);
    left -= have;
    while (left > 0) {
      if (!out_.empty()) {
        const bool ok = co_await flush();
        if (!ok) co_return false;
      }
      // Straight into the scratch block, never past this body: a pipelined request after it
      // stays in the socket for the head reader.
      auto n = co_await s_.read(w_.scratch.get(), size_t(std::min<uint64_t>(kChunk, left)),
                                deadline(kIoTimeoutMs));
      if (!n || *n == 0) co_return false;
      left -= *n;
    }
    bytes = head_.body.length;
    co_return true;
  }
  http::h1::BodyDecoder decoder(head_.body);
  for (;;) {
    const auto step = decoder.decode(in_.view());
    in_.consume(step.consumed);
    bytes += step.data.size();
    if (step.error) {
      w_.stats.bad.inc();
      append_error(400, "bad_request", step.error_reason, false);
      co_await close_gracefully();
      co_return false;
    }
    if (step.done) co_return true;
    if (step.consumed != 0 || !step.data.empty()) continue;
    if (!out_.empty()) {
      const bool ok = co_await flush();
      if (!ok) co_return false;
    }
    const size_t space = in_.prepare(kBlock);
    if (space == 0) co_return false;  // cannot happen: the decoder consumes all framing bytes
    auto n = co_await s_.read(in_.write_ptr(), space, deadline(kIoTimeoutMs));
    if (!n || *n == 0) co_return false;
    in_.commit(*n);
  }
}

rt::Task<bool> EchoConn::stream_spaces(uint64_t n) {
  const bool ok = co_await flush();
  if (!ok) co_return false;
  while (n > 0) {
    const size_t piece = size_t(std::min<uint64_t>(n, kChunk));
    auto r = co_await s_.write(std::string_view(spaces(), piece), deadline(kIoTimeoutMs));
    if (!r) co_return false;
    n -= piece;
  }
  co_return true;
}

// Writes what is pending, sends FIN, then drains the client's input for a moment: closing
// with unread input would send RST, which can destroy the answer before the client reads it.
rt::Task<void> EchoConn::close_gracefully() {
  const bool ok = co_await flush();
  if (!ok) co_return;
  s_.shutdown_write();
  const int64_t until = deadline(kLingerMs);
  uint64_t drained = 0;
  while (drained < kMaxLingerBytes) {
    auto n = co_await s_.read(w_.scratch.get(), kChunk, until);
    if (!n || *n == 0) break;
    drained += *n;
  }
}

// Never answers: discards input until the client closes, stop, or kHangMs.
rt::Task<void> EchoConn::hang() {
  const bool ok = co_await flush();  // earlier pipelined requests were answered
  if (!ok) co_return;
  const int64_t until = deadline(kHangMs);
  for (;;) {
    auto n = co_await s_.read(w_.scratch.get(), kChunk, until);
    if (!n || *n == 0) break;
  }
}

void EchoConn::append_ws_header(uint8_t b0, uint64_t len) {
  out_ += char(b0);
  if (len < 126) {
    out_ += char(len);
  } else if (len <= 0xffff) {
    out_ += char(126);
    out_ += char(len >> 8);
    out_ += char(len & 0xff);
  } else {
    out_ += char(127);
    for (int shift = 56; shift >= 0; shift -= 8) out_ += char((len >> shift) & 0xff);
  }
}

void EchoConn::append_ws_frame(uint8_t b0, std::string_view payload) {
  append_ws_header(b0, payload.size());
  out_ += payload;
}

void EchoConn::append_ws_close(uint16_t code) {
  const char payload[2] = {char(code >> 8), char(code & 0xff)};
  append_ws_frame(0x88, std::string_view(payload, 2));
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
      append_ws_close(close_code);
      co_await close_gracefully();
      co_return;
    }
    if (control) {
      ok = co_await fill_at_least(size_t(len), kWsIdleMs);
      if (!ok) co_return;
      unmask(in_.data(), size_t(len), mask, 0);
      const std::string_view payload(in_.data(), size_t(len));
      if (opcode == 8) {  // close: answer with the same code, then end the connection
        append_ws_frame(0x88, payload);
        in_.consume(size_t(len));
        co_await close_gracefully();
        co_return;
      }
      if (opcode == 9) append_ws_frame(0x8a, payload);  // ping -> pong; a pong is dropped
      in_.consume(size_t(len));
      continue;
    }
    // Data (or continuation) frame: echoed as it streams in, same FIN bit and opcode.
    append_ws_header(uint8_t(b0 & 0x8f), len);
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

rt::Task<void> EchoConn::run() {
  const EchoShared& sh = w_.shared;
  const http::h1::ParseLimits limits{kMaxHead, 100};
  for (;;) {
    // 1. A complete head: parse what is buffered, else write what is pending and read.
    http::h1::ParseResult pr;
    size_t scan_from = 0;
    for (;;) {
      if (!in_.empty()) {
        pr = http::h1::parse_request_head(in_.view(), limits, head_, scan_from);
        if (pr.status != http::h1::ParseStatus::kNeedMore) break;
        scan_from = in_.size();
      }
      if (!out_.empty()) {
        auto wr = co_await s_.write(out_, deadline(kIoTimeoutMs));
        out_.clear();
        if (!wr) co_return;
      }
      if (w_.stopping) co_return;
      const bool idle = in_.empty();
      const int64_t until = deadline(idle ? sh.options.keepalive_timeout_ms : kHeadTimeoutMs);
      if (idle) {
        in_.release_if_empty();
        auto ready = co_await s_.wait_readable(until);
        if (!ready) co_return;  // idle timeout: close
      }
      const size_t space = in_.prepare(kMaxHead);  // > 0: a full kMaxHead is refused above
      auto n = co_await s_.read(in_.write_ptr(), space, until);
      if (!n || *n == 0) co_return;
      in_.commit(*n);
    }
    w_.stats.requests.inc();
    if (pr.status == http::h1::ParseStatus::kError) {
      w_.stats.bad.inc();
      append_error(pr.error_status, "bad_request", pr.error_reason, false);
      co_await close_gracefully();
      co_return;
    }
    in_.consume(pr.consumed);

    // 2. WebSocket takes the connection over.
    if (head_.upgrade && head_.headers.has_token("upgrade", "websocket")) {
      co_await websocket();
      co_return;
    }

    // 3. The body, read and discarded.
    const bool has_body = head_.body.kind != http::BodyKind::kNone;
    uint64_t body_bytes = 0;
    if (has_body) {
      const bool ok = co_await read_body(body_bytes);
      if (!ok) co_return;
    }

    // 4. The answer.
    const bool keep = head_.keep_alive;
    const std::string_view path = head_.path();
    Knobs knobs;
    const char* knob_error = nullptr;
    if (path == "/healthz") {
      if (sh.healthy.load(std::memory_order_relaxed)) {
        append_json_response(200, keep, "{\"status\":\"ok\"}\n");
      } else {
        append_json_response(503, keep, "{\"status\":\"unhealthy\"}\n");
      }
    } else if ((knob_error = parse_knobs(head_.query(), knobs)) != nullptr) {
      w_.stats.bad.inc();
      append_error(400, "bad_query", knob_error, keep);
    } else {
      Fault fault = Fault::kNone;
      if (sh.error_below > 0) {
        const double u = w_.rng.uniform();
        if (u < sh.reset_below) {
          fault = Fault::kReset;
        } else if (u < sh.hang_below) {
          fault = Fault::kHang;
        } else if (u < sh.error_below) {
          fault = Fault::kError;
        }
      }
      if (fault == Fault::kHang) {
        w_.stats.hangs.inc();
        co_await hang();
        co_return;
      }
      const int64_t delay =
          std::min(sample_latency(sh.latency, w_.rng) + knobs.delay_ms, kMaxDelayMs);
      if (delay > 0) {
        const bool ok = co_await flush();
        if (!ok || w_.stopping) co_return;  // a stop that came earlier has nothing to wake
        Pause pause(w_.loop, delay, pause_);
        co_await pause;
        if (w_.stopping) co_return;
      }
      if (fault == Fault::kReset) {
        w_.stats.resets.inc();
        s_.reset();
        co_return;
      }
      if (fault == Fault::kError) {
        w_.stats.errors.inc();
        body_.clear();
        body_ += sh.json_prefix;
        body_ += ",\"error\":\"injected\"}\n";
        append_json_response(503, keep, body_);
      } else {
        build_echo_body(has_body, body_bytes, knobs.echo_headers);
        const int status = knobs.status != 0 ? knobs.status : 200;
        uint64_t pad = 0;
        if (knobs.has_size) {
          if (knobs.size <= body_.size()) {
            body_.resize(size_t(knobs.size));
          } else {
            pad = knobs.size - body_.size();
          }
        }
        if (pad == 0) {
          append_json_response(status, keep, body_);
        } else if (status == 204 || status == 304 || head_.method == "HEAD") {
          append_head(status, status != 204 && status != 304, body_.size() + pad, keep);
        } else {
          // The JSON, `pad` spaces, then its final newline.
          append_head(status, true, body_.size() + pad, keep);
          out_.append(body_.data(), body_.size() - 1);
          if (out_.size() + pad <= kChunk) {
            out_.append(size_t(pad), ' ');
          } else {
            const bool ok = co_await stream_spaces(pad);
            if (!ok) co_return;
          }
          out_ += '\n';
        }
      }
    }
    if (!keep) {
      co_await close_gracefully();
      co_return;
    }
    if (out_.size() >= kChunk) {
      const bool ok = co_await flush();
      if (!ok) co_return;
    }
  }
}

namespace {

rt::Task<void> serve(EchoWorker* w, rt::TcpStream s) {
  EchoConn conn(*w, std::move(s));
  co_await conn.run();
}

rt::Task<void> accept_loop(EchoWorker* w) {
  w->acceptor_running = true;
  while (!w->stopping && w->listener.is_open()) {
    auto s = co_await w->listener.accept();
    if (!s) {
      if (w->stopping) break;
      co_await rt::sleep_for(w->loop, 10);  // EMFILE and friends: back off, then retry
      continue;
    }
    if (w->nconns >= kMaxConnsPerWorker) continue;  // closed on scope exit
    w->stats.connections.inc();
    rt::spawn(serve(w, std::move(*s)));
  }
  w->acceptor_running = false;
  w->maybe_finish();
}

void run_worker(EchoWorker* w) {
  rt::spawn(accept_loop(w));
  w->loop.run();
}

}  // namespace

void EchoWorker::begin_stop() {
  if (stopping) return;
  stopping = true;
  listener.close();  // the acceptor resumes with an error and exits
  for (EchoConn* c = conns; c != nullptr; c = c->next()) c->interrupt();
  grace_timer.ctx = this;
  grace_timer.fire = [](rt::TimerNode* n) { static_cast<EchoWorker*>(n->ctx)->loop.stop(); };
  loop.arm_timer_ms(grace_timer, kStopGraceMs);
  maybe_finish();
}

}  // namespace detail

// ---- options ----

std::optional<LatencyDist> parse_latency(std::string_view text) {
  LatencyDist d;
  if (text.empty()) return d;
  auto in_range = [](std::optional<int64_t> v) {
    return v && *v >= 0 && *v <= detail::kMaxDelayMs;
  };
  if (text.starts_with("exp:")) {
    auto mean = detail::parse_ms(text.substr(4));
    if (!in_range(mean) || *mean == 0) return std::nullopt;
    d.kind = LatencyDist::Kind::kExponential;
    d.a_ms = *mean;
    return d;
  }
  const size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto lo = detail::parse_ms(text.substr(0, dash));
    auto hi = detail::parse_ms(text.substr(dash + 1));
    if (!in_range(lo) || !in_range(hi) || *lo > *hi) return std::nullopt;
    d.kind = LatencyDist::Kind::kUniform;
    d.a_ms = *lo;
    d.b_ms = *hi;
    return d;
  }
  auto fixed = detail::parse_ms(text);
  if (!in_range(fixed)) return std::nullopt;
  d.kind = LatencyDist::Kind::kFixed;
  d.a_ms = *fixed;
  return d;
}

std::optional<std::string> check_echo_options(const EchoOptions& o) {
  auto quoted = [](std::string_view s) {
    std::string q;
    detail::append_json_string(q, s);
    return q;
  };
  if (!rt::SocketAddress::parse(o.listen)) {
    return "--listen: expected ip:port (e.g. 127.0.0.1:9001), got " + quoted(o.listen);
  }
  if (o.name.empty() || detail::has_control_chars(o.name)) {
    return "--name: expected a non-empty name without control characters, got " + quoted(o.name);
  }
  if (detail::has_control_chars(o.instance)) {
    return "--instance: control characters are not allowed, got " + quoted(o.instance);
  }
  if (!parse_latency(o.latency)) {
    return "--latency: expected 20ms, 10ms-50ms or exp:20ms (at most 10m), got " +
           quoted(o.latency);
  }
  const std::pair<const char*, double> rates[] = {
      {"--error-rate", o.error_rate}, {"--reset-rate", o.reset_rate}, {"--hang-rate", o.hang_rate}};
  for (const auto& [flag, v] : rates) {
    if (!(v >= 0 && v <= 1)) {  // also refuses NaN
      return std::string(flag) + ": expected a fraction between 0 and 1, got " + std::to_string(v);
    }
  }
  if (o.error_rate + o.reset_rate + o.hang_rate > 1 + 1e-9) {
    return std::string(
        "--error-rate + --reset-rate + --hang-rate: must not exceed 1 (each request gets at "
        "most one fault)");
  }
  if (o.workers < 1 || o.workers > 256) {
    return "--workers: expected 1 to 256, got " + std::to_string(o.workers);
  }
  if (o.keepalive_timeout_ms <= 0) {
    return "keepalive timeout: expected a positive number of milliseconds, got " +
           std::to_string(o.keepalive_timeout_ms);
  }
  return std::nullopt;
}

// ---- EchoServer ----

EchoServer::EchoServer() = default;

EchoServer::~EchoServer() {
  stop();
  wait();
}

Result<std::unique_ptr<EchoServer>> EchoServer::start(const EchoOptions& options,
                                                      std::string& error) {
  if (auto bad = check_echo_options(options)) {
    error = *bad;
    return fail(std::errc::invalid_argument);
  }
  rt::SocketAddress addr = *rt::SocketAddress::parse(options.listen);
  // SO_REUSEPORT would happily share a port with another echo; a plain bind says it is taken.
  if (auto probe = rt::probe_bind(addr); !probe) {
    error = "cannot listen on " + options.listen + ": " + probe.error().message();
    return fail(probe.error());
  }

  std::unique_ptr<EchoServer> server(new EchoServer());
  auto shared = std::make_unique<detail::EchoShared>();
  shared->options = options;
  shared->latency = *parse_latency(options.latency);
  shared->reset_below = options.reset_rate;
  shared->hang_below = shared->reset_below + options.hang_rate;
  shared->error_below = shared->hang_below + options.error_rate;

  uint64_t seed = options.seed;
  if (seed == 0) {
    std::random_device rd;
    seed = uint64_t(rd()) << 32 | rd();
  }
  for (int i = 0; i < options.workers; ++i) {
    detail::Rng mix(seed + uint64_t(i) * 0x9e3779b97f4a7c15ULL);
    auto w = std::make_unique<detail::EchoWorker>(*shared, mix.next());
    auto l = rt::TcpListener::bind(w->loop, addr);
    if (!l) {
      error = "cannot listen on " + addr.text() + ": " + l.error().message();
      return fail(l.error());
    }
    w->listener = std::move(*l);
    if (i == 0) addr = w->listener.local_address();  // the real port, for the other workers
    server->workers_.push_back(std::move(w));
  }
  server->address_ = addr;
  server->instance_ = options.instance.empty() ? options.name + "-" + std::to_string(addr.port())
                                               : options.instance;
  shared->json_prefix = "{\"service\":";
  detail::append_json_string(shared->json_prefix, options.name);
  shared->json_prefix += ",\"instance\":";
  detail::append_json_string(shared->json_prefix, server->instance_);
  server->shared_ = std::move(shared);

  for (auto& w : server->workers_) server->threads_.emplace_back(detail::run_worker, w.get());
  return Result<std::unique_ptr<EchoServer>>(std::move(server));
}

void EchoServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) {
    detail::EchoWorker* worker = w.get();
    worker->loop.post([worker] { worker->begin_stop(); });
  }
}

void EchoServer::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void EchoServer::set_healthy(bool healthy) {
  shared_->healthy.store(healthy, std::memory_order_relaxed);
}

EchoStats EchoServer::stats() const {
  EchoStats s;
  for (const auto& w : workers_) {
    const detail::EchoStatsShard& st = w->stats;
    s.connections += st.connections.get();
    s.active_connections += uint64_t(std::max<int64_t>(0, st.active.get()));
    s.requests += st.requests.get();
    s.injected_errors += st.errors.get();
    s.injected_resets += st.resets.get();
    s.injected_hangs += st.hangs.get();
    s.bad_requests += st.bad.get();
    s.websockets += st.websockets.get();
  }
  return s;
}

}  // namespace cw::server
