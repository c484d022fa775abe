// Fakes for the proxy's seams, so the attempt loop is tested without sockets or sleeps: a
// stream that is only a handle, an upstream codec and a connector that follow a script, and a
// downstream whose request body is a list of pieces.
// Thread contract: test thread only.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "proxy/downstream.h"
#include "proxy/upstream_codec.h"
#include "proxy/upstream_connector.h"
#include "runtime/stream.h"

namespace cw::proxy::testing {

// A connection handle: no bytes move through it (the fake codec plays the protocol).
class FakeStream final : public rt::Stream {
 public:
  explicit FakeStream(rt::EventLoop& loop, int id) : rt::Stream(&loop, &state_), id_(id) {
    state_.fd = -1;
  }
  const rt::SocketAddress& peer() const override { return peer_; }
  rt::IoStep read_some(char*, size_t) override { return {0, true}; }
  rt::IoStep write_some(const iovec*, int) override { return {0, true}; }
  bool idle_and_open() override { return st_ && !stale; }
  void shutdown_write() override {}
  void close() override { st_ = nullptr; }
  void reset() override { st_ = nullptr; }

  int id() const { return id_; }
  bool stale = false;  // the upstream closed it while it sat in the pool

 private:
  rt::IoState state_;
  rt::SocketAddress peer_;
  int id_;
};

// What one exchange on a connection does.
struct Exchange {
  std::errc send = std::errc();   // sending fails with this (errc() = succeeds)
  std::errc head = std::errc();   // reading the head fails with this
  bool response_started = false;  // bytes arrived before a head failure
  int status = 200;
  std::string body = "ok";
  bool reusable = true;
};

// What happened, for assertions.
struct Record {
  std::vector<std::string> connects;  // host keys, in order
  std::vector<int> exchanges_on;      // stream id of each exchange
  std::vector<std::string> bodies;    // request body bytes each exchange received
};

class FakeCodec final : public UpstreamCodec {
 public:
  FakeCodec(Exchange x, Record& rec) : x_(std::move(x)), rec_(rec) { rec_.bodies.emplace_back(); }
  rt::Task<Result<void>> send_head(const http::RequestHead&, const http::HeaderTransform&,
                                   const http::BodyFraming&, std::string_view body, bool end,
                                   int64_t) override {
    rec_.bodies.back().append(body);
    done_sending_ = end;
    if (x_.send != std::errc()) co_return fail(x_.send);
    co_return Result<void>{};
  }
  rt::Task<Result<void>> send_body(std::string_view data, bool end, int64_t) override {
    rec_.bodies.back().append(data);
    done_sending_ = end;
    if (x_.send != std::errc()) co_return fail(x_.send);
    co_return Result<void>{};
  }
  rt::Task<Result<void>> read_head(http::ResponseHead& out, int64_t) override {
    started_ = x_.response_started;
    if (x_.head != std::errc()) co_return fail(x_.head);
    started_ = true;
    out = http::ResponseHead{};
    out.status = x_.status;
    out.body = {http::BodyKind::kContentLength, x_.body.size()};
    co_return Result<void>{};
  }
  bool response_started() const override { return started_; }
  Result<Piece> buffered_body() override {
    delivered_ = true;
    return Piece{x_.body, true};
  }
  rt::Task<Result<Piece>> read_body(int64_t) override { co_return Piece{{}, true}; }
  const http::HeaderMap& trailers() const override { return trailers_; }
  bool reusable() const override { return x_.reusable && delivered_ && done_sending_; }
  rt::Stream* tunnel_stream(ConnBuffer*&) override { return nullptr; }

 private:
  Exchange x_;
  Record& rec_;
  http::HeaderMap trailers_;
  bool started_ = false;
  bool delivered_ = false;
  bool done_sending_ = false;
};

// Per host key: what each connect does (in order; ok when the list runs out) and what each
// exchange does (in order, across that host's connections; a plain 200 when it runs out).
class FakeConnector final : public UpstreamConnector {
 public:
  explicit FakeConnector(rt::EventLoop& loop) : loop_(loop) {}
  std::map<std::string, std::deque<std::errc>> connect_results;
  std::map<std::string, std::deque<Exchange>> exchanges;
  Record rec;

  rt::Task<Result<std::unique_ptr<rt::Stream>>> connect(rt::EventLoop&, const upstream::Host& h,
                                                        int64_t) override {
    rec.connects.push_back(h.key);
    auto& q = connect_results[h.key];
    if (!q.empty()) {
      std::errc e = q.front();
      q.pop_front();
      if (e != std::errc()) co_return fail(e);
    }
    auto s = std::make_unique<FakeStream>(loop_, next_id_++);
    host_of_[s->id()] = h.key;
    co_return std::unique_ptr<rt::Stream>(std::move(s));
  }
  UpstreamCodec& start(upstream::UpstreamConn& conn, const http::RequestHead&, BufferPool&,
                       CodecSlot& slot) override {
    const int id = static_cast<FakeStream&>(*conn.stream).id();
    rec.exchanges_on.push_back(id);
    auto& q = exchanges[host_of_[id]];
    Exchange x;
    if (!q.empty()) {
      x = q.front();
      q.pop_front();
    }
    slot.other = std::make_unique<FakeCodec>(x, rec);
    return *slot.other;
  }
  // A connection to `key` as if it had served a request and idled in the pool.
  std::unique_ptr<upstream::UpstreamConn> pooled(const std::string& key) {
    auto c = std::make_unique<upstream::UpstreamConn>();
    auto s = std::make_unique<FakeStream>(loop_, next_id_++);
    host_of_[s->id()] = key;
    c->stream = std::move(s);
    c->requests = 1;
    return c;
  }

 private:
  rt::EventLoop& loop_;
  std::map<int, std::string> host_of_;
  int next_id_ = 1;
};

// A client whose request body arrives as `pieces`, then ends (or fails with `error`).
class FakeDownstream final : public Downstream {
 public:
  std::vector<std::string> pieces;
  std::errc error = std::errc();  // after the pieces: fail with this instead of ending
  size_t reads = 0;

  rt::Task<Result<Piece>> read_body(int64_t) override {
    ++reads;
    if (next_ < pieces.size()) {
      const std::string& p = pieces[next_++];
      done_ = next_ == pieces.size() && error == std::errc();
      co_return Piece{p, done_};
    }
    if (error != std::errc()) co_return fail(error);
    done_ = true;
    co_return Piece{{}, true};
  }
  bool body_done() const override { return done_; }
  rt::Task<Result<void>> send_head(http::ResponseHead&, std::string_view, bool, int64_t) override {
    co_return Result<void>{};
  }
  rt::Task<Result<void>> send_body(std::string_view, bool, int64_t) override {
    co_return Result<void>{};
  }
  rt::Task<void> tunnel(rt::Stream&, ConnBuffer&) override { co_return; }
  void reset() override {}

 private:
  size_t next_ = 0;
  bool done_ = false;
};

}  // namespace cw::proxy::testing
