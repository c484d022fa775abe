// The DNS server's sockets: UdpServer (one per worker, each on its own SO_REUSEPORT socket,
// reading and answering in batches) and TcpServer (the full answers a truncated UDP reply
// points to; length-prefixed messages, pipelined, bounded). Both answer from the Zone they were
// last given; a new zone is a message, so no lock is taken per query. With a Forwarder, names
// outside the domain go to it and are answered when it has the answer: one datagram sent alone
// over UDP, and on TCP in whatever order answers come (RFC 7766 6.2.1.1; IDs are kept).
// Thread contract: a server is started, fed zones and closed on its loop's thread (after that
// thread is gone, the destroying thread may close it); counters are read from any thread.
#pragma once

#include <memory>
#include <string>

#include "base/counter.h"
#include "nameserver/forwarder.h"
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
  ForwarderCounters forward;  // the forwarder of the server these count for, if any
};

class UdpServer {
 public:
  // On the loop's thread: registers the socket and starts serving.
  // `counters` (optional) must outlive the server; the owner reads them from any thread.
  // `forwarder` (optional, made on this loop): where names outside the domain go.
  static Result<std::shared_ptr<UdpServer>> start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                  std::shared_ptr<const Zone> zone,
                                                  DnsCounters* counters = nullptr,
                                                  std::shared_ptr<Forwarder> forwarder = nullptr);
  // The loop's thread: later queries are answered from `zone`.
  void set_zone(std::shared_ptr<const Zone> zone) { zone_ = std::move(zone); }
  // Closes the socket and the forwarder; the coroutines end on later turns of the loop.
  void close();
  const DnsCounters& counters() const { return *counters_; }
  rt::SocketAddress local_address() const { return sock_.local_address(); }

 private:
  UdpServer() = default;
  static rt::Task<void> serve(std::shared_ptr<UdpServer> self);
  // Sends one forwarded answer now (out of the batch that asked).
  void send_one(const std::string& reply, const sockaddr_storage& peer, socklen_t len);

  rt::UdpSocket sock_;
  rt::EventLoop* loop_ = nullptr;
  std::shared_ptr<const Zone> zone_;
  uint32_t rotation_ = 0;
  DnsCounters own_counters_;
  DnsCounters* counters_ = &own_counters_;
  std::shared_ptr<Forwarder> forwarder_;
  std::unique_ptr<rt::UdpOutBatch> single_;  // for send_one
};

struct TcpLimits {
  size_t max_connections = 256;
  int64_t idle_timeout_ms = 10'000;  // RFC 7766 6.2.3: servers may close idle clients
  size_t max_forwarded_per_connection = 64;  // queries waiting on the forwarder; more: SERVFAIL
};

class TcpServer {
 public:
  // On the loop's thread: adopts the listening socket and starts accepting. `forwarder`
  // (optional, made on this loop): where names outside the domain go.
  static Result<std::unique_ptr<TcpServer>> start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                  std::shared_ptr<const Zone> zone,
                                                  TcpLimits limits = {},
                                                  std::shared_ptr<Forwarder> forwarder = nullptr);
  ~TcpServer();
  void set_zone(std::shared_ptr<const Zone> zone);
  // Stops accepting, closes the forwarder and ends open connections (they finish on later
  // turns of the loop).
  void close();
  rt::SocketAddress local_address() const;
  const DnsCounters& counters() const;
  // Open connections, with those still waiting for forwarded answers.
  size_t connections() const;

  struct State;

 private:
  TcpServer() = default;
  std::shared_ptr<State> state_;
  std::unique_ptr<rt::Acceptor> acceptor_;
};

}  // namespace cw::nameserver
