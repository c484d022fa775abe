// Opening a snapshot's listener sockets: each port-0 listener gets a kernel-chosen port of its
// own, shared by every worker's socket; listeners already bound are left alone; and a failure
// (a taken port, no descriptors left) closes everything opened and names the listener.
#include "server/listener_sockets.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <set>

#include "config/load.h"
#include "runtime/listen_socket.h"

namespace cw::server {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const proxy::ProxySnapshot> snapshot(const std::string& listeners) {
  const std::string yaml =
      "listeners:\n" + listeners + "clusters:\n  - name: web\n    endpoints: [127.0.0.1:9001]\n";
  auto r = config::load_config_string(yaml, "test.yaml");
  std::string errs;
  for (const auto& e : r.errors) errs += e.format() + "\n";
  EXPECT_TRUE(r.ok()) << errs;
  if (!r.ok()) return nullptr;
  std::string err;
  auto s = proxy::build_snapshot(r.config, nullptr, err);
  EXPECT_TRUE(s) << err;
  return s;
}

std::string listener(const std::string& name, const std::string& listen) {
  return "  - name: " + name + "\n    listen: " + listen +
         "\n    routes: [{ match: { path_prefix: / }, cluster: web }]\n";
}

size_t open_fds() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

TEST(ListenerSockets, EachPortZeroListenerGetsItsOwnPortSharedByItsWorkers) {
  auto snap = snapshot(listener("a", "127.0.0.1:0") + listener("b", "127.0.0.1:0"));
  ASSERT_TRUE(snap);
  ASSERT_NE(snap->listeners[0]->key, snap->listeners[1]->key);
  auto r = open_listeners(*snap, {}, 3);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->bound.size(), 2u);
  EXPECT_EQ(r->opened, 6u);
  std::set<uint16_t> ports;
  for (const auto& l : snap->listeners) {
    const rt::SocketAddress& bound = r->bound.at(l->key);
    EXPECT_NE(bound.port(), 0) << l->key;
    ports.insert(bound.port());
    for (const auto& fds : r->per_worker) {
      ASSERT_TRUE(fds.count(l->key));
      EXPECT_EQ(rt::bound_address(fds.at(l->key).get()).text(), bound.text()) << l->key;
    }
  }
  EXPECT_EQ(ports.size(), 2u) << "two port-0 listeners must not share one port";
}

TEST(ListenerSockets, ListenersAlreadyBoundKeepTheirSockets) {
  auto snap = snapshot(listener("a", "127.0.0.1:0") + listener("b", "127.0.0.1:0"));
  ASSERT_TRUE(snap);
  const std::string a = snap->listeners[0]->key;
  std::map<std::string, rt::SocketAddress> current = {
      {a, *rt::SocketAddress::parse("127.0.0.1:18081")}};
  auto r = open_listeners(*snap, current, 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bound.at(a).text(), "127.0.0.1:18081");
  EXPECT_EQ(r->opened, 2u);  // b only, once per worker
  for (const auto& fds : r->per_worker) EXPECT_FALSE(fds.count(a));
}

TEST(ListenerSockets, ATakenPortIsRefusedWithNothingOpened) {
  auto taken = rt::open_listen_socket(*rt::SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(taken);
  // A plain socket (no SO_REUSEPORT) on the port, as another program would hold it.
  const uint16_t port = rt::bound_address(taken->get()).port();
  taken->reset();
  int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto addr = *rt::SocketAddress::parse("127.0.0.1:" + std::to_string(port));
  ASSERT_EQ(::bind(other, addr.sa(), addr.len()), 0);
  ASSERT_EQ(::listen(other, 1), 0);

  auto snap = snapshot(listener("fresh", "127.0.0.1:0") + listener("clash", addr.text()));
  ASSERT_TRUE(snap);
  const size_t before = open_fds();
  auto r = open_listeners(*snap, {}, 2);
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_THAT(r.error()[0], HasSubstr("listener clash: cannot listen on " + addr.text()));
  EXPECT_THAT(r.error()[0], HasSubstr("in use"));
  EXPECT_EQ(open_fds(), before);
  ::close(other);
}

TEST(ListenerSockets, RunningOutOfDescriptorsClosesWhatWasOpened) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += listener("l" + std::to_string(i), "127.0.0.1:0");
  auto snap = snapshot(many);
  ASSERT_TRUE(snap);
  // Room for some sockets but not for 40 listeners x 2 workers.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  rlimit tight = lim;
  tight.rlim_cur = rlim_t(open_fds() + 30);
  setrlimit(RLIMIT_NOFILE, &tight);
  const size_t before = open_fds();
  auto r = open_listeners(*snap, {}, 2);
  const size_t after = open_fds();
  setrlimit(RLIMIT_NOFILE, &lim);
  EXPECT_EQ(after, before) << "every socket opened before the failure is closed";
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_THAT(r.error()[0], HasSubstr("cannot listen on 127.0.0.1:"));
  EXPECT_THAT(r.error()[0], HasSubstr("Too many open files"));
}

}  // namespace
}  // namespace cw::server
