// The DNS server's wiring. Thread contract: see dns_service.h.
#include "server/dns_service.h"

#include <algorithm>

#include "base/log.h"

namespace cw::server {

// The UDP servers, one per worker; slot i is touched only on worker i's thread (and, after
// that thread is gone, by close_udp on the control thread).
struct DnsService::Slots {
  std::vector<std::shared_ptr<nameserver::UdpServer>> udp;
};

nameserver::ZoneInput zone_input(const config::Dns& cfg, const registry::Registry* reg) {
  nameserver::ZoneInput in;
  in.domain = cfg.domain;
  in.ttl = uint32_t(std::max<int64_t>(0, cfg.ttl.count() / 1000));
  // `ns.<domain>` answers with where we listen, unless that is a wildcard.
  if (cfg.listen.host != "0.0.0.0" && cfg.listen.host != "::") {
    in.ns_addresses.push_back(cfg.listen.host);
  }
  if (!reg) return in;
  in.serial = uint32_t(reg->index());
  for (const auto& [name, svc] : reg->services()) {
    if (svc.instances.empty()) continue;
    nameserver::ZoneService zs{name, {}};
    for (const auto& [id, e] : svc.instances) {
      zs.instances.push_back({id, e->inst.address, e->inst.port,
                              uint16_t(std::min<uint32_t>(e->inst.weight, 65535)), e->inst.tags,
                              e->serving()});
    }
    in.services.push_back(std::move(zs));
  }
  return in;
}

std::unique_ptr<DnsService> DnsService::open(const config::Dns& cfg, int workers,
                                             std::vector<std::string>& errors) {
  auto addr = rt::SocketAddress::from_ip_port(cfg.listen.host, cfg.listen.port);
  if (!addr) {
    errors.push_back("dns: bad listen address " + cfg.listen.text());
    return nullptr;
  }
  std::unique_ptr<DnsService> d(new DnsService());
  d->cfg_ = cfg;
  for (int i = 0; i < workers; ++i) {
    // Port 0 resolves on the first socket; the others join it on the same port.
    auto fd = rt::open_udp_socket(i == 0 ? *addr : d->bound_);
    if (!fd) {
      errors.push_back("dns: cannot listen on " + addr->text() + " (udp): " +
                       fd.error().message());
      return nullptr;
    }
    if (i == 0) d->bound_ = rt::bound_address(fd->get());
    d->udp_fds_.push_back(std::move(*fd));
  }
  auto tcp = rt::open_listen_socket(d->bound_, 128);
  if (!tcp) {
    errors.push_back("dns: cannot listen on " + d->bound_.text() + " (tcp): " +
                     tcp.error().message());
    return nullptr;
  }
  d->tcp_fd_ = std::move(*tcp);
  return d;
}

DnsService::~DnsService() {
  *alive_ = false;
  close_tcp();
}

void DnsService::start(rt::EventLoop& control, const std::vector<proxy::Worker*>& workers,
                       registry::Registry* reg) {
  control_ = &control;
  reg_ = reg;
  workers_ = workers;
  auto zone = nameserver::Zone::build(zone_input(cfg_, reg));
  slots_ = std::make_shared<Slots>();
  slots_->udp.resize(workers.size());
  // Forwarding (names outside the domain): one forwarder per loop, cache and all, so nothing
  // is shared between workers. Empty without recursors (such names are REFUSED).
  std::vector<rt::SocketAddress> recursors;
  for (const config::Address& a : cfg_.recursors) {
    if (auto sa = rt::SocketAddress::from_ip_port(a.host, a.port)) recursors.push_back(*sa);
  }
  for (size_t i = 0; i < workers.size() && i < udp_fds_.size(); ++i) {
    proxy::Worker* w = workers[i];
    auto fd = std::make_shared<rt::OwnedFd>(std::move(udp_fds_[i]));
    udp_counters_.push_back(std::make_unique<nameserver::DnsCounters>());
    nameserver::DnsCounters* counters = udp_counters_.back().get();
    w->loop().post([slots = slots_, i, w, fd, zone, counters, recursors] {
      std::shared_ptr<nameserver::Forwarder> fwd;
      if (!recursors.empty()) {
        fwd = nameserver::Forwarder::create(w->loop(), recursors,
                                            nameserver::Forwarder::Upstream::kUdp, {},
                                            &counters->forward);
      }
      auto s = nameserver::UdpServer::start(w->loop(), std::move(*fd), zone, counters, fwd);
      if (!s) {
        CW_ERROR("dns: worker {} cannot serve udp: {}", i, s.error().message());
        return;
      }
      slots->udp[i] = std::move(*s);
    });
  }
  udp_fds_.clear();
  std::shared_ptr<nameserver::Forwarder> tcp_fwd;
  if (!recursors.empty()) {
    // Over TCP the client takes any size, so a truncated upstream answer is asked again over
    // TCP rather than passed on.
    tcp_fwd = nameserver::Forwarder::create(control, recursors,
                                            nameserver::Forwarder::Upstream::kUdpThenTcp, {},
                                            &tcp_forward_);
  }
  auto t = nameserver::TcpServer::start(control, std::move(tcp_fd_), zone, {}, tcp_fwd);
  if (t) {
    tcp_ = std::move(*t);
  } else {
    CW_ERROR("dns: cannot serve tcp: {}", t.error().message());
  }
  if (reg) {
    std::weak_ptr<bool> alive = alive_;
    reg->subscribe([this, alive](const std::string&) {
      if (alive.expired() || rebuild_pending_) return;
      // Many changes in one turn (a batch of registrations acknowledged together) make one
      // zone: the rebuild runs after them.
      rebuild_pending_ = true;
      control_->post([this, alive] {
        if (alive.expired()) return;
        rebuild_pending_ = false;
        rebuild();
      });
    });
  }
  CW_INFO("dns on {} (udp x{}, tcp) for {}{}", bound_.text(), workers.size(), cfg_.domain,
          recursors.empty() ? std::string() : fmt::format(", forwarding the rest to {} recursor(s)",
                                                          recursors.size()));
}

void DnsService::rebuild() {
  auto zone = nameserver::Zone::build(zone_input(cfg_, reg_));
  if (tcp_) tcp_->set_zone(zone);
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->loop().post([slots = slots_, i, zone] {
      if (slots->udp[i]) slots->udp[i]->set_zone(zone);
    });
  }
}

