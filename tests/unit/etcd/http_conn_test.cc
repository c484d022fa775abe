// The gateway connection against a fake server: whole answers (Content-Length, chunked with
// trailers, after a 100), keep-alive reuse, streams of JSON objects cut anywhere, bounds,
// refused and silent servers, abort() in flight; endpoint URLs; the connection gate.
#include "etcd/http_conn.h"

#include <gtest/gtest.h>

#include <optional>

#include "fake_gateway.h"

namespace cw::etcd {
namespace {

using testing::chunk;
using testing::chunked_head;
using testing::FakeGateway;
using testing::FakeReply;
using testing::FakeRequest;
using testing::last_chunk;
using testing::run_until;

using PostResult = Result<HttpResponse, HttpError>;

rt::Task<void> capture(rt::Task<PostResult> t, std::optional<PostResult>* out) {
  *out = co_await std::move(t);
}

rt::SocketAddress addr_of(const std::string& url) { return parse_http_endpoint(url)->addr; }

struct Fixture : ::testing::Test {
  rt::EventLoop loop;
  void finish(FakeGateway& g) {
    g.stop();
    run_until(loop, [&] { return g.done(); });
  }
};

using EtcdHttpConn = Fixture;

TEST_F(EtcdHttpConn, PostReadsContentLengthAndKeepsTheConnection) {
  FakeGateway g(loop, [](const FakeRequest& r) { return testing::ok("{\"n\":" + r.body + "}"); });
  HttpConnOptions o;
  o.extra_headers = "Grpc-Metadata-Hasleader: true\r\n";
  HttpConn c(loop, addr_of(g.url()), o);
  for (int i = 1; i <= 2; ++i) {
    std::optional<PostResult> r;
    rt::spawn(capture(c.post("/v3/kv/range", std::to_string(i), loop.now_ms() + 2000), &r));
    run_until(loop, [&] { return r.has_value(); });
    ASSERT_TRUE(*r) << r->error().detail;
    EXPECT_EQ((*r)->status, 200);
    EXPECT_EQ((*r)->body, "{\"n\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(g.accepted(), 1);
  ASSERT_EQ(g.requests().size(), 2u);
  const std::string& head = g.requests()[0].head;
  EXPECT_EQ(head.rfind("POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: application/json\r\nContent-Length: 1\r\n"),
            std::string::npos);
  EXPECT_NE(head.find("Grpc-Metadata-Hasleader: true\r\n"), std::string::npos);
  finish(g);
}

TEST_F(EtcdHttpConn, PostReadsChunkedErrorWithTrailersInPieces) {
  // etcd 3.4.23's answer to revoking an unknown lease, byte for byte, cut in odd places.
  const std::string body =
      R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested )"
      R"(lease not found","code":5})";
  const std::string wire =
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTrailer: "
      "Grpc-Trailer-Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunk(body) + "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n";
  FakeGateway g(loop, [&](const FakeRequest&) {
    return FakeReply{
        {wire.substr(0, 20), wire.substr(20, 150), wire.substr(170, 7), wire.substr(177)}};
  });
  HttpConn c(loop, addr_of(g.url()), {});
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/lease/revoke", "{}", loop.now_ms() + 2000), &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_TRUE(*r) << r->error().detail;
  EXPECT_EQ((*r)->status, 404);
  EXPECT_EQ((*r)->body, body);
  EXPECT_TRUE(c.connected());  // a complete chunked answer keeps the connection
  finish(g);
}

TEST_F(EtcdHttpConn, InterimAnswersAreSkipped) {
  FakeGateway g(loop, [](const FakeRequest&) {
    return FakeReply{{"HTTP/1.1 100 Continue\r\n\r\n", testing::http_answer(200, "{}")}};
  });
  HttpConn c(loop, addr_of(g.url()), {});
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/kv/put", "{}", loop.now_ms() + 2000), &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->body, "{}");
  finish(g);
}

TEST_F(EtcdHttpConn, AnswerOverTheBoundIsAnError) {
  FakeGateway g(loop,
                [](const FakeRequest&) { return testing::ok(std::string(2000, ' ') + "{}"); });
  HttpConnOptions o;
  o.max_response_bytes = 1000;
  HttpConn c(loop, addr_of(g.url()), o);
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/kv/range", "{}", loop.now_ms() + 2000), &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kBroken);
  EXPECT_EQ(r->error().detail, "answer larger than 1000 bytes");
  EXPECT_FALSE(c.connected());
  finish(g);
}

rt::Task<void> capture_stream(HttpConn* c, std::vector<std::string>* objects, size_t stop_after,
                              std::optional<PostResult>* out) {
  auto s = c->stream("/v3/watch", "{}", c->aborted() ? 0 : rt::kNoDeadline,
                     [objects, stop_after](std::string_view o) {
                       objects->emplace_back(o);
                       return objects->size() < stop_after;
                     });
  *out = co_await std::move(s);
}

TEST_F(EtcdHttpConn, StreamSplitsChunksIntoWholeObjects) {
  const std::string a = R"({"result":{"header":{"revision":"7"},"created":true}})";
  const std::string b =
      R"({"result":{"header":{"revision":"8"},"events":[{"kv":{"key":"YQ=="}}]}})";
  const std::string c3 = R"({"result":{"header":{"revision":"9"}}})";
  // a spans two chunks; b and c3 share one chunk, and its size line is cut in two writes.
  const std::string b_c = b + "\n" + c3 + "\n";
  const std::string two = chunk(b_c);
  FakeGateway g(loop, [&](const FakeRequest&) {
    return FakeReply{{chunked_head(), chunk(a.substr(0, 10)), chunk(a.substr(10) + "\n"),
                      two.substr(0, 1), two.substr(1, 30), two.substr(31), last_chunk()}};
  });
  HttpConn conn(loop, addr_of(g.url()), {});
  std::vector<std::string> objects;
  std::optional<PostResult> r;
  rt::spawn(capture_stream(&conn, &objects, 100, &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_TRUE(*r) << r->error().detail;
  EXPECT_EQ((*r)->status, 200);
  EXPECT_EQ(objects, (std::vector<std::string>{a, b, c3}));
  finish(g);
}

TEST_F(EtcdHttpConn, StreamStopsWhenTheCallbackSaysSo) {
  FakeGateway g(loop, [](const FakeRequest&) {
    return FakeReply{{chunked_head(), chunk("{}{}{}")}, FakeReply::After::kHang};
  });
  HttpConn conn(loop, addr_of(g.url()), {});
  std::vector<std::string> objects;
  std::optional<PostResult> r;
  rt::spawn(capture_stream(&conn, &objects, 2, &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_TRUE(*r);
  EXPECT_EQ(objects.size(), 2u);
  EXPECT_FALSE(conn.connected());  // the rest of the body was not read: not reusable
  finish(g);
}

TEST_F(EtcdHttpConn, StreamObjectOverTheBoundIsAnError) {
  FakeGateway g(loop, [](const FakeRequest&) {
    return FakeReply{{chunked_head(), chunk("{\"a\":\"" + std::string(300, 'x') + "\"}")},
                     FakeReply::After::kHang};
  });
  HttpConnOptions o;
  o.max_object_bytes = 256;
  HttpConn conn(loop, addr_of(g.url()), o);
  std::vector<std::string> objects;
  std::optional<PostResult> r;
  rt::spawn(capture_stream(&conn, &objects, 100, &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kBroken);
  EXPECT_NE(r->error().detail.find("larger than 256 bytes"), std::string::npos);
  finish(g);
}

TEST_F(EtcdHttpConn, StreamErrorAnswerIsReturnedWhole) {
  const std::string err =
      R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}})";
  FakeGateway g(loop, [&](const FakeRequest&) {
    return FakeReply{{chunked_head(503), chunk(err), last_chunk()}};
  });
  HttpConn conn(loop, addr_of(g.url()), {});
  std::vector<std::string> objects;
  std::optional<PostResult> r;
  rt::spawn(capture_stream(&conn, &objects, 100, &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->status, 503);
  EXPECT_EQ((*r)->body, err);
  EXPECT_TRUE(objects.empty());
  finish(g);
}

TEST_F(EtcdHttpConn, StreamCutMidwayIsBroken) {
  FakeGateway g(loop, [](const FakeRequest&) {
    return FakeReply{{chunked_head(), chunk("{}")}, FakeReply::After::kClose};
  });
  HttpConn conn(loop, addr_of(g.url()), {});
  std::vector<std::string> objects;
  std::optional<PostResult> r;
  rt::spawn(capture_stream(&conn, &objects, 100, &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kBroken);
  EXPECT_EQ(r->error().detail, "stream closed by etcd");
  EXPECT_EQ(objects.size(), 1u);
  finish(g);
}

TEST_F(EtcdHttpConn, RefusedConnectIsKConnect) {
  HttpConn c(loop, addr_of(testing::refused_url(loop)), {});
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/kv/range", "{}", loop.now_ms() + 2000), &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kConnect);
  EXPECT_EQ(r->error().detail, "connect: Connection refused");
}

TEST_F(EtcdHttpConn, SilentServerTimesOut) {
  FakeGateway g(loop, [](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  HttpConn c(loop, addr_of(g.url()), {});
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/kv/put", "{}", loop.now_ms() + 50), &r));
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kTimeout);
  EXPECT_EQ(r->error().detail, "read: timeout");
  EXPECT_FALSE(c.connected());
  finish(g);
}

TEST_F(EtcdHttpConn, AbortFailsTheOperationInFlight) {
  FakeGateway g(loop, [](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  HttpConn c(loop, addr_of(g.url()), {});
  std::optional<PostResult> r;
  rt::spawn(capture(c.post("/v3/kv/put", "{}", rt::kNoDeadline), &r));
  run_until(loop, [&] { return g.requests().size() == 1; });
  c.abort();
  run_until(loop, [&] { return r.has_value(); });
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, HttpError::Kind::kClosed);
  std::optional<PostResult> later;
  rt::spawn(capture(c.post("/v3/kv/put", "{}", rt::kNoDeadline), &later));
  ASSERT_TRUE(later.has_value());  // fails at once
  EXPECT_EQ(later->error().kind, HttpError::Kind::kClosed);
  finish(g);
}

TEST(EtcdEndpoint, ParsesHttpIpPortOnly) {
  auto v4 = parse_http_endpoint("http://127.0.0.1:2379");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->addr.text(), "127.0.0.1:2379");
  EXPECT_EQ(v4->url, "http://127.0.0.1:2379");
  ASSERT_TRUE(parse_http_endpoint("http://[::1]:2379/"));
  // etcd's own default client URL: "localhost" is 127.0.0.1 here, as everywhere in causeway.
  ASSERT_TRUE(parse_http_endpoint("http://localhost:2379"));
  EXPECT_EQ(parse_http_endpoint("http://localhost:2379")->addr.text(), "127.0.0.1:2379");
  EXPECT_EQ(parse_http_endpoint("http://[::1]:2379/")->addr.text(), "[::1]:2379");
  const std::pair<const char*, const char*> bad[] = {
      {"https://127.0.0.1:2379", "https is not supported"},
      {"http://etcd.example:2379", "host names are not supported"},
      {"http://127.0.0.1", "needs a port"},
      {"http://127.0.0.1:99999", "bad port"},
      {"http://127.0.0.1:0", "port 0"},
      {"http://127.0.0.1:2379/v3", "a path is not supported"},
      {"127.0.0.1:2379", "must start with http://"},
      {"http://::1:2379", "brackets"},
      {"http://", "no host"},
  };
  for (const auto& [url, says] : bad) {
    auto e = parse_http_endpoint(url);
    ASSERT_FALSE(e) << url;
    EXPECT_NE(e.error().find(says), std::string::npos) << e.error();
    EXPECT_NE(e.error().find(url), std::string::npos) << e.error();
  }
}

rt::Task<void> hold_gate(rt::EventLoop* loop, ConnGate* g, int64_t deadline,
                         std::vector<std::string>* log, std::string name, const bool* release) {
  auto w = g->acquire(deadline);
  const auto got = co_await w;
  if (got != ConnGate::Outcome::kGranted) {
    log->push_back(name + (got == ConnGate::Outcome::kClosed ? ":closed" : ":timeout"));
    co_return;
  }
  log->push_back(name + ":in");
  GateHold hold(*g);
  while (release && !*release) {
    auto nap = rt::sleep_for(*loop, 1);
    co_await nap;
  }
}

TEST(EtcdConnGate, OneAtATimeInOrderWithinDeadlines) {
  rt::EventLoop loop;
  ConnGate gate(loop);
  std::vector<std::string> log;
  bool release_a = false, release_c = false;
  const int64_t far = loop.now_ms() + 100000;
  rt::spawn(hold_gate(&loop, &gate, far, &log, "a", &release_a));
  rt::spawn(hold_gate(&loop, &gate, loop.now_ms() + 20, &log, "b", nullptr));
  rt::spawn(hold_gate(&loop, &gate, far, &log, "c", &release_c));
  run_until(loop, [&] { return log.size() == 2; });
  EXPECT_EQ(log, (std::vector<std::string>{"a:in", "b:timeout"}));
  release_a = true;
  run_until(loop, [&] { return log.size() == 3; });
  EXPECT_EQ(log.back(), "c:in");
  rt::spawn(hold_gate(&loop, &gate, far, &log, "d", nullptr));
  EXPECT_EQ(gate.waiting(), 1u);
  gate.close();
  release_c = true;
  run_until(loop, [&] { return log.size() == 4; });
  EXPECT_EQ(log.back(), "d:closed");
  rt::spawn(hold_gate(&loop, &gate, far, &log, "e", nullptr));
  EXPECT_EQ(log.back(), "e:closed");  // at once
  loop.run_once(5);
}

}  // namespace
}  // namespace cw::etcd
