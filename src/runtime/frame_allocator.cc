// Coroutine frame free lists: a warm worker allocates request frames without malloc.
// Thread contract: thread-local state only.
#include "runtime/frame_allocator.h"

#include <cstdlib>
#include <new>

namespace cw::rt {
namespace {

constexpr size_t kGranule = 64;
constexpr size_t kClasses = 64;  // up to 4 KiB
constexpr size_t kMaxCached = 256;  // per class: bounds what an idle worker keeps

struct FreeNode {
  FreeNode* next;
};

struct FreeLists {
  FreeNode* head[kClasses] = {};
  size_t count[kClasses] = {};
  ~FreeLists() {
    for (size_t c = 0; c < kClasses; ++c) {
      while (head[c]) {
        FreeNode* n = head[c];
        head[c] = n->next;
        std::free(n);
      }
    }
  }
};

thread_local FreeLists t_lists;

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// Under ASan every frame goes to malloc so use-after-free of a frame is caught.
void* frame_alloc(size_t n) { return ::operator new(n); }
void frame_free(void* p, size_t) { ::operator delete(p); }
#else
void* frame_alloc(size_t n) {
  size_t c = (n + kGranule - 1) / kGranule;
  if (c < kClasses) {
    if (FreeNode* f = t_lists.head[c]) {
      t_lists.head[c] = f->next;
      --t_lists.count[c];
      return f;
    }
    void* p = std::malloc(c * kGranule);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void* p = std::malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}

void frame_free(void* p, size_t n) {
  size_t c = (n + kGranule - 1) / kGranule;
  if (c < kClasses && t_lists.count[c] < kMaxCached) {
    auto* f = static_cast<FreeNode*>(p);
    f->next = t_lists.head[c];
    t_lists.head[c] = f;
    ++t_lists.count[c];
    return;
  }
  std::free(p);
}
#endif

}  // namespace cw::rt
