// UDP sockets with batched I/O. Thread contract: see udp.h.
#include "runtime/udp.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cw::rt {

Result<OwnedFd> open_udp_socket(const SocketAddress& addr) {
  OwnedFd fd(::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail_errno(errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.family() == AF_INET6) {
    // [::] means IPv6 only here, as for TCP listeners: 0.0.0.0 is a listener of its own.
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), addr.sa(), addr.len()) != 0) return fail_errno(errno);
  return fd;
}

bool UdpOutBatch::add(std::string_view data, const sockaddr_storage& peer, socklen_t peer_len) {
  if (count >= kBatch) return false;
  const size_t i = size_t(count++);
  peers[i] = peer;
  iov[i].iov_base = const_cast<char*>(data.data());
  iov[i].iov_len = data.size();
  msgs[i] = {};
  msgs[i].msg_hdr.msg_name = &peers[i];
  msgs[i].msg_hdr.msg_namelen = peer_len;
  msgs[i].msg_hdr.msg_iov = &iov[i];
  msgs[i].msg_hdr.msg_iovlen = 1;
  return true;
}

void UdpSocket::Handle::close() {
  if (st_) loop_->close(std::exchange(st_, nullptr));
}

Result<UdpSocket> UdpSocket::adopt(EventLoop& loop, OwnedFd fd) {
  IoState* st = loop.add(fd.get());
  if (!st) return fail_errno(errno ? errno : EINVAL);
  fd.release();  // the loop's state owns it now (EventLoop::close closes it)
  UdpSocket s;
  s.stream_ = Handle(&loop, st);
  return s;
}

UdpSocket::UdpSocket(UdpSocket&& o) noexcept : counters_(o.counters_) { stream_.take(o.stream_); }

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    close();
    stream_.take(o.stream_);
    counters_ = o.counters_;
  }
  return *this;
}

void UdpSocket::close() { stream_.close(); }

int UdpSocket::fd() const { return stream_.io_state() ? stream_.io_state()->fd : -1; }

SocketAddress UdpSocket::local_address() const { return bound_address(fd()); }

Result<int> UdpSocket::receive(UdpInBatch& in) {
  in.count = 0;
  IoState* st = stream_.io_state();
  if (!st) return fail(std::errc::bad_file_descriptor);
  for (size_t i = 0; i < size_t(UdpInBatch::kBatch); ++i) {
    in.iov[i].iov_base = in.bufs[i].data();
    in.iov[i].iov_len = UdpInBatch::kBufSize;
    in.msgs[i] = {};
    in.msgs[i].msg_hdr.msg_name = &in.peers[i];
    in.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    in.msgs[i].msg_hdr.msg_iov = &in.iov[i];
    in.msgs[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    const int n = ::recvmmsg(st->fd, in.msgs.data(), UdpInBatch::kBatch, MSG_DONTWAIT, nullptr);
    if (n >= 0) {
      in.count = n;
      counters_.received += uint64_t(n);
      for (int i = 0; i < n; ++i) counters_.truncated_in += in.truncated(i);
      // A short batch drained the queue: wait for the next edge before reading again.
      if (n < UdpInBatch::kBatch) st->readable = false;
      return n;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      st->readable = false;
      return 0;
    }
    // ICMP errors from an earlier send (ECONNREFUSED and kin) surface here on some kernels;
    // they concern one peer, not this socket.
    if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) continue;
    return fail_errno(errno);
  }
}

int UdpSocket::send(UdpOutBatch& out) {
  IoState* st = stream_.io_state();
  int done = 0, sent = 0;
  while (st && done < out.count) {
    const int n = ::sendmmsg(st->fd, out.msgs.data() + done, unsigned(out.count - done), 0);
    if (n > 0) {
      done += n;
      sent += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EAGAIN (buffer full) or a per-peer error on the first of the rest: drop that one and go
    // on with the others.
    ++counters_.send_dropped;
    ++done;
  }
  counters_.sent += uint64_t(sent);
  out.clear();
  return sent;
}

}  // namespace cw::rt
