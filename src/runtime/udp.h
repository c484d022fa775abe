// UDP sockets on the event loop, read and written in batches (recvmmsg/sendmmsg: one syscall
// for up to kBatch datagrams each way). A server opens one socket per worker on the same port
// with SO_REUSEPORT, so the kernel spreads datagrams over workers and no socket is shared.
// Thread contract: open_udp_socket anywhere; a UdpSocket belongs to the loop it was adopted
// on and only that thread touches it (after that thread is gone, the destroying thread may).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <coroutine>
#include <cstddef>
#include <string_view>

#include "base/result.h"
#include "runtime/event_loop.h"
#include "runtime/listen_socket.h"
#include "runtime/socket_address.h"
#include "runtime/stream.h"

namespace cw::rt {

// socket + SO_REUSEADDR + SO_REUSEPORT + bind, non-blocking and close-on-exec. Port 0 picks a
// port; open the other workers' sockets on bound_address(first).
Result<OwnedFd> open_udp_socket(const SocketAddress& addr);

// Datagrams received in one batch: fixed buffers, reused every batch (no allocation).
struct UdpInBatch {
  static constexpr int kBatch = 32;
  static constexpr size_t kBufSize = 4096;  // a DNS query is far smaller; longer ones are cut
  int count = 0;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_storage, kBatch> peers{};
  std::array<std::array<char, kBufSize>, kBatch> bufs{};

  std::string_view data(int i) const {
    return {bufs[size_t(i)].data(), std::min<size_t>(msgs[size_t(i)].msg_len, kBufSize)};
  }
  // The datagram was longer than the buffer (the rest is lost).
  bool truncated(int i) const { return (msgs[size_t(i)].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  const sockaddr_storage& peer(int i) const { return peers[size_t(i)]; }
  socklen_t peer_len(int i) const { return msgs[size_t(i)].msg_hdr.msg_namelen; }
};

// Replies queued for one sendmmsg: each points at bytes the caller keeps alive until send().
struct UdpOutBatch {
  static constexpr int kBatch = UdpInBatch::kBatch;
  int count = 0;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_storage, kBatch> peers{};

  // False when full.
  bool add(std::string_view data, const sockaddr_storage& peer, socklen_t peer_len);
  void clear() { count = 0; }
};

struct UdpCounters {
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t send_dropped = 0;  // the kernel refused them (buffer full, unreachable peer)
  uint64_t truncated_in = 0;  // longer than UdpInBatch::kBufSize
};

class UdpSocket {
 public:
  UdpSocket() = default;
  // Registers fd with `loop`; call on the loop's thread.
  static Result<UdpSocket> adopt(EventLoop& loop, OwnedFd fd);
  UdpSocket(UdpSocket&& o) noexcept;
  UdpSocket& operator=(UdpSocket&& o) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket() { close(); }

  // Receives what is waiting, up to a batch, without blocking. 0: nothing (wait readable());
  // an error only when the socket failed for good.
  Result<int> receive(UdpInBatch& in);
  // Sends the batch; datagrams the kernel will not take now are dropped and counted (UDP
  // gives no promise, and a DNS client asks again): a server never waits on one client.
  int send(UdpOutBatch& out);
  // co_await: until a datagram may be waiting, or the socket is closed (an error then).
  detail::ReadableAwaiter readable() { return {stream_, kNoDeadline}; }

  // Closes now; a coroutine waiting in readable() is failed and resumes on a later turn.
  void close();
  bool is_open() const { return stream_.is_open(); }
  int fd() const;
  SocketAddress local_address() const;
  const UdpCounters& counters() const { return counters_; }

 private:
  // The loop's readiness machinery speaks Stream; a datagram socket needs only its readable
  // wait, so this adapter carries the loop and state and refuses the byte-stream steps.
  class Handle final : public Stream {
   public:
    Handle() = default;
    Handle(EventLoop* loop, IoState* st) : Stream(loop, st) {}
    const SocketAddress& peer() const override { return none_; }
    IoStep read_some(char*, size_t) override { return {0, false, {}}; }
    IoStep write_some(const iovec*, int) override { return {0, false, {}}; }
    bool idle_and_open() override { return false; }
    void shutdown_write() override {}
    void close() override;
    void reset() override { close(); }
    void take(Handle& o) {
      loop_ = o.loop_;
      st_ = o.st_;
      o.st_ = nullptr;
    }

   private:
    SocketAddress none_;
  };
  Handle stream_;
  UdpCounters counters_;
};

}  // namespace cw::rt
