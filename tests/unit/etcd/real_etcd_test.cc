// The client and the watcher against a real etcd (Debian's etcd-server, /usr/bin/etcd): the
// fixture starts one member in a temporary directory on free 127.0.0.1 ports (23790-23899)
// and kills it by PID afterwards (and it dies with the test process, should that crash).
// Skipped when etcd is not installed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "etcd/client.h"
#include "etcd/http_conn.h"
#include "fake_gateway.h"

namespace cw::etcd {
namespace {

using testing::run_until;

constexpr const char* kEtcd = "/usr/bin/etcd";

template <class T>
rt::Task<void> capture(rt::Task<Res<T>> t, std::optional<Res<T>>* out) {
  *out = co_await std::move(t);
}

rt::Task<void> capture_http(rt::Task<Result<HttpResponse, HttpError>> t,
                            std::optional<Result<HttpResponse, HttpError>>* out) {
  *out = co_await std::move(t);
}

class RealEtcd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kEtcd, X_OK) != 0) GTEST_SKIP() << kEtcd << " is not installed";
    char tmpl[] = "/tmp/causeway-etcd-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Ports may be taken between the probe and etcd's bind (tests run in parallel): retry.
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      if (!pick_ports(attempt)) continue;
      launch();
      if (!wait_ready(loop_)) stop_etcd();
    }
    ASSERT_GT(pid_, 0) << "etcd did not start; see " << dir_ << "/etcd.log";
    auto c = Client::create(loop_, options());
    ASSERT_TRUE(c);
    client_ = std::move(*c);
  }

  void TearDown() override {
    if (client_) client_->close();
    run_until(loop_, [&] { return !client_ || client_->pending() == 0; });
    client_.reset();
    stop_etcd();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  ClientOptions options() const {
    ClientOptions o;
    o.endpoints = {url_};
    o.request_timeout_ms = 5000;
    return o;
  }

  template <class T>
  Res<T> run(rt::Task<Res<T>> t) {
    return run_on(loop_, std::move(t));
  }
  template <class T>
  static Res<T> run_on(rt::EventLoop& loop, rt::Task<Res<T>> t) {
    std::optional<Res<T>> out;
    rt::spawn(capture(std::move(t), &out));
    run_until(loop, [&] { return out.has_value(); });
    return std::move(*out);
  }

  // Stops etcd and starts it again on the same ports and data. Readiness is polled on
  // `loop`, so a test can keep its watcher's loop still meanwhile.
  bool restart(rt::EventLoop& loop) {
    stop_etcd();
    launch();
    return wait_ready(loop);
  }
  void stop_etcd() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {  // up to 10 s, then SIGKILL
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      usleep(50 * 1000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  rt::EventLoop loop_;
  std::unique_ptr<Client> client_;
  std::string url_;

 private:
  bool pick_ports(int attempt) {
    const int base = 23790, span = 110;
    int found = 0;
    int ports[2] = {0, 0};
    for (int i = 0; i < span && found < 2; ++i) {
      const int p = base + (int(getpid()) * 7 + attempt * 13 + i) % span;
      if (rt::probe_bind(*rt::SocketAddress::from_ip_port("127.0.0.1", uint16_t(p)))) {
        ports[found++] = p;
      }
    }
    if (found < 2) return false;
    client_port_ = ports[0];
    peer_port_ = ports[1];
    url_ = "http://127.0.0.1:" + std::to_string(client_port_);
    return true;
  }

  void launch() {
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {kEtcd,
                                     "--name=default",
                                     "--data-dir=" + dir_ + "/data",
                                     "--listen-client-urls=" + url_,
                                     "--advertise-client-urls=" + url_,
                                     "--listen-peer-urls=" + peer,
                                     "--initial-advertise-peer-urls=" + peer,
                                     "--initial-cluster=default=" + peer,
                                     "--experimental-watch-progress-notify-interval=500ms"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = dir_ + "/etcd.log";
    // fork + exec rather than posix_spawn: the child asks to be killed if this test process
    // dies (a crash, a watchdog), so no etcd outlives a failed run.
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(kEtcd, argv.data());
      _exit(127);
    }
    if (pid > 0) pid_ = pid;
  }

  // Polls with a linearizable range until etcd answers (it has a leader), or it exits.
  bool wait_ready(rt::EventLoop& loop) {
    if (pid_ <= 0) return false;
    auto c = Client::create(loop, options());
    if (!c) return false;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      auto r = run_on(loop, (*c)->range("ready"));
      if (r) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited (a port taken after all?)
        return false;
      }
      for (int i = 0; i < 10; ++i) loop.run_once(5);
    }
    return false;
  }

  std::string dir_;
  int client_port_ = 0, peer_port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(RealEtcd, KeysTransactionsAndLeases) {
  Client& c = *client_;
  auto put = run(c.put("/t/a", "1"));
  ASSERT_TRUE(put) << put.error().detail;
  auto empty = run(c.put("/t/empty", ""));
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, *put + 1);

  auto r = run(c.range("/t/", prefix_end("/t/")));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->revision, *empty);
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "/t/a");
  EXPECT_EQ(r->kvs[0].value, "1");
  EXPECT_EQ(r->kvs[0].mod_revision, *put);
  EXPECT_EQ(r->kvs[1].value, "");
  auto count = run(c.range("/t/", prefix_end("/t/"), true));
  ASSERT_TRUE(count);
  EXPECT_EQ(count->count, 2);
  EXPECT_TRUE(count->kvs.empty());

  // Create-if-absent: fails the second time, and the failure branch reads the key.
  Compare absent{"/t/b", Compare::Target::kVersion, Compare::Op::kEqual, 0, ""};
  TxnOp create{TxnOp::Kind::kPut, "/t/b", "", "b", 0};
  TxnOp read{TxnOp::Kind::kRange, "/t/b", "", "", 0};
  auto first = run(c.txn({absent}, {create}, {read}));
  ASSERT_TRUE(first) << first.error().detail;
  EXPECT_TRUE(first->succeeded);
  EXPECT_TRUE(first->ranges.empty());
  auto second = run(c.txn({absent}, {create}, {read}));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->ranges.size(), 1u);
  ASSERT_EQ(second->ranges[0].kvs.size(), 1u);
  EXPECT_EQ(second->ranges[0].kvs[0].value, "b");
  Compare value{"/t/b", Compare::Target::kValue, Compare::Op::kNotEqual, 0, "x"};
  Compare mod{"/t/b", Compare::Target::kModRevision, Compare::Op::kLess, first->revision + 1, ""};
  Compare no_lease{"/t/b", Compare::Target::kLease, Compare::Op::kEqual, 0, ""};
  auto all = run(c.txn({value, mod, no_lease}, {}));
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_TRUE(all->succeeded);
  // etcd refuses one txn touching a key twice: kFailed, with etcd's words.
  auto twice = run(c.txn({}, {create, create}));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Error::Code::kFailed);
  EXPECT_NE(twice.error().detail.find("duplicate key given in txn request"), std::string::npos);

  auto removed = run(c.remove("/t/", prefix_end("/t/")));
  ASSERT_TRUE(removed);
  EXPECT_EQ(run(c.range("/t/", prefix_end("/t/")))->kvs.size(), 0u);

  // Leases: grant, attach, keep alive, revoke (the key goes with it), then it is gone.
  auto lease = run(c.lease_grant(30));
  ASSERT_TRUE(lease) << lease.error().detail;
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttl_s, 30);
  ASSERT_TRUE(run(c.put("/t/leased", "x", lease->id)));
  EXPECT_EQ(run(c.range("/t/leased"))->kvs.at(0).lease, lease->id);
  auto ttl = run(c.lease_keepalive(lease->id));
  ASSERT_TRUE(ttl) << ttl.error().detail;
  EXPECT_EQ(*ttl, 30);
  ASSERT_TRUE(run(c.lease_revoke(lease->id)));
  EXPECT_EQ(run(c.range("/t/leased"))->kvs.size(), 0u);
  auto gone = run(c.lease_keepalive(lease->id));
  ASSERT_TRUE(gone) << gone.error().detail;
  EXPECT_EQ(*gone, 0);
  auto again = run(c.lease_revoke(lease->id));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Error::Code::kFailed);
  EXPECT_EQ(again.error().detail,
            "etcd " + url_ + ": lease/revoke: etcdserver: requested lease not found (code 5)");
  auto orphan = run(c.put("/t/orphan", "x", lease->id));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, Error::Code::kFailed);
  auto bad = run(c.range(""));  // etcd: "key is not provided"
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Error::Code::kFailed);
}

