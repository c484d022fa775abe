// Server start-up, reload and drain. Thread contract: see server.h.
#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/ranges.h>

#include "base/log.h"
#include "config/load.h"
#include "runtime/clock.h"
#include "runtime/latch.h"

namespace cw::server {

void block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::unique_ptr<Server> Server::create(const std::string& config_path,
                                       std::vector<std::string>& errors) {
  auto loaded = config::load_config_file(config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) errors.push_back(e.format());
    return nullptr;
  }
  std::unique_ptr<Server> s(new Server());
  s->config_path_ = config_path;
  if (!s->start(loaded.config, errors)) return nullptr;
  return s;
}

Server::~Server() {
  if (health_) health_->stop();  // its probes end in run_deferred below
  for (auto& w : workers_) w->loop().stop();
  for (auto& w : workers_) w->join();
  // The workers' threads are gone: close their UDP sockets here, so the serving coroutines
  // end in the workers' own run_deferred (in ~Worker) instead of leaking.
  if (dns_) {
    dns_->close_tcp();
    dns_->close_udp();
  }
  workers_.clear();
  if (admin_) admin_->close();
  if (registry_etcd_) registry_etcd_->stop();
  if (registry_) registry_->close();  // blocking queries return; their connections end
  if (registry_store_) registry_store_->close();
  signal_stream_.close();
  finish_admin();
  admin_.reset();
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (owns_access_log_fd_) ::close(access_log_fd_);
}

bool Server::start(std::shared_ptr<const config::Config> cfg, std::vector<std::string>& errors) {
  for (const auto& key : cfg->unapplied_keys) {
    CW_WARN("{}: {} is accepted but not applied by this version", cfg->source, key);
  }
  // The registry first: registry-driven clusters start with its instances.
  if (cfg->registry) {
    if (!open_registry(*cfg, errors)) return false;
    registry_clusters_ = std::make_unique<RegistryClusters>(
        control_, *registry_, [this] { return snap_; },
        [this](std::shared_ptr<const upstream::ClusterSnapshot> c) {
          apply_cluster_update(std::move(c));
        });
    registry_clusters_->configure(*cfg);
  }
  // DNS clusters start resolving now; their first answers arrive once the control loop runs
  // (until then such a cluster has no hosts: 503 no_healthy_upstream).
  dns_clusters_ = std::make_unique<DnsClusters>(
      control_, [this] { return snap_; },
      [this](std::shared_ptr<const upstream::ClusterSnapshot> c) {
        apply_cluster_update(std::move(c));
      });
  dns_clusters_->configure(*cfg);
  std::string err;
  snap_ = proxy::build_snapshot(cfg, nullptr, err, discovered());
  if (!snap_) {
    errors.push_back(err);
    return false;
  }
  int n = cfg->workers > 0 ? cfg->workers : int(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;

  auto admin_addr = rt::SocketAddress::from_ip_port(cfg->admin.listen.host, cfg->admin.listen.port);
  if (!admin_addr) {
    errors.push_back("admin: bad listen address " + cfg->admin.listen.text());
  } else if (admin_addr->port() != 0) {
    auto r = rt::probe_bind(*admin_addr);
    if (!r)
      errors.push_back("admin: cannot listen on " + admin_addr->text() + ": " +
                       r.error().message());
  }
  auto opened = open_listeners(*snap_, {}, n);
  if (!opened) errors.insert(errors.end(), opened.error().begin(), opened.error().end());
  if (!errors.empty()) return false;

  if (cfg->dns) {
    dns_ = DnsService::open(*cfg->dns, n, errors);
    if (!dns_) return false;
  }
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<proxy::Worker>(i, n));
  bound_ = opened->bound;
  // Checks run once per cluster here, on the control loop; their first results arrive once
  // run() starts it (until then every host serves: "unchecked").
  health_ = std::make_unique<health::HealthMonitor>(
      control_,
      [this](const std::string& cluster, const std::string& key, bool healthy) {
        post_host_health(cluster, key, healthy);
      },
      uint64_t(rt::mono_ns()));
  health_->update(snap_->clusters);
  if (registry_) {
    registry_checks_ = std::make_unique<RegistryChecks>(*registry_, *health_);
    registry_->subscribe([this](const std::string& service) { registry_checks_->sync(service); });
    registry_checks_->sync_all();
  }

  admin::AdminHooks hooks;
  for (auto& w : workers_) hooks.workers.push_back(w.get());
  hooks.snapshot = [this] { return snap_; };
  hooks.reload = [this] { return reload(); };  // a coroutine: answers after the acks
  hooks.ready = [this] { return !draining_.load(); };
  hooks.version = CW_VERSION_STRING;
  hooks.bound_listeners = [this] { return bound_; };
  hooks.health = [this]() -> const health::HealthMonitor* { return health_.get(); };
  hooks.registry = [this] { return registry_.get(); };
  if (dns_) hooks.dns = [this] { return dns_->numbers(); };
  hooks.dns_cluster = [this](const std::string& cluster) {
    return dns_clusters_ ? dns_clusters_->view(cluster) : std::nullopt;
  };
  hooks.resolver = [this] { return dns_clusters_ ? dns_clusters_->numbers() : std::nullopt; };
  admin_ = std::make_unique<admin::AdminServer>(control_, std::move(hooks));
  auto a = admin_->listen(*admin_addr);
  if (!a) {
    errors.push_back("admin: cannot listen on " + admin_addr->text() + ": " + a.error().message());
    return false;
  }
  admin_addr_ = *a;

  configure_access_log(*cfg);
  for (int i = 0; i < n; ++i) {
    workers_[size_t(i)]->install(snap_, std::move(opened->per_worker[size_t(i)]));
  }
  if (dns_) {
    std::vector<proxy::Worker*> ws;
    for (auto& w : workers_) ws.push_back(w.get());
    dns_->start(control_, ws, registry_.get());
  }
  if (registry_clusters_) {
    std::vector<proxy::Worker*> ws;
    for (auto& w : workers_) {
      ws.push_back(w.get());
      // Only registry clusters care, and ejections are rare: one message each.
      w->set_ejection_hook([this](const std::string&, const std::string&, bool) {
        control_.post([this] {
          if (registry_clusters_) registry_clusters_->poll_now();
        });
      });
    }
    registry_clusters_->watch_ejections(std::move(ws));
  }
  for (auto& w : workers_) w->start();
  for (const auto& [key, addr] : bound_) CW_INFO("listening on {} ({} workers)", addr.text(), n);
  CW_INFO("admin on http://{}/", admin_addr_.text());
  return true;
}

