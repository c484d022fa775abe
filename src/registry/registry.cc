// The control thread's registry: changes in index order, health publication, blocking queries.
// Thread contract: see registry.h.
#include "registry/registry.h"

#include <algorithm>
#include <utility>

#include "runtime/clock.h"

namespace cw::registry {
namespace {

RegistryError closed_error() {
  return RegistryError{RegistryError::Code::kClosed, "the registry is shutting down"};
}

// Where a new (or re-checked) instance starts: served at once without a check, otherwise only
// once its check or first heartbeat says so.
std::pair<Health, std::string> initial_health(const Check& c, bool restarted) {
  switch (c.kind) {
    case CheckKind::kNone:
      return {Health::kPassing, "registered without a check"};
    case CheckKind::kTtl:
      return {Health::kUnknown, restarted ? "restarted: waiting for a heartbeat"
                                          : "waiting for the first heartbeat"};
    case CheckKind::kHttp:
    case CheckKind::kTcp:
      break;
  }
  return {Health::kUnknown,
          restarted ? "restarted: waiting for its check" : "waiting for the first check"};
}

}  // namespace

std::string_view health_name(Health h) {
  switch (h) {
    case Health::kUnknown: return "unknown";
    case Health::kPassing: return "passing";
    case Health::kCritical: return "critical";
  }
  return "unknown";
}

Registry::Registry(rt::EventLoop& loop, Store* store, RegistryLimits limits, uint64_t seed)
    : loop_(loop),
      store_(store),
      limits_(limits),
      rng_(seed),
      alive_(std::make_shared<Registry*>(this)) {}

Registry::~Registry() {
  close();
  *alive_ = nullptr;
  for (auto& [name, svc] : services_) {
    for (auto& [id, e] : svc.instances) loop_.timers().cancel(e->ttl_timer);
  }
}

void Registry::restore(const Loaded& loaded) {
  for (const StoredInstance& s : loaded.instances) {
    Service& svc = services_[s.inst.service];
    auto e = std::make_unique<Entry>();
    e->inst = s.inst;
    e->create_index = s.create_index;
    e->modify_index = s.modify_index;
    std::tie(e->health, e->health_detail) = initial_health(s.inst.check, true);
    e->want = e->health;
    e->want_detail = e->health_detail;
    Entry* raw = e.get();
    svc.instances[s.inst.id] = std::move(e);
    svc.index = std::max(svc.index, s.modify_index);
    arm_ttl(*raw);
  }
  index_ = next_index_ = std::max(index_, loaded.index);
}

Entry* Registry::entry(std::string_view service, std::string_view id) {
  auto s = services_.find(service);
  if (s == services_.end()) return nullptr;
  auto e = s->second.instances.find(id);
  return e == s->second.instances.end() ? nullptr : e->second.get();
}

const Service* Registry::find(std::string_view service) const {
  auto s = services_.find(service);
  return s == services_.end() ? nullptr : &s->second;
}

uint64_t Registry::service_index(std::string_view service) const {
  const Service* s = find(service);
  return s ? s->index : index_;
}

void Registry::submit(StoreWrite w, std::function<void()> apply, Done done) {
  const uint64_t idx = w.index;
  if (!store_) {
    apply();
    if (done) done(idx);
    return;
  }
  rt::EventLoop* loop = &loop_;
  std::shared_ptr<Registry*> alive = alive_;
  store_->submit(std::move(w), [loop, alive, idx, apply = std::move(apply),
                                done = std::move(done)](Result<void, std::string> r) {
    // The writer thread: hand the outcome to the loop, in commit order.
    loop->post([alive, idx, apply, done, r = std::move(r)] {
      if (!*alive) {
        if (done) done(Unexpected{closed_error()});
        return;
      }
      if (!r) {
        if (done) done(Unexpected{RegistryError{RegistryError::Code::kStore, r.error()}});
        return;
      }
      apply();
      if (done) done(idx);
    });
  });
}

void Registry::put(Instance inst, Done done) {
  if (closed_) {
    if (done) done(Unexpected{closed_error()});
    return;
  }
  if (remote_) return remote_->put(std::move(inst), std::move(done));
  const uint64_t idx = ++next_index_;
  StoreWrite w;
  w.kind = StoreWrite::Kind::kPut;
  w.service = inst.service;
  w.id = inst.id;
  w.body = stored_body(inst);
  const Entry* old = entry(inst.service, inst.id);
  w.create_index = old ? old->create_index : idx;  // the row keeps its first create_index
  w.index = idx;
  submit(std::move(w), [this, inst = std::move(inst), idx]() mutable {
    apply_put(std::move(inst), idx);
  }, std::move(done));
}

void Registry::apply_put(Instance inst, uint64_t idx) {
  Service& svc = services_[inst.service];
  auto& slot = svc.instances[inst.id];
  const std::string service = inst.service;
  if (!slot) {
    slot = std::make_unique<Entry>();
    slot->create_index = idx;
  }
  Entry& e = *slot;
  const bool same = e.modify_index != 0 && e.inst.address == inst.address &&
                    e.inst.port == inst.port && e.inst.check == inst.check;
  e.inst = std::move(inst);
  e.modify_index = idx;
  if (!same) {
    loop_.timers().cancel(e.ttl_timer);
    std::tie(e.health, e.health_detail) = initial_health(e.inst.check, false);
    e.want = e.health;
    e.want_detail = e.health_detail;
    e.ejected = false;
    e.last_heartbeat_unix_ms = 0;
    // A publication still queued for this entry applies the reset verdict (no change) and
    // releases its heartbeats then.
    arm_ttl(e);
  }
  changed(service, idx);
}

void Registry::remove(const std::string& service, const std::string& id, Done done) {
  if (closed_) {
    if (done) done(Unexpected{closed_error()});
    return;
  }
  if (remote_) return remote_->remove(service, id, std::move(done));
  if (!entry(service, id)) {
    if (done) {
      done(Unexpected{RegistryError{RegistryError::Code::kNotFound,
                                    "no instance " + id + " in service " + service}});
    }
    return;
  }
  const uint64_t idx = ++next_index_;
  StoreWrite w;
  w.kind = StoreWrite::Kind::kDelete;
  w.service = service;
  w.id = id;
  w.index = idx;
  submit(std::move(w), [this, service, id, idx] { apply_remove(service, id, idx); },
         std::move(done));
}

void Registry::apply_remove(const std::string& service, const std::string& id, uint64_t idx) {
  auto s = services_.find(service);
  if (s == services_.end()) return;
  auto e = s->second.instances.find(id);
  if (e != s->second.instances.end()) {
    loop_.timers().cancel(e->second->ttl_timer);
    auto gone = std::move(e->second);
    s->second.instances.erase(e);
    flush_publish(*gone, idx);
  }
  changed(service, idx);
}

void Registry::heartbeat(const std::string& service, const std::string& id, Done done) {
  auto refuse = [&](RegistryError e) {
    if (done) done(Unexpected{std::move(e)});
  };
  if (closed_) return refuse(closed_error());
  if (remote_) return remote_->heartbeat(service, id, std::move(done));
  Entry* e = entry(service, id);
  if (!e) {
    return refuse({RegistryError::Code::kNotFound, "no instance " + id + " in service " + service});
  }
  if (e->inst.check.kind != CheckKind::kTtl) {
    return refuse({RegistryError::Code::kNotTtl,
                   "instance " + id + " has " + std::string(check_kind_name(e->inst.check.kind)) +
                       " health checking, not a ttl check; heartbeats are for ttl checks"});
  }
  e->last_heartbeat_unix_ms = rt::wall_ms();
  arm_ttl(*e);
  std::function<void(uint64_t)> then;
  if (done) then = [done](uint64_t idx) { done(idx); };
  want_health(*e, Health::kPassing, "heartbeat received", std::move(then));
}

void Registry::set_check_result(const std::string& service, const std::string& id, bool passing,
                                std::string detail) {
  Entry* e = entry(service, id);
  if (!e || closed_) return;
  want_health(*e, passing ? Health::kPassing : Health::kCritical, std::move(detail));
}

void Registry::set_ejected(const std::string& service, const std::string& id, bool ejected) {
  Entry* e = entry(service, id);
  if (!e || closed_ || e->ejected == ejected) return;
  // Ejection is the workers' verdict, already in force there; readers see it at once, and the
  // index moves so watchers (DNS, clients) follow.
  e->ejected = ejected;
  const uint64_t idx = ++next_index_;
  StoreWrite w;
  w.kind = StoreWrite::Kind::kIndex;
  w.index = idx;
  submit(std::move(w), [this, service, idx] {
    if (services_.count(service)) changed(service, idx);
  }, nullptr);
}

void Registry::arm_ttl(Entry& e) {
  loop_.timers().cancel(e.ttl_timer);
  if (e.inst.check.kind != CheckKind::kTtl || closed_ || remote_) return;
  // Entries do not move (held by unique_ptr), and the registry cancels an entry's timer
  // before the entry or itself goes, so the timer may point at both.
  e.owner = this;
  e.ttl_timer.ctx = &e;
  e.ttl_timer.fire = &Registry::on_ttl;
  loop_.arm_timer_ms(e.ttl_timer, e.inst.check.ttl_ms);
}

void Registry::on_ttl(rt::TimerNode* n) {
  Entry& e = *static_cast<Entry*>(n->ctx);
  e.owner->want_health(e, Health::kCritical,
                       "no heartbeat within the ttl of " + duration_text(e.inst.check.ttl_ms));
}

void Registry::want_health(Entry& e, Health h, std::string detail,
                           std::function<void(uint64_t)> then) {
  e.want = h;
  e.want_detail = std::move(detail);
  if (e.want == e.health && !e.publish_pending) {
    e.health_detail = e.want_detail;
    if (then) then(index_);
    return;
  }
  if (then) e.on_publish.push_back(std::move(then));
  if (e.publish_pending) return;  // the queued publication will carry the latest verdict
  e.publish_pending = true;
  const uint64_t idx = ++next_index_;
  StoreWrite w;
  w.kind = StoreWrite::Kind::kIndex;
  w.index = idx;
  const std::string service = e.inst.service, id = e.inst.id;
  const uint64_t created = e.create_index;
  submit(std::move(w), [this, service, id, created, idx] {
    publish_health(service, id, created, idx);
  }, [this, service, id, created](Result<uint64_t, RegistryError> r) {
    if (r) return;
    // The store failed: nothing was published; the next verdict tries again.
    Entry* now = entry(service, id);
    if (!now || now->create_index != created) return;
    now->publish_pending = false;
    flush_publish(*now, index_);
  });
}

void Registry::flush_publish(Entry& e, uint64_t idx) {
  auto waiting = std::move(e.on_publish);
  e.on_publish.clear();
  for (auto& fn : waiting) fn(idx);
}

void Registry::publish_health(const std::string& service, const std::string& id,
                              uint64_t create_index, uint64_t idx) {
  Entry* e = entry(service, id);
  if (!e || e->create_index != create_index) return;  // deregistered (or replaced) meanwhile
  e->publish_pending = false;
  e->health_detail = e->want_detail;
  if (e->want != e->health) {
    e->health = e->want;
    changed(service, idx);
  }
  // `e` may be gone if a listener deregistered it; look it up again.
  if (Entry* still = entry(service, id)) flush_publish(*still, index_);
}

void Registry::changed(const std::string& service, uint64_t idx) {
  index_ = std::max(index_, idx);
  services_[service].index = idx;
  wake_key(service);
  wake_key("");
  for (const Listener& fn : listeners_) fn(service);
}

void Registry::wake_key(std::string_view key) {
  // wake() unlinks, and erases the list once it is empty, so look it up each time.
  for (;;) {
    auto it = waiters_.find(key);
    if (it == waiters_.end() || !it->second.head) return;
    it->second.head->wake();
  }
}

int64_t Registry::wait_ms_for(std::optional<int64_t> asked) const {
  int64_t ms = asked ? *asked : limits_.default_wait_ms;
  return std::clamp<int64_t>(ms, 0, limits_.max_wait_ms);
}

Registry::Wait Registry::wait(std::string service, uint64_t after, int64_t wait_ms) {
  int64_t ms = std::clamp<int64_t>(wait_ms, 0, limits_.max_wait_ms);
  // Up to 1/16 more, as Consul: watchers that started together do not all return together.
  if (ms >= 16) ms += int64_t(rng_.next() % uint64_t(ms / 16 + 1));
  return Wait(*this, std::move(service), after, ms);
}

void Registry::close() {
  if (closed_) return;
  closed_ = true;
  while (!waiters_.empty()) {
    const std::string key = waiters_.begin()->first;
    wake_key(key);
  }
}

// ---- mirror (backend: etcd) ----

void Registry::mirror_put(Instance inst, uint64_t create_revision, uint64_t mod_revision) {
  if (closed_) return;
  const std::string service = inst.service, id = inst.id;
  apply_put(std::move(inst), ++next_index_);
  if (Entry* e = entry(service, id)) {
    e->create_index = create_revision;
    e->modify_index = mod_revision;
  }
}

void Registry::mirror_remove(const std::string& service, const std::string& id) {
  if (closed_ || !entry(service, id)) return;
  apply_remove(service, id, ++next_index_);
}

void Registry::mirror_alive(const std::string& service, const std::string& id, bool alive,
                            std::string detail) {
  Entry* e = entry(service, id);
  if (!e || closed_ || e->inst.check.kind != CheckKind::kTtl) return;
  if (alive) e->last_heartbeat_unix_ms = rt::wall_ms();
  want_health(*e, alive ? Health::kPassing : Health::kCritical, std::move(detail));
}

void Registry::set_stale(bool stale, std::string why) {
  if (stale && !stale_) stale_since_ms_ = loop_.now_ms();
  stale_ = stale;
  stale_reason_ = stale ? std::move(why) : std::string();
}

// ---- Wait ----

bool Registry::Wait::await_ready() {
  if (r_.closed_ || ms_ <= 0) return true;
  const uint64_t now = service_.empty() ? r_.index_ : r_.service_index(service_);
  return now != after_;
}

void Registry::Wait::await_suspend(std::coroutine_handle<> h) {
  h_ = h;
  WaitList& l = r_.waiters_[service_];
  list_ = &l;
  next_ = l.head;
  if (l.head) l.head->prev_ = this;
  l.head = this;
  ++r_.waiting_;
  timer_.ctx = this;
  timer_.fire = [](rt::TimerNode* n) { static_cast<Wait*>(n->ctx)->wake(); };
  r_.loop_.arm_timer_ms(timer_, ms_);
}

void Registry::Wait::unlink() {
  if (!list_) return;
  r_.loop_.timers().cancel(timer_);
  if (prev_) prev_->next_ = next_;
  else list_->head = next_;
  if (next_) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  const bool empty = list_->head == nullptr;
  list_ = nullptr;
  --r_.waiting_;
  if (empty) r_.waiters_.erase(service_);
}

void Registry::Wait::wake() {
  unlink();
  // Never resume from inside the change that woke it: the loop resumes it on its next turn.
  if (h_) r_.loop_.defer(std::exchange(h_, nullptr));
}

Registry::Wait::~Wait() { unlink(); }

}  // namespace cw::registry
