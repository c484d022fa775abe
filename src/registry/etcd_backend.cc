// The registry on etcd: the mirror's watch, writes as transactions, leases for TTL checks, the
// quorum probe and staleness. Thread contract: see etcd_backend.h.
#include "registry/etcd_backend.h"

#include <algorithm>

#include "base/log.h"
#include "registry/store.h"

namespace cw::registry {
namespace {

constexpr std::string_view kInstances = "instances/";
constexpr std::string_view kAlive = "alive/";
constexpr int64_t kTickMs = 250;
// etcd refuses leases shorter than about 1.5 election timeouts (1.5 s with its defaults).
constexpr int64_t kMinLeaseSeconds = 2;
// A write whose compare failed because another causeway changed the key meanwhile is tried
// again against what etcd now holds, this many times.
constexpr int kTxnTries = 5;

std::string join(std::string_view a, std::string_view b, std::string_view c,
                 std::string_view d) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size() + d.size() + 1);
  out += a;
  out += b;
  out += c;
  out += '/';
  out += d;
  return out;
}

etcd::Compare version_cmp(std::string key, etcd::Compare::Op op, int64_t n) {
  etcd::Compare c;
  c.key = std::move(key);
  c.target = etcd::Compare::Target::kVersion;
  c.op = op;
  c.number = n;
  return c;
}

etcd::TxnOp put_op(std::string key, std::string value, int64_t lease = 0) {
  etcd::TxnOp op;
  op.kind = etcd::TxnOp::Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

etcd::TxnOp delete_op(std::string key) {
  etcd::TxnOp op;
  op.kind = etcd::TxnOp::Kind::kDelete;
  op.key = std::move(key);
  return op;
}

etcd::TxnOp range_op(std::string key) {
  etcd::TxnOp op;
  op.kind = etcd::TxnOp::Kind::kRange;
  op.key = std::move(key);
  return op;
}

// Registering again keeps a TTL instance's liveness only when what it is reached at and how it
// is checked did not change (as the embedded registry keeps health).
bool same_target(const Instance& a, const Instance& b) {
  return a.address == b.address && a.port == b.port && a.check == b.check;
}

RegistryError not_found(std::string_view service, std::string_view id) {
  return {RegistryError::Code::kNotFound,
          "no instance " + std::string(id) + " in service " + std::string(service)};
}

}  // namespace

std::string EtcdKeys::instance(std::string_view service, std::string_view id) const {
  return join(prefix, kInstances, service, id);
}

std::string EtcdKeys::alive(std::string_view service, std::string_view id) const {
  return join(prefix, kAlive, service, id);
}

EtcdKeys::Kind EtcdKeys::parse(std::string_view key, std::string& service,
                               std::string& id) const {
  if (!key.starts_with(prefix)) return Kind::kOther;
  key.remove_prefix(prefix.size());
  Kind kind = Kind::kOther;
  if (key.starts_with(kInstances)) {
    kind = Kind::kInstance;
    key.remove_prefix(kInstances.size());
  } else if (key.starts_with(kAlive)) {
    kind = Kind::kAlive;
    key.remove_prefix(kAlive.size());
  } else {
    return Kind::kOther;
  }
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos) return Kind::kOther;
  service.assign(key.substr(0, slash));
  id.assign(key.substr(slash + 1));
  if (!is_label(service) || !is_label(id)) return Kind::kOther;
  return kind;
}

int64_t lease_seconds(int64_t ttl_ms) {
  return std::max<int64_t>(kMinLeaseSeconds, (ttl_ms + 999) / 1000);
}