bool Server::open_registry(const config::Config& cfg, std::vector<std::string>& errors) {
  if (cfg.registry->backend == "etcd") {
    // A mirror of the shared registry: empty (and stale) until the first listing arrives,
    // which the control loop fetches once it runs; nothing waits for etcd at start-up.
    registry_ = std::make_unique<registry::Registry>(control_, nullptr, registry::RegistryLimits{},
                                                     uint64_t(rt::mono_ns()));
    registry::EtcdOptions o;
    o.endpoints = cfg.registry->etcd.endpoints;
    o.prefix = cfg.registry->etcd.prefix;
    auto b = registry::EtcdBackend::create(control_, *registry_, std::move(o));
    if (!b) {
      errors.push_back(b.error());
      return false;
    }
    registry_etcd_ = std::move(*b);
    registry_etcd_->start();
    CW_INFO("registry: etcd at {} under {}", fmt::join(cfg.registry->etcd.endpoints, ", "),
            cfg.registry->etcd.prefix);
    return true;
  }
  auto store = registry::Store::open(cfg.registry->data_dir);
  if (!store) {
    errors.push_back(store.error());
    return false;
  }
  auto loaded = (*store)->load();
  if (!loaded) {
    errors.push_back(loaded.error());
    return false;
  }
  for (const auto& why : loaded->skipped) {
    CW_WARN("registry: a stored instance no longer validates and is not served: {}", why);
  }
  registry_store_ = std::move(*store);
  registry_ = std::make_unique<registry::Registry>(control_, registry_store_.get(),
                                                   registry::RegistryLimits{},
                                                   uint64_t(rt::mono_ns()));
  registry_->restore(*loaded);
  CW_INFO("registry: {} instances restored from {} (index {})", loaded->instances.size(),
          registry_store_->path(), loaded->index);
  return true;
}

