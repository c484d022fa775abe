// BufferPool and ConnBuffer (base/buffer.h), shared by the proxy's sessions and echo.
#include "base/buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace cw {
namespace {

void fill(ConnBuffer& b, std::string_view bytes, size_t max_total = BufferPool::kBlock) {
  size_t done = 0;
  while (done < bytes.size()) {
    const size_t space = b.prepare(max_total);
    ASSERT_GT(space, 0u);
    const size_t n = std::min(space, bytes.size() - done);
    std::memcpy(b.write_ptr(), bytes.data() + done, n);
    b.commit(n);
    done += n;
  }
}

TEST(ConnBuffer, IdleBufferHoldsNoBlockAndReturnsItToThePool) {
  BufferPool pool;
  ConnBuffer a(pool);
  EXPECT_FALSE(a.holds_storage());
  fill(a, "GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(a.holds_storage());
  const char* block = a.view().data();
  a.consume(a.size());
  a.release_if_empty();
  EXPECT_FALSE(a.holds_storage());
  // The next buffer of this worker gets the same block back, no malloc.
  ConnBuffer b(pool);
  b.prepare();
  EXPECT_EQ(b.write_ptr(), block);
}

TEST(ConnBuffer, ReleaseKeepsUnconsumedBytes) {
  BufferPool pool;
  ConnBuffer b(pool);
  fill(b, "abcdef");
  b.consume(2);
  b.release_if_empty();
  EXPECT_TRUE(b.holds_storage());
  EXPECT_EQ(b.view(), "cdef");
}

TEST(ConnBuffer, CompactsBeforeGrowingAndKeepsTheBytes) {
  BufferPool pool;
  ConnBuffer b(pool);
  const std::string first(BufferPool::kBlock, 'x');
  fill(b, first);
  b.consume(BufferPool::kBlock - 3);               // "xxx" left at the end of the block
  EXPECT_EQ(b.prepare(), BufferPool::kBlock - 3);  // moved to the front, no growth
  std::memcpy(b.write_ptr(), "yz", 2);
  b.commit(2);
  EXPECT_EQ(b.view(), "xxxyz");
}

TEST(ConnBuffer, GrowsUpToTheLimitThenRefuses) {
  BufferPool pool;
  ConnBuffer b(pool);
  const size_t limit = 3 * BufferPool::kBlock;
  std::string head(limit, 'h');
  head[0] = 'G';
  head[limit - 1] = '!';
  fill(b, head, limit);
  EXPECT_EQ(b.size(), limit);
  EXPECT_EQ(b.prepare(limit), 0u);  // full: the caller answers 431 instead of reading more
  EXPECT_EQ(b.view(), head);
}

TEST(ConnBuffer, DataIsWritableInPlace) {
  BufferPool pool;
  ConnBuffer b(pool);
  fill(b, "..abc");
  b.consume(2);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = char(b.data()[i] - 'a' + 'A');
  EXPECT_EQ(b.view(), "ABC");
}

}  // namespace
}  // namespace cw
