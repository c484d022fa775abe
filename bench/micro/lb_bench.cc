// Micro-benchmarks: LoadBalancer::pick() per policy over 10 hosts, and hash_key() on a key.
// Thread contract: single-threaded benchmark bodies.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "upstream/load_balancer.h"

namespace cw::upstream {
namespace {

constexpr int kHosts = 10;
constexpr int kKeys = 1024;  // distinct hash keys cycled through (a power of two)

std::vector<LbHost> bench_hosts() {
  std::vector<LbHost> hosts;
  for (int i = 0; i < kHosts; ++i) {
    hosts.push_back(
        LbHost{"10.1.0." + std::to_string(i) + ":8080", static_cast<uint32_t>(1 + i % 3)});
  }
  return hosts;
}

// state.range(0): the policy; state.range(1): 1 = host 3 is unavailable.
void BM_Pick(benchmark::State& state) {
  const auto policy = static_cast<LbPolicy>(state.range(0));
  LoadBalancer lb(policy, bench_hosts(), 42);
  std::vector<HostStats> stats(kHosts);
  for (int i = 0; i < kHosts; ++i) {
    stats[i].active_requests = static_cast<uint32_t>(i % 4);
    stats[i].ewma_rtt_ns = 1e6 * (1 + i % 5);
  }
  if (state.range(1) == 1) stats[3].available = false;
  std::vector<LbContext> ctxs(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    ctxs[i] = LbContext{true, hash_key("client-" + std::to_string(i))};
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lb.pick(ctxs[i++ & (kKeys - 1)], stats));
  }
  state.SetLabel(std::string(lb_policy_name(policy)) + (state.range(1) ? " (1 down)" : ""));
}
BENCHMARK(BM_Pick)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6}, {0, 1}});

// Snapshot-build cost (control thread): state.range(0) = policy, state.range(1) = hosts.
void BM_Build(benchmark::State& state) {
  const auto policy = static_cast<LbPolicy>(state.range(0));
  std::vector<LbHost> hosts;
  for (int i = 0; i < state.range(1); ++i) {
    hosts.push_back(LbHost{"10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256), 1});
  }
  for (auto _ : state) {
    LoadBalancer lb(policy, hosts, 1);
    benchmark::DoNotOptimize(lb.hosts().data());
  }
  state.SetLabel(std::string(lb_policy_name(policy)));
}
BENCHMARK(BM_Build)
    ->ArgsProduct({{static_cast<int>(LbPolicy::kRingHash), static_cast<int>(LbPolicy::kMaglev)},
                   {10, 100}})
    ->Unit(benchmark::kMicrosecond);

void BM_HashKey(benchmark::State& state) {
  const std::string key = "203.0.113.57";
  for (auto _ : state) {
    benchmark::DoNotOptimize(hash_key(key));
  }
}
BENCHMARK(BM_HashKey);

void BM_RecordLatency(benchmark::State& state) {
  HostStats stats;
  int64_t now = 0;
  for (auto _ : state) {
    now += 1000;
    record_latency(stats, 1'000'000 + (now & 0xffff), now);
    benchmark::DoNotOptimize(stats.ewma_rtt_ns);
  }
}
BENCHMARK(BM_RecordLatency);

}  // namespace
}  // namespace cw::upstream
