// Task<T>: a lazy C++20 coroutine resumed straight from the event loop (no executor layer),
// and spawn() to run a Task<void> detached. Thread contract: a task lives and dies on one loop.
#pragma once

#include <coroutine>
#include <cstdlib>
#include <exception>
#include <optional>
#include <utility>

#include "runtime/frame_allocator.h"

namespace cw::rt {

template <class T>
class Task;

namespace detail {

// Frames come from a per-thread size-class free list: a request's coroutines cost no malloc
// once the worker is warm.
struct PromiseBase {
  std::coroutine_handle<> continuation;
  // The awaiting coroutine is still inside Task::await_suspend (the child was started with a
  // plain resume() and has not suspended yet). Finishing then must not resume the parent: the
  // parent simply continues when resume() returns. This keeps a loop of tasks that complete
  // synchronously from nesting stack frames, whether or not the compiler turns symmetric
  // transfer into a tail call (it does not at -O0 or under ASan).
  bool started_inline = false;
  bool completed_inline = false;

  static void* operator new(size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, size_t n) { frame_free(p, n); }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto& p = h.promise();
      if (p.started_inline) {
        p.completed_inline = true;
        return std::noop_coroutine();
      }
      return p.continuation ? p.continuation : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  std::suspend_always initial_suspend() noexcept { return {}; }
  FinalAwaiter final_suspend() noexcept { return {}; }
  // The data plane never throws; an escaping exception is a broken invariant.
  void unhandled_exception() noexcept { std::terminate(); }
};

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  // Starts the child now; returns false (the caller goes on at once) when it finished without
  // suspending, true when it suspended and will resume the caller when it finishes.
  bool await_suspend(std::coroutine_handle<> caller) noexcept {
    auto& p = h_.promise();
    p.continuation = caller;
    p.started_inline = true;
    h_.resume();
    p.started_inline = false;
    return !p.completed_inline;
  }
  T await_resume() {
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

  Handle release() { return std::exchange(h_, {}); }

 private:
  Handle h_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

// A fire-and-forget coroutine that owns the task it runs and frees itself at the end.
struct Detached {
  struct promise_type {
    static void* operator new(size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, size_t n) { frame_free(p, n); }
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};
inline Detached run_detached(Task<void> t) { co_await std::move(t); }
}  // namespace detail

// Starts t now, on the calling thread's stack, until its first suspension; it then runs on
// whichever loop resumes it and frees itself when it finishes.
inline void spawn(Task<void> t) { detail::run_detached(std::move(t)); }

}  // namespace cw::rt
