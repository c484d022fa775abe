// Registry: the service registry as the control thread holds it (SPEC 5). Services and their
// instances with health, a Consul-style index (every change gets the next number; a service's
// index is its last change's), blocking queries that park a coroutine, not a thread, and
// listeners told which service changed (the DNS zone, registry-driven clusters).
// Every change goes through the store's queue in order and is applied here when its batch is
// durable, so what readers see was persisted first and the index readers see never goes back.
// Health of instances with a check is not persisted: after a restart they start unknown (not
// served) until their check or heartbeat says otherwise.
// Thread contract: everything on the loop's thread; the store's completions are posted there.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/random.h"
#include "base/result.h"
#include "registry/instance.h"
#include "registry/store.h"
#include "runtime/event_loop.h"

namespace cw::registry {

enum class Health : uint8_t { kUnknown, kPassing, kCritical };
std::string_view health_name(Health h);  // "unknown", "passing", "critical"

class Registry;

struct Entry {
  Instance inst;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  Health health = Health::kUnknown;  // what readers see (published through the store's queue)
  std::string health_detail;         // why, e.g. "ttl 30s passed without a heartbeat"
  bool ejected = false;              // outlier detection took it out; DNS skips it
  int64_t last_heartbeat_unix_ms = 0;
  // Internal: the latest verdict, published as `health` in index order.
  Health want = Health::kUnknown;
  std::string want_detail;
  bool publish_pending = false;
  std::vector<std::function<void(uint64_t)>> on_publish;  // heartbeats waiting to be visible
  rt::TimerNode ttl_timer;
  Registry* owner = nullptr;  // for the ttl timer's callback
  bool serving() const { return health == Health::kPassing && !ejected; }
};

struct Service {
  uint64_t index = 0;  // the last change to this service (kept after its last instance goes)
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> instances;
};

struct RegistryError {
  // kUnavailable: a shared store refused or could not take the write (nothing applied);
  // kUnknown: it was sent but not answered in time (it may yet apply: read it back).
  enum class Code : uint8_t { kNotFound, kNotTtl, kStore, kClosed, kUnavailable, kUnknown };
  Code code;
  std::string detail;
};

struct RegistryLimits {
  int64_t default_wait_ms = 5 * 60 * 1000;  // ?index without ?wait, as Consul
  int64_t max_wait_ms = 10 * 60 * 1000;     // longer waits are cut to this
};

class Registry {
  struct WaitList;

 public:
  // `store` may be null: memory only (tests); changes then apply at once.
  Registry(rt::EventLoop& loop, Store* store, RegistryLimits limits = {}, uint64_t seed = 1);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Start-up: what the store held. Instances with a check start unknown; without, passing.
  void restore(const Loaded& loaded);

  using Done = std::function<void(Result<uint64_t, RegistryError>)>;  // the change's index
  // Registers or replaces an instance. A replacement keeps its health when address, port and
  // check are unchanged; otherwise its health starts again as for a new instance.
  void put(Instance inst, Done done);
  // Deregisters; kNotFound when it is not registered.
  void remove(const std::string& service, const std::string& id, Done done);
  // A TTL heartbeat: passing until ttl passes without another. Not persisted; changes the index
  // only when the health changes, and then `done` runs once readers see it (read your writes).
  // kNotFound, or kNotTtl for an instance without a ttl check.
  void heartbeat(const std::string& service, const std::string& id, Done done);
  // A check verdict from the health monitor (http/tcp checks).
  void set_check_result(const std::string& service, const std::string& id, bool passing,
                        std::string detail);
  // Outlier ejection seen by the proxy's workers; DNS and listings follow it.
  void set_ejected(const std::string& service, const std::string& id, bool ejected);

  rt::EventLoop& loop() const { return loop_; }
  uint64_t index() const { return index_; }
  // A service's index; for a name never registered, the registry's index (a blocking query on
  // it then returns when the service appears).
  uint64_t service_index(std::string_view service) const;
  const Service* find(std::string_view service) const;
  const std::map<std::string, Service, std::less<>>& services() const { return services_; }

  // `auto w = registry.wait(service, after, wait_ms); co_await w;` (bound to a name: g++ 12 may
  // destroy a co_await operand's temporary twice) returns once the index of `service` ("" =
  // any service) is past `after`, after about wait_ms (plus up to 1/16 jitter, capped by the
  // limits), or at close(); at once when the index already differs from `after` (an index from
  // before a restart, i.e. larger, returns at once too, so clients start over).
  class Wait;
  Wait wait(std::string service, uint64_t after, int64_t wait_ms);
  int64_t wait_ms_for(std::optional<int64_t> asked) const;
  size_t waiting() const { return waiting_; }

