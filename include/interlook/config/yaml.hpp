#pragma once
// Decoding YAML (yaml-cpp) into config types described by a fields() table.
// Every error names file, line and key.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/support/duration.hpp>

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <concepts>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace interlook {

// Where a value sits while it is decoded; what error messages are made of.
struct yaml_context {
  std::string_view file;
  std::string path;                         // "core.listenPort"
  std::vector<std::string>* warnings = nullptr;  // unknown keys land here

  static int line_of(const YAML::Node& n) {
    if (!n.IsDefined()) return 0;
    auto mark = n.Mark();
    return mark.line < 0 ? 0 : mark.line + 1;
  }
  [[noreturn]] void fail(const YAML::Node& at, const std::string& reason) const {
    throw config_error(std::string(file), line_of(at), path, reason);
  }
  void warn(const YAML::Node& at, const std::string& what) const {
    if (warnings)
      warnings->push_back(std::string(file) + ":" + std::to_string(line_of(at)) + ": " + what);
  }
  yaml_context child(std::string_view key) const {
    return {file, path.empty() ? std::string(key) : path + "." + std::string(key), warnings};
  }
};

namespace detail {

// Replaces ${NAME} with the environment variable NAME, so that secrets need
// not be written in the file. An unset variable is an error (naming the
// variable, never a value); "$${" writes a literal "${".
inline std::string substitute_env(std::string_view text, const YAML::Node& at, const yaml_context& ctx) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
    } else if (text.compare(i, 2, "${") == 0) {
      auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) ctx.fail(at, "unterminated ${...} in value");
      std::string name(text.substr(i + 2, close - i - 2));
      if (name.empty()) ctx.fail(at, "empty ${} in value");
      const char* value = std::getenv(name.c_str());
      if (!value) ctx.fail(at, "environment variable " + name + " is not set");
      out += value;
      i = close + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

inline std::string scalar_text(const YAML::Node& n, const yaml_context& ctx, std::string_view expected) {
  if (!n.IsScalar()) ctx.fail(n, "expected " + std::string(expected));
  return substitute_env(n.Scalar(), n, ctx);
}

}  // namespace detail

// decode_value overloads: one per supported value type. A user type can add
// its own in its namespace (found by ADL) with this signature.
inline void decode_value(const YAML::Node& n, std::string& out, const yaml_context& ctx) {
  if (n.IsNull()) {
    out.clear();
    return;
  }
  out = detail::scalar_text(n, ctx, "a string");
}

inline void decode_value(const YAML::Node& n, secret& out, const yaml_context& ctx) {
  if (n.IsNull()) {
    out.value.clear();
    return;
  }
  out.value = detail::scalar_text(n, ctx, "a string");
}

inline void decode_value(const YAML::Node& n, bool& out, const yaml_context& ctx) {
  std::string s = detail::scalar_text(n, ctx, "true or false");
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") {
    out = true;
  } else if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off") {
    out = false;
  } else {
    ctx.fail(n, "expected true or false, got \"" + s + "\"");
  }
}

template <std::integral T>
  requires(!std::same_as<T, bool>)
void decode_value(const YAML::Node& n, T& out, const yaml_context& ctx) {
  std::string s = detail::scalar_text(n, ctx, "a number");
  auto out_of_range = [&] {
    ctx.fail(n, "value " + s + " is out of range (" + std::to_string(std::numeric_limits<T>::min()) + ".." +
                    std::to_string(std::numeric_limits<T>::max()) + ")");
  };
  // Parsed in T's own signedness, so that every value of T reads (a uint64
  // beyond 2^63, a negative int) and "-1" for an unsigned key is out of range.
  using wide = std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>;
  const char* first = s.data();
  if constexpr (!std::is_signed_v<T>) {
    if (s.size() > 1 && s[0] == '-' && s[1] >= '0' && s[1] <= '9') out_of_range();
  }
  wide v = 0;
  auto [end, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range && end == s.data() + s.size()) out_of_range();
  if (ec != std::errc{} || end != s.data() + s.size()) ctx.fail(n, "expected a whole number, got \"" + s + "\"");
  if (v < static_cast<wide>(std::numeric_limits<T>::min()) || v > static_cast<wide>(std::numeric_limits<T>::max()))
    out_of_range();
  out = static_cast<T>(v);
}

