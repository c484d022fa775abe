// Micro-benchmarks of the coroutine runtime facade: what our own machinery costs per
// operation, apart from the kernel. Budget (issue 2): under 1 µs of facade per request.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/event_loop.h"
#include "runtime/tcp.h"

namespace {

using cw::rt::Task;

Task<int> leaf(int x) { co_return x + 1; }

Task<void> call_many(int n, int* out) {
  int acc = 0;
  for (int i = 0; i < n; ++i) acc = co_await leaf(acc);
  *out = acc;
}

// One Task<T> call: frame from the free list, symmetric transfer in and out, destroy.
void BM_TaskCall(benchmark::State& state) {
  int out = 0;
  for (auto _ : state) {
    cw::rt::spawn(call_many(1000, &out));
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_TaskCall);

// Arming and cancelling a timeout, as every request does for each I/O wait.
void BM_TimerArmCancel(benchmark::State& state) {
  cw::rt::TimerWheel wheel(0);
  cw::rt::TimerNode n;
  n.fire = [](cw::rt::TimerNode*) {};
  int64_t t = 0;
  for (auto _ : state) {
    wheel.arm(n, ++t % 5000 + 100);
    wheel.cancel(n);
  }
}
BENCHMARK(BM_TimerArmCancel);

Task<void> pinger(cw::rt::TcpStream* s, int rounds, cw::rt::EventLoop* loop) {
  char buf[128];
  for (int i = 0; i < rounds; ++i) {
    auto w = co_await s->write(std::string_view(buf, 100), loop->now_ms() + 5000);
    auto r = co_await s->read(buf, sizeof buf, loop->now_ms() + 5000);
    if (!w || !r || *r == 0) break;
  }
  loop->stop();
}

Task<void> ponger(cw::rt::TcpStream* s, cw::rt::EventLoop* loop) {
  char buf[128];
  for (;;) {
    auto r = co_await s->read(buf, sizeof buf, loop->now_ms() + 5000);
    if (!r || *r == 0) break;
    auto w = co_await s->write(std::string_view(buf, *r), loop->now_ms() + 5000);
    if (!w) break;
  }
}

// A request/response round trip over a socketpair through the loop: 2 writes, 2 reads, epoll
// waits and coroutine resumptions, with deadlines armed on every wait. Compare with
// BM_RawSocketPairRoundTrip: the difference is the facade.
void BM_LoopSocketPairRoundTrip(benchmark::State& state) {
  const int rounds = 20000;
  for (auto _ : state) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    cw::rt::EventLoop loop;
    auto a = cw::rt::TcpStream::adopt(loop, sv[0], {});
    auto b = cw::rt::TcpStream::adopt(loop, sv[1], {});
    cw::rt::spawn(ponger(&*b, &loop));
    cw::rt::spawn(pinger(&*a, rounds, &loop));
    loop.run();
    a->close();
    b->close();
  }
  state.SetItemsProcessed(state.iterations() * rounds);
}
BENCHMARK(BM_LoopSocketPairRoundTrip)->Unit(benchmark::kMillisecond);

// The same exchange with plain blocking syscalls on one thread: the kernel's share.
void BM_RawSocketPairRoundTrip(benchmark::State& state) {
  const int rounds = 20000;
  for (auto _ : state) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char buf[128] = {};
    for (int i = 0; i < rounds; ++i) {
      benchmark::DoNotOptimize(::write(sv[0], buf, 100));
      benchmark::DoNotOptimize(::read(sv[1], buf, sizeof buf));
      benchmark::DoNotOptimize(::write(sv[1], buf, 100));
      benchmark::DoNotOptimize(::read(sv[0], buf, sizeof buf));
    }
    close(sv[0]);
    close(sv[1]);
  }
  state.SetItemsProcessed(state.iterations() * rounds);
}
BENCHMARK(BM_RawSocketPairRoundTrip)->Unit(benchmark::kMillisecond);

}  // namespace
