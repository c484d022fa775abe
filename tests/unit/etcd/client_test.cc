// The unary client against fake gateways: what it sends and reads, how it sorts failures into
// Error::Code (refusals, no leader, refused connects, silence, garbled answers), failover,
// queueing on its one connection, the keep-alive race, and close() with calls in flight.
#include "etcd/client.h"

#include <gtest/gtest.h>

#include <optional>

#include "fake_gateway.h"

namespace cw::etcd {
namespace {

using testing::b64;
using testing::FakeGateway;
using testing::FakeReply;
using testing::FakeRequest;
using testing::header;
using testing::run_until;

template <class T>
rt::Task<void> capture(rt::Task<Res<T>> t, std::optional<Res<T>>* out) {
  *out = co_await std::move(t);
}

struct EtcdClient : ::testing::Test {
  rt::EventLoop loop;
  std::vector<FakeGateway*> gateways;

  std::unique_ptr<Client> make(std::vector<std::string> endpoints, int64_t timeout_ms = 2000) {
    ClientOptions o;
    o.endpoints = std::move(endpoints);
    o.request_timeout_ms = timeout_ms;
    auto c = Client::create(loop, o);
    EXPECT_TRUE(c) << (c ? "" : c.error());
    return c ? std::move(*c) : nullptr;
  }
  template <class T>
  Res<T> run(rt::Task<Res<T>> t) {
    std::optional<Res<T>> out;
    rt::spawn(capture(std::move(t), &out));
    run_until(loop, [&] { return out.has_value(); });
    return std::move(*out);
  }
  void finish(FakeGateway& g) {
    g.stop();
    run_until(loop, [&] { return g.done(); });
  }
};

const std::string kNoLeader =
    R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})";

TEST_F(EtcdClient, CreateChecksEndpoints) {
  ClientOptions o;
  auto none = Client::create(loop, o);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), "etcd: no endpoints");
  o.endpoints = {"http://127.0.0.1:2379", "https://10.0.0.1:2379"};
  auto tls = Client::create(loop, o);
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().find("\"https://10.0.0.1:2379\": https is not supported"),
            std::string::npos)
      << tls.error();
  o.endpoints = {"http://etcd-1:2379"};
  EXPECT_FALSE(Client::create(loop, o));
  o.endpoints = {"http://127.0.0.1:2379", "http://[::1]:2379"};
  EXPECT_TRUE(check_endpoints(o));
}

TEST_F(EtcdClient, CallsSpeakTheGatewaysJson) {
  FakeGateway g(loop, [](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/put") return testing::ok("{" + header(5) + "}");
    if (r.path == "/v3/kv/range") {
      return testing::ok("{" + header(5) + R"(,"kvs":[)" + testing::kv_json("/p/a", "1", 4, 5, 2) +
                         R"(],"count":"1"})");
    }
    if (r.path == "/v3/kv/deleterange") return testing::ok("{" + header(6) + R"(,"deleted":"1"})");
    if (r.path == "/v3/kv/txn") {
      return testing::ok("{" + header(7) + R"(,"succeeded":true,"responses":[)" +
                         R"({"response_put":{"header":{"revision":"7"}}},)" +
                         R"({"response_range":{"header":{"revision":"7"},"count":"0"}}]})");
    }
    if (r.path == "/v3/lease/grant")
      return testing::ok("{" + header(7) + R"(,"ID":"99","TTL":"10"})");
    if (r.path == "/v3/lease/keepalive") {  // a stream of one message, as etcd answers
      return FakeReply{
          {testing::chunked_head(),
           testing::chunk(R"({"result":{)" + header(7) + R"(,"ID":"99","TTL":"9"}})" + "\n"),
           testing::last_chunk()}};
    }
    if (r.path == "/v3/lease/revoke") return testing::ok("{" + header(8) + "}");
    return FakeReply{{testing::http_answer(404, "Not Found\n")}};
  });
  auto c = make({g.url()});
  EXPECT_EQ(c->endpoint(), g.url());

  auto put = run(c->put("/p/a", "1", 99));
  ASSERT_TRUE(put) << put.error().detail;
  EXPECT_EQ(*put, 5);
  EXPECT_EQ(g.requests().back().json,
            nlohmann::json({{"key", b64("/p/a")}, {"value", b64("1")}, {"lease", "99"}}));

  auto range = run(c->range("/p/", prefix_end("/p/")));
  ASSERT_TRUE(range) << range.error().detail;
  EXPECT_EQ(range->revision, 5);
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, "/p/a");
  EXPECT_EQ(range->kvs[0].version, 2);
  EXPECT_EQ(g.requests().back().json,
            nlohmann::json({{"key", b64("/p/")}, {"range_end", b64("/p0")}}));

  auto removed = run(c->remove("/p/a"));
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 6);

  Compare cmp{"/p/a", Compare::Target::kModRevision, Compare::Op::kEqual, 5, ""};
  TxnOp op{TxnOp::Kind::kPut, "/p/a", "", "2", 0};
  TxnOp get{TxnOp::Kind::kRange, "/p/a", "", "", 0};
  auto txn = run(c->txn({cmp}, {op, get}));
  ASSERT_TRUE(txn) << txn.error().detail;
  EXPECT_TRUE(txn->succeeded);
  EXPECT_EQ(txn->revision, 7);
  EXPECT_EQ(txn->ranges.size(), 1u);
  EXPECT_EQ(g.requests().back().json["compare"][0]["target"], "MOD");

  auto lease = run(c->lease_grant(10));
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->id, 99);
  EXPECT_EQ(lease->ttl_s, 10);
  auto ttl = run(c->lease_keepalive(99));
  ASSERT_TRUE(ttl) << ttl.error().detail;
  EXPECT_EQ(*ttl, 9);
  EXPECT_TRUE(run(c->lease_revoke(99)));
  EXPECT_EQ(g.requests().back().json, nlohmann::json({{"ID", "99"}}));

  EXPECT_EQ(g.accepted(), 1);  // every call on the one kept-alive connection
  finish(g);
}

