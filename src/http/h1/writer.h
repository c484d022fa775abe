// HTTP/1.1 head serialization: RequestHead/ResponseHead -> bytes appended to a std::string.
// Thread contract: pure functions; any thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "http/header_transform.h"
#include "http/message.h"

namespace cw::http::h1 {

inline constexpr std::string_view kChunkTrailer = "\r\n";  // ends each chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Appends "METHOD target HTTP/1.1\r\n", the headers in order, then "\r\n". Without a
// transform or `framing`, writes exactly what `head.headers` holds: the caller has already set
// Host and the framing headers it wants. With `transform`, only the fields it keeps, then the
// ones it appends. With `framing`, the head's own Content-Length / Transfer-Encoding are left
// out and the framing is stated from it (chunked or a length; nothing for kNone). Names and
// values must be valid (the parser guarantees it for parsed headers; check others with
// is_valid_field_value in tokens.h).
void write_request_head(const RequestHead& head, std::string& out,
                        const HeaderTransform* transform = nullptr,
                        const BodyFraming* framing = nullptr);

// The status line, the one writer of it: "HTTP/1.<minor> <status> <reason>\r\n", with
// reason_phrase(status) when reason is empty. A status outside 100-999 is written as 500 so a
// broken invariant cannot break framing.
void write_status_line(int version_minor, int status, std::string_view reason, std::string& out);

// Appends the status line (HTTP/1.1), the headers in order, then "\r\n". Same contract on
// headers as write_request_head.
void write_response_head(const ResponseHead& head, std::string& out);

// Appends "Content-Length: n\r\n" or "Transfer-Encoding: chunked\r\n" as `framing` says
// (nothing for kNone or kUntilClose).
void write_framing(const BodyFraming& framing, std::string& out);

// Appends the chunk-size line for an n-byte chunk: lowercase hex, then CRLF. n must be > 0
// (a 0 would be the last chunk: append kLastChunk instead).
void write_chunk_header(size_t n, std::string& out);

// Frames one piece of a body for the wire into iov (at most 3 entries): for chunked, the
// chunk-size line (written into `line`, >= 24 bytes), the data and its CRLF, plus the last
// chunk when `end`; otherwise the data alone. Returns the number of entries used.
int frame_body_piece(std::string_view data, bool end, bool chunked, char* line, iovec* iov);

}  // namespace cw::http::h1
