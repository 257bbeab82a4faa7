#pragma once
// Work posted from other threads to run on an extension's own thread, where
// its outbox may be used (an outbox has exactly one producer). A provider
// with a watcher thread, or a test driving an extension, posts jobs; the
// extension's receive loop runs them, woken through its inbox.
//
//   interlook::job_queue jobs;                       // a member of the extension
//   void start(inbox& in, outbox& out) {
//     jobs.serve(in, out, [&](message m, outbox& o) { ... });  // until the inbox closes
//   }
//   jobs.post([](outbox& o) { o.send(...); });       // from any thread

#include <interlook/runtime/channel.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <utility>

namespace interlook {

class job_queue {
 public:
  using job = std::function<void(outbox&)>;

  // Any thread. Before serve() starts, jobs wait and run first thing.
  void post(job j) {
    wakeup* w;
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(j));
      w = waker_;
    }
    if (w) w->notify();
  }

  // The extension's receive loop: posted jobs and inbox messages, in turn,
  // until the inbox is closed and drained.
  template <class OnMessage>
  void serve(inbox& in, outbox& out, OnMessage on_message) {
    {
      std::lock_guard lock(mutex_);
      waker_ = &in.waker();
    }
    message m;
    for (;;) {
      auto ticket = in.waker().prepare();
      std::deque<job> ready;
      {
        std::lock_guard lock(mutex_);
        ready.swap(jobs_);
      }
      for (auto& j : ready) j(out);
      bool got = false;
      while (in.try_receive(m)) {
        on_message(std::move(m), out);
        got = true;
      }
      if (!got && ready.empty()) {
        if (in.closed()) break;
        in.waker().wait(ticket);
      }
    }
    std::lock_guard lock(mutex_);
    waker_ = nullptr;
  }

 private:
  std::mutex mutex_;
  std::deque<job> jobs_;
  wakeup* waker_ = nullptr;
};

}  // namespace interlook
