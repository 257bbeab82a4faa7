#pragma once
// Provisioners written as one function.
//
//   struct my_lb {
//     static constexpr std::string_view name = "lb.mine";
//     struct config { ... };
//     explicit my_lb(const config&);
//     interlook::message handle(interlook::message m);  // may throw
//   };
//
// provisioner_adapter<my_lb> is an extension: it runs the receive loop,
// answers every message, turns an exception into the answer's `error`, and
// stops when its inbox closes. registry<> applies it automatically.

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/detail/answer.hpp>

#include <atomic>
#include <exception>
#include <string>
#include <utility>

namespace interlook {

template <class H>
concept handler = named_extension<H> && !is_provider_name(std::string_view(H::name)) &&
                  configurable_extension<H> && requires(H& h, message m) {
                    { h.handle(std::move(m)) } -> std::same_as<message>;
                  };

template <handler H>
class provisioner_adapter {
 public:
  static constexpr std::string_view name = H::name;
  using config = typename H::config;
  using handler_type = H;

  explicit provisioner_adapter(const config& c)
    requires std::constructible_from<H, const config&>
      : handler_(c) {}
  provisioner_adapter(const config& c, extension_context& ctx)
    requires std::constructible_from<H, const config&, extension_context&>
      : handler_(c, ctx) {}

  void start(inbox& in, outbox& out) {
    inbox_.store(&in, std::memory_order_release);
    message_ptr m;
    auto& w = in.waker();
    while (!stopped_.load(std::memory_order_acquire)) {
      auto ticket = w.prepare();
      bool any = false;
      // Stopped: what is still queued is left unanswered; those entries
      // resume their step at the next start (rule 9), so a stop never waits
      // for a backlog.
      while (!stopped_.load(std::memory_order_acquire) && in.try_receive(m)) {
        any = true;
        *m = handle_safely(std::move(*m));
        out.send_batched(std::move(m));
      }
      out.flush();
      if (!any) {
        if (in.closed()) return;
        w.wait(ticket);
      }
    }
  }

  void stop() {
    stopped_.store(true, std::memory_order_release);
    if (auto* in = inbox_.load(std::memory_order_acquire)) in->close();
  }

  H& get() noexcept { return handler_; }

  // One message through the handler, exceptions captured and the answer's
  // laws checked; usable directly in tests of a handler.
  message handle_safely(message&& m) {
    auto act = m.action;
    std::string service_name = m.service.name;
    try {
      message answer = handler_.handle(std::move(m));
      detail::keep_identity(answer, act, service_name, name);
      return answer;
    } catch (...) {
      return detail::error_answer(act, std::move(service_name), name, detail::current_exception_text());
    }
  }

 private:
  H handler_;
  std::atomic<inbox*> inbox_{nullptr};
  std::atomic<bool> stopped_{false};
};

namespace detail {
template <class E>
struct as_extension {
  using type = E;
};
template <class E>
  requires(!extension<E> && handler<E>)
struct as_extension<E> {
  using type = provisioner_adapter<E>;
};
}  // namespace detail

// E itself when it is an extension; provisioner_adapter<E> when E is a handler.
template <class E>
using as_extension_t = typename detail::as_extension<E>::type;

}  // namespace interlook
