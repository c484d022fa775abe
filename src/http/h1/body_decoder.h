// Incremental, zero-copy HTTP/1.1 message body decoder (Content-Length, chunked, until-close).
// Thread contract: one instance per message, used by the worker that owns the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace cw::http::h1 {

// Limits on the framing bytes of a chunked body (not on the body itself).
inline constexpr size_t kMaxChunkLineBytes = 4096;    // chunk-size line incl. extensions
inline constexpr size_t kMaxTrailerBytes = 8 * 1024;  // all trailer field lines together

class BodyDecoder {
 public:
  explicit BodyDecoder(BodyFraming framing);

  struct Step {
    size_t consumed = 0;    // input bytes used (framing + data); drop them from the buffer
    std::string_view data;  // body bytes: a view into the input, valid as long as it is
    bool done = false;      // the body is complete; input after `consumed` is the next message
    bool error = false;     // malformed chunked framing; the connection must be closed
    const char* error_reason = "";  // static string
  };

  // Consumes from `input`; returns at most one piece of body data. Call again with the rest
  // of the input (input.substr(consumed)) until consumed == 0 && data.empty() (more input
  // needed), done, or error. Framing bytes may be consumed without data (e.g. half a
  // chunk-size line): the decoder remembers them. Once done or failed, every call returns
  // the same verdict with consumed == 0.
  // kNone: done at once. kContentLength: exactly `length` bytes. kChunked: chunk extensions
  // are validated (token [= token / quoted-string]) and discarded; trailers are validated
  // and discarded. kUntilClose: everything is data and it is never done (the caller ends
  // the body at EOF).
  Step decode(std::string_view input);

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // Content-Length: body bytes still expected. Chunked: bytes left in the current chunk.
  uint64_t remaining() const { return remaining_; }

 private:
  enum class State : uint8_t {
    kIdentity,  // Content-Length data
    kUntilClose,
    kSize,          // chunk-size hex digits
    kSizeAfter,     // after the size or an extension: CR, ';' or BWS
    kSizeBws,       // BWS, then ';'
    kExtNameStart,  // after ';': BWS then a token
    kExtName,
    kExtAfterName,   // BWS then '=', ';' or CR
    kExtValueStart,  // after '=': BWS then token or quoted-string
    kExtToken,
    kExtQuoted,
    kExtQuotedPair,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
  };

  // Advances the chunked state machine by one framing byte; false on error (reason_ set).
  bool step_framing(char c);
  bool after_size_item(char c);
  bool fail(const char* reason);

  State state_;
  uint64_t remaining_ = 0;
  uint64_t chunk_size_ = 0;
  size_t size_digits_ = 0;
  size_t line_bytes_ = 0;  // bytes of the current chunk-size line
  size_t trailer_bytes_ = 0;
  const char* reason_ = "";
};

}  // namespace cw::http::h1
