// Micro-benchmarks: WorkerCluster::pick() (what the forwarder calls per try) over 10 and 1000
// hosts, with the per-host state a worker keeps. Thread contract: single-threaded bodies.
#include <benchmark/benchmark.h>

#include <mutex>
#include <string>
#include <vector>

#include "runtime/event_loop.h"
#include "upstream/cluster.h"

namespace cw::upstream {
namespace {

// state.range(0): the policy; state.range(1): hosts.
void BM_LbClusterPick(benchmark::State& state) {
  const auto policy = static_cast<LbPolicy>(state.range(0));
  config::Cluster c;
  c.name = "bench";
  c.lb = std::string(lb_policy_name(policy));
  for (int i = 0; i < state.range(1); ++i) {
    c.endpoints.push_back(config::Endpoint{
        config::Address{"10.3." + std::to_string(i / 256) + "." + std::to_string(i % 256), 8080},
        static_cast<uint32_t>(1 + i % 3)});
  }
  std::string error;
  auto snap = build_cluster(c, nullptr, error);
  if (!snap) {
    state.SkipWithError(error.c_str());
    return;
  }
  rt::EventLoop loop;
  ClusterStats stats;
  std::mutex mu;
  WorkerCluster cluster(snap, loop, 42, nullptr, stats, mu);
  constexpr size_t kKeys = 1024;  // distinct hash keys cycled through (a power of two)
  std::vector<LbContext> ctxs(kKeys);
  for (size_t k = 0; k < kKeys; ++k) ctxs[k] = LbContext{true, hash_key(std::to_string(k))};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cluster.pick(ctxs[i++ & (kKeys - 1)]));
  }
  state.SetLabel(std::string(lb_policy_name(policy)));
}
BENCHMARK(BM_LbClusterPick)
    ->ArgsProduct({{static_cast<int>(LbPolicy::kRoundRobin),
                    static_cast<int>(LbPolicy::kLeastRequest),
                    static_cast<int>(LbPolicy::kPeakEwma), static_cast<int>(LbPolicy::kMaglev)},
                   {10, 1000}});

}  // namespace
}  // namespace cw::upstream
