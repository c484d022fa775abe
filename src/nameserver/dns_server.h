// The DNS server's sockets: UdpServer (one per worker, each on its own SO_REUSEPORT socket,
// reading and answering in batches) and TcpServer (the full answers a truncated UDP reply
// points to; length-prefixed messages, pipelined, bounded). Both answer from the Zone they were
// last given; a new zone is a message, so no lock is taken per query.
// Thread contract: a server is started, fed zones and closed on its loop's thread (after that
// thread is gone, the destroying thread may close it); counters are read from any thread.
#pragma once

#include <memory>
#include <string>

#include "base/counter.h"
#include "nameserver/zone.h"
#include "runtime/acceptor.h"
#include "runtime/event_loop.h"
#include "runtime/fd_reserve.h"
#include "runtime/listen_socket.h"
#include "runtime/task.h"
#include "runtime/udp.h"

namespace cw::nameserver {

struct DnsCounters {
  Counter queries;    // datagrams or TCP messages received
  Counter responses;  // answers sent
  Counter dropped;    // nothing sent: responses (QR=1), too short, or the kernel refused it
  Counter truncated;  // UDP answers sent with TC set
};

class UdpServer {
 public:
  // On the loop's thread: registers the socket and starts serving.
  // `counters` (optional) must outlive the server; the owner reads them from any thread.
  static Result<std::shared_ptr<UdpServer>> start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                  std::shared_ptr<const Zone> zone,
                                                  DnsCounters* counters = nullptr);
  // The loop's thread: later queries are answered from `zone`.
  void set_zone(std::shared_ptr<const Zone> zone) { zone_ = std::move(zone); }
  // Closes the socket; the serving coroutine ends on a later turn of the loop.
  void close() { sock_.close(); }
  const DnsCounters& counters() const { return *counters_; }

 private:
  UdpServer() = default;
  static rt::Task<void> serve(std::shared_ptr<UdpServer> self);

  rt::UdpSocket sock_;
  rt::EventLoop* loop_ = nullptr;
  std::shared_ptr<const Zone> zone_;
  uint32_t rotation_ = 0;
  DnsCounters own_counters_;
  DnsCounters* counters_ = &own_counters_;
};

struct TcpLimits {
  size_t max_connections = 256;
  int64_t idle_timeout_ms = 10'000;  // RFC 7766 6.2.3: servers may close idle clients
};

class TcpServer {
 public:
  // On the loop's thread: adopts the listening socket and starts accepting.
  static Result<std::unique_ptr<TcpServer>> start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                  std::shared_ptr<const Zone> zone,
                                                  TcpLimits limits = {});
  ~TcpServer();
  void set_zone(std::shared_ptr<const Zone> zone);
  // Stops accepting and ends open connections (they finish on later turns of the loop).
  void close();
  rt::SocketAddress local_address() const;
  const DnsCounters& counters() const;
  size_t connections() const;

  struct State;

 private:
  TcpServer() = default;
  std::shared_ptr<State> state_;
  std::unique_ptr<rt::Acceptor> acceptor_;
};

}  // namespace cw::nameserver