TEST_F(EtcdClient, EtcdRefusalIsFailedAndNamesTheEndpoint) {
  FakeGateway g(loop, [](const FakeRequest&) {
    const std::string body =
        R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested )"
        R"(lease not found","code":5})";
    return FakeReply{{"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      testing::chunk(body) + "0\r\nGrpc-Trailer-Content-Type: x\r\n\r\n"}};
  });
  auto c = make({g.url()});
  auto r = run(c->lease_revoke(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::Code::kFailed);
  EXPECT_EQ(r.error().detail,
            "etcd " + g.url() + ": lease/revoke: etcdserver: requested lease not found (code 5)");
  finish(g);
}

TEST_F(EtcdClient, NoGatewayAndGarbledAnswers) {
  FakeGateway g(loop, [](const FakeRequest& r) {
    if (r.path == "/v3/kv/range") return FakeReply{{testing::http_answer(404, "Not Found\n")}};
    return testing::ok("{\"header\":");
  });
  auto c = make({g.url()});
  auto r = run(c->range("k"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::Code::kFailed);
  EXPECT_NE(r.error().detail.find("HTTP 404 (no v3 JSON gateway here?"), std::string::npos)
      << r.error().detail;
  auto p = run(c->put("k", "v"));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Error::Code::kUnknown);  // it reached etcd: applied or not
  EXPECT_EQ(p.error().detail, "etcd " + g.url() + ": kv/put: bad answer: put response: not JSON");
  finish(g);
}

TEST_F(EtcdClient, NoLeaderIsUnavailableAndTheNextEndpointIsTried) {
  FakeGateway lost(
      loop, [](const FakeRequest&) { return FakeReply{{testing::http_answer(503, kNoLeader)}}; });
  FakeGateway fine(loop, [](const FakeRequest&) { return testing::ok("{" + header(3) + "}"); });
  auto alone = make({lost.url()});
  auto r = run(alone->put("k", "v"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::Code::kUnavailable);
  EXPECT_EQ(r.error().detail, "etcd " + lost.url() + ": kv/put: etcdserver: no leader (code 14)");

  auto both = make({lost.url(), fine.url()});
  auto ok = run(both->put("k", "v"));
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(*ok, 3);
  EXPECT_EQ(both->endpoint(), fine.url());
  // Every request asked etcd to refuse at once without a leader.
  EXPECT_NE(lost.requests()[0].head.find("Grpc-Metadata-Hasleader: true\r\n"), std::string::npos);
  finish(lost);
  finish(fine);
}

TEST_F(EtcdClient, RefusedConnectIsUnavailable) {
  const std::string dead = testing::refused_url(loop);
  auto c = make({dead});
  auto r = run(c->range("k"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::Code::kUnavailable);
  EXPECT_EQ(r.error().detail, "etcd " + dead + ": connect: Connection refused");

  const std::string dead2 = testing::refused_url(loop);
  auto two = make({dead, dead2});
  auto r2 = run(two->put("k", "v"));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Error::Code::kUnavailable);
  EXPECT_EQ(r2.error().detail, "every etcd endpoint failed: etcd " + dead +
                                   ": connect: Connection refused; etcd " + dead2 +
                                   ": connect: Connection refused");
}

TEST_F(EtcdClient, FailsOverToTheNextEndpointOnAConnectFailure) {
  const std::string dead = testing::refused_url(loop);
  FakeGateway g(
      loop, [](const FakeRequest&) { return testing::ok("{" + header(9) + R"(,"count":"0"})"); });
  auto c = make({dead, g.url()});
  EXPECT_EQ(c->endpoint(), dead);
  auto r = run(c->range("k"));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->revision, 9);
  EXPECT_EQ(c->endpoint(), g.url());
  EXPECT_TRUE(run(c->range("k")));  // stays there
  EXPECT_EQ(g.accepted(), 1);
  finish(g);
}

