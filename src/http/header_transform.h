// HeaderTransform: how a head's fields change on their way to the next hop, applied by the
// writer of whichever protocol carries them (HTTP/1 today, HTTP/2 next) without building a
// second header map: keep() decides on each field as it is written, append() adds the hop's own.
// Thread contract: used on the thread of the request it belongs to.
#pragma once

#include <initializer_list>
#include <string_view>

#include "http/message.h"

namespace cw::http {

// Receives the fields a transform adds. The value is the concatenation of the parts, so a
// composite value ("a, b") costs no temporary string.
class FieldSink {
 public:
  virtual void add(std::string_view name, std::initializer_list<std::string_view> value_parts) = 0;

 protected:
  ~FieldSink() = default;
};

class HeaderTransform {
 public:
  virtual ~HeaderTransform() = default;
  // Whether a field of the original head is written as it is.
  virtual bool keep(const Header& h) const = 0;
  // Adds the hop's own fields, after the kept ones.
  virtual void append(FieldSink& out) const = 0;
};

}  // namespace cw::http
