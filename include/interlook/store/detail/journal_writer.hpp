#pragma once
// Writes journal batches on a thread of its own, so that the core never
// waits for a disk: the core hands over a batch and goes on; while that batch
// is being written and fsynced, changes accumulate for the next one.
//
// The store belongs to the writer while a batch is in flight, to the core
// otherwise (idle() hands it back); the two never touch it at once.

#include <interlook/store/detail/journal_records.hpp>
#include <interlook/runtime/detail/thread_name.hpp>
#include <interlook/store/store.hpp>
#include <interlook/runtime/wakeup.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace interlook::detail {

class journal_writer {
 public:
  // `done` is notified after each batch, so that its consumer can submit
  // the next.
  journal_writer(state_store& store, wakeup& done) : store_(store), done_(done), thread_([this] {
        name_this_thread("interlook-store");
        run();
      }) {}
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

  // Precondition: idle(). Makes `file` (the whole state document, `bytes`
  // long) the state file and empties the journal: the fsyncs happen here,
  // not on the core.
  void submit_snapshot(atomic_file_writer file, std::size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      snapshot_.emplace(std::move(file));
      snapshot_size_ = bytes;
      busy_ = true;
    }
    cv_.notify_all();
  }

  // Precondition: idle(). `records` as written by a record_writer: this
  // thread turns them into journal lines, appends and fsyncs them.
  void submit(std::string records) {
    {
      std::lock_guard lock(mutex_);
      pending_ = std::move(records);
      busy_ = true;
    }
    cv_.notify_all();
  }

  void wait_idle() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !busy_; });
  }

  // An empty buffer for the next batch: the last one written, emptied,
  // with its capacity (a new string the first time). Precondition: idle().
  std::string take_buffer() {
    std::lock_guard lock(mutex_);
    std::string b = std::move(spare_);
    b.clear();
    return b;
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
      std::string records = std::move(pending_);
      std::optional<atomic_file_writer> snapshot = std::move(snapshot_);
      snapshot_.reset();
      lock.unlock();
      std::optional<std::string> failure;
      try {
        if (snapshot) {
          store_.finish_snapshot(std::move(*snapshot), snapshot_size_);
        } else {
          lines_.clear();
          record_reader(records, scratch_).to_journal_lines(lines_);
          store_.append(lines_);
        }
      } catch (const std::exception& e) {
        failure = e.what();
      }
      lock.lock();
      if (!snapshot) spare_ = std::move(records);
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
  std::string spare_;  // the last batch of records, for its capacity
  std::string lines_;  // the journal lines of the batch in hand
  entry scratch_;      // each record decoded in turn
  std::optional<atomic_file_writer> snapshot_;  // a state file to finish, else records
  std::size_t snapshot_size_ = 0;
  bool busy_ = false;
  bool stopping_ = false;
  std::optional<std::string> error_;
  std::thread thread_;
};

}  // namespace interlook::detail
