#pragma once
// Provisioners that work on every message waiting at once.
//
//   struct my_dns {
//     static constexpr std::string_view name = "dns.mine";
//     static constexpr std::size_t max_batch = 256;   // optional; 1024 by default
//     struct config { ... };
//     explicit my_dns(const config&);
//     void handle_batch(std::span<interlook::message> batch);
//   };
//
// handle_batch gets up to max_batch messages, in the order the core sent them,
// does one unit of work for all of them (one durable write, one DNS UPDATE,
// one reload) and answers each in place: a message whose `error` it sets
// fails alone, the others succeed. An exception fails the whole batch with
// its text. The core sends one step per service at a time, so a batch never
// holds two messages about one service.
//
// batch_adapter<my_dns> is the extension: registry<> applies it.

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/detail/answer.hpp>
#include <interlook/extension/handler.hpp>

#include <atomic>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace interlook {

template <class H>
concept batch_handler = named_extension<H> && !is_provider_name(std::string_view(H::name)) &&
                        configurable_extension<H> && requires(H& h, std::span<message> batch) {
                          { h.handle_batch(batch) } -> std::same_as<void>;
                        };

template <batch_handler H>
class batch_adapter {
 public:
  static constexpr std::string_view name = H::name;
  using config = typename H::config;
  using handler_type = H;
  static constexpr std::size_t max_batch = [] {
    if constexpr (requires { H::max_batch; })
      return std::size_t{H::max_batch};
    else
      return std::size_t{1024};
  }();
  static_assert(max_batch > 0, "interlook: a batch handler's max_batch must be at least 1");

  explicit batch_adapter(const config& c)
    requires std::constructible_from<H, const config&>
      : handler_(c) {}
  batch_adapter(const config& c, extension_context& ctx)
    requires std::constructible_from<H, const config&, extension_context&>
      : handler_(c, ctx) {}

  void start(inbox& in, outbox& out) {
    inbox_.store(&in, std::memory_order_release);
    std::vector<message_ptr> boxes;
    boxes.reserve(max_batch);
    auto& w = in.waker();
    while (!stopped_.load(std::memory_order_acquire)) {
      auto ticket = w.prepare();
      message_ptr m;
      while (boxes.size() < max_batch && in.try_receive(m)) boxes.push_back(std::move(m));
      if (boxes.empty()) {
        if (in.closed()) return;
        w.wait(ticket);
        continue;
      }
      // A batch started is finished and answered, even when stop() comes
      // meanwhile: its unit of work is done or failed as a whole.
      run(boxes);
      for (auto& b : boxes) out.send_batched(std::move(b));
      out.flush();
      boxes.clear();
    }
  }

  void stop() {
    stopped_.store(true, std::memory_order_release);
    if (auto* in = inbox_.load(std::memory_order_acquire)) in->close();
  }

  H& get() noexcept { return handler_; }

  // One batch through the handler, in place, exceptions captured and every
  // answer's laws checked; usable directly in tests of a handler.
  void run(std::vector<message_ptr>& boxes) {
    batch_.clear();
    requests_.clear();
    for (auto& b : boxes) {
      requests_.emplace_back(b->action, b->service.name);
      batch_.push_back(std::move(*b));
    }
    try {
      handler_.handle_batch(std::span<message>(batch_));
      for (std::size_t i = 0; i < batch_.size(); ++i)
        detail::keep_identity(batch_[i], requests_[i].first, requests_[i].second, name);
    } catch (...) {
      auto what = detail::current_exception_text();
      for (std::size_t i = 0; i < batch_.size(); ++i)
        batch_[i] = detail::error_answer(requests_[i].first, requests_[i].second, name, what);
    }
    for (std::size_t i = 0; i < boxes.size(); ++i) *boxes[i] = std::move(batch_[i]);
  }

 private:
  H handler_;
  std::vector<message> batch_;
  std::vector<std::pair<action, std::string>> requests_;
  std::atomic<inbox*> inbox_{nullptr};
  std::atomic<bool> stopped_{false};
};

namespace detail {
template <class E>
  requires(!extension<E> && batch_handler<E> && !handler<E>)
struct as_extension<E> {
  using type = batch_adapter<E>;
};
}  // namespace detail

}  // namespace interlook
