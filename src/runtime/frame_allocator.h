// Per-thread free lists for coroutine frames, by 64-byte size class up to 4 KiB.
// Thread contract: a frame is freed on the thread that allocated it (shared-nothing workers).
#pragma once

#include <cstddef>

namespace cw::rt {

void* frame_alloc(size_t n);
void frame_free(void* p, size_t n);

}  // namespace cw::rt
