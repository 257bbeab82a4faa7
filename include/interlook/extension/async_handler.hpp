#pragma once
// Provisioners that keep several services in progress at once: a remote API
// answers in tens or hundreds of milliseconds, and one call at a time caps a
// workflow at a few services a second.
//
//   struct my_lb {
//     static constexpr std::string_view name = "lb.mine";
//     struct config {
//       std::string url;
//       unsigned maxInFlight = 16;            // required member: the key every such extension has
//       static constexpr auto fields() { ... interlook::optional("maxInFlight", &config::maxInFlight) ... }
//     };
//     my_lb(const config&, interlook::extension_context&, boost::asio::any_io_executor);
//     boost::asio::awaitable<interlook::message> handle(interlook::message m);   // may throw
//   };
//
// async_adapter<my_lb> runs one Asio io_context on the extension's thread:
// up to maxInFlight handle() coroutines at once, no thread per request. The
// core sends one step per service at a time, so two coroutines never work on
// one service. The constructor may also be (config), (config, context) or
// (config, executor); the executor is the extension's thread's, for the
// handler's clients and timers.
//
// Stop: the adapter takes no new message, cancels every coroutine in progress
// (terminal cancellation: the operation it awaits ends with
// operation_aborted) and returns once they have all finished; their answers
// are not sent, and those entries resume their step at the next start.
// Every await in handle() must therefore honour cancellation, as Asio's and
// Beast's operations (and interlook::http's client) do.

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/detail/answer.hpp>
#include <interlook/extension/handler.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace interlook {

namespace detail {
template <class H>
concept async_constructible =
    std::constructible_from<H, const typename H::config&> ||
    std::constructible_from<H, const typename H::config&, extension_context&> ||
    std::constructible_from<H, const typename H::config&, boost::asio::any_io_executor> ||
    std::constructible_from<H, const typename H::config&, extension_context&, boost::asio::any_io_executor>;
}  // namespace detail

template <class H>
concept async_handler = named_extension<H> && !is_provider_name(std::string_view(H::name)) &&
                        requires { typename H::config; } && described_config<typename H::config> &&
                        detail::async_constructible<H> && requires(H& h, message m) {
                          { h.handle(std::move(m)) } -> std::same_as<boost::asio::awaitable<message>>;
                        };

// Named diagnostics for a handler of the concurrent form.
template <class H>
constexpr bool check_async_handler() {
  static_assert(requires(typename H::config& c) { static_cast<unsigned>(c.maxInFlight); },
                "interlook: a concurrent handler's config needs `unsigned maxInFlight = ...;` listed in fields() "
                "as \"maxInFlight\" (how many services it may keep in progress at once)");
  return true;
}

template <async_handler H>
class async_adapter {
 public:
  static constexpr std::string_view name = H::name;
  using config = typename H::config;
  using handler_type = H;
  static_assert(check_async_handler<H>());

  explicit async_adapter(const config& c) : max_in_flight_(limit(c)), handler_(make(c, nullptr)) {}
  async_adapter(const config& c, extension_context& ctx) : max_in_flight_(limit(c)), handler_(make(c, &ctx)) {}

  async_adapter(const async_adapter&) = delete;
  async_adapter& operator=(const async_adapter&) = delete;

  void start(inbox& in, outbox& out) {
    in_ = &in;
    out_ = &out;
    inbox_.store(&in, std::memory_order_release);
    if (stopped_.load(std::memory_order_acquire)) return;
    // The inbox wakes a thread, not an io_context: a small pump thread sleeps
    // on it and posts a drain to the io_context when messages arrive. The
    // io_context's thread (this one) is the inbox's only consumer and the
    // outbox's only producer.
    std::thread pump([this, &in] {
      auto& w = in.waker();
      while (!stopped_.load(std::memory_order_acquire)) {
        auto ticket = w.prepare();
        if (!drain_posted_.exchange(true, std::memory_order_acq_rel))
          boost::asio::post(io_, [this] { drain(); });
        if (stopped_.load(std::memory_order_acquire)) break;
        w.wait(ticket);
      }
    });
    io_.run();
    pump.join();
  }

