#pragma once
// Config types describe their YAML keys in a constexpr table; no reflection.
//
//   struct config {
//     std::string url;
//     interlook::secret token;
//     interlook::duration timeout = std::chrono::seconds(5);
//     static constexpr auto fields() {
//       return interlook::fields(interlook::required("url", &config::url),
//                                interlook::optional("token", &config::token),
//                                interlook::optional("timeout", &config::timeout));
//     }
//   };
//
// Default member initialisers are the defaults. A config may also have
// `void validate() const` that throws interlook::invalid_setting.

#include <string>
#include <string_view>
#include <tuple>

namespace interlook {

// A value that must never be printed: logs, API and --check-config show it
// masked.
struct secret {
  std::string value;

  bool empty() const noexcept { return value.empty(); }
  friend bool operator==(const secret&, const secret&) = default;
};

inline constexpr std::string_view masked_secret = "********";

template <class C, class T>
struct field {
  using config_type = C;
  using value_type = T;
  std::string_view key;
  T C::*member;
  bool required;
};

template <class C, class T>
constexpr field<C, T> required(std::string_view key, T C::*member) {
  return {key, member, true};
}

template <class C, class T>
constexpr field<C, T> optional(std::string_view key, T C::*member) {
  return {key, member, false};
}

template <class... F>
constexpr std::tuple<F...> fields(F... f) {
  return std::tuple<F...>{f...};
}

template <class C>
concept described_config = requires { C::fields(); };

// A config without keys (an extension that needs no settings).
struct no_config {
  static constexpr auto fields() { return std::tuple<>{}; }
};

}  // namespace interlook
