// The echo connection's HTTP/1 path. The keep-alive path is one read and one write per
// request (or per pipelined batch) with no allocation once warm: the head is parsed into a
// RequestHead reused per connection, the response is built in a string that keeps its
// capacity, and the input block goes back to the worker's pool while the connection is idle.
// Thread contract: see conn.h.
#include "echo/conn.h"

#include <algorithm>

#include "echo/json.h"
#include "echo/knobs.h"
#include "config/latency.h"
#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace cw::echo::detail {
namespace {

// The padding source for ?size=: a constant block of spaces shared by every worker.
const char* spaces() {
  static const std::string block(kChunk, ' ');
  return block.data();
}

enum class Fault : uint8_t { kNone, kReset, kHang, kError };

}  // namespace

void EchoConn::append_head(int status, bool has_length, uint64_t length, bool keep) {
  http::h1::write_status_line(1, status, {}, out_);
  out_ += "Server: causeway-echo\r\n";
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
    const size_t space = in_.prepare(BufferPool::kBlock);
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
          std::min(sample_latency(sh.latency, w_.rng) + knobs.delay_ms, kMaxLatencyMs);
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

}  // namespace cw::echo::detail