void Server::configure_access_log(const config::Config& cfg) {
  int fd = -1;
  bool json = true;
  bool owned = false;
  if (cfg.access_log && !cfg.access_log->path.empty()) {
    const auto& p = cfg.access_log->path;
    json = cfg.access_log->format != "text";
    if (p == "stderr") {
      fd = 2;
    } else if (p == "stdout") {
      fd = 1;
    } else {
      fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) {
        CW_ERROR("access_log: cannot open {}: {}", p, std::strerror(errno));
      } else {
        owned = true;
      }
    }
  }
  // The old fd stays open: workers may still be writing a batch to it. (One fd per reload
  // that changes the path; a later issue can rotate properly.)
  access_log_fd_ = fd;
  owns_access_log_fd_ = owned;
  for (auto& w : workers_) {
    proxy::Worker* wp = w.get();
    if (!wp->loop().stopping() && wp->live_sessions() >= 0) {
      wp->loop().post([wp, fd, json] { wp->access_log().configure(&wp->loop(), fd, json); });
    }
  }
}

void Server::apply_cluster_update(std::shared_ptr<const upstream::ClusterSnapshot> cluster) {
  if (!snap_) return;
  auto next = proxy::with_cluster(*snap_, cluster);
  if (!next) return;  // not in the config now in force
  snap_ = std::move(next);
  if (health_) health_->update_cluster(cluster);
  CW_INFO("cluster {}: {} hosts from {} discovery", cluster->name, cluster->hosts.size(),
          cluster->settings.discovery);
  for (auto& w : workers_) {
    proxy::Worker* wp = w.get();
    wp->loop().post([wp, cluster] { wp->update_cluster(cluster); });
  }
}

proxy::DiscoveredEndpoints Server::discovered() {
  return [this](const config::Cluster& c) -> std::shared_ptr<const upstream::EndpointSet> {
    if (c.discovery == "dns") return dns_clusters_ ? dns_clusters_->endpoints(c) : nullptr;
    if (c.discovery != "registry" || !registry_) return nullptr;
    if (registry_clusters_) {
      if (auto set = registry_clusters_->endpoints(c)) return set;
    }
    // A cluster the config in force does not follow yet (a reload adding it): its set now.
    RegistrySource probe(*registry_, c.service);
    probe.refresh();
    return probe.current();
  };
}

void Server::post_host_health(const std::string& cluster, const std::string& key,
                              bool healthy) {
  for (auto& w : workers_) {
    proxy::Worker* wp = w.get();
    wp->loop().post([wp, cluster, key, healthy] {
      // The generation in force when the message runs: a reload posted before it has been
      // installed, one posted after carries this verdict over by host key.
      const auto& gen = wp->generation();
      if (!gen) return;
      for (const auto& wc : gen->clusters) {
        if (wc->snapshot().name == cluster) {
          wc->set_host_health(key, healthy);
          return;
        }
      }
    });
  }
}

rt::Task<int> Server::install_everywhere(std::shared_ptr<const proxy::ProxySnapshot> snap,
                                         std::vector<proxy::ListenerFds> fds) {
  snap_ = snap;
  // Before the install messages: probes now publish on the new snapshot's hosts, and verdicts
  // posted from here on reach workers after they install it (FIFO per worker).
  if (health_) health_->update(snap->clusters);
  // A reload answers only once every worker serves the new config, so "reloaded" means live.
  // Each worker acknowledges by message; the control loop keeps serving while it waits.
  auto latch = std::make_shared<rt::AckLatch>(control_, int(workers_.size()));
  rt::EventLoop* control = &control_;
  for (size_t i = 0; i < workers_.size(); ++i) {
    proxy::Worker* wp = workers_[i].get();
    auto mine = std::make_shared<proxy::ListenerFds>(std::move(fds[i]));
    wp->loop().post([wp, snap, mine, latch, control] {
      wp->install(snap, std::move(*mine));
      control->post([latch] { latch->ack(); });
    });
  }
  co_return co_await latch->wait(kInstallAckTimeoutMs);
}

