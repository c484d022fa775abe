// `causeway trace URL [--via PROXY]`: one request, timed hop by hop (DNS, connect, first byte,
// complete) plus the proxy's own hops from its Server-Timing header, printed as a waterfall.
// Thread contract: main thread; blocking sockets (a CLI, not the data plane).
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "http/h1/parser.h"

namespace cw::cli {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void bar(const char* name, double start, double dur, double total, const std::string& note = "") {
  const int width = 40;
  int a = total > 0 ? int(start / total * width) : 0;
  int b = total > 0 ? std::max(1, int(dur / total * width)) : 1;
  if (a + b > width) b = std::max(1, width - a);
  std::string line(size_t(a), ' ');
  line += std::string(size_t(b), '#');
  std::printf("  %-18s %9.3f ms  |%-40s| %s\n", name, dur, line.c_str(), note.c_str());
}

}  // namespace

int run_trace(const std::string& url, const std::string& via) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.rfind("https://", 0) == 0) {
    std::fprintf(stderr, "causeway trace: https is not supported yet (TLS arrives with a later release)\n");
    return 1;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string connect_to = via.empty() ? authority : via;
  std::string host = connect_to, port = "80";
  if (auto colon = connect_to.rfind(':'); colon != std::string::npos && connect_to.back() != ']') {
    host = connect_to.substr(0, colon);
    port = connect_to.substr(colon + 1);
  }
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);

  auto t0 = std::chrono::steady_clock::now();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  double dns_ms = ms_since(t0);
  if (gai != 0 || !res) {
    std::fprintf(stderr, "causeway trace: cannot resolve %s: %s\n", host.c_str(), gai_strerror(gai));
    return 1;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  auto tc = std::chrono::steady_clock::now();
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  double connect_ms = ms_since(tc);
  freeaddrinfo(res);
  if (rc != 0) {
    std::fprintf(stderr, "causeway trace: cannot connect to %s: %s\n", connect_to.c_str(),
                 std::strerror(errno));
    ::close(fd);
    return 1;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + authority +
                    "\r\nUser-Agent: causeway-trace\r\nx-causeway-trace: 1\r\nConnection: close\r\n\r\n";
  auto ts = std::chrono::steady_clock::now();
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    std::fprintf(stderr, "causeway trace: send failed: %s\n", std::strerror(errno));
    ::close(fd);
    return 1;
  }
  std::string resp;
  double ttfb_ms = -1;
  char buf[65536];
  http::ResponseHead head;
  bool head_done = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (ttfb_ms < 0) ttfb_ms = ms_since(ts);
    if (!head_done) {
      resp.append(buf, size_t(n));
      auto pr = http::h1::parse_response_head(resp, {}, "GET", head);
      if (pr.status == http::h1::ParseStatus::kDone) head_done = true;
      if (pr.status == http::h1::ParseStatus::kError) break;
    }
  }
  double total_ms = ms_since(t0);
  ::close(fd);
  if (!head_done) {
    std::fprintf(stderr, "causeway trace: no valid HTTP response from %s\n", connect_to.c_str());
    return 1;
  }
  double send_at = dns_ms + connect_ms;
  std::printf("%s -> %d %s%s\n", url.c_str(), head.status, head.reason.c_str(),
              via.empty() ? "" : (" (via " + via + ")").c_str());
  bar("dns", 0, dns_ms, total_ms, host);
  bar("tcp connect", dns_ms, connect_ms, total_ms, connect_to);
  bar("first byte", send_at, ttfb_ms, total_ms);
  bar("complete", send_at, total_ms - send_at, total_ms);
  const std::string* st = head.headers.get("server-timing");
  const std::string* upstream = head.headers.get("x-causeway-upstream");
  const std::string* err = head.headers.get("x-causeway-error");
  if (st) {
    std::printf("proxy hops (Server-Timing%s%s):\n", upstream ? ", upstream " : "",
                upstream ? upstream->c_str() : "");
    double at = send_at;
    std::string_view v = *st;
    while (!v.empty()) {
      auto comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      auto semi = item.find(';');
      std::string name(item.substr(0, semi));
      std::string params(semi == std::string_view::npos ? "" : item.substr(semi + 1));
      if (auto d = params.find("dur="); d != std::string::npos) {
        double dur = std::atof(params.c_str() + d + 4);
        if (name == "total") {
          bar("  proxy total", send_at, dur, total_ms);
        } else {
          bar(("  " + name).c_str(), at, dur, total_ms);
          at += dur;
        }
      } else if (auto d2 = params.find("desc="); d2 != std::string::npos) {
        std::printf("  %-18s %s\n", ("  " + name).c_str(), params.substr(d2 + 5).c_str());
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  } else {
    std::printf("(no Server-Timing: the server is not causeway, or tracing is off)\n");
  }
  if (err) std::printf("proxy error: %s\n", err->c_str());
  return 0;
}

}  // namespace cw::cli