Result<std::unique_ptr<EtcdBackend>, std::string> EtcdBackend::create(rt::EventLoop& loop,
                                                                      Registry& reg,
                                                                      EtcdOptions opts) {
  std::unique_ptr<EtcdBackend> b(new EtcdBackend(loop, reg, opts));
  etcd::ClientOptions co;
  co.endpoints = opts.endpoints;
  co.request_timeout_ms = opts.request_timeout_ms;
  auto c = etcd::Client::create(loop, co);
  if (!c) return Unexpected{"registry.etcd: " + c.error()};
  b->client_ = std::move(*c);
  co.request_timeout_ms = opts.probe_timeout_ms;
  co.connect_timeout_ms = std::min<int64_t>(co.connect_timeout_ms, opts.probe_timeout_ms);
  auto p = etcd::Client::create(loop, co);
  if (!p) return Unexpected{"registry.etcd: " + p.error()};
  b->probe_ = std::move(*p);
  etcd::WatchCallbacks cb;
  EtcdBackend* self = b.get();
  cb.on_reset = [self](std::vector<etcd::KeyValue> kvs, int64_t rev) {
    self->on_reset(std::move(kvs), rev);
  };
  cb.on_events = [self](std::vector<etcd::Event> ev, int64_t rev) {
    self->on_events(std::move(ev), rev);
  };
  cb.on_progress = [self](int64_t rev) { self->advance(rev); };
  cb.on_state = [self](bool up, std::string why) { self->on_watch_state(up, std::move(why)); };
  co.request_timeout_ms = opts.request_timeout_ms;
  b->watcher_ = std::make_unique<etcd::Watcher>(loop, co, opts.prefix, std::move(cb),
                                                uint64_t(loop.now_ns()) | 1);
  reg.set_remote(b.get(), "etcd");
  return b;
}

EtcdBackend::EtcdBackend(rt::EventLoop& loop, Registry& reg, EtcdOptions opts)
    : loop_(loop),
      reg_(reg),
      opts_(std::move(opts)),
      keys_{opts_.prefix},
      life_(std::make_shared<Life>()) {}

EtcdBackend::~EtcdBackend() { stop(); }

void EtcdBackend::start() {
  update_stale();
  watcher_->start();
  tick_.ctx = this;
  tick_.fire = &EtcdBackend::on_tick;
  loop_.arm_timer_ms(tick_, kTickMs);
  rt::spawn(run_probe(life_, this));
}

void EtcdBackend::stop() {
  if (stopped_) return;
  stopped_ = true;
  life_->alive = false;
  loop_.timers().cancel(tick_);
  loop_.timers().cancel(probe_timer_);
  if (watcher_) watcher_->stop();
  if (client_) client_->close();
  if (probe_) probe_->close();
  // Writes waiting to be seen are answered now: their writes are durable in etcd.
  auto waits = std::move(revision_waits_);
  revision_waits_.clear();
  for (auto& w : waits) w.fn();
}

// ---- the mirror ----

void EtcdBackend::on_reset(std::vector<etcd::KeyValue> kvs, int64_t revision) {
  ++numbers_.resets;
  // What the listing holds replaces everything: drop what it no longer has, then apply it all
  // (an unchanged registration changes nothing but its index).
  std::set<std::pair<std::string, std::string>> listed;
  std::map<std::pair<std::string, std::string>, int64_t> leases;
  for (const auto& kv : kvs) {  // (kinds are parsed twice; listings are rare)
    std::string service, id;
    switch (keys_.parse(kv.key, service, id)) {
      case EtcdKeys::Kind::kInstance: listed.emplace(service, id); break;
      case EtcdKeys::Kind::kAlive: leases[{service, id}] = kv.lease; break;
      case EtcdKeys::Kind::kOther: break;
    }
  }
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [name, svc] : reg_.services()) {
    for (const auto& [id, e] : svc.instances) {
      if (!listed.count({name, id})) gone.emplace_back(name, id);
    }
  }
  for (const auto& [service, id] : gone) reg_.mirror_remove(service, id);
  leases_.clear();
  for (const auto& kv : kvs) {
    std::string service, id;
    if (keys_.parse(kv.key, service, id) == EtcdKeys::Kind::kInstance) apply_kv(kv);
  }
  // Liveness after the registrations it belongs to; TTL instances without it are critical.
  struct Verdict {
    std::string service, id;
    bool alive;
    int64_t ttl_ms;
  };
  std::vector<Verdict> verdicts;
  for (const auto& [name, svc] : reg_.services()) {
    for (const auto& [id, e] : svc.instances) {
      if (e->inst.check.kind != CheckKind::kTtl) continue;
      const bool has = leases.count({name, id}) > 0;
      if (has != (e->health == Health::kPassing)) {
        verdicts.push_back({name, id, has, e->inst.check.ttl_ms});
      }
    }
  }
  leases_ = std::move(leases);
  for (const auto& v : verdicts) {
    reg_.mirror_alive(v.service, v.id, v.alive,
                      v.alive ? "lease alive"
                              : "lease expired: no heartbeat within the ttl of " +
                                    duration_text(v.ttl_ms));
  }
  synced_ = true;
  advance(revision);
  update_stale();
}

