// The watcher against a scripted gateway: list then watch from the next revision, resume from
// the last revision seen + 1 after the stream is cut, re-list on compaction, progress, failover
// across endpoints, etcd's stream errors, and stop() with a request in flight.
#include <gtest/gtest.h>

#include "etcd/client.h"
#include "fake_gateway.h"

namespace cw::etcd {
namespace {

using testing::chunk;
using testing::chunked_head;
using testing::FakeGateway;
using testing::FakeReply;
using testing::FakeRequest;
using testing::header;
using testing::kv_json;
using testing::run_until;

// Everything the callbacks heard, in order.
struct Heard {
  std::vector<std::string> log;  // "reset 5 [/p/a]", "events 6 [put /p/b]", "up", "down: ..."
  std::vector<int64_t> progress;
  std::string last_down;
  int calls = 0;

  WatchCallbacks callbacks() {
    WatchCallbacks cb;
    cb.on_reset = [this](std::vector<KeyValue> kvs, int64_t rev) {
      std::string s = "reset " + std::to_string(rev) + " [";
      for (const KeyValue& kv : kvs) s += kv.key + "=" + kv.value + " ";
      log.push_back(s + "]");
      ++calls;
    };
    cb.on_events = [this](std::vector<Event> evs, int64_t rev) {
      std::string s = "events " + std::to_string(rev) + " [";
      for (const Event& e : evs) {
        s += (e.type == Event::Type::kPut ? "put " : "del ") + e.kv.key + " ";
      }
      log.push_back(s + "]");
      ++calls;
    };
    cb.on_progress = [this](int64_t rev) {
      progress.push_back(rev);
      ++calls;
    };
    cb.on_state = [this](bool up, std::string why) {
      log.push_back(up ? "up" : "down");
      if (!up) last_down = why;
      ++calls;
    };
    return cb;
  }
};

std::string msg(const std::string& result) { return chunk(R"({"result":{)" + result + "}}\n"); }
std::string created(int64_t rev) { return msg(header(rev) + R"(,"created":true)"); }
std::string put_event(const std::string& key, int64_t rev) {
  return msg(header(rev) + R"(,"events":[{"kv":)" + kv_json(key, "v", rev, rev, 1) + "}]");
}
std::string del_event(const std::string& key, int64_t rev) {
  return msg(header(rev) + R"(,"events":[{"type":"DELETE","kv":{"key":")" + testing::b64(key) +
             R"(","mod_revision":")" + std::to_string(rev) + R"("}}])");
}
FakeReply list(int64_t rev, const std::string& key) {
  return testing::ok("{" + header(rev) + R"(,"kvs":[)" + kv_json(key, "1", 2, 2, 1) +
                     R"(],"count":"1"})");
}
int64_t start_revision(const FakeRequest& r) {
  const auto& c = r.json["create_request"];
  return c.contains("start_revision") ? std::stoll(c["start_revision"].get<std::string>()) : 0;
}

struct EtcdWatcher : ::testing::Test {
  rt::EventLoop loop;
  Heard heard;
  std::vector<FakeRequest> watches;  // the watch requests the fake saw
  int lists = 0;

  ClientOptions opts(std::vector<std::string> endpoints) {
    ClientOptions o;
    o.endpoints = std::move(endpoints);
    o.request_timeout_ms = 2000;
    return o;
  }
  void finish(Watcher& w, FakeGateway& g) {
    w.stop();
    g.stop();
    run_until(loop, [&] { return !w.running() && g.done(); });
  }
};