TEST_F(RealEtcd, WatcherMirrorsAPrefix) {
  ASSERT_TRUE(run(client_->put("/w/a", "1")));
  ASSERT_TRUE(run(client_->put("/x/outside", "1")));
  std::vector<std::string> log;
  std::vector<int64_t> progress;
  WatchCallbacks cb;
  cb.on_reset = [&](std::vector<KeyValue> kvs, int64_t rev) {
    log.push_back("reset " + std::to_string(kvs.size()) + " " + kvs.at(0).key + " @" +
                  std::to_string(rev));
  };
  cb.on_events = [&](std::vector<Event> evs, int64_t rev) {
    for (const Event& e : evs) {
      log.push_back(std::string(e.type == Event::Type::kPut ? "put " : "del ") + e.kv.key + "=" +
                    e.kv.value + " @" + std::to_string(e.kv.mod_revision) + "/" +
                    std::to_string(rev));
    }
  };
  cb.on_progress = [&](int64_t rev) { progress.push_back(rev); };
  cb.on_state = [&](bool up, std::string why) { log.push_back(up ? "up" : "down: " + why); };
  Watcher w(loop_, options(), "/w/", cb);
  w.start();
  run_until(loop_, [&] { return w.connected(); });
  ASSERT_EQ(log.size(), 2u);
  const int64_t listed = w.revision();
  EXPECT_EQ(log[0], "reset 1 /w/a @" + std::to_string(listed));
  EXPECT_EQ(log[1], "up");

  auto b = run(client_->put("/w/b", "2"));
  ASSERT_TRUE(b);
  ASSERT_TRUE(run(client_->put("/x/other", "3")));
  auto del = run(client_->remove("/w/a"));
  ASSERT_TRUE(del);
  run_until(loop_, [&] { return w.revision() == *del; });
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[2], "put /w/b=2 @" + std::to_string(*b) + "/" + std::to_string(*b));
  EXPECT_EQ(log[3], "del /w/a= @" + std::to_string(*del) + "/" + std::to_string(*del));

  // Idle: etcd's progress notifications (every 500 ms here) carry the revision.
  run_until(loop_, [&] { return !progress.empty(); });
  EXPECT_GE(progress.back(), *del);
  w.stop();
  run_until(loop_, [&] { return !w.running(); });
}

