// libFuzzer target: the etcd client's parsers (every gateway answer it reads, base64, and the
// watch stream's object splitter) on arbitrary bytes. Beyond "no crash, no UB": a failed parse
// says why, base64 decodes what it encodes, and the splitter cuts the same objects whatever
// the chunking (the input is fed whole and again in two pieces at a point it picks).
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etcd/codec.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
void parsed(const cw::etcd::Parsed<T>& r) {
  if (!r) check(!r.error().empty());
}

std::vector<std::string> split(std::string_view in, size_t cut) {
  std::vector<std::string> out;
  cw::etcd::JsonObjectSplitter s(4096);
  auto keep = [&](std::string_view o) {
    out.emplace_back(o);
    return true;
  };
  auto a = s.feed(in.substr(0, cut), keep);
  if (a) {
    auto b = s.feed(in.substr(cut), keep);
    if (!b) out.push_back("<error>");
  } else {
    out.push_back("<error>");
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cw::etcd;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  parsed(parse_range_response(body));
  parsed(parse_put_response(body));
  parsed(parse_deleterange_response(body));
  parsed(parse_txn_response(body));
  parsed(parse_lease_grant_response(body));
  parsed(parse_lease_keepalive_response(body));
  parsed(parse_lease_revoke_response(body));
  parsed(parse_watch_message(body));
  parsed(parse_gateway_error(body));

  auto decoded = base64_decode(body);
  if (decoded) check(base64_encode(*decoded).size() <= body.size() + 3);
  auto round = base64_decode(base64_encode(body));
  check(round && *round == body);
  // Every key with the prefix sorts below its end ("\0" = no end: the prefix is all 0xff).
  const std::string end = prefix_end(body);
  check(end == std::string(1, '\0') || end > body);

  // Where an object ends must not depend on where the bytes were cut, unless the cut lands
  // after an error (then both must report one).
  const size_t cut = size ? data[0] % (size + 1) : 0;
  auto whole = split(body, size);
  auto pieces = split(body, cut);
  check(whole == pieces);
  return 0;
}