Result<Server::Prepared, std::vector<std::string>> Server::prepare_reload() {
  std::vector<std::string> errors;
  config::LoadResult loaded;
  {
    // At the descriptor limit the config file must still open: the spares are freed for it.
    rt::FdReserve::Borrow spare(control_reserve_);
    loaded = config::load_config_file(config_path_);
  }
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) errors.push_back(e.format());
    return Unexpected{std::move(errors)};
  }
  std::string err;
  auto snap = proxy::build_snapshot(loaded.config, snap_.get(), err, discovered());
  if (!snap) {
    errors.push_back(err);
    return Unexpected{std::move(errors)};
  }
  // Every new socket for every worker is opened before anything changes.
  auto opened = open_listeners(*snap, bound_, int(workers_.size()));
  if (!opened) return Unexpected{opened.error()};
  return Prepared{snap, std::move(*opened)};
}

rt::Task<admin::ReloadOutcome> Server::reload() {
  admin::ReloadOutcome out;
  out.generation = snap_->generation;
  Result<Prepared, std::vector<std::string>> prepared =
      Unexpected{std::vector<std::string>{"draining: reload refused"}};
  if (!draining_.load()) prepared = prepare_reload();
  if (!prepared) {
    out.errors = prepared.error();
    CW_WARN("reload refused ({} error{}); still serving generation {}", out.errors.size(),
            out.errors.size() == 1 ? "" : "s", out.generation);
    for (const auto& e : out.errors) CW_WARN("  {}", e);
    co_return out;
  }
  auto snap = prepared->snap;
  const auto& oldc = *snap_->config;
  const auto& newc = *snap->config;
  if (newc.workers != oldc.workers) CW_WARN("reload: 'workers' changes take effect on restart");
  if (newc.admin.listen.text() != oldc.admin.listen.text())
    CW_WARN("reload: 'admin.listen' changes take effect on restart");
  auto registry_text = [](const config::Config& c) {
    if (!c.registry) return std::string();
    const auto& r = *c.registry;
    return r.backend + "|" + r.data_dir + "|" + fmt::format("{}", fmt::join(r.etcd.endpoints, ",")) +
           "|" + r.etcd.prefix;
  };
  if (registry_text(newc) != registry_text(oldc))
    CW_WARN("reload: 'registry' changes take effect on restart");
  bool log_changed = (newc.access_log ? newc.access_log->path + newc.access_log->format : "") !=
                     (oldc.access_log ? oldc.access_log->path + oldc.access_log->format : "");
  bound_ = std::move(prepared->listeners.bound);
  if (registry_clusters_) registry_clusters_->configure(newc);
  if (dns_clusters_) dns_clusters_->configure(newc);
  const int pending = co_await install_everywhere(snap, std::move(prepared->listeners.per_worker));
  // Registry changes that came while the new config was built and installed.
  if (registry_clusters_) registry_clusters_->catch_up();
  if (dns_clusters_) dns_clusters_->catch_up();
  if (log_changed) configure_access_log(newc);
  out.ok = true;
  out.generation = snap->generation;
  out.workers_pending = pending;
  if (pending > 0) {
    CW_WARN(
        "reload: generation {} is installed, but {} of {} workers have not acknowledged it "
        "within {} ms",
        out.generation, pending, workers_.size(), kInstallAckTimeoutMs);
  } else {
    CW_INFO("reloaded {}: generation {}", config_path_, out.generation);
  }
  co_return out;
}

