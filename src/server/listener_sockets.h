// Opening the listening sockets a snapshot needs, all or nothing, before any worker changes:
// for each listener not already bound, one SO_REUSEPORT socket per worker on one port (a port-0
// listener's port is chosen by the kernel for its first socket and shared by the others).
// Thread contract: the control thread (start-up and reload).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "runtime/socket_address.h"

namespace cw::server {

struct OpenedListeners {
  // Every listener of the snapshot: key -> the address it is bound to (port 0 resolved).
  std::map<std::string, rt::SocketAddress> bound;
  // The new sockets, one map per worker (index = worker id).
  std::vector<proxy::ListenerFds> per_worker;
  size_t opened = 0;  // sockets in per_worker
};

// `current`: the listeners bound now (their sockets stay with the workers). On failure every
// socket opened here is closed and the errors say which listener and why, one line each.
Result<OpenedListeners, std::vector<std::string>> open_listeners(
    const proxy::ProxySnapshot& snap, const std::map<std::string, rt::SocketAddress>& current,
    int workers);

// "listener NAME: cannot listen on ADDR: REASON".
std::string listen_error(const config::Listener& l, const rt::SocketAddress& a,
                         const std::error_code& ec);

}  // namespace cw::server
