// Forwarder: carries one request to its cluster and the response back. Shaped as one loop over
// tries under the route's deadline: pick a host, get a connection (pool or connect), send,
// await the response head; connect failures move to another host, and a request that fails on
// a reused keep-alive connection before any response byte is re-sent once on a fresh one.
// Retry policies, budgets and breakers (a later issue) slot into this loop.
// Thread contract: runs on the worker owning the client connection.
#pragma once

#include <string>

#include "http/message.h"
#include "proxy/downstream.h"
#include "proxy/errors.h"
#include "proxy/spans.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"

namespace cw::proxy {

class Worker;
struct WorkerGeneration;
struct ListenerSnapshot;
struct CompiledRoute;
struct RouteStats;

struct Exchange {
  Worker& worker;
  WorkerGeneration& gen;
  const ListenerSnapshot& listener;
  const CompiledRoute* route;  // null when no route matched
  Downstream& down;
  http::RequestHead& req;
  const rt::SocketAddress& peer;
  std::string_view peer_ip;  // formatted once per connection
  std::string request_id;
  bool trace = false;
  Spans spans;

  // Outcome.
  int status = 0;  // sent to the client (0 = nothing sent)
  ProxyError error = ProxyError::kNone;
  std::string upstream;       // host that answered (or failed)
  bool close_client = false;  // the client connection must close after this exchange
  uint64_t bytes_in = 0;      // request body bytes
  uint64_t bytes_out = 0;     // response body bytes
};

// Forwards ex.req to ex.route's cluster; always answers the client (response or error) unless
// the client connection broke. Sets ex.close_client when the connection cannot be reused.
rt::Task<void> forward(Exchange& ex);

// Sends the proxy's own JSON error response for ex (used by the forwarder and the session).
// fields: more JSON members for the body (see error_body), e.g. an overflow's limit. `status`
// replaces the error's own status when not 0 (an injected abort's).
rt::Task<void> send_error(Exchange& ex, ProxyError e, std::string_view cluster,
                          std::string_view detail, std::string_view fields = {}, int status = 0);

}  // namespace cw::proxy
