// All-or-nothing listener opening. Thread contract: see listener_sockets.h.
#include "server/listener_sockets.h"

#include "runtime/listen_socket.h"
#include "runtime/tcp.h"

namespace cw::server {

std::string listen_error(const config::Listener& l, const rt::SocketAddress& a,
                         const std::error_code& ec) {
  return "listener " + l.name + ": cannot listen on " + a.text() + ": " + ec.message();
}

Result<OpenedListeners, std::vector<std::string>> open_listeners(
    const proxy::ProxySnapshot& snap, const std::map<std::string, rt::SocketAddress>& current,
    int workers) {
  std::vector<std::string> errors;
  // A taken port is named before anything is opened. The probe has no SO_REUSEPORT, so it
  // also catches another process (another causeway, too) already listening there.
  for (const auto& l : snap.listeners) {
    if (current.count(l->key) || l->address.port() == 0) continue;
    if (auto r = rt::probe_bind(l->address); !r) {
      errors.push_back(listen_error(l->cfg, l->address, r.error()));
    }
  }
  if (!errors.empty()) return Unexpected{std::move(errors)};

  OpenedListeners out;
  out.per_worker.resize(size_t(workers));
  for (const auto& l : snap.listeners) {
    if (auto it = current.find(l->key); it != current.end()) {
      out.bound[l->key] = it->second;
      continue;
    }
    rt::SocketAddress addr = l->address;
    for (int w = 0; w < workers; ++w) {
      auto fd = rt::open_listen_socket(addr);
      if (!fd) {
        // Closing `out` (the sockets opened so far) leaves everything as it was.
        errors.push_back(listen_error(l->cfg, addr, fd.error()));
        return Unexpected{std::move(errors)};
      }
      if (w == 0) addr = rt::bound_address(fd->get());  // port 0: the others share this port
      out.per_worker[size_t(w)][l->key] = std::move(*fd);
      ++out.opened;
    }
    out.bound[l->key] = addr;
  }
  return out;
}

}  // namespace cw::server
