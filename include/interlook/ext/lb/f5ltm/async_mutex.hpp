#pragma once
// A mutex for coroutines that all run on one single-threaded executor (the
// concurrent provisioner form's io_context): lock() suspends the coroutine,
// never the thread, and waiters are served in order. Cancelling a waiting
// coroutine (the adapter's stop) ends its wait with operation_aborted and
// takes it out of the queue.
//
//   auto held = co_await m.lock();   // released when `held` goes

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <deque>
#include <memory>
#include <utility>

namespace interlook::ext::lb::f5ltm_detail {

class async_mutex {
 public:
  class guard {
   public:
    guard() = default;
    explicit guard(async_mutex* m) : m_(m) {}
    guard(guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    guard& operator=(guard&& o) noexcept {
      if (this != &o) {
        release();
        m_ = std::exchange(o.m_, nullptr);
      }
      return *this;
    }
    ~guard() { release(); }
    void release() noexcept {
      if (auto* m = std::exchange(m_, nullptr)) m->unlock();
    }

   private:
    async_mutex* m_ = nullptr;
  };

  explicit async_mutex(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;

  boost::asio::awaitable<guard> lock() {
    if (!locked_) {
      locked_ = true;
      co_return guard(this);
    }
    auto w = std::make_shared<waiter>(ex_);
    w->timer.expires_at(boost::asio::steady_timer::time_point::max());
    waiters_.push_back(w);
    boost::system::error_code ec;
    co_await w->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (w->granted) co_return guard(this);  // ownership was handed over
    std::erase(waiters_, w);
    throw boost::system::system_error(ec ? ec : boost::asio::error::operation_aborted);
  }

  bool locked() const noexcept { return locked_; }

 private:
  struct waiter {
    explicit waiter(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    bool granted = false;
  };

  void unlock() noexcept {
    while (!waiters_.empty()) {
      auto w = waiters_.front();
      waiters_.pop_front();
      w->granted = true;  // stays locked: the waiter owns it now
      try {
        w->timer.cancel();
      } catch (...) {
      }
      return;
    }
    locked_ = false;
  }

  boost::asio::any_io_executor ex_;
  bool locked_ = false;
  std::deque<std::shared_ptr<waiter>> waiters_;
};

}  // namespace interlook::ext::lb::f5ltm_detail
