#pragma once
// What makes a type an interlook extension.
//
// An extension is a plain type (no base class, no virtual functions):
//
//   struct my_dns {
//     static constexpr std::string_view name = "dns.mine";  // "kind.impl"
//     struct config { ... };                                 // its YAML section
//     explicit my_dns(const config&);                        // may throw: start failure
//       (or my_dns(const config&, interlook::extension_context&) to log)
//     void start(interlook::inbox&, interlook::outbox&);     // runs until stop()
//     void stop();                                           // from another thread
//   };
//
// A provider (kind "provider") also promises to answer `refresh` requests for
// one service name with an `add` (current definition) or a `delete`, and says
// so with `static constexpr bool answers_refresh = true;`.
//
// A provisioner may instead be a handler, `message handle(message)`, which
// provisioner_adapter (handler.hpp) turns into an extension.

#include <interlook/runtime/channel.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/extension/name.hpp>

#include <concepts>
#include <string_view>
#include <type_traits>

namespace interlook {

namespace detail {
template <auto V>
struct constant_probe {};
}  // namespace detail

// E::name is a compile-time constant string of the form "kind.impl".
template <class E>
concept named_extension = requires {
  { E::name } -> std::convertible_to<std::string_view>;
  typename detail::constant_probe<std::string_view(E::name).size()>;  // usable in constant expressions
} && is_valid_extension_name(std::string_view(E::name));

// E::config names a type, and E is built from it.
// E::config names a type whose keys are described by fields(), and E is built
// from it.
template <class E>
concept configurable_extension =
    requires { typename E::config; } && described_config<typename E::config> &&
    (std::constructible_from<E, const typename E::config&> ||
     std::constructible_from<E, const typename E::config&, extension_context&>);

// E runs with start(inbox&, outbox&) until stop().
template <class E>
concept runnable_extension = requires(E& e, inbox& in, outbox& out) {
  e.start(in, out);
  e.stop();
};

template <class E>
concept extension = named_extension<E> && configurable_extension<E> && runnable_extension<E>;

template <class E>
concept provider = extension<E> && is_provider_name(std::string_view(E::name)) && requires {
  { E::answers_refresh } -> std::convertible_to<bool>;
} && bool(E::answers_refresh);

// A provider opts in to hearing its services' outcomes: the core sends it an
// add when one of its services reaches deployed (the final definition,
// public_ip included) and a delete when one reaches undeployed. It does not
// answer them (extension law 7).
template <class E>
inline constexpr bool wants_outcomes = [] {
  if constexpr (requires { E::wants_outcomes; })
    return is_provider_name(std::string_view(E::name)) && bool(E::wants_outcomes);
  else
    return false;
}();

template <class E>
concept provisioner = extension<E> && !is_provider_name(std::string_view(E::name));

// Named diagnostics, one per missing piece, instead of a failed-concept dump.
// registry<> calls this for each type it is given.
namespace detail {
// E declares something called handle or handle_batch: it meant to be a
// handler, whatever else it lacks.
template <class E>
concept tries_to_handle = requires { &E::handle; } || requires { &E::handle_batch; };
}  // namespace detail

template <class E>
constexpr bool check_extension() {
  if constexpr (detail::tries_to_handle<E> && !requires(E& e, inbox& in, outbox& out) { e.start(in, out); }) {
    static_assert(!detail::tries_to_handle<E>,
                  "interlook: a handler's `handle` has the wrong signature; write one of "
                  "`interlook::message handle(interlook::message)` (one at a time), "
                  "`void handle_batch(std::span<interlook::message>)` (batch form, <interlook/extension/batch_handler.hpp>) or "
                  "`boost::asio::awaitable<interlook::message> handle(interlook::message)` "
                  "(concurrent form, <interlook/extension/async_handler.hpp>); and it needs a nested `config` "
                  "and a constructor from `const config&`");
    return true;
  }
  static_assert(named_extension<E>,
                "interlook: an extension needs `static constexpr std::string_view name = \"kind.impl\";` "
                "(lower-case letters, digits, '-' or '_', one dot)");
  static_assert(requires { typename E::config; },
                "interlook: an extension needs a nested type `config` (its YAML section)");
  if constexpr (requires { typename E::config; }) {
    static_assert(described_config<typename E::config>,
                  "interlook: an extension's config must list its keys in `static constexpr auto fields()` "
                  "(use interlook::no_config when it has none)");
    static_assert(std::constructible_from<E, const typename E::config&> ||
                      std::constructible_from<E, const typename E::config&, extension_context&>,
                  "interlook: an extension must be constructible from `const config&` "
                  "(or `const config&, interlook::extension_context&`)");
  }
  static_assert(requires(E& e, inbox& in, outbox& out) { e.start(in, out); },
                "interlook: an extension needs `void start(interlook::inbox&, interlook::outbox&)`");
  static_assert(requires(E& e) { e.stop(); }, "interlook: an extension needs `void stop()`");
  if constexpr (named_extension<E>) {
    if constexpr (is_provider_name(std::string_view(E::name)))
      static_assert(provider<E>,
                    "interlook: a provider must answer refresh requests and declare "
                    "`static constexpr bool answers_refresh = true;`");
  }
  return true;
}

}  // namespace interlook