TEST_F(RealEtcd, WatcherResumesAfterARestartAndListsAgainAfterACompaction) {
  ASSERT_TRUE(run(client_->put("/r/a", "1")));
  int resets = 0;
  std::vector<std::string> events, states;
  std::vector<KeyValue> mirror;
  WatchCallbacks cb;
  cb.on_reset = [&](std::vector<KeyValue> kvs, int64_t) {
    ++resets;
    mirror = std::move(kvs);
  };
  cb.on_events = [&](std::vector<Event> evs, int64_t) {
    for (const Event& e : evs) events.push_back(e.kv.key);
  };
  cb.on_state = [&](bool up, std::string why) { states.push_back(up ? "up" : "down: " + why); };
  Watcher w(loop_, options(), "/r/", cb);
  w.start();
  run_until(loop_, [&] { return w.connected(); });
  ASSERT_EQ(resets, 1);

  // 1. etcd goes away and comes back; a write made while the watcher is still away arrives
  //    when it resumes (from the last revision seen + 1, with no new list).
  stop_etcd();
  run_until(loop_, [&] { return !w.connected(); });
  ASSERT_EQ(states.size(), 2u);
  // etcd ends the stream as it shuts down: "watch: transport is closing (code 14)" or,
  // should it be gone first, "watch: stream closed by etcd".
  EXPECT_EQ(states[1].rfind("down: etcd " + url_ + ": watch: ", 0), 0u) << states[1];
  rt::EventLoop admin;  // the watcher's loop stands still while this one works
  ASSERT_TRUE(restart(admin));
  auto c = Client::create(admin, options());
  ASSERT_TRUE(c);
  auto d = run_on(admin, (*c)->put("/r/d", "4"));
  ASSERT_TRUE(d) << d.error().detail;
  run_until(loop_, [&] { return w.revision() == *d; });
  EXPECT_EQ(events, std::vector<std::string>{"/r/d"});
  EXPECT_EQ(resets, 1);
  EXPECT_TRUE(w.connected());

  // 2. Again, but the missed revisions are compacted before it comes back: it lists again.
  stop_etcd();
  run_until(loop_, [&] { return !w.connected(); });
  ASSERT_TRUE(restart(admin));
  ASSERT_TRUE(run_on(admin, (*c)->remove("/r/a")));
  auto e = run_on(admin, (*c)->put("/r/e", "5"));
  ASSERT_TRUE(e);
  HttpConn raw(admin, parse_http_endpoint(url_)->addr, {});
  std::optional<Result<HttpResponse, HttpError>> compacted;
  rt::spawn(capture_http(raw.post("/v3/kv/compaction",
                                  R"({"revision":")" + std::to_string(*e) + R"(","physical":true})",
                                  admin.now_ms() + 5000),
                         &compacted));
  run_until(admin, [&] { return compacted.has_value(); });
  ASSERT_TRUE(*compacted);
  ASSERT_EQ((*compacted)->status, 200) << (*compacted)->body;
  run_until(loop_, [&] { return resets == 2 && w.connected(); });
  ASSERT_EQ(mirror.size(), 2u);
  EXPECT_EQ(mirror[0].key, "/r/d");
  EXPECT_EQ(mirror[1].key, "/r/e");
  EXPECT_EQ(w.revision(), *e);
  EXPECT_EQ(events, std::vector<std::string>{"/r/d"});  // nothing replayed as events

  (*c)->close();
  run_until(admin, [&] { return (*c)->pending() == 0; });
  raw.disconnect();
  w.stop();
  run_until(loop_, [&] { return !w.running(); });
}

}  // namespace
}  // namespace cw::etcd
