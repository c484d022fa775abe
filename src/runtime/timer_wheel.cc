// Hashed timing wheel: slots of intrusive circular lists, a bitmap of non-empty slots.
// Thread contract: one event loop's thread.
#include "runtime/timer_wheel.h"

#include <bit>
#include <cstddef>

namespace cw::rt {
namespace {

void link_before(TimerNode& head, TimerNode& n) {
  n.prev = head.prev;
  n.next = &head;
  head.prev->next = &n;
  head.prev = &n;
}

void unlink(TimerNode& n) {
  n.prev->next = n.next;
  n.next->prev = n.prev;
  n.prev = n.next = nullptr;
}

}  // namespace

TimerWheel::TimerWheel(int64_t now_tick) : current_tick_(now_tick) {
  for (auto& s : slots_) s.head.prev = s.head.next = &s.head;
}

void TimerWheel::arm(TimerNode& n, int64_t tick) {
  if (n.armed()) cancel(n);
  if (tick <= current_tick_) tick = current_tick_ + 1;  // never into a slot already passed
  n.expiry_tick = tick;
  std::size_t idx = std::size_t(tick) & (kSlots - 1);
  link_before(slots_[idx].head, n);
  occupied_[idx / 64] |= uint64_t(1) << (idx % 64);
  ++count_;
}

void TimerWheel::cancel(TimerNode& n) {
  if (!n.armed()) return;
  unlink(n);
  --count_;
}

void TimerWheel::advance(int64_t now_tick) {
  if (now_tick <= current_tick_) return;
  // After a stall longer than a rotation, one pass over every slot is enough.
  int64_t from = current_tick_ + 1;
  if (now_tick - from >= kSlots) from = now_tick - kSlots + 1;
  current_tick_ = now_tick;
  TimerNode due;
  due.prev = due.next = &due;
  for (int64_t t = from; t <= now_tick; ++t) {
    std::size_t idx = std::size_t(t) & (kSlots - 1);
    if (!(occupied_[idx / 64] & (uint64_t(1) << (idx % 64)))) continue;
    TimerNode& head = slots_[idx].head;
    for (TimerNode* n = head.next; n != &head;) {
      TimerNode* next = n->next;
      if (n->expiry_tick <= now_tick) {
        unlink(*n);
        link_before(due, *n);
      }
      n = next;
    }
    if (head.next == &head) occupied_[idx / 64] &= ~(uint64_t(1) << (idx % 64));
  }
  // Fire from a private list: a callback may cancel another due timer, which unlinks it here.
  while (due.next != &due) {
    TimerNode* n = due.next;
    unlink(*n);
    --count_;
    n->fire(n);
  }
}

int TimerWheel::next_timeout_ms() const {
  if (count_ == 0) return -1;
  // Scan the bitmap from the slot after now, wrapping once.
  std::size_t start = std::size_t(current_tick_ + 1) & (kSlots - 1);
  for (int step = 0; step < kSlots;) {
    std::size_t idx = (start + step) & (kSlots - 1);
    std::size_t word = idx / 64, bit = idx % 64;
    uint64_t w = occupied_[word] >> bit;
    if (w == 0) {
      step += int(64 - bit);
      continue;
    }
    int skip = std::countr_zero(w);
    idx += skip;
    step += skip;
    if (step >= kSlots) break;
    const TimerNode& head = slots_[idx].head;
    if (head.next == &head) {  // stale bit: clear and keep looking
      occupied_[word] &= ~(uint64_t(1) << (idx % 64));
      continue;
    }
    return step + 1;
  }
  return kSlots;
}

}  // namespace cw::rt