rt::Task<void> Server::signal_loop(Server* self) {
  {
    auto r = rt::TcpStream::adopt(self->control_, self->signal_fd_, {});
    if (!r) co_return;
    self->signal_stream_ = std::move(*r);
    self->signal_fd_ = -1;  // owned by the stream now
  }
  for (;;) {
    signalfd_siginfo info;
    auto n = co_await self->signal_stream_.read(reinterpret_cast<char*>(&info), sizeof info);
    if (!n || *n != sizeof info) co_return;
    if (info.ssi_signo == SIGHUP) {
      CW_INFO("SIGHUP: reloading");
      (void)co_await self->reload();
    } else {
      CW_INFO("{}: draining", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
      co_await self->drain_and_stop();
      co_return;
    }
  }
}

rt::Task<void> Server::drain_and_stop() {
  if (drain_started_) co_return;
  drain_started_ = true;
  draining_ = true;
  // Every worker must have closed its acceptors before live sessions are counted: a worker
  // that has not run begin_drain yet may still accept a connection, whose session would then
  // be cut off (and its coroutine left suspended) when the loops stop.
  auto drained = std::make_shared<rt::AckLatch>(control_, int(workers_.size()));
  rt::EventLoop* control = &control_;
  for (auto& w : workers_) {
    proxy::Worker* wp = w.get();
    wp->loop().post([wp, drained, control] {
      wp->begin_drain();
      control->post([drained] { drained->ack(); });
    });
  }
  co_await drained->wait(kInstallAckTimeoutMs);
  if (health_) health_->stop();  // sleeping probes end now, checks in flight soon
  // Watchers parked in blocking queries get their answer now instead of holding the drain.
  if (registry_clusters_) registry_clusters_->stop();
  if (dns_clusters_) dns_clusters_->stop();
  if (registry_etcd_) registry_etcd_->stop();
  if (registry_) registry_->close();
  if (dns_) dns_->close_tcp();
  int64_t deadline = control_.now_ms() + snap_->config->drain_timeout.count();
  for (;;) {
    int64_t live = 0;
    for (auto& w : workers_) live += w->live_sessions();
    if (live == 0 && (!health_ || health_->idle())) break;
    if (control_.now_ms() >= deadline) {
      CW_WARN("drain timeout: closing {} connections still open", live);
      abandoned_ = live;
      break;
    }
    co_await rt::sleep_for(control_, 20);
  }
  for (auto& w : workers_) {
    proxy::Worker* wp = w.get();
    wp->loop().post([wp] { wp->access_log().flush(); });
  }
  for (auto& w : workers_) w->loop().stop();
  control_.stop();
}

void Server::finish_admin() {
  // Closing the admin listener shuts its connections' sockets down; a connection waiting to
  // read learns it from epoll, which run_deferred does not poll. A few turns of the loop
  // (bounded) let each one see it and end, so none is left suspended (and leaked) at exit.
  // The DNS server's TCP connections are on this loop too.
  if (dns_) dns_->close_tcp();
  // The etcd backend's calls in flight end once they see their closed connections (a connect
  // in flight, within its 1 s timeout).
  auto open = [this] {
    return (admin_ ? admin_->connections() : 0) + (dns_ ? dns_->tcp_connections() : 0) +
           (registry_etcd_ && !registry_etcd_->idle() ? 1 : 0);
  };
  for (int turn = 0; turn < 400 && open() > 0; ++turn) control_.run_once(5);
  control_.run_deferred();
}

void Server::stop() {
  control_.post([this] { rt::spawn(drain_and_stop()); });
}

int Server::run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ >= 0) rt::spawn(signal_loop(this));
  control_.run();
  for (auto& w : workers_) w->join();
  if (abandoned_ > 0) {
    // Requests still in flight at the drain deadline are abandoned on purpose; their
    // coroutines hold worker state, so the process ends here rather than unwinding it.
    CW_INFO("stopped ({} connections abandoned at the drain deadline)", abandoned_);
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  // Finish the control thread's coroutines (admin accept loop and connections, the signal
  // reader): closing their sockets cancels their waits; run the cancellations to the end.
  if (admin_) admin_->close();
  if (registry_etcd_) registry_etcd_->stop();
  if (registry_) registry_->close();
  // Commit what is queued; its completions are posted here and run below, so every admin call
  // waiting on the store gets its answer (or its closed socket) and ends.
  if (registry_store_) registry_store_->close();
  signal_stream_.close();
  finish_admin();
  CW_INFO("stopped");
  return 0;
}

}  // namespace cw::server
