// Connection input buffers: fixed 16 KiB blocks from a per-thread free list, held only while a
// connection has bytes in flight (idle keep-alive connections hold none). A head larger than
// a block grows into a heap block up to the caller's limit. Used by the proxy and echo.
// Thread contract: one thread (a worker's loop) owns a pool and its buffers; blocks never cross
// threads.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace cw {

class BufferPool {
 public:
  static constexpr size_t kBlock = 16 * 1024;
  static constexpr size_t kMaxCached = 1024;  // 16 MiB per worker at most

  ~BufferPool() {
    for (char* b : free_) std::free(b);
  }
  char* get() {
    if (!free_.empty()) {
      char* b = free_.back();
      free_.pop_back();
      return b;
    }
    return static_cast<char*>(std::malloc(kBlock));
  }
  void put(char* b) {
    if (free_.size() < kMaxCached) {
      free_.push_back(b);
    } else {
      std::free(b);
    }
  }

 private:
  std::vector<char*> free_;
};

// Bytes received but not yet consumed: [begin_, end_) of data_.
class ConnBuffer {
 public:
  explicit ConnBuffer(BufferPool& pool) : pool_(pool) {}
  ~ConnBuffer() { release_storage(); }
  ConnBuffer(const ConnBuffer&) = delete;
  ConnBuffer& operator=(const ConnBuffer&) = delete;

  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  // The buffered bytes, writable in place (a WebSocket payload is unmasked where it lies).
  char* data() { return data_ + begin_; }
  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Space to read into; compacts or grows (up to max_total bytes held) as needed.
  // Returns 0 when the buffer already holds max_total bytes.
  size_t prepare(size_t max_total = BufferPool::kBlock) {
    if (!data_) {
      data_ = pool_.get();
      cap_ = BufferPool::kBlock;
    }
    if (end_ == cap_ && begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == cap_ && cap_ < max_total) grow(max_total);
    return cap_ - end_;
  }
  char* write_ptr() { return data_ + end_; }
  void commit(size_t n) { end_ += n; }
  // Gives the block back when nothing is buffered (keep-alive idle).
  void release_if_empty() {
    if (empty()) release_storage();
  }
  bool holds_storage() const { return data_ != nullptr; }

 private:
  void grow(size_t max_total) {
    size_t ncap = cap_ * 2;
    if (ncap > max_total) ncap = max_total;
    if (ncap <= cap_) return;
    char* nd = static_cast<char*>(std::malloc(ncap));
    std::memcpy(nd, data_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    free_data();
    data_ = nd;
    cap_ = ncap;
  }
  void free_data() {
    if (!data_) return;
    if (cap_ == BufferPool::kBlock) {
      pool_.put(data_);
    } else {
      std::free(data_);
    }
    data_ = nullptr;
  }
  void release_storage() {
    free_data();
    cap_ = begin_ = end_ = 0;
  }

  BufferPool& pool_;
  char* data_ = nullptr;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace cw
