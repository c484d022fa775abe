// Cache: the resolver's TTL cache, pure over time (every call takes `now_ms`), so expiry, the
// stale window and eviction are tested without sleeping. Keyed by (lowercased name, qtype).
// Positive answers live for their TTL (the smallest along the CNAME chain, answer.h); negative
// ones for their RFC 2308 TTL and not at all without an SOA. After expiry a positive answer is
// kept for `stale_cap_ms` more, to be served only when a refresh fails (stale-if-error,
// RFC 8767); a negative answer is never served stale. Bounded: the least recently used entry
// goes when full.
// Thread contract: one thread (the resolver's loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "resolver/answer.h"

namespace cw::resolver {

struct CacheLimits {
  size_t max_entries = 4096;
  // How long past its TTL a positive answer may still be served when the refresh fails. 5 min:
  // long enough to ride out a DNS server restart or a short outage, short enough that a load
  // balancer does not send traffic for long to addresses nobody vouches for any more.
  int64_t stale_cap_ms = 5 * 60 * 1000;
};

struct CacheCounters {
  uint64_t hits = 0;          // fresh answers served from the cache
  uint64_t misses = 0;        // lookups that found nothing fresh
  uint64_t stale_served = 0;  // expired answers served because a refresh failed
  uint64_t evictions = 0;     // entries dropped to stay within max_entries
  uint64_t stores = 0;
};

struct CacheKey {
  std::string name;  // lowercased, no trailing dot
  uint16_t qtype = 0;
  bool operator==(const CacheKey&) const = default;
};
CacheKey make_key(std::string_view name, uint16_t qtype);
struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    return std::hash<std::string>()(k.name) ^ (size_t{k.qtype} * 0x9E3779B97F4A7C15ull);
  }
};

struct CachedAnswer {
  Answer answer;
  int64_t stored_at_ms = 0;
  int64_t expires_at_ms = 0;  // stored_at + TTL
};

class Cache {
 public:
  explicit Cache(CacheLimits limits = {}) : limits_(limits) {}

  // A fresh entry (now < expires_at), or null (a miss). Counts a hit or a miss; a hit makes the
  // entry most recently used.
  const CachedAnswer* fresh(const CacheKey& key, int64_t now_ms);
  // An expired positive entry still within the stale cap, or null. Counts stale_served when it
  // gives one. For the refresh-failed path only.
  const CachedAnswer* stale(const CacheKey& key, int64_t now_ms);
  // Stores `a` as of now (replacing what was there). Returns the stored entry, or null when the
  // answer may not be cached (negative without an SOA): then nothing changes, so a stale
  // positive answer stays available.
  const CachedAnswer* put(const CacheKey& key, Answer a, int64_t now_ms);

  size_t size() const { return map_.size(); }
  const CacheCounters& counters() const { return counters_; }
  const CacheLimits& limits() const { return limits_; }

 private:
  struct Node {
    CacheKey key;
    CachedAnswer value;
  };
  using Lru = std::list<Node>;  // front: most recently used

  // The entry, or null; drops it when it is past any use (expired and beyond the stale cap,
  // or an expired negative answer).
  Lru::iterator find(const CacheKey& key, int64_t now_ms);

  CacheLimits limits_;
  Lru lru_;
  std::unordered_map<CacheKey, Lru::iterator, CacheKeyHash> map_;
  CacheCounters counters_;
};

}  // namespace cw::resolver
