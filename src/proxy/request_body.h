// RequestBody: the client's request body as the tries see it. Read from the client once, in
// pieces, with back-pressure; kept (up to a bound) while a re-send may still need it, so a new
// try can replay it from the start and then go on reading from the client.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstdint>
#include <string>

#include "proxy/downstream.h"

namespace cw::proxy {

class RequestBody {
 public:
  static constexpr size_t kMaxKept = 64 * 1024;

  RequestBody(Downstream& down, bool has_body) : down_(down), complete_(!has_body) {}

  using Piece = Downstream::Piece;
  // The next piece for the current try: what was kept first, then the client's next bytes.
  // Errors are the client's: timed_out, bad_message (malformed framing), or the connection's.
  rt::Task<Result<Piece>> next(int64_t deadline);

  // Keep pieces read from now on (for a re-send), up to kMaxKept; past that nothing is kept.
  void retain(bool on) { retain_ = on; }
  // Every byte read so far is kept: a new try can send the body again.
  bool replayable() const { return !lost_; }
  // A new try starts: the next pieces replay the kept bytes from the beginning.
  void rewind() { replay_pos_ = 0; }

  bool complete() const { return complete_; }  // the client's body was read to its end
  // next() has something to give: kept bytes to replay, or more to read from the client.
  bool pending() const { return replay_pos_ < kept_.size() || !complete_; }
  uint64_t bytes_read() const { return bytes_; }

 private:
  Downstream& down_;
  std::string kept_;
  size_t replay_pos_ = 0;
  uint64_t bytes_ = 0;
  bool complete_;
  bool retain_ = false;
  bool lost_ = false;
};

}  // namespace cw::proxy