void EtcdBackend::on_events(std::vector<etcd::Event> events, int64_t revision) {
  for (const auto& ev : events) {
    if (ev.type == etcd::Event::Type::kPut) apply_kv(ev.kv);
    else apply_delete(ev.kv.key);
  }
  advance(revision);
}

void EtcdBackend::apply_kv(const etcd::KeyValue& kv) {
  std::string service, id;
  switch (keys_.parse(kv.key, service, id)) {
    case EtcdKeys::Kind::kInstance: {
      auto inst = parse_instance(service, id, kv.value);
      if (!inst) {
        CW_WARN("registry: etcd key {} does not hold a valid registration ({}: {}); not served",
                kv.key, inst.error().field, inst.error().message);
        reg_.mirror_remove(service, id);
        return;
      }
      reg_.mirror_put(std::move(*inst), uint64_t(kv.create_revision), uint64_t(kv.mod_revision));
      if (leases_.count({service, id})) reg_.mirror_alive(service, id, true, "lease alive");
      return;
    }
    case EtcdKeys::Kind::kAlive:
      leases_[{service, id}] = kv.lease;
      reg_.mirror_alive(service, id, true, "heartbeat received");
      return;
    case EtcdKeys::Kind::kOther:
      return;
  }
}

void EtcdBackend::apply_delete(std::string_view key) {
  std::string service, id;
  switch (keys_.parse(key, service, id)) {
    case EtcdKeys::Kind::kInstance:
      reg_.mirror_remove(service, id);
      return;
    case EtcdKeys::Kind::kAlive: {
      leases_.erase({service, id});
      int64_t ttl_ms = 0;
      if (const Service* s = reg_.find(service)) {
        if (auto it = s->instances.find(id); it != s->instances.end()) {
          ttl_ms = it->second->inst.check.ttl_ms;
        }
      }
      reg_.mirror_alive(service, id, false,
                        "lease expired: no heartbeat within the ttl of " + duration_text(ttl_ms));
      return;
    }
    case EtcdKeys::Kind::kOther:
      return;
  }
}

void EtcdBackend::advance(int64_t revision) {
  numbers_.revision = std::max(numbers_.revision, revision);
  flush_revision_waits(false);
}

void EtcdBackend::on_watch_state(bool connected, std::string why) {
  numbers_.watching = connected;
  if (!connected) {
    if (watch_error_.empty()) CW_WARN("registry: etcd watch lost: {}", why);
    watch_error_ = "watch: " + why;
  } else {
    if (!watch_error_.empty() && synced_) CW_INFO("registry: etcd watch resumed");
    watch_error_.clear();
  }
  update_stale();
}

