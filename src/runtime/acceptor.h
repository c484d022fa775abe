// Acceptor: the runtime's one accept loop. It accepts on a TcpListener and hands each connection
// to a handler (the proxy's protocol handlers, the admin listener). Out of descriptors
// (EMFILE/ENFILE) it neither spins nor leaves clients hanging in the backlog: it frees a spare
// descriptor (FdReserve), accepts with it and closes (or serves) the connection, backs off on a
// timer and counts the error by reason.
// Thread contract: created, used and closed on the listener's loop thread; AcceptCounters are
// written there and read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

#include "base/counter.h"
#include "runtime/fd_reserve.h"
#include "runtime/tcp.h"

namespace cw::rt {

// Why an accept failed: the `reason` label of causeway_accept_errors_total.
enum class AcceptError : uint8_t {
  kEmfile,    // the process is out of descriptors (RLIMIT_NOFILE)
  kEnfile,    // the system is out of descriptors
  kNoMemory,  // ENOBUFS / ENOMEM
  kOther,
  kCount
};
std::string_view accept_error_name(AcceptError e);
AcceptError classify_accept_error(const std::error_code& ec);

struct AcceptCounters {
  Counter errors[size_t(AcceptError::kCount)];
  Counter shed;  // accepted with a spare descriptor and closed at once
};

struct AcceptOptions {
  // What a connection accepted with a spare descriptor gets: closed at once (a clean close
  // instead of a hang in the backlog), or served (the admin listener: health checks and the
  // reload that fixes the limit must still get through).
  enum class OnExhausted { kShed, kServe };
  OnExhausted on_exhausted = OnExhausted::kShed;
  int64_t backoff_min_ms = 10;  // after a failed accept; doubles while failures go on
  int64_t backoff_max_ms = 500;
  int max_per_round = 64;  // connections shed or served per exhaustion
  // kServe: called for each connection a spare descriptor admits, before it is handed over
  // (the admin closes its oldest idle connection to give a descriptor back).
  std::function<void()> on_spare_hook;
};

class Acceptor {
 public:
  using Handler = std::function<void(TcpStream)>;

  // Starts accepting at once. `reserve` and `counters` must outlive the acceptor's open life
  // (they are not touched after close()).
  Acceptor(TcpListener listener, FdReserve& reserve, AcceptCounters& counters, Handler handler,
           AcceptOptions options = {});
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Stops accepting and closes the socket; the loop coroutine finishes on a later turn of the
  // loop (also when it was backing off).
  void close();
  bool is_open() const;
  SocketAddress local_address() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cw::rt
