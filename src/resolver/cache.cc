// The TTL cache. Thread contract: see cache.h.
#include "resolver/cache.h"

#include "dns/name.h"

namespace cw::resolver {

CacheKey make_key(std::string_view name, uint16_t qtype) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return {dns::to_lower(name), qtype};
}

Cache::Lru::iterator Cache::find(const CacheKey& key, int64_t now_ms) {
  auto it = map_.find(key);
  if (it == map_.end()) return lru_.end();
  const CachedAnswer& v = it->second->value;
  const bool expired = now_ms >= v.expires_at_ms;
  if (expired && (v.answer.negative || now_ms >= v.expires_at_ms + limits_.stale_cap_ms)) {
    lru_.erase(it->second);
    map_.erase(it);
    return lru_.end();
  }
  return it->second;
}

const CachedAnswer* Cache::fresh(const CacheKey& key, int64_t now_ms) {
  auto it = find(key, now_ms);
  if (it == lru_.end() || now_ms >= it->value.expires_at_ms) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.hits;
  lru_.splice(lru_.begin(), lru_, it);
  return &it->value;
}

const CachedAnswer* Cache::stale(const CacheKey& key, int64_t now_ms) {
  auto it = find(key, now_ms);
  if (it == lru_.end() || it->value.answer.negative) return nullptr;
  ++counters_.stale_served;
  return &it->value;
}

const CachedAnswer* Cache::put(const CacheKey& key, Answer a, int64_t now_ms) {
  if (!a.cacheable) return nullptr;
  CachedAnswer v{std::move(a), now_ms, 0};
  v.expires_at_ms = now_ms + int64_t(v.answer.ttl_s) * 1000;
  ++counters_.stores;
  if (auto it = map_.find(key); it != map_.end()) {
    it->second->value = std::move(v);
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->value;
  }
  lru_.push_front(Node{key, std::move(v)});
  map_.emplace(key, lru_.begin());
  while (map_.size() > limits_.max_entries && !lru_.empty()) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
    ++counters_.evictions;
  }
  return map_.count(key) ? &lru_.front().value : nullptr;
}

}  // namespace cw::resolver
