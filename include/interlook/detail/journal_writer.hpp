#pragma once
// Writes journal batches on a thread of its own, so that the core never
// waits for a disk: the core hands over a batch and goes on; while that batch
// is being written and fsynced, changes accumulate for the next one.
//
// The store belongs to the writer while a batch is in flight, to the core
// otherwise (idle() hands it back); the two never touch it at once.

#include <interlook/store.hpp>
#include <interlook/wakeup.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace interlook::detail {

class journal_writer {
 public:
  // `done` is notified after each batch, so that its consumer can submit
  // the next.
  journal_writer(state_store& store, wakeup& done) : store_(store), done_(done), thread_([this] { run(); }) {}
  journal_writer(const journal_writer&) = delete;
  journal_writer& operator=(const journal_writer&) = delete;
  ~journal_writer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  bool idle() const {
    std::lock_guard lock(mutex_);
    return !busy_;
  }

  // Precondition: idle().
  void submit(std::string lines) {
    {
      std::lock_guard lock(mutex_);
      pending_ = std::move(lines);
      busy_ = true;
    }
    cv_.notify_all();
  }

  void wait_idle() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !busy_; });
  }

  // The failure of the last batch, once.
  std::optional<std::string> take_error() {
    std::lock_guard lock(mutex_);
    auto e = std::move(error_);
    error_.reset();
    return e;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return busy_ || stopping_; });
      if (!busy_) return;  // stopping with nothing left to write
      std::string lines = std::move(pending_);
      lock.unlock();
      std::optional<std::string> failure;
      try {
        store_.append(lines);
      } catch (const std::exception& e) {
        failure = e.what();
      }
      lock.lock();
      if (failure) error_ = std::move(failure);
      busy_ = false;
      cv_.notify_all();
      done_.notify();
    }
  }

  state_store& store_;
  wakeup& done_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string pending_;
  bool busy_ = false;
  bool stopping_ = false;
  std::optional<std::string> error_;
  std::thread thread_;
};

}  // namespace interlook::detail
