// EtcdBackend: `registry.backend: etcd` — many causeways share one registry kept in an etcd
// cluster, so Raft (not us) decides what is committed, and a partition cannot make two halves
// each accept writes. The local Registry becomes a mirror: a watch keeps it in step with the
// keys under the prefix; writes go to etcd as transactions and are answered once the mirror
// has seen them (read your writes); TTL checks are etcd leases, kept alive by heartbeats
// through any causeway and expired by etcd's majority, never resurrected by a minority.
// When etcd cannot be reached or has no quorum (a linearizable probe fails) the registry is
// marked stale: reads, DNS and the proxy keep the last known state, writes are refused with
// 503 before anything is sent, and everything resumes by itself.
// Thread contract: the control loop's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "etcd/client.h"
#include "registry/registry.h"
#include "runtime/event_loop.h"

namespace cw::registry {

// Where each registration lives under the prefix (documented in docs/discovery.md):
//   <prefix>instances/<service>/<id>  the registration (the embedded store's row body)
//   <prefix>alive/<service>/<id>      a TTL instance's liveness, bound to an etcd lease
struct EtcdKeys {
  std::string prefix;
  std::string instance(std::string_view service, std::string_view id) const;
  std::string alive(std::string_view service, std::string_view id) const;
  std::string probe() const { return prefix + "probe"; }
  enum class Kind : uint8_t { kInstance, kAlive, kOther };
  // Which kind of key this is and whose; kOther for anything else under the prefix.
  Kind parse(std::string_view key, std::string& service, std::string& id) const;
};

// etcd's leases count whole seconds and refuse very short ones: a ttl check's lease.
int64_t lease_seconds(int64_t ttl_ms);

struct EtcdOptions {
  std::vector<std::string> endpoints;
  std::string prefix = "/causeway/";
  int64_t request_timeout_ms = 3000;
  int64_t probe_interval_ms = 1000;
  int64_t probe_timeout_ms = 1500;
};

class EtcdBackend final : public Registry::Remote {
 public:
  static Result<std::unique_ptr<EtcdBackend>, std::string> create(rt::EventLoop& loop,
                                                                  Registry& reg,
                                                                  EtcdOptions opts);
  ~EtcdBackend() override;
  EtcdBackend(const EtcdBackend&) = delete;
  EtcdBackend& operator=(const EtcdBackend&) = delete;

  // Lists and watches the prefix, probes quorum; the registry is stale until the first listing.
  void start();
  // No callback into the registry after this; calls in flight fail with kClosed on later turns
  // of the loop (a connect in flight: once it ends).
  void stop();
  // Stopped and every coroutine of it ended: the loop may stop being turned (shutdown).
  bool idle() const;

  void put(Instance inst, Registry::Done done) override;
  void remove(const std::string& service, const std::string& id, Registry::Done done) override;
  void heartbeat(const std::string& service, const std::string& id,
                 Registry::Done done) override;

  struct Numbers {
    int64_t revision = 0;          // the last etcd revision the mirror applied
    uint64_t resets = 0;           // full listings (start, compaction)
    uint64_t writes_refused = 0;   // refused while stale, before sending
    uint64_t write_errors = 0;     // sent and failed or timed out
    bool watching = false;
  };
  const Numbers& numbers() const { return numbers_; }

 private:
  // Shared with the coroutines in flight: whether the backend still exists, and how many of
  // them have not ended yet.
  struct Life {
    bool alive = true;
    int coroutines = 0;
  };
  struct LiveGuard {
    explicit LiveGuard(std::shared_ptr<Life> l) : life(std::move(l)) { ++life->coroutines; }
    ~LiveGuard() { --life->coroutines; }
    LiveGuard(const LiveGuard&) = delete;
    LiveGuard& operator=(const LiveGuard&) = delete;
    std::shared_ptr<Life> life;
  };
  EtcdBackend(rt::EventLoop& loop, Registry& reg, EtcdOptions opts);
  // The watch's view of the prefix, applied to the registry.
  void on_reset(std::vector<etcd::KeyValue> kvs, int64_t revision);
  void on_events(std::vector<etcd::Event> events, int64_t revision);
  void on_watch_state(bool connected, std::string why);
  void apply_kv(const etcd::KeyValue& kv);
  void apply_delete(std::string_view key);
  void advance(int64_t revision);
  void update_stale();
  // Refuses a write while stale; true when it did (and answered `done`).
  bool refuse_if_stale(Registry::Done& done);
  // Runs `fn` once the mirror has applied `revision`, or after the request timeout.
  void after_revision(int64_t revision, std::function<void()> fn);
  void flush_revision_waits(bool timed_out_only);
  static void on_tick(rt::TimerNode* n);
  RegistryError error_from(const etcd::Error& e, std::string_view what) const;

  static rt::Task<void> run_put(std::shared_ptr<Life> life, EtcdBackend* self, Instance inst,
                                Registry::Done done);
  static rt::Task<void> run_remove(std::shared_ptr<Life> life, EtcdBackend* self,
                                   std::string service, std::string id, Registry::Done done);
  static rt::Task<void> run_heartbeat(std::shared_ptr<Life> life, EtcdBackend* self,
                                      std::string service, std::string id, int64_t ttl_ms,
                                      int64_t lease, Registry::Done done);
  // One quorum probe; the next is armed when it ends (no coroutine sleeps between probes, so
  // stop() leaves none parked).
  static rt::Task<void> run_probe(std::shared_ptr<Life> life, EtcdBackend* self);
  static void on_probe_timer(rt::TimerNode* n);
  // Answers `done` once the mirror shows `revision`.
  void finish(Registry::Done& done, int64_t revision);
  // After a call: true when it answered `done` because the backend stopped meanwhile (then
  // `self` is not touched: it may be gone) or the call failed.
  template <class T>
  static bool settle(const Life& life, EtcdBackend* self, const etcd::Res<T>& r,
                     Registry::Done& done, std::string_view what);

  rt::EventLoop& loop_;
  Registry& reg_;
  EtcdOptions opts_;
  EtcdKeys keys_;
  std::unique_ptr<etcd::Client> client_;  // writes
  std::unique_ptr<etcd::Client> probe_;   // the quorum probe, on its own connection
  std::unique_ptr<etcd::Watcher> watcher_;
  std::shared_ptr<Life> life_;
  rt::TimerNode probe_timer_;
  // Alive keys seen, with their lease (a heartbeat keeps that lease alive).
  std::map<std::pair<std::string, std::string>, int64_t> leases_;
  struct RevisionWait {
    int64_t revision;
    int64_t deadline_ms;
    std::function<void()> fn;
  };
  std::vector<RevisionWait> revision_waits_;
  rt::TimerNode tick_;
  bool synced_ = false;        // the first listing arrived
  bool probe_ok_ = false;      // the last quorum probe answered
  std::string probe_error_;
  std::string watch_error_ = "not yet synchronised with etcd";
  bool stopped_ = false;
  Numbers numbers_;
};

}  // namespace cw::registry
