// DNS names on the wire (RFC 1035 3.1, 4.1.4): reading with compression pointers (bounded, only
// backwards) and writing with a per-message compression table. Thread contract: pure functions
// and a NameWriter owned by one message being built; no globals; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cw::dns {

constexpr size_t kMaxLabel = 63;  // RFC 1035 2.3.4
constexpr size_t kMaxName = 255;  // wire length, length octets and the root label included

// Names are dotted text without the trailing dot ("" is the root), case as sent: a resolver
// using 0x20 randomisation checks that the echoed question keeps its case. A label holding a
// '.' has no such text form and is refused as malformed (no name we serve has one).

// Reads the name at msg[pos]. On success returns nullptr, sets `out` and `next` (the offset just
// past the name where it sits, i.e. past the first pointer if any). On failure returns a static
// reason. Every pointer must point before the start of the run of labels it ends, so each jump
// goes strictly backwards and a loop is impossible.
const char* read_name(std::string_view msg, size_t pos, std::string& out, size_t& next);

bool iequals(std::string_view a, std::string_view b);  // ASCII case-insensitive (RFC 4343)
std::string to_lower(std::string_view s);

// Writes names into one message, pointing a suffix seen earlier at its first copy.
class NameWriter {
 public:
  // Appends `name` to `out`. compress=false writes every label (RFC 2782: the SRV target) and
  // remembers none of them. False if the name is invalid (empty label, label > 63, > 255).
  bool write(std::string& out, std::string_view name, bool compress);
  // Forgets suffixes written at offsets >= size (the message was cut back to `size`).
  void rollback(size_t size);

 private:
  std::vector<std::pair<std::string, uint16_t>> suffixes_;  // a name in a message has few
};

}  // namespace cw::dns
