// Stats primitives for per-worker shards: one writer (the worker), any number of readers (the
// admin thread summing shards). Relaxed atomics: a plain load+store, no lock prefix on x86.
// Thread contract: inc/set from the owning worker only; get() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace cw {

class Counter {
 public:
  void inc(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void add(int64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void inc() { add(1); }
  void dec() { add(-1); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Holds one unit of a gauge (in-flight requests, open connections) for as long as it lives or
// until release(): the count cannot be forgotten on an early return or a coroutine's co_return.
class GaugeHold {
 public:
  GaugeHold() = default;
  explicit GaugeHold(Gauge& g) { hold(g); }
  ~GaugeHold() { release(); }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;
  void hold(Gauge& g) {
    release();
    g_ = &g;
    g.inc();
  }
  void release() {
    if (g_) g_->dec();
    g_ = nullptr;
  }
  bool held() const { return g_ != nullptr; }

 private:
  Gauge* g_ = nullptr;
};

// Latency histogram with fixed bucket bounds (milliseconds), Prometheus-style cumulative on read.
class Histogram {
 public:
  static constexpr int kBuckets = 16;
  static constexpr double kBoundsMs[kBuckets] = {0.25, 0.5, 1,   2.5,  5,    10,   25,    50,
                                                 100,  250, 500, 1000, 2500, 5000, 10000, 30000};
  void observe_us(uint64_t us) {
    double ms = double(us) / 1000.0;
    int i = 0;
    while (i < kBuckets && ms > kBoundsMs[i]) ++i;
    buckets_[i].inc();  // index kBuckets = +Inf
    sum_us_.inc(us);
  }
  uint64_t bucket(int i) const { return buckets_[i].get(); }  // non-cumulative, i <= kBuckets
  uint64_t count() const {
    uint64_t n = 0;
    for (const auto& b : buckets_) n += b.get();
    return n;
  }
  uint64_t sum_us() const { return sum_us_.get(); }

 private:
  Counter buckets_[kBuckets + 1];
  Counter sum_us_;
};

}  // namespace cw
