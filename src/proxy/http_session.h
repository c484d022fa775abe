// HTTP/1.1 client sessions: one coroutine per client connection, looping over requests
// (keep-alive, pipelining). Thread contract: runs on the worker that accepted the connection.
#pragma once

#include <string>

#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::proxy {

class Worker;

// Serves requests on `client` (accepted by the listener whose key is `listener_key`) until
// the client closes, an idle or header timeout passes, an error closes it, or drain.
rt::Task<void> serve_http(Worker* worker, rt::TcpStream client, std::string listener_key);

}  // namespace cw::proxy
