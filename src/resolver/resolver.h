// Resolver: asynchronous DNS lookups (A, AAAA, SRV) on an event loop, through c-ares, with a
// TTL cache (cache.h) in front. c-ares sends and retries; its sockets are opened through our
// socket functions and registered on the loop (edge-triggered, like every socket here), and a
// loop timer follows ares_timeout(), so nothing ever blocks the loop. The raw response (ares_send)
// is read with our own codec (dns/message.h): c-ares' reply parsers turn NXDOMAIN/NODATA into a
// status without the SOA whose TTL a negative answer is cached for (RFC 2308), and one codec
// then reads every answer the same way (CNAME chain, SRV additional records).
// - Concurrent lookups of one (name, type) share ONE upstream query; every callback gets its
//   result.
// - Callbacks are never called from inside lookup(): a cache hit is delivered on a later turn
//   of the loop (a posted message), like every other result.
// - On failure (timeout, SERVFAIL, refused, ...) an expired answer within the cache's stale cap
//   is served with `stale` set and `error` saying why the refresh failed.
// Thread contract: create, lookup and destroy on the loop's thread; callbacks run there. No
// callback runs after the Resolver is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "resolver/answer.h"
#include "resolver/cache.h"
#include "runtime/event_loop.h"

namespace cw::resolver {

struct ResolverOptions {
  // Servers to ask, "ip:port" or "[ip6]:port", in order. Empty: /etc/resolv.conf's.
  std::vector<std::string> servers;
  // Per try; c-ares doubles it each round over the servers. 3 s x 2 tries: a slow server (2 s)
  // is waited for rather than asked twice, and a dead one fails within ~9 s.
  int timeout_ms = 3000;
  int tries = 2;
  CacheLimits cache;
};

// The result of one lookup.
struct Resolution {
  std::string name;
  uint16_t qtype = 0;
  std::vector<std::string> addresses;  // A / AAAA: IP text
  std::vector<SrvTarget> srv;          // SRV, each with its target's addresses
  uint32_t ttl_s = 0;
  bool negative = false;  // NXDOMAIN / NODATA: an answer, with no records
  bool stale = false;     // an expired answer served because the refresh failed (see error)
  std::string error;      // why the lookup failed; empty when answered
  int64_t expires_at_ms = 0;  // loop time the answer stops being fresh (past, when stale)

  // There is an answer to use: fresh, negative, or stale.
  bool usable() const { return error.empty() || stale; }
};

struct ResolverCounters {
  uint64_t lookups = 0;
  uint64_t queries = 0;    // sent upstream (one per coalesced group)
  uint64_t coalesced = 0;  // lookups that joined a query already in flight
  uint64_t failures = 0;   // queries that ended without an answer
};

class Resolver {
 public:
  using Callback = std::function<void(const Resolution&)>;

  // Sets up a c-ares channel on `loop` (no socket opened yet). Fails with the reason when
  // c-ares refuses the options or a server address.
  static Result<std::unique_ptr<Resolver>, std::string> create(rt::EventLoop& loop,
                                                               ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Looks `name` up (qtype A, AAAA or SRV); `callback` runs once, on a later turn of the loop.
  void lookup(std::string_view name, uint16_t qtype, Callback callback);

  const ResolverCounters& counters() const { return counters_; }
  const CacheCounters& cache_counters() const { return cache_.counters(); }
  size_t in_flight() const { return pending_.size(); }
  size_t cache_entries() const { return cache_.size(); }
  size_t open_sockets() const { return socks_.size(); }
  // The servers asked, comma-separated (for logs and the API).
  const std::string& servers() const { return servers_text_; }

 private:
  struct Sock;
  struct Query;
  struct Pending {
    std::vector<Callback> waiters;
  };

  Resolver(rt::EventLoop& loop, ResolverOptions options);
  Result<void, std::string> init();

  void start_query(const CacheKey& key);
  void on_response(const CacheKey& key, int status, const unsigned char* buf, int len);
  // SRV targets the additional section did not cover: looked up (A, then AAAA), then finish().
  void fill_srv_targets(const CacheKey& key, Answer answer);
  // Ends the query for `key`: caches the answer (or serves a stale one), queues the waiters.
  void finish(const CacheKey& key, Result<Answer, std::string> result);
  void deliver(Callback cb, std::shared_ptr<const Resolution> r);
  void flush();
  // Processes readiness (or timeouts, with both fds ARES_SOCKET_BAD), then re-arms the timer.
  void process(int read_fd, int write_fd);
  void reschedule();
  // Writes c-ares queued on sockets that were already writable (no edge will come for them).
  void kick_writes();

  // c-ares hooks (C callbacks; `data` is the Resolver).
  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_ares_done(void* arg, int status, int timeouts, unsigned char* buf, int len);
  static int sock_open(int domain, int type, int protocol, void* data);
  static int sock_close(int fd, void* data);
  static void on_io(rt::IoWaiter* w);
  static void on_io_cancel(rt::IoWaiter*) {}

  rt::EventLoop& loop_;
  ResolverOptions options_;
  std::string servers_text_;
  void* channel_ = nullptr;  // ares_channel
  Cache cache_;
  ResolverCounters counters_;
  std::unordered_map<CacheKey, Pending, CacheKeyHash> pending_;
  std::unordered_map<int, std::unique_ptr<Sock>> socks_;
  rt::TimerNode timer_;
  // Results waiting for their turn of the loop; one posted message flushes them. The message
  // holds a weak reference, so it does nothing once the Resolver is gone.
  std::vector<std::pair<Callback, std::shared_ptr<const Resolution>>> ready_;
  bool flush_posted_ = false;
  std::shared_ptr<Resolver*> self_;
  bool destroying_ = false;
  bool kick_ = false;  // a socket started wanting to write: kick_writes() has work
};

}  // namespace cw::resolver
