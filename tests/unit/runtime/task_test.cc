// Task<T>: values flow through co_await, and a long loop of tasks that finish without
// suspending runs in constant stack (no reliance on tail calls, which -O0 and ASan lack).
#include "runtime/task.h"

#include <gtest/gtest.h>

namespace cw::rt {
namespace {

Task<int> add_one(int x) { co_return x + 1; }

Task<void> count_to(int n, int* out) {
  int v = 0;
  for (int i = 0; i < n; ++i) v = co_await add_one(v);
  *out = v;
}

TEST(Task, SynchronousCompletionsDoNotGrowTheStack) {
  int out = 0;
  // A million nested frames would overflow any thread stack; a flat loop does not.
  spawn(count_to(1'000'000, &out));
  EXPECT_EQ(out, 1'000'000);
}

struct Gate {
  std::coroutine_handle<> waiter;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
};

Task<int> wait_on(Gate* g) {
  co_await *g;
  co_return 42;
}

Task<void> parent(Gate* g, int* out) { *out = co_await wait_on(g); }

TEST(Task, SuspendedChildResumesItsParentWhenDone) {
  Gate g;
  int out = 0;
  spawn(parent(&g, &out));
  EXPECT_EQ(out, 0);
  ASSERT_TRUE(g.waiter);
  g.waiter.resume();
  EXPECT_EQ(out, 42);
}

}  // namespace
}  // namespace cw::rt
