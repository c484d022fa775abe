// `causeway services`' admin address resolution and its blocking HTTP/1.1 client.
// Thread contract: see services_http.h (main thread, blocking, bounded by a deadline).
#include "cli/services_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "config/load.h"
#include "config/net.h"
#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "registry/instance.h"

namespace cw::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A registry listing is small, but a runaway or foreign server must not eat the machine.
constexpr size_t kMaxAnswerBytes = 64u << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string within(std::chrono::milliseconds timeout) {
  return "within " + registry::duration_text(timeout.count());
}

// Waits until `fd` is ready for `events` or the deadline passes; false on the deadline.
// EINTR restarts the wait with what is left, so a signal does not stretch or cut the bound.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, int(std::min<long long>(left, 1 << 30)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the real error
  }
}

}  // namespace

Result<AdminTarget, std::string> resolve_admin(const std::string& admin_flag,
                                               const std::string& config_path) {
  config::Address addr;
  if (!admin_flag.empty()) {
    auto a = config::parse_address(admin_flag);
    if (!a || a->port == 0) {
      return Unexpected{"--admin " + admin_flag +
                        ": want IP:PORT, such as 127.0.0.1:9901 or [::1]:9901"};
    }
    addr = *a;
  } else {
    std::string path = config_path;
    struct stat st;
    // As `causeway run` does: without -c, ./causeway.yaml is the config when it exists.
    if (path.empty() && ::stat("causeway.yaml", &st) == 0) path = "causeway.yaml";
    if (path.empty()) {
      addr = config::Admin{}.listen;  // the config model's own default, so they never drift
    } else {
      auto r = config::load_config_file(path);
      if (!r.ok()) {
        // A broken config is refused rather than skipped: falling back to the default could
        // reach a different causeway than the one this file describes.
        std::string msg = "cannot read admin.listen from " + path + ":";
        for (size_t i = 0; i < r.errors.size() && i < 3; ++i) msg += "\n  " + r.errors[i].format();
        if (r.errors.size() > 3) msg += "\n  ...";
        return Unexpected{msg + "\n(fix it, or name the admin listener with --admin ADDR)"};
      }
      addr = r.config->admin.listen;
      if (addr.port == 0) {
        return Unexpected{path +
                          ": admin.listen has port 0 (the kernel picks one at start-up); "
                          "name the admin listener with --admin ADDR"};
      }
    }
  }
  AdminTarget t;
  t.connect = addr;
  // A wildcard bind accepts on loopback too, and loopback is where the admin API is meant to
  // be reached from (SPEC 6).
  if (addr.host == "0.0.0.0") t.connect.host = "127.0.0.1";
  if (addr.host == "::") t.connect.host = "::1";
  t.text = t.connect.text();
  return t;
}

Result<HttpReply, HttpError> http_call(const AdminTarget& target, std::string_view method,
                                       std::string_view path, std::string_view body,
                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  sockaddr_storage ss{};
  socklen_t ss_len = 0;
  const bool v6 = target.connect.host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(target.connect.port);
    if (inet_pton(AF_INET6, target.connect.host.c_str(), &a->sin6_addr) != 1) {
      return Unexpected{HttpError{"not an IPv6 address: " + target.connect.host}};
    }
    ss_len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(target.connect.port);
    if (inet_pton(AF_INET, target.connect.host.c_str(), &a->sin_addr) != 1) {
      return Unexpected{HttpError{"not an IPv4 address: " + target.connect.host}};
    }
    ss_len = sizeof(sockaddr_in);
  }

  // Non-blocking so that connect, send and every read share one deadline through poll.
  Fd sock{::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (sock.fd < 0) return Unexpected{HttpError{std::strerror(errno)}};
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&ss), ss_len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) return Unexpected{HttpError{std::strerror(errno)}};
    if (!wait_ready(sock.fd, POLLOUT, deadline)) {
      return Unexpected{HttpError{"no connection " + within(timeout)}};
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Unexpected{HttpError{std::strerror(err)}};
  }

  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  req.append(target.text).append("\r\nUser-Agent: causeway-cli/" CAUSEWAY_VERSION "\r\n");
  req.append("Accept: application/json\r\nConnection: close\r\n");
  // PUT always states its length: the admin listener refuses bodies framed any other way.
  if (!body.empty() || method == "PUT" || method == "POST") {
    req.append("Content-Type: application/json\r\nContent-Length: ");
    req.append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n").append(body);
  for (size_t off = 0; off < req.size();) {
    const ssize_t n = ::send(sock.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return Unexpected{
          HttpError{std::string("sending the request: ") + std::strerror(errno), true}};
    }
    if (!wait_ready(sock.fd, POLLOUT, deadline)) {
      return Unexpected{HttpError{"the request could not be sent " + within(timeout), true}};
    }
  }

  std::string in;  // every byte read; the head is parsed from its start, the body follows
  http::ResponseHead head;
  bool have_head = false;
  size_t body_at = 0;  // where the not yet decoded body bytes start in `in`
  std::optional<http::h1::BodyDecoder> decoder;
  HttpReply reply;
  char buf[16384];
  for (;;) {
    if (have_head) {
      // Decode what has arrived; BodyDecoder handles Content-Length, chunked and until-close.
      for (;;) {
        auto step = decoder->decode(std::string_view(in).substr(body_at));
        if (step.error) {
          return Unexpected{HttpError{std::string("bad body framing: ") + step.error_reason, true}};
        }
        body_at += step.consumed;
        reply.body.append(step.data);
        if (step.done || (step.consumed == 0 && step.data.empty())) break;
      }
      if (decoder->done()) break;
    }
    if (!wait_ready(sock.fd, POLLIN, deadline)) {
      return Unexpected{HttpError{"no complete answer " + within(timeout), true}};
    }
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return Unexpected{
          HttpError{std::string("reading the answer: ") + std::strerror(errno), true}};
    }
    if (n == 0) {
      if (have_head && head.body.kind == http::BodyKind::kUntilClose) break;
      return Unexpected{HttpError{have_head ? "the connection closed in the middle of the answer"
                                            : "the connection closed without an answer",
                                  true}};
    }
    in.append(buf, size_t(n));
    if (in.size() > kMaxAnswerBytes) {
      return Unexpected{HttpError{"the answer is larger than 64 MiB", true}};
    }
    if (!have_head) {
      auto pr = http::h1::parse_response_head(in, {}, method, head);
      if (pr.status == http::h1::ParseStatus::kError) {
        return Unexpected{
            HttpError{std::string("the answer is not HTTP/1.1: ") + pr.error_reason, true}};
      }
      if (pr.status == http::h1::ParseStatus::kDone) {
        have_head = true;
        body_at = pr.consumed;
        decoder.emplace(head.body);
      }
    }
  }
  reply.status = head.status;
  return reply;
}

}  // namespace cw::cli