TEST_F(EtcdWatcher, ListsWatchesAndResumesFromTheNextRevisionAfterACut) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") {
      ++lists;
      return list(5, "/p/a");
    }
    watches.push_back(r);
    if (watches.size() == 1) {  // created, two batches, then the connection is cut
      return FakeReply{{chunked_head(), created(5), put_event("/p/b", 6), del_event("/p/a", 7)},
                       FakeReply::After::kClose};
    }
    return FakeReply{{chunked_head(), created(7), put_event("/p/c", 8)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({g.url()}), "/p/", heard.callbacks(), 42);
  w.start();
  run_until(loop, [&] { return w.revision() == 8; });
  EXPECT_EQ(heard.log, (std::vector<std::string>{"reset 5 [/p/a=1 ]", "up", "events 6 [put /p/b ]",
                                                 "events 7 [del /p/a ]", "down", "up",
                                                 "events 8 [put /p/c ]"}));
  EXPECT_EQ(heard.last_down, "etcd " + g.url() + ": watch: stream closed by etcd");
  EXPECT_EQ(lists, 1);  // resumed, not listed again
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_EQ(start_revision(watches[0]), 6);
  EXPECT_EQ(start_revision(watches[1]), 8);  // the last revision seen + 1
  const auto& create = watches[0].json["create_request"];
  EXPECT_EQ(create["key"], testing::b64("/p/"));
  EXPECT_EQ(create["range_end"], testing::b64("/p0"));
  EXPECT_EQ(create["progress_notify"], true);
  EXPECT_FALSE(create.contains("prev_kv"));
  EXPECT_TRUE(w.connected());
  finish(w, g);
}

TEST_F(EtcdWatcher, CompactionListsAgainAndResets) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") {
      return ++lists == 1 ? list(5, "/p/a") : list(12, "/p/b");
    }
    watches.push_back(r);
    if (watches.size() == 1) {  // one event, then the stream is cut
      return FakeReply{{chunked_head(), created(5), put_event("/p/b", 6)},
                       FakeReply::After::kClose};
    }
    if (watches.size() == 2) {  // as etcd 3.4 does: created, then canceled, stream left open
      return FakeReply{{chunked_head(), created(20),
                        msg(R"("header":{"cluster_id":"1","raft_term":"2"},"canceled":true,)"
                            R"("compact_revision":"9")")},
                       FakeReply::After::kHang};
    }
    return FakeReply{{chunked_head(), created(20)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({g.url()}), "/p/", heard.callbacks());
  w.start();
  run_until(loop, [&] { return watches.size() == 3 && heard.log.size() == 6; });
  EXPECT_EQ(heard.log, (std::vector<std::string>{"reset 5 [/p/a=1 ]", "up", "events 6 [put /p/b ]",
                                                 "down", "up", "reset 12 [/p/b=1 ]"}));
  EXPECT_EQ(start_revision(watches[0]), 6);
  EXPECT_EQ(start_revision(watches[1]), 7);   // compacted: listed again at once
  EXPECT_EQ(start_revision(watches[2]), 13);  // from the new list
  EXPECT_EQ(lists, 2);
  EXPECT_EQ(w.revision(), 12);
  finish(w, g);
}

TEST_F(EtcdWatcher, CompactedRightAfterAListBacksOff) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") {
      ++lists;
      return list(5, "/p/a");
    }
    watches.push_back(r);
    if (watches.size() == 1) {
      return FakeReply{{chunked_head(), msg(R"("header":{},"canceled":true,)"
                                            R"("compact_revision":"9")")},
                       FakeReply::After::kHang};
    }
    return FakeReply{{chunked_head(), created(5)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({g.url()}), "/p/", heard.callbacks());
  w.start();
  run_until(loop, [&] { return w.connected(); });
  EXPECT_EQ(heard.log,
            (std::vector<std::string>{"reset 5 [/p/a=1 ]", "down", "reset 5 [/p/a=1 ]", "up"}));
  EXPECT_EQ(heard.last_down, "etcd " + g.url() + ": watch: revision compacted right after a list");
  EXPECT_EQ(lists, 2);
  finish(w, g);
}

TEST_F(EtcdWatcher, ProgressMovesTheResumePoint) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") return list(5, "/p/a");
    watches.push_back(r);
    if (watches.size() == 1) {
      return FakeReply{{chunked_head(), created(5), msg(header(20))}, FakeReply::After::kClose};
    }
    return FakeReply{{chunked_head(), created(20)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({g.url()}), "/p/", heard.callbacks());
  w.start();
  run_until(loop, [&] { return watches.size() == 2; });
  EXPECT_EQ(heard.progress, std::vector<int64_t>{20});
  EXPECT_EQ(start_revision(watches[1]), 21);
  finish(w, g);
}

