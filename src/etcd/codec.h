// The etcd v3 JSON gateway's wire format, pure (no I/O): base64, range ends, the request bodies
// of the calls the client makes and parsers of their answers into plain structs. etcd's
// gateway speaks protobuf-as-JSON: bytes are base64, int64 are decimal strings, zero fields
// are left out. Every parser returns an error value naming what is wrong; none throws.
// Thread contract: pure functions and plain values; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cw::etcd {

// ---- the data model (what client.h speaks) ------------------------------------------------

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

// A change seen by a watch. A delete carries kv.key and kv.mod_revision (the deletion's
// revision) only.
struct Event {
  enum class Type : uint8_t { kPut, kDelete } type = Type::kPut;
  KeyValue kv;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the answer reflects
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range (all of them, also with count_only)
};

// One comparison of a transaction: `number` serves version and revisions and lease,
// `value` serves kValue.
struct Compare {
  enum class Target : uint8_t { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op : uint8_t { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;
  std::string value;
};

struct TxnOp {
  enum class Kind : uint8_t { kPut, kDelete, kRange } kind = Kind::kPut;
  std::string key, range_end, value;
  int64_t lease = 0;  // kPut only
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per kRange op of the branch taken, in order
};

struct Lease {
  int64_t id = 0;
  int64_t ttl_s = 0;
};

// One message of a watch stream. Exactly one of these shapes, as etcd 3.4 sends them:
//   created          {"result":{"header":{..},"created":true}}
//   events           {"result":{"header":{"revision":"N"},"events":[...]}}
//   compacted        {"result":{"header":{..},"canceled":true,"compact_revision":"C"}}
//   canceled         {"result":{"header":{..},"canceled":true,"cancel_reason":"..."}}
//   progress         {"result":{"header":{"revision":"N"}}}   (nothing else)
// A gateway error on the stream ({"error":{"grpc_code":14,"message":..}}) parses as an error.
struct WatchMessage {
  int64_t revision = 0;  // header.revision (absent, so 0, on a compaction cancel)
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: start_revision was compacted; list again
  std::string cancel_reason;
  std::vector<Event> events;
  // Neither created, canceled nor events: the watch is idle and current up to `revision`.
  bool progress() const { return !created && !canceled && events.empty(); }
};

// An error answer of the gateway. Unary calls answer {"error":"..","code":N,"message":".."};
// streams answer {"error":{"grpc_code":N,"http_code":..,"message":"..",..}}.
struct GatewayError {
  int code = 2;  // the gRPC status code (2 Unknown when absent)
  std::string message;
};

template <class T>
using Parsed = Result<T, std::string>;

// ---- bytes ----------------------------------------------------------------------------------

// Standard alphabet (RFC 4648 section 4) with padding, as Go's encoding/json writes []byte.
std::string base64_encode(std::string_view bytes);
// Strict: standard alphabet only, length a multiple of 4, padding only at the end.
Parsed<std::string> base64_decode(std::string_view text);

// etcd's range end for every key starting with `prefix`: the prefix with its last byte below
// 0xff incremented (0xff bytes after it dropped). "\0" (to the end of the key space) when
// there is no such byte, the empty prefix included.
std::string prefix_end(std::string_view prefix);

// ---- requests (JSON bodies) -----------------------------------------------------------------

// Linearizable unless told otherwise (the gateway's default).
std::string range_request(std::string_view key, std::string_view range_end = {},
                          bool count_only = false);
std::string put_request(std::string_view key, std::string_view value, int64_t lease = 0);
std::string deleterange_request(std::string_view key, std::string_view range_end = {});
std::string txn_request(const std::vector<Compare>& cmp, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure);
std::string lease_grant_request(int64_t ttl_s);
std::string lease_keepalive_request(int64_t id);
std::string lease_revoke_request(int64_t id);
// prev_kv off; progress_notify on (the watcher then learns the revision while idle).
std::string watch_create_request(std::string_view key, std::string_view range_end,
                                 int64_t start_revision, bool progress_notify = true);

// ---- answers --------------------------------------------------------------------------------

Parsed<RangeResult> parse_range_response(std::string_view body);
Parsed<int64_t> parse_put_response(std::string_view body);          // the revision
Parsed<int64_t> parse_deleterange_response(std::string_view body);  // the revision
Parsed<TxnResult> parse_txn_response(std::string_view body);
Parsed<Lease> parse_lease_grant_response(std::string_view body);
// The TTL left; 0 when the lease is gone (etcd leaves TTL out then).
Parsed<int64_t> parse_lease_keepalive_response(std::string_view body);
Parsed<void> parse_lease_revoke_response(std::string_view body);
Parsed<WatchMessage> parse_watch_message(std::string_view body);
// Either error shape; an error value when the body is neither.
Parsed<GatewayError> parse_gateway_error(std::string_view body);

// ---- streams --------------------------------------------------------------------------------

// Cuts a byte stream of concatenated JSON objects (a watch's chunked body) into whole objects,
// whatever the chunking: an object may span many pieces, a piece may hold many objects.
// Braces inside strings (and escaped quotes) are skipped; whitespace between objects is
// ignored; anything else between objects is an error, as is an object over `max_object`.
class JsonObjectSplitter {
 public:
  explicit JsonObjectSplitter(size_t max_object) : max_(max_object) {}

  // Feeds the next piece; calls on_object(std::string_view) for each object completed, in
  // order, and stops early when it returns false. Returns an error (and keeps failing) on bad
  // framing; false from on_object is not an error.
  template <class Fn>
  Result<void, std::string> feed(std::string_view piece, Fn&& on_object);

  // Bytes of an object begun but not finished.
  size_t pending() const { return buf_.size(); }

 private:
  // Scans one byte; true when it closed the object that buf_ now holds.
  bool scan(char c);

  size_t max_;
  std::string buf_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  std::string error_;
};

template <class Fn>
Result<void, std::string> JsonObjectSplitter::feed(std::string_view piece, Fn&& on_object) {
  if (!error_.empty()) return Unexpected{error_};
  for (size_t i = 0; i < piece.size(); ++i) {
    const char c = piece[i];
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') {
        error_ = "a watch stream holds something other than JSON objects";
        return Unexpected{error_};
      }
    }
    if (buf_.size() >= max_) {
      error_ = "a watch message is larger than " + std::to_string(max_) + " bytes";
      return Unexpected{error_};
    }
    buf_.push_back(c);
    if (scan(c)) {
      const bool go_on = on_object(std::string_view(buf_));
      buf_.clear();
      if (!go_on) return {};
    }
  }
  return {};
}

}  // namespace cw::etcd
