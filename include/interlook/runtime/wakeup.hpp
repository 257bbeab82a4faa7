#pragma once
// One wake-up primitive for a consumer that sleeps until any of several
// producers has something for it.
//
// Producers call notify() after publishing; the consumer takes a ticket,
// looks for work, and sleeps on that ticket only if it found none. A notify()
// between the ticket and the sleep makes the sleep return at once, so no
// wake-up is lost, and a producer pays for a system call only while the
// consumer actually sleeps (otherwise notify() is one atomic add and a load).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace interlook {

class wakeup {
 public:
  using ticket = std::uint64_t;
  using clock = std::chrono::steady_clock;

  // spin: how many times to re-check before sleeping. Spinning only pays
  // when producers and consumer run on different cores at once.
  explicit wakeup(unsigned spin = 200) noexcept : spin_(spin) {}
  wakeup(const wakeup&) = delete;
  wakeup& operator=(const wakeup&) = delete;

  ticket prepare() const noexcept { return epoch_.load(std::memory_order_seq_cst); }

  void notify() noexcept {
    // seq_cst here and in wait_until forms a Dekker pair on epoch_ and
    // sleeping_: either we see the sleeper, or it sees our new epoch. The
    // exchange lets only the first producer after the consumer fell asleep
    // pay for the wake-up; the others see it already claimed.
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false, std::memory_order_seq_cst)) {
      std::lock_guard lock(mutex_);
      cv_.notify_all();
    }
  }

  // Sleeps until a notify() after `seen` or until `deadline`. Returns true
  // when woken by a notify().
  bool wait_until(ticket seen, clock::time_point deadline) {
    for (unsigned i = 0; i < spin_; ++i) {
      if (epoch_.load(std::memory_order_acquire) != seen) return true;
      relax();
    }
    std::unique_lock lock(mutex_);
    bool woken = false;
    for (;;) {
      // Raised again on every pass: a producer that claimed an earlier
      // sleep (and woke us for nothing) must not leave this one unguarded.
      sleeping_.store(true, std::memory_order_seq_cst);
      if (epoch_.load(std::memory_order_seq_cst) != seen) {
        woken = true;
        break;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        woken = epoch_.load(std::memory_order_seq_cst) != seen;
        break;
      }
    }
    sleeping_.store(false, std::memory_order_relaxed);
    return woken;
  }

  void wait(ticket seen) { wait_until(seen, clock::time_point::max()); }

  // Number of notify() calls so far; for metrics and tests.
  std::uint64_t notifications() const noexcept { return epoch_.load(std::memory_order_relaxed); }

 private:
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<bool> sleeping_{false};  // one consumer per wakeup
  unsigned spin_;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace interlook
