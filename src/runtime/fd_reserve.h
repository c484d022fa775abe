// FdReserve: spare descriptors (open on /dev/null) held back so that the process can still act
// when it runs out: an acceptor closes one to accept and shed (or serve) a connection at EMFILE,
// and the control thread releases its own just before it opens the config file.
// Thread contract: owned and used by one thread.
#pragma once

#include <vector>

namespace cw::rt {

class FdReserve {
 public:
  // Opens up to `target` spares now (fewer when the process is already short).
  explicit FdReserve(int target);
  ~FdReserve();
  FdReserve(const FdReserve&) = delete;
  FdReserve& operator=(const FdReserve&) = delete;

  int target() const { return target_; }
  int held() const { return int(fds_.size()); }
  // Closes one spare so its slot can be used at once; false when none is held.
  bool release_one();
  void release_all();
  // Reopens spares up to the target; returns how many are held. Cheap when already full.
  int refill();

  // Releases every spare for a scope (reading the config file) and refills when it ends.
  class Borrow {
   public:
    explicit Borrow(FdReserve& r) : r_(r) { r_.release_all(); }
    ~Borrow() { r_.refill(); }
    Borrow(const Borrow&) = delete;
    Borrow& operator=(const Borrow&) = delete;

   private:
    FdReserve& r_;
  };

 private:
  int target_;
  std::vector<int> fds_;
};

}  // namespace cw::rt