// Stale until the first listing, while the watch is down, and while the quorum probe fails: a
// member cut off from the majority keeps its watch open but sends nothing, so the watch alone
// cannot tell.
void EtcdBackend::update_stale() {
  if (stopped_) return;
  std::string why;
  if (!synced_) why = watch_error_.empty() ? "not yet synchronised with etcd" : watch_error_;
  else if (!watch_error_.empty()) why = watch_error_;
  else if (!probe_ok_) why = probe_error_.empty() ? "quorum not yet confirmed" : probe_error_;
  const bool was = reg_.stale();
  reg_.set_stale(!why.empty(), why);
  if (was != reg_.stale()) {
    if (reg_.stale()) CW_WARN("registry: stale (serving the last known state): {}", why);
    else CW_INFO("registry: in step with etcd again (revision {})", numbers_.revision);
  }
}

// ---- the quorum probe ----

rt::Task<void> EtcdBackend::run_probe(std::shared_ptr<Life> life, EtcdBackend* self) {
  LiveGuard guard(life);
  // A linearizable read needs the leader to confirm it still leads a majority: a member in a
  // minority cannot answer it.
  auto call = self->probe_->range(self->keys_.probe(), {}, true);
  auto r = co_await std::move(call);
  if (!life->alive) co_return;
  if (!r) {
    self->probe_error_ = "etcd has no quorum or cannot be reached: " + r.error().detail;
  } else {
    self->probe_error_.clear();
  }
  self->probe_ok_ = bool(r);
  self->update_stale();
  self->probe_timer_.ctx = self;
  self->probe_timer_.fire = &EtcdBackend::on_probe_timer;
  self->loop_.arm_timer_ms(self->probe_timer_, self->opts_.probe_interval_ms);
}

void EtcdBackend::on_probe_timer(rt::TimerNode* n) {
  auto* self = static_cast<EtcdBackend*>(n->ctx);
  if (self->life_->alive) rt::spawn(run_probe(self->life_, self));
}

bool EtcdBackend::idle() const {
  return !life_->alive && life_->coroutines == 0 && (!watcher_ || !watcher_->running()) &&
         (!client_ || client_->pending() == 0) && (!probe_ || probe_->pending() == 0);
}

// ---- writes ----

bool EtcdBackend::refuse_if_stale(Registry::Done& done) {
  if (!reg_.stale()) return false;
  ++numbers_.writes_refused;
  if (done) {
    done(Unexpected{RegistryError{
        RegistryError::Code::kUnavailable,
        "the registry is read-only while etcd is unreachable or without quorum (" +
            reg_.stale_reason() +
            "); nothing was written. Reads and DNS serve the last known state; retry later"}});
  }
  return true;
}

RegistryError EtcdBackend::error_from(const etcd::Error& e, std::string_view what) const {
  switch (e.code) {
    case etcd::Error::Code::kUnknown:
      return {RegistryError::Code::kUnknown,
              std::string(what) + ": etcd did not answer in time (" + e.detail +
                  "); the write may or may not have been applied: read it back"};
    case etcd::Error::Code::kClosed:
      return {RegistryError::Code::kClosed, "the registry is shutting down"};
    case etcd::Error::Code::kUnavailable:
    case etcd::Error::Code::kFailed:
      break;
  }
  return {RegistryError::Code::kUnavailable,
          std::string(what) + ": etcd refused or could not take it, nothing was written: " +
              e.detail};
}

template <class T>
bool EtcdBackend::settle(const Life& life, EtcdBackend* self, const etcd::Res<T>& r,
                         Registry::Done& done, std::string_view what) {
  if (!life.alive) {
    if (done) done(Unexpected{RegistryError{RegistryError::Code::kClosed, "shutting down"}});
    return true;
  }
  if (r) return false;
  ++self->numbers_.write_errors;
  if (done) done(Unexpected{self->error_from(r.error(), what)});
  return true;
}

void EtcdBackend::finish(Registry::Done& done, int64_t revision) {
  // Answer once this causeway's own readers see the write.
  after_revision(revision, [done = std::move(done), this] {
    if (done) done(reg_.index());
  });
}

void EtcdBackend::put(Instance inst, Registry::Done done) {
  if (stopped_ || refuse_if_stale(done)) return;
  rt::spawn(run_put(life_, this, std::move(inst), std::move(done)));
}

