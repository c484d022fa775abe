// Relays a successful try's response to the client: hop-by-hop fields dropped, trace headers
// added, the head sent with the body bytes already here, the body streamed with back-pressure
// under the idle timeout, a 101 turned into a tunnel; the connection then goes back to the pool
// when it can carry another request.
// Thread contract: the worker owning the client connection.
#pragma once

#include "http/message.h"
#include "proxy/attempt.h"
#include "proxy/forwarder.h"
#include "runtime/task.h"

namespace cw::proxy {

// `request_complete`: the client's request body was read to its end.
rt::Task<void> relay_response(Exchange& ex, Attempt& attempt, http::ResponseHead& resp,
                              bool request_complete);

}  // namespace cw::proxy
