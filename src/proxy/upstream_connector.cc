// The TCP + HTTP/1.1 connector. Thread contract: see upstream_connector.h.
#include "proxy/upstream_connector.h"

#include "runtime/tcp.h"

namespace cw::proxy {
namespace {

class TcpConnector final : public UpstreamConnector {
 public:
  rt::Task<Result<std::unique_ptr<rt::Stream>>> connect(rt::EventLoop& loop,
                                                        const upstream::Host& host,
                                                        int64_t timeout_ms) override {
    auto s = co_await rt::connect(loop, host.address, timeout_ms);
    if (!s) co_return fail(s.error());
    co_return std::unique_ptr<rt::Stream>(std::make_unique<rt::TcpStream>(std::move(*s)));
  }
  UpstreamCodec& start(upstream::UpstreamConn& conn, const http::RequestHead& req,
                       BufferPool& buffers, CodecSlot& slot) override {
    return slot.h1.emplace(*conn.stream, buffers, req.method, conn.head_buffer);
  }
};

}  // namespace

UpstreamConnector& tcp_connector() {
  static TcpConnector connector;
  return connector;
}

}  // namespace cw::proxy
