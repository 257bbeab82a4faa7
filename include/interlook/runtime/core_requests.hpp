#pragma once
// Requests from other threads (the API, tests) to the core thread: run a
// function on the state machine between two batches, or wait until a
// predicate holds. How the entries are read without locks around them.

#include <interlook/core/state_machine.hpp>
#include <interlook/runtime/wakeup.hpp>
#include <interlook/support/duration.hpp>

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

namespace interlook {

class core_requests {
 public:
  explicit core_requests(wakeup& core) : core_(core) {}

  // Any thread: f(const state_machine&) runs on the core thread between two
  // batches; its result comes back through the future.
  template <class F>
  auto ask(F f) -> std::future<std::invoke_result_t<F, const state_machine&>> {
    using R = std::invoke_result_t<F, const state_machine&>;
    auto task = std::make_shared<std::packaged_task<R(const state_machine&)>>(std::move(f));
    auto fut = task->get_future();
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back([task](const state_machine& m) { (*task)(m); });
    }
    core_.notify();
    return fut;
  }

  // Any thread: blocks until pred(state_machine) holds after some batch, or
  // the timeout passes; returns whether it held. pred runs on the core thread.
  template <class Pred>
  bool await(Pred pred, duration timeout) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    {
      std::lock_guard lock(mutex_);
      waiters_to_add_.push_back({std::function<bool(const state_machine&)>(std::move(pred)), done});
    }
    core_.notify();
    return fut.wait_for(timeout) == std::future_status::ready;
  }

  // The core thread: runs what was asked, takes on new waiters.
  void run_jobs(const state_machine& machine) {
    std::vector<std::function<void(const state_machine&)>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(jobs_);
      for (auto& w : waiters_to_add_) waiters_.push_back(std::move(w));
      waiters_to_add_.clear();
    }
    for (auto& job : jobs) job(machine);
  }

  // The core thread: releases the waiters whose predicate holds now.
  void check_waiters(const state_machine& machine) {
    std::erase_if(waiters_, [&](waiter& w) {
      if (!w.pred(machine)) return false;
      w.done->set_value();
      return true;
    });
  }

 private:
  struct waiter {
    std::function<bool(const state_machine&)> pred;
    std::shared_ptr<std::promise<void>> done;
  };

  wakeup& core_;
  std::mutex mutex_;
  std::vector<std::function<void(const state_machine&)>> jobs_;
  std::vector<waiter> waiters_to_add_;
  std::vector<waiter> waiters_;  // the core thread's
};

}  // namespace interlook
