// DnsService: the internal DNS server (SPEC 5) wired up: one UDP socket per worker (on the
// workers' loops), TCP on the control loop, and a zone rebuilt from the registry after each
// change (coalesced to one rebuild per turn of the control loop) and posted to every socket.
// With `recursors`, each of those loops gets its own Forwarder for names outside the domain
// (bound at start-up: a reload does not change dns settings).
// Thread contract: control thread; the UDP servers live on their workers' loops and are
// reached by posted messages only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "config/model.h"
#include "nameserver/dns_server.h"
#include "proxy/worker.h"
#include "registry/registry.h"

namespace cw::server {

// The zone for the registry as it is now (only serving instances are handed out).
nameserver::ZoneInput zone_input(const config::Dns& cfg, const registry::Registry* reg);

class DnsService {
 public:
  // Binds every socket now (start-up: a port in use is an error before anything runs).
  static std::unique_ptr<DnsService> open(const config::Dns& cfg, int workers,
                                          std::vector<std::string>& errors);
  ~DnsService();

  // Starts serving: UDP on each worker's loop (posted), TCP on `control`. `reg` may be null
  // (an apex-only zone); with it, every change rebuilds the zone.
  void start(rt::EventLoop& control, const std::vector<proxy::Worker*>& workers,
             registry::Registry* reg);
  // Control thread: stops TCP. Call close_udp() once the workers' threads are gone.
  void close_tcp();
  void close_udp();
  // TCP connections still open (closed ones end on the control loop's next turns).
  size_t tcp_connections() const { return tcp_ ? tcp_->connections() : 0; }

  rt::SocketAddress address() const { return bound_; }
  // Counters summed over the UDP sockets and TCP (any thread).
  admin::DnsNumbers numbers() const;

 private:
  struct Slots;
  DnsService() = default;
  void rebuild();

  config::Dns cfg_;
  rt::SocketAddress bound_;
  std::vector<rt::OwnedFd> udp_fds_;
  rt::OwnedFd tcp_fd_;
  std::shared_ptr<Slots> slots_;
  // One per worker's UDP server, made here so the control thread can read them at any time.
  std::vector<std::unique_ptr<nameserver::DnsCounters>> udp_counters_;
  std::vector<proxy::Worker*> workers_;
  std::unique_ptr<nameserver::TcpServer> tcp_;
  nameserver::ForwarderCounters tcp_forward_;  // the TCP server's forwarder
  rt::EventLoop* control_ = nullptr;
  registry::Registry* reg_ = nullptr;
  bool rebuild_pending_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cw::server
