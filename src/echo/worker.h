// Echo's per-worker state (one thread, one event loop, one SO_REUSEPORT listener, its
// connections) and what all workers share read-only (options, fault thresholds, health flag).
// Thread contract: an EchoWorker is touched only on its loop's thread, except its stats shard
// (read by EchoServer::stats) and EchoShared::healthy (an atomic, set from any thread).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "base/buffer.h"
#include "base/counter.h"
#include "base/random.h"
#include "echo/echo_service.h"
#include "config/latency.h"
#include "runtime/acceptor.h"
#include "runtime/clock.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"

namespace cw::echo::detail {

constexpr size_t kMaxHead = 64 * 1024;  // request head limit (431 beyond)
constexpr size_t kChunk = 64 * 1024;    // body read/write unit; output flush threshold
constexpr uint64_t kMaxWsFrame = uint64_t{16} << 20;
constexpr int64_t kHeadTimeoutMs = 30'000;  // between bytes of a started head
constexpr int64_t kIoTimeoutMs = 60'000;    // body reads and writes without progress
constexpr int64_t kHangMs = 10 * 60'000;
constexpr int64_t kWsIdleMs = 10 * 60'000;
constexpr int64_t kLingerMs = 2'000;  // drain after our FIN so the answer survives
constexpr uint64_t kMaxLingerBytes = 1 << 20;

// co_await Pause(loop, ms, slot): a sleep that EchoWorker::begin_stop can cut short through
// the slot (the connection's pause_ pointer).
class Pause {
 public:
  Pause(rt::EventLoop& loop, int64_t ms, Pause*& slot) : loop_(loop), ms_(ms), slot_(slot) {}
  Pause(const Pause&) = delete;
  Pause& operator=(const Pause&) = delete;
  ~Pause() {
    loop_.timers().cancel(node_);
    if (slot_ == this) slot_ = nullptr;
  }
  bool await_ready() const noexcept { return ms_ <= 0; }
  void await_suspend(std::coroutine_handle<> h) {
    h_ = h;
    slot_ = this;
    node_.ctx = this;
    node_.fire = [](rt::TimerNode* n) {
      auto* self = static_cast<Pause*>(n->ctx);
      self->slot_ = nullptr;
      self->h_.resume();
    };
    loop_.arm_timer_ms(node_, ms_);
  }
  void await_resume() const noexcept {}
  // Resumes the sleeper on a later turn of the loop.
  void wake() {
    loop_.timers().cancel(node_);
    slot_ = nullptr;
    loop_.defer(h_);
  }

 private:
  rt::EventLoop& loop_;
  int64_t ms_;
  Pause*& slot_;
  std::coroutine_handle<> h_;
  rt::TimerNode node_;
};

struct EchoShared {
  EchoOptions options;
  LatencyDist latency;
  double reset_below = 0;  // one uniform draw u per request: u < reset_below -> reset,
  double hang_below = 0;   // < hang_below -> hang, < error_below -> 503
  double error_below = 0;
  std::string json_prefix;  // {"service":"...","instance":"..."
  std::atomic<bool> healthy{true};
};

struct EchoStatsShard {
  Counter connections;
  Gauge active;
  Counter requests;
  Counter errors;
  Counter resets;
  Counter hangs;
  Counter bad;
  Counter websockets;
};

class EchoConn;

struct EchoWorker {
  EchoWorker(const EchoShared& s, uint64_t seed)
      : shared(s), rng(seed), scratch(new char[kChunk]) {}
  EchoWorker(const EchoWorker&) = delete;
  EchoWorker& operator=(const EchoWorker&) = delete;
  ~EchoWorker() { loop.timers().cancel(grace_timer); }

  // Loop thread: close the listener, interrupt every connection, stop when they are gone.
  void begin_stop();
  void maybe_finish() {
    if (stopping && nconns == 0) loop.stop();
  }
  const std::string& date_line() {
    if (loop.now_ms() >= date_next_ms) {
      const int64_t wall = rt::wall_ms();
      const time_t t = time_t(wall / 1000);
      tm g;
      gmtime_r(&t, &g);
      char buf[64];
      const size_t n = strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &g);
      date.assign(buf, n);
      date_next_ms = loop.now_ms() + (1000 - wall % 1000);
    }
    return date;
  }

  const EchoShared& shared;
  rt::EventLoop loop;               // declared before everything that registers with it
  rt::TcpListener listener;         // bound before the thread starts; the acceptor takes it
  rt::FdReserve accept_reserve{1};  // the spare descriptor for EMFILE (runtime/acceptor.h)
  rt::AcceptCounters accept_counters;
  std::unique_ptr<rt::Acceptor> acceptor;
  BufferPool pool;
  SplitMix64 rng;
  std::unique_ptr<char[]> scratch;  // discarded input lands here; never read back
  EchoConn* conns = nullptr;        // intrusive list of live connections
  size_t nconns = 0;
  bool stopping = false;
  rt::TimerNode grace_timer;
  std::string date;
  int64_t date_next_ms = 0;
  EchoStatsShard stats;
};

}  // namespace cw::echo::detail
