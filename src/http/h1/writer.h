// HTTP/1.1 head serialization: RequestHead/ResponseHead -> bytes appended to a std::string.
// Thread contract: pure functions; any thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "http/message.h"

namespace cw::http::h1 {

inline constexpr std::string_view kChunkTrailer = "\r\n";  // ends each chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Appends "METHOD target HTTP/1.1\r\n", the headers in order, then "\r\n". Writes exactly
// what `head.headers` holds: the caller has already set Host and the framing headers
// (Content-Length / Transfer-Encoding) it wants. Names and values must be valid (the parser
// guarantees it for parsed headers; check others with is_valid_field_value in tokens.h).
void write_request_head(const RequestHead& head, std::string& out);

// Appends "HTTP/1.1 <status> <reason>\r\n" (reason_phrase(status) if head.reason is empty),
// the headers in order, then "\r\n". Same contract on headers as write_request_head.
void write_response_head(const ResponseHead& head, std::string& out);

// Appends the chunk-size line for an n-byte chunk: lowercase hex, then CRLF. n must be > 0
// (a 0 would be the last chunk: append kLastChunk instead).
void write_chunk_header(size_t n, std::string& out);

// Frames one piece of a body for the wire into iov (at most 3 entries): for chunked, the
// chunk-size line (written into `line`, >= 24 bytes), the data and its CRLF, plus the last
// chunk when `end`; otherwise the data alone. Returns the number of entries used.
int frame_body_piece(std::string_view data, bool end, bool chunked, char* line, iovec* iov);

}  // namespace cw::http::h1