TEST_F(EtcdClient, SilentServerIsUnknownAfterTheRequestTimeout) {
  FakeGateway g(loop, [](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  auto c = make({g.url()}, 100);
  auto r = run(c->put("k", "v"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::Code::kUnknown);
  EXPECT_EQ(r.error().detail, "etcd " + g.url() +
                                  ": kv/put: no answer within 100 ms (it may or may not have "
                                  "been applied)");
  finish(g);
}

TEST_F(EtcdClient, CallsQueueForTheOneConnection) {
  int n = 0;
  FakeGateway g(loop, [&](const FakeRequest&) { return testing::ok("{" + header(++n) + "}"); });
  auto c = make({g.url()});
  std::optional<Res<int64_t>> r[3];
  for (auto& out : r) rt::spawn(capture(c->put("k", "v"), &out));
  EXPECT_EQ(c->pending(), 3);
  run_until(loop, [&] { return r[0] && r[1] && r[2]; });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(*r[i]);
    EXPECT_EQ(**r[i], i + 1);  // in the order they were made
  }
  EXPECT_EQ(g.accepted(), 1);
  EXPECT_EQ(c->pending(), 0);
  finish(g);
}

TEST_F(EtcdClient, AKeptConnectionTheServerDroppedIsRetriedForReadsOnly) {
  int n = 0;
  // Every second request is met by a close without an answer (the keep-alive race).
  FakeGateway g(loop, [&](const FakeRequest&) {
    if (++n % 2 == 0) return FakeReply{{}, FakeReply::After::kClose};
    return testing::ok("{" + header(n) + "}");
  });
  auto c = make({g.url()});
  ASSERT_TRUE(run(c->range("k")));
  auto again = run(c->range("k"));  // dropped, sent again on a new connection
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(again->revision, 3);
  EXPECT_EQ(g.accepted(), 2);
  auto put = run(c->put("k", "v"));  // dropped: a write is not sent twice
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, Error::Code::kUnknown);
  EXPECT_EQ(put.error().detail, "etcd " + g.url() +
                                    ": kv/put: read: connection closed before an answer (it may "
                                    "or may not have been applied)");
  finish(g);
}

TEST_F(EtcdClient, CloseFailsPendingCallsAndLaterOnes) {
  FakeGateway g(loop, [](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  auto c = make({g.url()}, 60000);
  std::optional<Res<int64_t>> sent;
  std::optional<Res<RangeResult>> queued;
  rt::spawn(capture(c->put("k", "v"), &sent));
  rt::spawn(capture(c->range("k"), &queued));
  run_until(loop, [&] { return g.requests().size() == 1; });
  c->close();
  run_until(loop, [&] { return sent && queued; });
  ASSERT_FALSE(*sent);
  EXPECT_EQ(sent->error().code, Error::Code::kClosed);
  ASSERT_FALSE(*queued);
  EXPECT_EQ(queued->error().code, Error::Code::kClosed);
  std::optional<Res<int64_t>> later;
  rt::spawn(capture(c->put("k", "v"), &later));
  ASSERT_TRUE(later.has_value());  // at once
  EXPECT_EQ(later->error().code, Error::Code::kClosed);
  EXPECT_EQ(c->pending(), 0);
  finish(g);
}

TEST_F(EtcdClient, DestroyedRightAfterCloseWithACallInFlight) {
  FakeGateway g(loop, [](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  auto c = make({g.url()}, 60000);
  std::optional<Res<int64_t>> sent;
  rt::spawn(capture(c->put("k", "v"), &sent));
  run_until(loop, [&] { return g.requests().size() == 1; });
  c.reset();  // closes; the call's state outlives the client
  run_until(loop, [&] { return sent.has_value(); });
  EXPECT_EQ(sent->error().code, Error::Code::kClosed);
  finish(g);
}

}  // namespace
}  // namespace cw::etcd