  void stop() {
    if (stopped_.exchange(true, std::memory_order_acq_rel)) return;
    if (auto* in = inbox_.load(std::memory_order_acquire)) in->close();  // wakes the pump
    boost::asio::post(io_, [this] {
      for (auto& [id, signal] : signals_) signal.emit(boost::asio::cancellation_type::terminal);
      guard_.reset();  // run() returns once the cancelled coroutines have finished
    });
  }

  H& get() noexcept { return *handler_; }
  boost::asio::any_io_executor executor() noexcept { return io_.get_executor(); }

  // How many services are in progress now; on the extension's thread.
  unsigned in_flight() const noexcept { return in_flight_; }

 private:
  static unsigned limit(const config& c) { return c.maxInFlight == 0 ? 1u : static_cast<unsigned>(c.maxInFlight); }

  std::unique_ptr<H> make(const config& c, extension_context* ctx) {
    auto ex = io_.get_executor();
    if constexpr (std::constructible_from<H, const config&, extension_context&, boost::asio::any_io_executor>) {
      if (!ctx) throw std::logic_error(std::string(name) + " needs an extension_context");
      return std::make_unique<H>(c, *ctx, boost::asio::any_io_executor(ex));
    } else if constexpr (std::constructible_from<H, const config&, boost::asio::any_io_executor>) {
      return std::make_unique<H>(c, boost::asio::any_io_executor(ex));
    } else if constexpr (std::constructible_from<H, const config&, extension_context&>) {
      if (!ctx) throw std::logic_error(std::string(name) + " needs an extension_context");
      return std::make_unique<H>(c, *ctx);
    } else {
      return std::make_unique<H>(c);
    }
  }

  void drain() {
    drain_posted_.store(false, std::memory_order_release);
    message_ptr m;
    while (!stopped_.load(std::memory_order_acquire) && in_flight_ < max_in_flight_ && in_->try_receive(m))
      launch(std::move(m));
    out_->flush();
  }

  void launch(message_ptr box) {
    ++in_flight_;
    auto id = next_id_++;
    auto& signal = signals_[id];
    action requested = box->action;
    std::string service_name = box->service.name;
    message request = std::move(*box);
    boost::asio::co_spawn(
        io_, handler_->handle(std::move(request)),
        boost::asio::bind_cancellation_slot(
            signal.slot(), [this, id, requested, service_name = std::move(service_name),
                            box = std::move(box)](std::exception_ptr failure, message answer) mutable {
              signals_.erase(id);
              --in_flight_;
              if (stopped_.load(std::memory_order_acquire)) return;  // resumes at the next start
              if (failure) {
                std::string what;
                try {
                  std::rethrow_exception(failure);
                } catch (...) {
                  what = detail::current_exception_text();
                }
                *box = detail::error_answer(requested, std::move(service_name), name, std::move(what));
              } else {
                detail::keep_identity(answer, requested, service_name, name);
                *box = std::move(answer);
              }
              out_->send_batched(std::move(box));
              drain();  // a slot is free; flushes the answer too
            }));
  }

  // Declared first: built before the handler (which may hold its executor's
  // objects) and destroyed after it.
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{io_.get_executor()};
  unsigned max_in_flight_;
  std::unique_ptr<H> handler_;
  // The io_context thread's alone:
  inbox* in_ = nullptr;
  outbox* out_ = nullptr;
  unsigned in_flight_ = 0;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, boost::asio::cancellation_signal> signals_;
  // Shared with the pump and stop():
  std::atomic<bool> drain_posted_{false};
  std::atomic<inbox*> inbox_{nullptr};
  std::atomic<bool> stopped_{false};
};

namespace detail {
template <class E>
  requires(!extension<E> && async_handler<E> && !handler<E>)
struct as_extension<E> {
  using type = async_adapter<E>;
};
}  // namespace detail

}  // namespace interlook
