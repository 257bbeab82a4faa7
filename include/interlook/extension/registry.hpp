#pragma once
// The compile-time registry: which extensions a binary contains.
//
//   using my_registry = interlook::registry<provider_file, ipam_ipalloc, my_dns>;
//
// Names are checked at compile time (valid, distinct); a runtime workflow
// string is resolved once, at start-up, into small step indices; from an
// index, with_type()/visit() reach the extension through a fold that the
// compiler turns into a switch, never a lookup by string.

#include <interlook/extension/concepts.hpp>
#include <interlook/extension/batch_handler.hpp>
#include <interlook/extension/handler.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook {

using step_index = std::uint16_t;

// A workflow string that names what the registry does not hold.
class workflow_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <std::size_t N>
constexpr bool all_distinct(const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = i + 1; j < N; ++j)
      if (names[i] == names[j]) return false;
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace detail

template <class... Es>
class registry {
 public:
  static constexpr std::size_t size = sizeof...(Es);
  static_assert(size > 0, "interlook::registry: name at least one extension");
  static_assert(size < 65535, "interlook::registry: too many extensions for a step_index");
  static_assert((check_extension<as_extension_t<Es>>() && ...));

  // The extension types, handlers already wrapped in provisioner_adapter.
  static constexpr auto types = boost::hana::tuple_t<as_extension_t<Es>...>;
  template <std::size_t I>
  using type_at = typename decltype(+boost::hana::at_c<I>(types))::type;

  static constexpr std::array<std::string_view, size> names{std::string_view(as_extension_t<Es>::name)...};
  static_assert(detail::all_distinct(names), "interlook::registry: two extensions share one name");

  static constexpr std::array<bool, size> providers{is_provider_name(std::string_view(as_extension_t<Es>::name))...};

  // Providers that asked to hear their services' outcomes (deployed,
  // undeployed) with `static constexpr bool wants_outcomes = true;`.
  static constexpr std::array<bool, size> outcomes{wants_outcomes<as_extension_t<Es>>...};

  static constexpr bool is_provider(std::size_t i) { return providers[i]; }

  // Index of an extension by its name, or by the seed guide's spelling
  // "provisioner.<impl>" for a provisioner (when only one has that impl).
  static constexpr std::optional<step_index> find(std::string_view name) {
    for (std::size_t i = 0; i < size; ++i)
      if (names[i] == name) return static_cast<step_index>(i);
    if (extension_kind(name) == "provisioner" && !extension_impl(name).empty()) {
      std::optional<step_index> hit;
      for (std::size_t i = 0; i < size; ++i) {
        if (!providers[i] && extension_impl(names[i]) == extension_impl(name)) {
          if (hit) return std::nullopt;  // ambiguous: the kind-based name is needed
          hit = static_cast<step_index>(i);
        }
      }
      return hit;
    }
    return std::nullopt;
  }

  static std::string registered_names() {
    std::string out;
    for (std::size_t i = 0; i < size; ++i) out += (i ? ", " : "") + std::string(names[i]);
    return out;
  }

  // "provider.swarm,ipam.ipalloc,lb.f5ltm" -> step indices. Throws
  // workflow_error naming the bad step and listing what is registered.
  static std::vector<step_index> resolve(std::string_view workflow) {
    std::vector<step_index> steps;
    bool any_provider = false;
    std::size_t pos = 0;
    while (pos <= workflow.size()) {
      auto comma = workflow.find(',', pos);
      if (comma == std::string_view::npos) comma = workflow.size();
      auto step = detail::trim(workflow.substr(pos, comma - pos));
      pos = comma + 1;
      if (step.empty()) {
        if (workflow.find_first_not_of(" \t,") == std::string_view::npos) break;
        throw workflow_error("empty step in workflow \"" + std::string(workflow) + "\"");
      }
      auto index = find(step);
      if (!index)
        throw workflow_error("unknown workflow step \"" + std::string(step) +
                             "\"; this binary has: " + registered_names());
      for (auto s : steps)
        if (s == *index)
          throw workflow_error("workflow step \"" + std::string(step) + "\" appears twice");
      any_provider = any_provider || is_provider(*index);
      steps.push_back(*index);
    }
    if (steps.empty()) throw workflow_error("the workflow names no step; this binary has: " + registered_names());
    if (!any_provider)
      throw workflow_error("the workflow has no provider (a provider.* step); this binary has: " +
                           registered_names());
    return steps;
  }

  // Calls f(boost::hana::type_c<E>) for the extension type at index i.
  // Returns what f returns (by value); i must be below size.
  template <class F>
  static auto with_type(std::size_t i, F&& f) {
    return dispatch(i, std::forward<F>(f), std::make_index_sequence<size>{});
  }

 private:
  template <class F, std::size_t... I>
  static auto dispatch(std::size_t i, F&& f, std::index_sequence<I...>) {
    using result = std::remove_cvref_t<decltype(f(boost::hana::type_c<type_at<0>>))>;
    if constexpr (std::is_void_v<result>) {
      ((i == I ? (f(boost::hana::type_c<type_at<I>>), true) : false) || ...);
    } else {
      std::optional<result> r;
      ((i == I ? (r.emplace(f(boost::hana::type_c<type_at<I>>)), true) : false) || ...);
      return result(std::move(*r));
    }
  }
};

// A binary whose workflow is fixed at compile time: the steps are exactly
// these extensions in this order, and the config file only carries their
// parameters (its workflowSteps, if any, must agree).
template <class... Es>
struct workflow : registry<Es...> {
  static constexpr std::array<step_index, sizeof...(Es)> steps = [] {
    std::array<step_index, sizeof...(Es)> s{};
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<step_index>(i);
    return s;
  }();
  static_assert(((is_provider_name(std::string_view(as_extension_t<Es>::name))) || ...),
                "interlook::workflow: a workflow needs a provider.* step");
};

template <class T>
struct is_compile_time_workflow : std::false_type {};
template <class... Es>
struct is_compile_time_workflow<workflow<Es...>> : std::true_type {};

}  // namespace interlook