rt::Task<void> EtcdBackend::run_put(std::shared_ptr<Life> life, EtcdBackend* self,
                                    Instance inst, Registry::Done done) {
  LiveGuard guard(life);
  const std::string key = self->keys_.instance(inst.service, inst.id);
  const std::string body = stored_body(inst);
  // What etcd holds now, as far as we know: first from the mirror, then from the failed
  // compare's read.
  bool exists = false;
  int64_t mod_revision = 0;
  bool same = false;
  if (const Service* s = self->reg_.find(inst.service)) {
    if (auto it = s->instances.find(inst.id); it != s->instances.end()) {
      exists = true;
      mod_revision = int64_t(it->second->modify_index);
      same = same_target(it->second->inst, inst);
    }
  }
  for (int attempt = 0; attempt < kTxnTries; ++attempt) {
    std::vector<etcd::Compare> cmp;
    if (exists) {
      etcd::Compare c;
      c.key = key;
      c.target = etcd::Compare::Target::kModRevision;
      c.op = etcd::Compare::Op::kEqual;
      c.number = mod_revision;
      cmp.push_back(std::move(c));
    } else {
      cmp.push_back(version_cmp(key, etcd::Compare::Op::kEqual, 0));
    }
    std::vector<etcd::TxnOp> ok{put_op(key, body)};
    // A new target or check starts its liveness again: the old lease's key goes in the same
    // transaction, so no reader sees the new address alive on the old one's heartbeats.
    if (!same) ok.push_back(delete_op(self->keys_.alive(inst.service, inst.id)));
    auto call = self->client_->txn(std::move(cmp), std::move(ok), {range_op(key)});
    auto r = co_await std::move(call);
    if (settle(*life, self, r, done, "register")) co_return;
    if (r->succeeded) {
      self->finish(done, r->revision);
      co_return;
    }
    // Another causeway wrote this key since: decide again against what it holds now.
    exists = false;
    same = false;
    if (!r->ranges.empty() && !r->ranges[0].kvs.empty()) {
      const etcd::KeyValue& kv = r->ranges[0].kvs[0];
      exists = true;
      mod_revision = kv.mod_revision;
      auto now = parse_instance(inst.service, inst.id, kv.value);
      same = now && same_target(*now, inst);
    }
  }
  ++self->numbers_.write_errors;
  if (done) {
    done(Unexpected{RegistryError{RegistryError::Code::kUnavailable,
                                  "register: the instance kept changing under concurrent "
                                  "writers; nothing was written, retry"}});
  }
}

void EtcdBackend::remove(const std::string& service, const std::string& id,
                         Registry::Done done) {
  if (stopped_ || refuse_if_stale(done)) return;
  rt::spawn(run_remove(life_, this, service, id, std::move(done)));
}

rt::Task<void> EtcdBackend::run_remove(std::shared_ptr<Life> life, EtcdBackend* self,
                                       std::string service, std::string id,
                                       Registry::Done done) {
  LiveGuard guard(life);
  const std::string key = self->keys_.instance(service, id);
  auto call = self->client_->txn({version_cmp(key, etcd::Compare::Op::kGreater, 0)},
                                 {delete_op(key), delete_op(self->keys_.alive(service, id))});
  auto r = co_await std::move(call);
  if (settle(*life, self, r, done, "deregister")) co_return;
  if (!r->succeeded) {
    if (done) done(Unexpected{not_found(service, id)});
    co_return;
  }
  self->finish(done, r->revision);
}