void DnsService::close_tcp() {
  if (tcp_) tcp_->close();
}

void DnsService::close_udp() {
  if (!slots_) return;
  for (auto& s : slots_->udp) {
    if (s) s->close();
  }
}

admin::DnsNumbers DnsService::numbers() const {
  admin::DnsNumbers n;
  for (const auto& c : udp_counters_) {
    n.queries_udp += c->queries.get();
    n.responses_udp += c->responses.get();
    n.dropped += c->dropped.get();
    n.truncated += c->truncated.get();
  }
  n.forwarding = !cfg_.recursors.empty();
  auto add_forward = [&n](const nameserver::ForwarderCounters& f) {
    n.forwarded += f.forwarded.get();
    n.forward_cache_hits += f.cache_hits.get();
    n.forward_coalesced += f.coalesced.get();
    n.forward_timeouts += f.timeouts.get();
    n.forward_servfail += f.servfail.get();
    n.forward_overflow += f.overflow.get();
    n.forward_stale += f.stale.get();
    n.forward_mismatched += f.mismatched.get();
    n.forward_cache_entries += uint64_t(std::max<int64_t>(0, f.entries.get()));
  };
  for (const auto& c : udp_counters_) add_forward(c->forward);
  add_forward(tcp_forward_);
  if (tcp_) {
    add_forward(tcp_->counters().forward);  // per-connection overflow
    n.queries_tcp = tcp_->counters().queries.get();
    n.responses_tcp = tcp_->counters().responses.get();
    n.dropped += tcp_->counters().dropped.get();
  }
  return n;
}

}  // namespace cw::server