  // Told after every applied change, with the service's name.
  using Listener = std::function<void(const std::string& service)>;
  void subscribe(Listener fn) { listeners_.push_back(std::move(fn)); }

  // Shutdown: every blocking query returns now, later ones at once; later changes fail.
  void close();
  bool closed() const { return closed_; }

  // ---- a shared registry (backend: etcd) ----
  // Where writes go when the registry is a mirror of a store shared by many causeways: put,
  // remove and heartbeat are handed to it, and the registry changes only through mirror_*()
  // as the backend learns what the shared store holds (its own writes included). TTLs are the
  // remote store's (leases), so no local TTL timer runs. Local views stay local: http/tcp check
  // verdicts (each causeway checks from where it stands) and outlier ejection.
  class Remote {
   public:
    virtual ~Remote() = default;
    virtual void put(Instance inst, Done done) = 0;
    virtual void remove(const std::string& service, const std::string& id, Done done) = 0;
    virtual void heartbeat(const std::string& service, const std::string& id, Done done) = 0;
  };
  // Before any change. The remote must outlive every call made through it.
  void set_remote(Remote* remote, std::string backend) {
    remote_ = remote;
    backend_ = std::move(backend);
  }
  bool mirrored() const { return remote_ != nullptr; }
  const std::string& backend() const { return backend_; }
  // The shared store's registration of an instance: created and last modified at these
  // revisions (shown as create_index/modify_index). A changed address, port or check starts
  // its health again, as put() does.
  void mirror_put(Instance inst, uint64_t create_revision, uint64_t mod_revision);
  void mirror_remove(const std::string& service, const std::string& id);
  // A TTL instance's liveness in the shared store (its lease-bound key exists or not).
  void mirror_alive(const std::string& service, const std::string& id, bool alive,
                    std::string detail);

  // Whether what readers see may be behind the shared store (it cannot be reached or has no
  // quorum), since when (loop ms) and why. The embedded backend is never stale.
  void set_stale(bool stale, std::string why);
  bool stale() const { return stale_; }
  int64_t stale_since_ms() const { return stale_since_ms_; }
  const std::string& stale_reason() const { return stale_reason_; }

  class Wait {
   public:
    Wait(const Wait&) = delete;
    Wait& operator=(const Wait&) = delete;
    ~Wait();
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept {}

   private:
    friend class Registry;
    Wait(Registry& r, std::string service, uint64_t after, int64_t ms)
        : r_(r), service_(std::move(service)), after_(after), ms_(ms) {}
    void unlink();
    void wake();  // unlinks, stops the timer, resumes the coroutine on a later turn

    Registry& r_;
    std::string service_;
    uint64_t after_;
    int64_t ms_;
    std::coroutine_handle<> h_;
    rt::TimerNode timer_;
    Wait* prev_ = nullptr;  // in the waiters list of service_ (or of all services)
    Wait* next_ = nullptr;
    WaitList* list_ = nullptr;  // non-null while linked
  };

 private:
  struct WaitList {
    Wait* head = nullptr;
  };
  friend class Wait;
  Entry* entry(std::string_view service, std::string_view id);
  void apply_put(Instance inst, uint64_t idx);
  void apply_remove(const std::string& service, const std::string& id, uint64_t idx);
  // Sets an instance's latest verdict and queues its publication (one in flight at a time).
  // `then` runs with the index once readers see this verdict.
  void want_health(Entry& e, Health h, std::string detail,
                   std::function<void(uint64_t)> then = nullptr);
  static void flush_publish(Entry& e, uint64_t idx);
  void publish_health(const std::string& service, const std::string& id, uint64_t create_index,
                      uint64_t idx);
  void arm_ttl(Entry& e);
  static void on_ttl(rt::TimerNode* n);
  // Runs `apply` once the write is durable (at once without a store), then `done`.
  void submit(StoreWrite w, std::function<void()> apply, Done done);
  void changed(const std::string& service, uint64_t idx);
  void wake_key(std::string_view key);  // wakes every waiter on `key`

  rt::EventLoop& loop_;
  Store* store_;
  RegistryLimits limits_;
  SplitMix64 rng_;
  uint64_t index_ = 0;       // the last applied change (what readers see)
  uint64_t next_index_ = 0;  // the last index handed to a queued change
  bool closed_ = false;
  std::map<std::string, Service, std::less<>> services_;
  std::map<std::string, WaitList, std::less<>> waiters_;  // by service; "" = any service
  size_t waiting_ = 0;
  std::vector<Listener> listeners_;
  Remote* remote_ = nullptr;
  std::string backend_ = "embedded";
  bool stale_ = false;
  int64_t stale_since_ms_ = 0;
  std::string stale_reason_;
  // Completions posted from the store's thread check this before touching the registry.
  std::shared_ptr<Registry*> alive_;
};

}  // namespace cw::registry
