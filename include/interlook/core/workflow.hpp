#pragma once
// A workflow as the core sees it: its steps, by position, with what each
// kind of step may do.

#include <interlook/extension/name.hpp>

#include <string>
#include <string_view>

namespace interlook {

struct workflow_step {
  std::string name;  // "ipam.ipalloc"
  bool provider = false;
  bool ipam = false;  // may set the service's public_ip
  // A provider that asked to hear its services' outcomes: the core sends it
  // an add when one reaches deployed (the final definition, public_ip
  // included) and a delete when one reaches undeployed.
  bool wants_outcomes = false;
};

// The sender of what the core sends.
inline constexpr std::string_view core_sender = "core";

inline workflow_step make_workflow_step(std::string_view name) {
  return {std::string(name), is_provider_name(name), extension_kind(name) == "ipam"};
}

}  // namespace interlook