inline void decode_value(const YAML::Node& n, duration& out, const yaml_context& ctx) {
  std::string s = detail::scalar_text(n, ctx, "a duration such as 500ms, 3s or 1h30m");
  std::string why;
  auto d = parse_duration(s, &why);
  if (!d) ctx.fail(n, "invalid duration \"" + s + "\": " + why);
  out = *d;
}

inline void decode_value(const YAML::Node& n, std::vector<std::string>& out, const yaml_context& ctx) {
  out.clear();
  if (n.IsNull()) return;
  if (!n.IsSequence()) ctx.fail(n, "expected a list");
  std::size_t i = 0;
  for (const auto& item : n) {
    out.push_back(detail::scalar_text(item, ctx.child("[" + std::to_string(i++) + "]"), "a string"));
  }
}

// Enumerations and other one-word settings: a type T supplies
// `std::optional<T> parse_setting(std::string_view, T*)` and
// `std::string_view setting_hint(T*)` (the accepted values) next to it.
template <class T>
  requires requires(std::string_view s, T* p) {
    { parse_setting(s, p) } -> std::same_as<std::optional<T>>;
    { setting_hint(p) } -> std::convertible_to<std::string_view>;
  }
void decode_value(const YAML::Node& n, T& out, const yaml_context& ctx) {
  std::string s = detail::scalar_text(n, ctx, std::string(setting_hint(static_cast<T*>(nullptr))));
  auto v = parse_setting(s, static_cast<T*>(nullptr));
  if (!v) ctx.fail(n, "invalid value \"" + s + "\" (expected " + std::string(setting_hint(static_cast<T*>(nullptr))) + ")");
  out = *v;
}

template <described_config C>
void decode_value(const YAML::Node& n, C& out, const yaml_context& ctx);

namespace detail {
template <class C>
void run_validate(const C& c, const YAML::Node& section, const yaml_context& ctx) {
  if constexpr (requires { c.validate(); }) {
    try {
      c.validate();
    } catch (const invalid_setting& e) {
      // Point at the offending key's value when the file has it, else at
      // the section. (No YAML::Node assignment: it would write the document.)
      yaml_context at = ctx.child(e.key());
      if (section.IsMap()) {
        for (const auto& kv : section)
          if (kv.first.IsScalar() && kv.first.Scalar() == e.key()) at.fail(kv.second, e.what());
      }
      at.fail(section, e.what());
    }
  }
}
}  // namespace detail

// Decodes a mapping into C through C::fields(): missing required keys and
// wrongly typed values are errors; keys C does not know are warnings (Go
// interlook ignored them, and old files carry some).
template <described_config C>
void decode_value(const YAML::Node& n, C& out, const yaml_context& ctx) {
  if (n.IsDefined() && !n.IsNull() && !n.IsMap()) ctx.fail(n, "expected a mapping of keys to values");
  constexpr auto table = C::fields();
  const bool has_map = n.IsDefined() && n.IsMap();
  std::apply(
      [&](const auto&... f) {
        [[maybe_unused]] auto one = [&](const auto& fld) {
          yaml_context at = ctx.child(fld.key);
          if (has_map) {
            for (const auto& kv : n) {
              if (kv.first.IsScalar() && kv.first.Scalar() == fld.key) {
                decode_value(kv.second, out.*(fld.member), at);
                return;
              }
            }
          }
          if (fld.required) at.fail(n, "missing required key \"" + std::string(fld.key) + "\"");
        };
        (one(f), ...);
      },
      table);
  if (has_map) {
    for (const auto& kv : n) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      bool known = std::apply([&](const auto&... f) { return ((f.key == key) || ...); }, table);
      if (!known) ctx.warn(kv.first, "unknown key \"" + ctx.child(key).path + "\" ignored");
    }
  }
  detail::run_validate(out, n, ctx);
}

// Decodes a section into a fresh C (defaults from its member initialisers).
template <described_config C>
C decode_config(const YAML::Node& section, const yaml_context& ctx) {
  C c{};
  decode_value(section, c, ctx);
  return c;
}

}  // namespace interlook
