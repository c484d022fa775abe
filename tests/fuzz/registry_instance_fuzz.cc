// libFuzzer target: the registry's registration body parser on arbitrary bytes. Beyond "no
// crash, no UB": an accepted registration satisfies every limit, and its JSON parses back to
// the same instance (what the store and the CLI rely on).
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "registry/instance.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cw::registry;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = parse_instance("api", "api-1", body);
  if (!r) {
    check(!r.error().field.empty() && !r.error().message.empty());
    return 0;
  }
  check(r->port != 0 && r->weight >= 1 && r->weight <= kMaxWeight);
  check(r->tags.size() <= kMaxTags && r->meta.size() <= kMaxMeta);
  for (const auto& t : r->tags) check(is_label(t));
  auto j = instance_json(*r);
  j.erase("service");
  j.erase("id");
  auto again = parse_instance("api", "api-1", j.dump());
  check(again.has_value() && *again == *r);
  return 0;
}
