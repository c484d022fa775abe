// A reload that waits for the workers' acknowledgements: the admin connection that asked waits
// (as a coroutine) while the control loop answers others, then gets 200; a missing
// acknowledgement ends the wait at the bound with 202 and the number of workers pending.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "admin/admin_server.h"
#include "runtime/latch.h"
#include "runtime/tcp.h"
#include "socket_client.h"

namespace cw::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// What Server::reload does after committing: wait for the workers, then answer.
rt::Task<ReloadOutcome> reload_after_acks(std::shared_ptr<rt::AckLatch> latch, int64_t bound_ms) {
  const int pending = co_await latch->wait(bound_ms);
  ReloadOutcome out;
  out.ok = true;
  out.generation = 2;
  out.workers_pending = pending;
  co_return out;
}

struct Answers {
  std::string healthz_meanwhile;
  bool reload_waited = false;  // no reload answer before the acknowledgements
  std::string reload;
};

rt::Task<void> reload_while_serving(rt::EventLoop* loop, rt::SocketAddress addr,
                                    AdminServer* server, std::shared_ptr<rt::AckLatch> latch,
                                    int acks, Answers* out) {
  auto asker = co_await rt::connect(*loop, addr, 1000);
  auto other = co_await rt::connect(*loop, addr, 1000);
  if (asker && other) {
    (void)co_await asker->write(
        "POST /api/v1/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    std::string buf;
    (void)co_await other->write("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    out->healthz_meanwhile = co_await read_response(&*other, loop, &buf);
    out->reload_waited = !asker->maybe_readable() && latch->pending() > 0;
    for (int i = 0; i < acks; ++i) loop->post([latch] { latch->ack(); });
    std::string rbuf;
    out->reload = co_await read_response(&*asker, loop, &rbuf);
  }
  co_await finish(loop, server);
}

Answers run(int workers, int acks, int64_t bound_ms) {
  rt::EventLoop loop;
  auto latch = std::make_shared<rt::AckLatch>(loop, workers);
  AdminHooks h;
  h.reload = [latch, bound_ms] { return reload_after_acks(latch, bound_ms); };
  AdminServer server(loop, std::move(h));
  auto addr = server.listen(*rt::SocketAddress::parse("127.0.0.1:0"));
  EXPECT_TRUE(addr);
  Answers a;
  if (addr) rt::spawn(reload_while_serving(&loop, *addr, &server, latch, acks, &a));
  loop.run();
  return a;
}

TEST(AdminReload, AnswersOnceEveryWorkerAcknowledgedAndServesOthersMeanwhile) {
  Answers a = run(2, 2, 10'000);
  EXPECT_THAT(a.healthz_meanwhile, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(a.reload_waited);
  EXPECT_THAT(a.reload, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(a.reload, HasSubstr("{\"status\":\"reloaded\",\"generation\":2}"));
}

TEST(AdminReload, AWedgedWorkerEndsTheWaitWith202) {
  Answers a = run(2, 1, 50);
  EXPECT_THAT(a.healthz_meanwhile, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(a.reload, StartsWith("HTTP/1.1 202 Accepted\r\n"));
  EXPECT_THAT(a.reload, HasSubstr("\"workers_pending\":1"));
}

}  // namespace
}  // namespace cw::admin
