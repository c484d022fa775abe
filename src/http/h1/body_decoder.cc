// Body decoder state machine (see body_decoder.h). Framing bytes go one at a time through
// step_framing(); chunk data is handed out in bulk as views into the input.
// Thread contract: one instance per message; no shared state.
#include "http/h1/body_decoder.h"

#include <algorithm>

#include "http/h1/tokens.h"

namespace cw::http::h1 {
namespace {

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// qdtext (RFC 9110 5.6.4): HTAB, SP, %x21, %x23-5B, %x5D-7E, obs-text.
bool is_qdtext(char c) { return c != '"' && c != '\\' && is_value_char(c); }

constexpr uint64_t kMaxChunkSize = uint64_t{1} << 63;

}  // namespace

BodyDecoder::BodyDecoder(BodyFraming framing) {
  switch (framing.kind) {
    case BodyKind::kNone:
      state_ = State::kDone;
      break;
    case BodyKind::kContentLength:
      remaining_ = framing.length;
      state_ = framing.length == 0 ? State::kDone : State::kIdentity;
      break;
    case BodyKind::kChunked:
      state_ = State::kSize;
      break;
    case BodyKind::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
}

bool BodyDecoder::fail(const char* reason) {
  state_ = State::kError;
  reason_ = reason;
  return false;
}

BodyDecoder::Step BodyDecoder::decode(std::string_view input) {
  Step s;
  switch (state_) {
    case State::kDone:
      s.done = true;
      return s;
    case State::kError:
      s.error = true;
      s.error_reason = reason_;
      return s;
    case State::kUntilClose:
      s.consumed = input.size();
      s.data = input;
      return s;
    case State::kIdentity: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size()));
      remaining_ -= n;
      s.consumed = n;
      s.data = input.substr(0, n);
      if (remaining_ == 0) {
        state_ = State::kDone;
        s.done = true;
      }
      return s;
    }
    default:
      break;
  }

  size_t i = 0;
  while (i < input.size()) {
    if (state_ == State::kData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - i));
      s.data = input.substr(i, n);
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDataCr;
      s.consumed = i + n;
      return s;
    }
    if (!step_framing(input[i++])) {
      s.consumed = i;
      s.error = true;
      s.error_reason = reason_;
      return s;
    }
    if (state_ == State::kDone) {
      s.done = true;
      break;
    }
  }
  s.consumed = i;
  return s;
}

// After the chunk size or a complete extension: CR ends the line, ';' starts an extension,
// whitespace must be followed by ';'.
bool BodyDecoder::after_size_item(char c) {
  if (c == '\r')
    state_ = State::kSizeLf;
  else if (c == ';')
    state_ = State::kExtNameStart;
  else if (is_ows(c))
    state_ = State::kSizeBws;
  else
    return fail("invalid chunk-size line");
  return true;
}

bool BodyDecoder::step_framing(char c) {
  if (state_ >= State::kSize && state_ <= State::kSizeLf) {
    if (++line_bytes_ > kMaxChunkLineBytes) return fail("chunk-size line too long");
  } else if (state_ >= State::kTrailerStart && state_ <= State::kFinalLf) {
    if (++trailer_bytes_ > kMaxTrailerBytes) return fail("trailers too large");
  }

  switch (state_) {
    case State::kSize:
      if (is_hex_digit(c)) {
        if (size_digits_ == 16) return fail("chunk size too long");
        ++size_digits_;
        chunk_size_ = (chunk_size_ << 4) | static_cast<uint64_t>(hex_value(c));
        if (chunk_size_ > kMaxChunkSize) return fail("chunk size too large");
        return true;
      }
      if (size_digits_ == 0) return fail("missing chunk size");
      return after_size_item(c);
    case State::kSizeAfter:
      return after_size_item(c);
    case State::kSizeBws:  // whitespace must lead to another extension, never to CRLF
      if (is_ows(c)) return true;
      if (c != ';') return fail("invalid chunk-size line");
      state_ = State::kExtNameStart;
      return true;
    case State::kExtNameStart:
      if (is_ows(c)) return true;
      if (!is_tchar(c)) return fail("invalid chunk extension");
      state_ = State::kExtName;
      return true;
    case State::kExtName:
      if (is_tchar(c)) return true;
      if (c == '=') {
        state_ = State::kExtValueStart;
        return true;
      }
      if (is_ows(c)) {
        state_ = State::kExtAfterName;
        return true;
      }
      return after_size_item(c);
    case State::kExtAfterName:
      if (is_ows(c)) return true;
      if (c == '=')
        state_ = State::kExtValueStart;
      else if (c == ';')
        state_ = State::kExtNameStart;
      else
        return fail("invalid chunk extension");
      return true;
    case State::kExtValueStart:
      if (is_ows(c)) return true;
      if (c == '"')
        state_ = State::kExtQuoted;
      else if (is_tchar(c))
        state_ = State::kExtToken;
      else
        return fail("invalid chunk extension");
      return true;
    case State::kExtToken:
      if (is_tchar(c)) return true;
      return after_size_item(c);
    case State::kExtQuoted:
      if (c == '"')
        state_ = State::kSizeAfter;
      else if (c == '\\')
        state_ = State::kExtQuotedPair;
      else if (!is_qdtext(c))
        return fail("invalid chunk extension");
      return true;
    case State::kExtQuotedPair:
      if (!is_value_char(c)) return fail("invalid chunk extension");
      state_ = State::kExtQuoted;
      return true;
    case State::kSizeLf:
      if (c != '\n') return fail("CR without LF in chunk-size line");
      line_bytes_ = 0;
      size_digits_ = 0;
      if (chunk_size_ == 0) {
        state_ = State::kTrailerStart;
      } else {
        remaining_ = chunk_size_;
        chunk_size_ = 0;
        state_ = State::kData;
      }
      return true;
    case State::kDataCr:
      if (c != '\r') return fail("chunk data not followed by CRLF");
      state_ = State::kDataLf;
      return true;
    case State::kDataLf:
      if (c != '\n') return fail("chunk data not followed by CRLF");
      state_ = State::kSize;
      return true;
    case State::kTrailerStart:
      if (c == '\r')
        state_ = State::kFinalLf;
      else if (is_tchar(c))
        state_ = State::kTrailerName;
      else
        return fail("invalid trailer field");
      return true;
    case State::kTrailerName:
      if (c == ':')
        state_ = State::kTrailerValue;
      else if (!is_tchar(c))
        return fail("invalid trailer field");
      return true;
    case State::kTrailerValue:
      if (c == '\r')
        state_ = State::kTrailerLf;
      else if (!is_value_char(c))
        return fail("control character in trailer");
      return true;
    case State::kTrailerLf:
      if (c != '\n') return fail("CR without LF in trailer");
      state_ = State::kTrailerStart;
      return true;
    case State::kFinalLf:
      if (c != '\n') return fail("CR without LF after trailers");
      state_ = State::kDone;
      return true;
    default:
      return fail("decoder misuse");
  }
}

}  // namespace cw::http::h1
