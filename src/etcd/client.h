// An etcd v3 client over etcd's JSON gateway (HTTP/1.1 POSTs to /v3/... on the client port):
// Client makes unary calls (range, put, delete, txn, leases) on one keep-alive connection at a
// time; Watcher keeps a mirror of a prefix in step with etcd on a connection of its own (list,
// then watch from the next revision; resume or re-list after a break). Errors are values that
// say whether a call may have been applied (Error::Code).
// Thread contract: the loop's thread only (the control thread's); callbacks run on it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "etcd/codec.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"

namespace cw::etcd {

// KeyValue, Event, RangeResult, Compare, TxnOp, TxnResult and Lease: codec.h.

struct Error {
  enum class Code : uint8_t {
    // Not sent, or certainly not applied: connect refused or timed out on every endpoint,
    // the request not written whole, etcd said "no leader" (or another refusal it makes
    // before proposing: too many requests, not capable, unhealthy cluster).
    kUnavailable,
    // Sent, and no answer in time (or the connection broke, or the answer was garbled, or
    // etcd timed out itself): it may or may not have been applied.
    kUnknown,
    // etcd refused it: bad request, lease not found, compacted revision, duplicate key, ...
    kFailed,
    // The client was closed.
    kClosed,
  };
  Code code = Code::kUnknown;
  // For operators, naming the endpoint: "etcd http://127.0.0.1:2379: connect: Connection
  // refused", "etcd http://10.0.0.1:2379: kv/put: etcdserver: requested lease not found".
  std::string detail;
};
template <class T>
using Res = Result<T, Error>;

struct ClientOptions {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379": http, an IP literal, a port
  int64_t connect_timeout_ms = 1000;   // per endpoint tried
  // Per call, from when it is made (waiting for the connection included, connecting not):
  // the answer must be whole by then, or the call fails kUnknown.
  int64_t request_timeout_ms = 3000;
  size_t max_response_bytes = 64u << 20;      // a unary answer's body (a range of many keys)
  size_t max_watch_message_bytes = 4u << 20;  // one message of a watch stream
};

// The endpoints of `opts`, checked: each "http://IP:PORT" or "http://[IPv6]:PORT" (a path "/"
// is allowed; "localhost" is 127.0.0.1). Errors say which endpoint and why (https and host
// names: not supported).
Result<std::vector<std::string>, std::string> check_endpoints(const ClientOptions& opts);

// Unary calls. One keep-alive connection at a time; calls made while another is in flight
// wait their turn (HTTP/1.1 has no multiplexing), within their own request timeout.
// Failover: a connect failure moves on to the next endpoint at once (each endpoint is tried
// once per call); a call that timed out, or that etcd refused for want of a leader, makes the
// next call start at the next endpoint (a member cut off from its peers or hung answers
// nothing useful). Every request asks etcd to refuse at once when it has no leader
// (Grpc-Metadata-Hasleader), instead of waiting out its own 7 s proposal timeout.
// A request that went out on a kept-alive connection the server had just closed (no byte of
// an answer came back) is sent again on a new connection when it is a read (range) or a lease
// keepalive; anything else fails kUnknown.
class Client {
 public:
  // Validates the endpoints (see check_endpoints).
  static Result<std::unique_ptr<Client>, std::string> create(rt::EventLoop& loop,
                                                             ClientOptions opts);
  ~Client();  // close()s; calls in flight end on their own a little later (they hold state)
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Linearizable. range_end as etcd has it: empty = the key alone, prefix_end(p) = prefix p.
  rt::Task<Res<RangeResult>> range(std::string key, std::string range_end = {},
                                   bool count_only = false);
  rt::Task<Res<int64_t>> put(std::string key, std::string value, int64_t lease = 0);  // revision
  rt::Task<Res<int64_t>> remove(std::string key, std::string range_end = {});  // the revision
  rt::Task<Res<TxnResult>> txn(std::vector<Compare> cmp, std::vector<TxnOp> success,
                               std::vector<TxnOp> failure = {});
  rt::Task<Res<Lease>> lease_grant(int64_t ttl_s);
  // The TTL left; 0 = the lease is gone (expired or revoked).
  rt::Task<Res<int64_t>> lease_keepalive(int64_t id);
  rt::Task<Res<void>> lease_revoke(int64_t id);

  const std::string& endpoint() const;  // the one in use (or to be tried next)
  // Pending calls fail with kClosed soon (on a later turn of the loop; one that is connecting
  // once the connect ends, within connect_timeout_ms); later calls fail at once.
  void close();
  bool closed() const;
  // Calls in flight or waiting for the connection (for tests and shutdown).
  int pending() const;

  struct Core;  // shared with the calls in flight

 private:
  explicit Client(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

// Keeps a mirror of [prefix, prefix_end(prefix)) in step with etcd: lists it (range) and calls
// on_reset(kvs, revision), then watches from revision+1 and calls on_events for each batch;
// when the stream breaks it calls on_state(false, why), reconnects with capped, jittered
// back-off (resilience/backoff.h; 100 ms .. 5 s) trying the endpoints in turn, resumes from the
// last revision seen + 1 and calls on_state(true, ""); when that revision was compacted it
// lists again and calls on_reset. on_progress(revision) for progress notifications (the watch
// is idle but current up to revision). Callbacks run on the loop; none after stop() returns.
struct WatchCallbacks {
  std::function<void(std::vector<KeyValue>, int64_t revision)> on_reset;
  // revision: the mirror is complete up to it (the batch's last event's revision).
  std::function<void(std::vector<Event>, int64_t revision)> on_events;
  std::function<void(int64_t revision)> on_progress;
  // connected=true once a watch is established (after the list, when one was needed);
  // false when it breaks, and for the first failure before it was ever up. Not repeated for
  // each failed attempt while down.
  std::function<void(bool connected, std::string why)> on_state;
};

class Watcher {
 public:
  // opts.endpoints as Client::create checks them; an invalid list makes start() report the
  // error through on_state(false, why) and do nothing else.
  Watcher(rt::EventLoop& loop, ClientOptions opts, std::string prefix, WatchCallbacks cb,
          uint64_t seed = 1);
  ~Watcher();  // stop()s
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Once. Callbacks run from a later turn of the loop on, never inside start() (but a list
  // of bad endpoints is reported at once, through on_state(false, why)).
  void start();
  // No callback runs after it returns. The watch coroutine ends on a later turn of the loop
  // (a connect in flight: once it ends); running() says when it has.
  void stop();
  bool connected() const;
  int64_t revision() const;             // the last revision applied to the mirror
  const std::string& endpoint() const;  // the one in use (or to be tried next)
  bool running() const;

  struct State;  // shared with the watch coroutine

 private:
  std::shared_ptr<State> s_;
};

}  // namespace cw::etcd
