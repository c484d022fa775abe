// The runtime's accept loop: hands connections over; out of descriptors it sheds pending
// connections with the spare descriptor (clients see a clean close, not a hang), counts the
// error, backs off on a timer instead of spinning, recovers when descriptors free up, and
// close() ends it even while it backs off.
#include "runtime/acceptor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "fd_exhaustion.h"

namespace cw::rt {
namespace {

// A blocking client socket connected to addr (the kernel completes the handshake into the
// listener's backlog; nobody has to accept), with a 2 s receive timeout.
int connect_blocking(const SocketAddress& addr) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, addr.sa(), addr.len()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What a client reads first: 0 for a clean close, -errno on error (timeout: -EAGAIN).
int first_read(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  return n < 0 ? -errno : int(n);
}

struct Accepted {
  std::vector<TcpStream> streams;
};

Acceptor::Handler keep_into(Accepted* out) {
  return [out](TcpStream s) { out->streams.push_back(std::move(s)); };
}

// An acceptor on 127.0.0.1:0 with `spares` spare descriptors, keeping what it accepts.
struct Rig {
  EventLoop loop;
  FdReserve reserve;
  AcceptCounters counters;
  Accepted got;
  std::unique_ptr<Acceptor> acceptor;
  SocketAddress addr;

  explicit Rig(int spares, AcceptOptions opts = {}) : reserve(spares) {
    auto l = TcpListener::bind(loop, *SocketAddress::parse("127.0.0.1:0"));
    EXPECT_TRUE(l);
    acceptor = std::make_unique<Acceptor>(std::move(*l), reserve, counters, keep_into(&got),
                                          std::move(opts));
    addr = acceptor->local_address();
  }
  ~Rig() {
    acceptor->close();
    loop.run_deferred();  // the cancelled coroutine finishes (LeakSanitizer checks its frame)
  }
  uint64_t emfile() const { return counters.errors[size_t(AcceptError::kEmfile)].get(); }
};

// Turns the loop (1 ms steps) until cond() holds or `max_ms` loop turns passed.
template <class Cond>
Task<bool> wait_until(EventLoop* loop, Cond cond, int max_ms) {
  for (int i = 0; i < max_ms && !cond(); ++i) co_await sleep_for(*loop, 1);
  co_return cond();
}

Task<void> hand_over(Rig* rig, bool* ok) {
  int c = connect_blocking(rig->addr);
  *ok = c >= 0 && co_await wait_until(
                      &rig->loop, [rig] { return rig->got.streams.size() == 1; }, 3000);
  if (c >= 0) ::close(c);
  rig->loop.stop();
}

TEST(Acceptor, HandsEachConnectionToTheHandler) {
  Rig rig(1);
  bool ok = false;
  spawn(hand_over(&rig, &ok));
  rig.loop.run();
  EXPECT_TRUE(ok);
  ASSERT_EQ(rig.got.streams.size(), 1u);
  EXPECT_EQ(rig.got.streams[0].peer().ip(), "127.0.0.1");
  for (const auto& e : rig.counters.errors) EXPECT_EQ(e.get(), 0u);
}

struct ShedResult {
  bool shed_all = false;
  int reads[3] = {1, 1, 1};
  uint64_t errors_while_exhausted = 0;
  bool recovered = false;
};

Task<void> shed_then_recover(Rig* rig, ShedResult* out) {
  int clients[3];
  for (int& c : clients) c = connect_blocking(rig->addr);
  {
    testing::FdExhaustion full;
    // Three connections wait in the backlog while no descriptor is free.
    out->shed_all = co_await wait_until(
        &rig->loop, [rig] { return rig->counters.shed.get() == 3; }, 3000);
    // A few more turns: a spinning acceptor would count an error on every one of them.
    co_await sleep_for(rig->loop, 50);
    out->errors_while_exhausted = rig->emfile();
  }
  for (int i = 0; i < 3; ++i) {
    out->reads[i] = clients[i] >= 0 ? first_read(clients[i]) : -1000;
    if (clients[i] >= 0) ::close(clients[i]);
  }
  // Descriptors are back: the next connection is served.
  int c = connect_blocking(rig->addr);
  out->recovered = co_await wait_until(
      &rig->loop, [rig] { return rig->got.streams.size() == 1; }, 3000);
  if (c >= 0) ::close(c);
  rig->loop.stop();
}

TEST(Acceptor, OutOfDescriptorsShedsPendingConnectionsCountsAndRecovers) {
  Rig rig(1);
  ASSERT_EQ(rig.reserve.held(), 1);
  ShedResult r;
  spawn(shed_then_recover(&rig, &r));
  rig.loop.run();

  EXPECT_TRUE(r.shed_all) << "shed " << rig.counters.shed.get();
  for (int read : r.reads) EXPECT_EQ(read, 0) << "each pending client gets a clean close";
  // One failed accept drained the backlog; then the acceptor waited for the next connection
  // instead of failing again and again.
  EXPECT_EQ(r.errors_while_exhausted, 1u);
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(rig.counters.shed.get(), 3u);
  EXPECT_EQ(rig.reserve.held(), 1) << "the spare is taken back after shedding";
}

struct BackoffResult {
  int64_t first_error_ms = -1;
  int64_t fourth_error_ms = -1;
  bool served_after = false;
};

Task<void> back_off_without_spare(Rig* rig, BackoffResult* out) {
  int c = connect_blocking(rig->addr);
  {
    testing::FdExhaustion full;
    co_await wait_until(
        &rig->loop, [rig] { return rig->emfile() >= 1; }, 3000);
    out->first_error_ms = rig->loop.now_ms();
    co_await wait_until(
        &rig->loop, [rig] { return rig->emfile() >= 4; }, 3000);
    out->fourth_error_ms = rig->loop.now_ms();
  }
  // Without a spare the connection waited in the backlog; it is served once descriptors free.
  out->served_after = co_await wait_until(
      &rig->loop, [rig] { return rig->got.streams.size() == 1; }, 3000);
  if (c >= 0) ::close(c);
  rig->loop.stop();
}

TEST(Acceptor, WithoutASpareItBacksOffOnATimer) {
  Rig rig(0, AcceptOptions{.backoff_min_ms = 10, .backoff_max_ms = 40});
  BackoffResult r;
  spawn(back_off_without_spare(&rig, &r));
  rig.loop.run();
  ASSERT_GE(r.first_error_ms, 0);
  // The second, third and fourth tries come after 10, 20 and 40 ms of back-off (70 ms; the
  // bound leaves room for the loop's cached clock): a spinning loop fails four times at once.
  EXPECT_GE(r.fourth_error_ms - r.first_error_ms, 40);
  EXPECT_TRUE(r.served_after);
  EXPECT_EQ(rig.counters.shed.get(), 0u);
}

Task<void> close_while_backing_off(Rig* rig, int* client) {
  *client = connect_blocking(rig->addr);
  {
    testing::FdExhaustion full;
    co_await wait_until(
        &rig->loop, [rig] { return rig->emfile() >= 1; }, 3000);
  }
  rig->acceptor->close();  // while it sleeps (1 s back-off): the coroutine must still end
  rig->loop.stop();
}

TEST(Acceptor, CloseEndsTheLoopWhileItBacksOff) {
  Rig rig(0, AcceptOptions{.backoff_min_ms = 1000});
  int client = -1;
  spawn(close_while_backing_off(&rig, &client));
  rig.loop.run();
  EXPECT_FALSE(rig.acceptor->is_open());
  EXPECT_GE(rig.emfile(), 1u);
  // The cancelled back-off resumes on a deferred turn and the frame is freed (LeakSanitizer
  // reports it otherwise).
  rig.loop.run_deferred();
  if (client >= 0) ::close(client);
  EXPECT_TRUE(rig.got.streams.empty());
}

TEST(Acceptor, ClassifiesErrors) {
  auto sys = [](int e) { return std::error_code(e, std::system_category()); };
  EXPECT_EQ(classify_accept_error(sys(EMFILE)), AcceptError::kEmfile);
  EXPECT_EQ(classify_accept_error(sys(ENFILE)), AcceptError::kEnfile);
  EXPECT_EQ(classify_accept_error(sys(ENOBUFS)), AcceptError::kNoMemory);
  EXPECT_EQ(classify_accept_error(sys(ENOMEM)), AcceptError::kNoMemory);
  EXPECT_EQ(classify_accept_error(sys(EPERM)), AcceptError::kOther);
  EXPECT_EQ(accept_error_name(AcceptError::kEmfile), "emfile");
  EXPECT_EQ(accept_error_name(AcceptError::kEnfile), "enfile");
  EXPECT_EQ(accept_error_name(AcceptError::kNoMemory), "nomem");
  EXPECT_EQ(accept_error_name(AcceptError::kOther), "other");
}

TEST(FdReserve, ReleasesAndRefills) {
  FdReserve r(3);
  EXPECT_EQ(r.held(), 3);
  EXPECT_TRUE(r.release_one());
  EXPECT_EQ(r.held(), 2);
  {
    FdReserve::Borrow b(r);
    EXPECT_EQ(r.held(), 0);
    EXPECT_FALSE(r.release_one());
  }
  EXPECT_EQ(r.held(), 3);
  {
    // At the limit, the spares are exactly the slots there are to use.
    testing::FdExhaustion full;
    r.release_all();
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << "a released spare is a usable slot";
    EXPECT_EQ(r.refill(), 2);
    if (fd >= 0) ::close(fd);
    EXPECT_EQ(r.refill(), 3);
  }
}

}  // namespace
}  // namespace cw::rt
