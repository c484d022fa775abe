// libFuzzer target: the YAML config loader must never crash, hang or leak on any input.
// Thread contract: libFuzzer calls it from one thread.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const cw::config::LoadResult r = cw::config::load_config_string(yaml, "fuzz.yaml");
  // Invariants: a config comes with no errors; every error says something and formats, with
  // no control character from the input reaching the terminal.
  if (r.ok() != r.errors.empty()) std::abort();
  for (const cw::config::ConfigError& e : r.errors) {
    if (e.message.empty() || e.line < 0 || e.column < 0) std::abort();
    const std::string shown = e.format();
    if (shown.empty()) std::abort();
    for (const char c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) std::abort();
    }
  }
  return 0;
}