TEST_F(EtcdWatcher, TriesTheEndpointsInTurn) {
  const std::string dead = testing::refused_url(loop);
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") return list(5, "/p/a");
    return FakeReply{{chunked_head(), created(5)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({dead, g.url()}), "/p/", heard.callbacks());
  EXPECT_EQ(w.endpoint(), dead);
  w.start();
  run_until(loop, [&] { return w.connected(); });
  EXPECT_EQ(heard.log, (std::vector<std::string>{"down", "reset 5 [/p/a=1 ]", "up"}));
  EXPECT_EQ(heard.last_down, "etcd " + dead + ": list: connect: Connection refused");
  EXPECT_EQ(w.endpoint(), g.url());
  finish(w, g);
}

TEST_F(EtcdWatcher, EtcdsStreamErrorBreaksTheWatch) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") return list(5, "/p/a");
    watches.push_back(r);
    if (watches.size() == 1) {  // as a member that lost its leader ends a watch (hasleader)
      return FakeReply{{chunked_head(), created(5),
                        chunk(R"({"error":{"grpc_code":14,"http_code":503,"message":)"
                              R"("etcdserver: no leader","http_status":"Service Unavailable"}})"),
                        testing::last_chunk()}};
    }
    return FakeReply{{chunked_head(), created(5)}, FakeReply::After::kHang};
  });
  Watcher w(loop, opts({g.url()}), "/p/", heard.callbacks());
  w.start();
  run_until(loop, [&] { return watches.size() == 2 && w.connected(); });
  EXPECT_EQ(heard.log, (std::vector<std::string>{"reset 5 [/p/a=1 ]", "up", "down", "up"}));
  EXPECT_EQ(heard.last_down, "etcd " + g.url() + ": watch: etcdserver: no leader (code 14)");
  EXPECT_EQ(start_revision(watches[1]), 6);
  finish(w, g);
}

TEST_F(EtcdWatcher, StopWithTheWatchPendingEndsEverything) {
  FakeGateway g(loop, [&](const FakeRequest& r) -> FakeReply {
    if (r.path == "/v3/kv/range") return list(5, "/p/a");
    watches.push_back(r);
    return FakeReply{{chunked_head(), created(5)}, FakeReply::After::kHang};
  });
  auto w = std::make_unique<Watcher>(loop, opts({g.url()}), "/p/", heard.callbacks());
  w->start();
  run_until(loop, [&] { return w->connected(); });
  const int calls = heard.calls;
  w->stop();
  EXPECT_FALSE(w->connected());
  run_until(loop, [&] { return !w->running(); });
  w.reset();
  g.stop();
  run_until(loop, [&] { return g.done(); });
  EXPECT_EQ(heard.calls, calls);  // nothing after stop()
}

TEST_F(EtcdWatcher, StopWithTheListPendingAndDestroyAtOnce) {
  FakeGateway g(loop, [&](const FakeRequest&) { return FakeReply{{}, FakeReply::After::kHang}; });
  auto w = std::make_unique<Watcher>(loop, opts({g.url()}), "/p/", heard.callbacks());
  w->start();
  run_until(loop, [&] { return g.requests().size() == 1; });
  w.reset();  // stops; the coroutine winds down on its own state
  g.stop();
  run_until(loop, [&] { return g.done(); });
  for (int i = 0; i < 5; ++i) loop.run_once(1);
  EXPECT_EQ(heard.calls, 0);
}

TEST_F(EtcdWatcher, BadEndpointsAreReportedOnStart) {
  Watcher w(loop, opts({"https://127.0.0.1:2379"}), "/p/", heard.callbacks());
  w.start();
  EXPECT_EQ(heard.log, std::vector<std::string>{"down"});
  EXPECT_NE(heard.last_down.find("https is not supported"), std::string::npos);
  EXPECT_FALSE(w.running());
}

}  // namespace
}  // namespace cw::etcd