void EtcdBackend::heartbeat(const std::string& service, const std::string& id,
                            Registry::Done done) {
  if (stopped_) return;
  const Service* s = reg_.find(service);
  const Entry* e = nullptr;
  if (s) {
    if (auto it = s->instances.find(id); it != s->instances.end()) e = it->second.get();
  }
  if (!e) {
    if (done) done(Unexpected{not_found(service, id)});
    return;
  }
  if (e->inst.check.kind != CheckKind::kTtl) {
    if (done) {
      done(Unexpected{RegistryError{
          RegistryError::Code::kNotTtl,
          "instance " + id + " has " + std::string(check_kind_name(e->inst.check.kind)) +
              " health checking, not a ttl check; heartbeats are for ttl checks"}});
    }
    return;
  }
  if (refuse_if_stale(done)) return;
  auto l = leases_.find({service, id});
  const int64_t lease = l == leases_.end() ? 0 : l->second;
  rt::spawn(run_heartbeat(life_, this, service, id, e->inst.check.ttl_ms, lease,
                          std::move(done)));
}

rt::Task<void> EtcdBackend::run_heartbeat(std::shared_ptr<Life> life, EtcdBackend* self,
                                          std::string service, std::string id, int64_t ttl_ms,
                                          int64_t lease, Registry::Done done) {
  LiveGuard guard(life);
  if (lease != 0) {
    // The usual case: the lease is alive and this renews it; the mirror already shows passing.
    auto call = self->client_->lease_keepalive(lease);
    auto k = co_await std::move(call);
    if (settle(*life, self, k, done, "heartbeat")) co_return;
    if (*k > 0) {
      if (done) done(self->reg_.index());
      co_return;
    }
  }
  // No lease yet (the first heartbeat) or it expired: a new one, bound to the liveness key only
  // while the registration exists (a heartbeat racing a deregistration must not leave a key).
  auto grant = self->client_->lease_grant(lease_seconds(ttl_ms));
  auto g = co_await std::move(grant);
  if (settle(*life, self, g, done, "heartbeat")) co_return;
  const std::string key = self->keys_.instance(service, id);
  auto call = self->client_->txn({version_cmp(key, etcd::Compare::Op::kGreater, 0)},
                                 {put_op(self->keys_.alive(service, id), "{}", g->id)});
  auto r = co_await std::move(call);
  if (life->alive && !(r && r->succeeded)) {
    auto revoke = self->client_->lease_revoke(g->id);  // unused; it would expire anyway
    (void)co_await std::move(revoke);
  }
  if (settle(*life, self, r, done, "heartbeat")) co_return;
  if (!r->succeeded) {
    if (done) done(Unexpected{not_found(service, id)});
    co_return;
  }
  self->finish(done, r->revision);
}

// ---- read your writes ----

void EtcdBackend::after_revision(int64_t revision, std::function<void()> fn) {
  if (revision <= numbers_.revision || stopped_) {
    fn();
    return;
  }
  revision_waits_.push_back({revision, loop_.now_ms() + opts_.request_timeout_ms, std::move(fn)});
}

void EtcdBackend::flush_revision_waits(bool timed_out_only) {
  const int64_t now = loop_.now_ms();
  std::vector<std::function<void()>> ready;
  auto keep = revision_waits_.begin();
  for (auto it = revision_waits_.begin(); it != revision_waits_.end(); ++it) {
    const bool seen = it->revision <= numbers_.revision;
    const bool late = it->deadline_ms <= now;
    if ((!timed_out_only && seen) || late) {
      // Late: the write is durable in etcd; the watch is behind, so readers here may not see
      // it yet. Answer rather than hold the caller.
      if (late && !seen) CW_WARN("registry: etcd revision {} not yet seen by the watch", it->revision);
      ready.push_back(std::move(it->fn));
    } else {
      if (keep != it) *keep = std::move(*it);
      ++keep;
    }
  }
  revision_waits_.erase(keep, revision_waits_.end());
  for (auto& fn : ready) fn();
}

void EtcdBackend::on_tick(rt::TimerNode* n) {
  auto* self = static_cast<EtcdBackend*>(n->ctx);
  self->flush_revision_waits(true);
  self->loop_.arm_timer_ms(self->tick_, kTickMs);
}

}  // namespace cw::registry
