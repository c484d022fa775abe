// A fake etcd JSON gateway for the etcd layer's tests: a tiny HTTP/1.1 server on 127.0.0.1:0
// run on the test's own loop, answering each request as the test's handler says (whole
// answers, answers written in pieces, streams that stay open or are cut, silence), plus the
// loop-driving helpers the tests share.
// Thread contract: the test's loop thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "etcd/codec.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::etcd::testing {

// Runs the loop until pred() holds; fails the test after 10 s of wall time (a watchdog for a
// hung test, not a timing assertion).
inline bool run_until(rt::EventLoop& loop, const std::function<bool()>& pred) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) {
      ADD_FAILURE() << "condition not reached within 10 s";
      return false;
    }
    loop.run_once(5);
  }
  return true;
}

struct FakeRequest {
  int conn = 0;  // which accepted connection (1, 2, ...)
  std::string head;
  std::string path;
  std::string body;
  nlohmann::json json;  // the body, parsed (discarded when not JSON)
};

struct FakeReply {
  // Written in order; the server pauses 2 ms between pieces so they tend to arrive apart.
  std::vector<std::string> writes;
  enum class After : uint8_t { kKeepAlive, kClose, kHang } after = After::kKeepAlive;
};

inline std::string http_answer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}
inline std::string chunked_head(int status = 200) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
}
inline std::string chunk(const std::string& data) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}
inline std::string last_chunk() { return "0\r\n\r\n"; }
inline FakeReply ok(const std::string& body) { return FakeReply{{http_answer(200, body)}}; }

// etcd-shaped bodies.
inline std::string b64(const std::string& s) { return base64_encode(s); }
inline std::string header(int64_t rev) {
  return R"("header":{"cluster_id":"1","member_id":"2","revision":")" + std::to_string(rev) +
         R"(","raft_term":"2"})";
}
inline std::string kv_json(const std::string& key, const std::string& value, int64_t create,
                           int64_t mod, int64_t version) {
  return R"({"key":")" + b64(key) + R"(","create_revision":")" + std::to_string(create) +
         R"(","mod_revision":")" + std::to_string(mod) + R"(","version":")" +
         std::to_string(version) + R"(","value":")" + b64(value) + R"("})";
}

class FakeGateway {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;

  FakeGateway(rt::EventLoop& loop, Handler h) : s_(std::make_shared<State>(loop, std::move(h))) {
    auto l = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
    EXPECT_TRUE(l);
    s_->listener = std::move(*l);
    s_->live = 1;
    rt::spawn(accept_loop(s_));
  }
  ~FakeGateway() { stop(); }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(s_->listener.local_address().port());
  }
  const std::vector<FakeRequest>& requests() const { return s_->requests; }
  int accepted() const { return s_->accepted; }
  void set_handler(Handler h) { s_->handler = std::move(h); }
  // Cuts every connection now (each sees EOF).
  void cut_all() {
    for (rt::TcpStream* c : s_->conns) c->shutdown_both();
  }
  // Stops accepting and cuts every connection; run the loop until done() before the test ends.
  void stop() {
    if (s_->listener.is_open()) s_->listener.close();
    cut_all();
  }
  bool done() const { return s_->live == 0; }

 private:
  struct State {
    State(rt::EventLoop& l, Handler h) : loop(l), handler(std::move(h)) {}
    rt::EventLoop& loop;
    Handler handler;
    rt::TcpListener listener;
    std::vector<FakeRequest> requests;
    std::vector<rt::TcpStream*> conns;
    int accepted = 0;
    int live = 0;  // coroutines running
  };

  static rt::Task<void> accept_loop(std::shared_ptr<State> s) {
    for (;;) {
      auto c = co_await s->listener.accept();
      if (!c) break;
      ++s->live;
      rt::spawn(serve(s, std::move(*c), ++s->accepted));
    }
    --s->live;
  }

  static rt::Task<void> serve(std::shared_ptr<State> s, rt::TcpStream conn, int id) {
    s->conns.push_back(&conn);
    std::string in;
    char buf[4096];
    bool open = true;
    while (open) {
      // One request: head, then a Content-Length body.
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        auto n = co_await conn.read(buf, sizeof buf);
        if (!n || *n == 0) {
          open = false;
          break;
        }
        in.append(buf, *n);
      }
      if (!open) break;
      FakeRequest req;
      req.conn = id;
      req.head = in.substr(0, end + 4);
      req.path = req.head.substr(5, req.head.find(' ', 5) - 5);
      size_t len = 0;
      if (auto cl = req.head.find("Content-Length: "); cl != std::string::npos) {
        len = std::stoul(req.head.substr(cl + 16));
      }
      while (in.size() < end + 4 + len && open) {
        auto n = co_await conn.read(buf, sizeof buf);
        if (!n || *n == 0) open = false;
        if (open) in.append(buf, *n);
      }
      if (!open) break;
      req.body = in.substr(end + 4, len);
      in.erase(0, end + 4 + len);
      req.json = nlohmann::json::parse(req.body, nullptr, false);
      s->requests.push_back(req);
      FakeReply reply = s->handler(req);
      for (size_t i = 0; i < reply.writes.size() && open; ++i) {
        if (i > 0) {
          auto nap = rt::sleep_for(s->loop, 2);  // named: g++ 12 and co_await temporaries
          co_await nap;
        }
        auto w = co_await conn.write(reply.writes[i]);
        if (!w) open = false;
      }
      if (reply.after == FakeReply::After::kClose) break;
      if (reply.after == FakeReply::After::kHang) {
        while (open) {  // until the client goes (or the test cuts it)
          auto n = co_await conn.read(buf, sizeof buf);
          if (!n || *n == 0) open = false;
        }
      }
    }
    std::erase(s->conns, &conn);
    conn.close();
    --s->live;
  }

  std::shared_ptr<State> s_;
};

// A port on 127.0.0.1 where nothing listens (bound, then closed).
inline std::string refused_url(rt::EventLoop& loop) {
  auto l = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
  EXPECT_TRUE(l);
  const std::string url = "http://127.0.0.1:" + std::to_string(l->local_address().port());
  l->close();
  return url;
}

}  // namespace cw::etcd::testing
