// Forwarder: names outside the DNS domain, asked of the configured recursive resolvers and
// cached (SPEC 5 `recursors`). One per event loop, shared with nothing: each worker's UDP server
// has its own, the TCP server (control loop) has its own. A query is a cache lookup; a miss
// joins the identical query already in flight or starts one upstream exchange (each recursor
// in turn, over UDP from a fresh socket: random source port and random ID; a TC answer is
// passed back over UDP, or fetched again over TCP by the TCP server's forwarder). Cached
// answers are kept as the upstream's wire bytes and copied per client (dns/ttl.h).
// Thread contract: every member on the loop's thread (close() also after that thread is gone,
// from the destroying thread); counters are read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/counter.h"
#include "dns/message.h"
#include "dns/ttl.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"
#include "runtime/udp.h"

namespace cw::nameserver {

struct ForwarderLimits {
  size_t max_entries = 10'000;  // cached answers (least recently used goes first)
  size_t max_in_flight = 1024;  // upstream exchanges at once (each holds a socket)
  size_t max_waiters = 8192;    // client queries waiting on those exchanges
  int64_t timeout_ms = 2000;    // per recursor, then the next one
  uint32_t max_ttl_s = 86'400;  // a longer TTL is cached for this long
  uint32_t max_negative_ttl_s = 3600;
  int64_t stale_ms = 300'000;   // an expired answer this recent answers when every recursor fails
};

struct ForwarderCounters {
  Counter forwarded;   // upstream exchanges started (one per cache miss not coalesced)
  Counter cache_hits;  // answered from the cache
  Counter coalesced;   // joined an exchange already in flight
  Counter timeouts;    // a recursor that did not answer in time
  Counter servfail;    // clients answered SERVFAIL: every recursor failed, or over a limit
  Counter overflow;    // refused by max_in_flight or max_waiters (answered SERVFAIL)
  Counter stale;       // answered with an expired entry because every recursor failed
  Counter mismatched;  // upstream datagrams dropped: wrong source, ID or question, malformed
  Gauge entries;       // cached answers now
};

class Forwarder : public std::enable_shared_from_this<Forwarder> {
 public:
  enum class Upstream : uint8_t {
    kUdp,       // a TC answer goes back to the client as it is (it retries over TCP)
    kUdpThenTcp  // a TC answer is asked again over TCP of the same recursor
  };
  // Called once per query answered later, on the loop: the response, or empty when there is
  // nothing to send (the forwarder was closed).
  using Reply = std::function<void(std::string)>;

  // `recursors` in order of preference; `counters` (optional) must outlive the forwarder.
  static std::shared_ptr<Forwarder> create(rt::EventLoop& loop,
                                           std::vector<rt::SocketAddress> recursors,
                                           Upstream upstream, ForwarderLimits limits = {},
                                           ForwarderCounters* counters = nullptr);

  // Answers `q` (parsed from `wire`; a name outside the domain, class IN). True: the answer is
  // in `out` now (a cache hit, or SERVFAIL over a limit). False: `reply` is called later.
  // `limit` is the client's size limit (dns::udp_limit, or dns::kTcpLimit over TCP).
  bool resolve(const dns::Query& q, std::string_view wire, size_t limit, std::string& out,
               Reply reply);

  // Ends every exchange: their waiters get an empty reply on a later turn of the loop.
  void close();
  bool closed() const { return closed_; }
  size_t in_flight() const { return pending_.size(); }
  size_t entries() const { return cache_.size(); }
  const ForwarderCounters& counters() const { return *counters_; }

 private:
  struct Waiter {
    dns::Query query;
    std::string qname;  // the question name as on the client's wire (its case)
    size_t limit = 0;
    Reply reply;
  };
  struct Pending;
  struct Answer {
    std::string wire;  // empty: none (timed out, unreachable, or not a match)
    dns::Layout layout;
  };
  struct Entry {
    std::string wire;  // the upstream answer as received
    dns::Layout layout;
    int64_t stored_ms = 0;
    uint32_t ttl_s = 0;
    std::list<std::string>::iterator lru;  // front: most recently used
  };

  Forwarder() = default;
  static rt::Task<void> exchange(std::shared_ptr<Forwarder> self, Pending* p);
  static rt::Task<Answer> ask_udp(std::shared_ptr<Forwarder> self, Pending* p, size_t r);
  static rt::Task<Answer> ask_tcp(std::shared_ptr<Forwarder> self, Pending* p, size_t r);
  // Whether `answer` is the response to p's upstream query (ID, QR, question); its layout.
  bool matches(const Pending& p, std::string_view answer, dns::Layout& l) const;
  void store(const std::string& key, std::string wire, dns::Layout layout);
  void finish(Pending& p, std::string_view answer, const dns::Layout* l, uint32_t age);
  uint16_t random16();

  rt::EventLoop* loop_ = nullptr;
  std::vector<rt::SocketAddress> recursors_;
  Upstream upstream_ = Upstream::kUdp;
  ForwarderLimits limits_;
  ForwarderCounters own_counters_;
  ForwarderCounters* counters_ = &own_counters_;
  bool closed_ = false;
  size_t waiters_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Pending>> pending_;  // by cache key
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> lru_;
  // Reused by every exchange (each reads its socket in one synchronous step).
  std::unique_ptr<rt::UdpInBatch> in_;
  std::unique_ptr<rt::UdpOutBatch> out_;
  uint8_t random_[256] = {};
  size_t random_used_ = sizeof random_;
};

}  // namespace cw::nameserver
