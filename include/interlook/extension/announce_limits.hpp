#pragma once
// What a provider may announce at most: `maxServices` services and
// `maxTargets` targets per service (config keys of every stock provider).
// A peer that lists more is refused by name in the log, not followed into
// an OOM: a service over maxTargets is not announced (one already announced
// keeps its last definition), and past maxServices new services wait until
// others go. What is already deployed is never undeployed for a limit.

#include <interlook/core/message.hpp>

#include <cstdint>
#include <string>

namespace interlook {

struct announce_limits {
  static constexpr std::uint32_t default_max_targets = 10000;

  std::uint32_t max_services = 0;                   // 0: no limit
  std::uint32_t max_targets = default_max_targets;  // 0: no limit

  // Why `s` cannot be announced for its targets; "" when it can.
  std::string targets_problem(const service& s) const {
    if (max_targets == 0 || s.targets.size() <= max_targets) return {};
    return std::to_string(s.targets.size()) + " targets, more than maxTargets (" + std::to_string(max_targets) + ")";
  }

  // Whether one more service fits beside `announced` ones.
  bool room_for_one_more(std::size_t announced) const noexcept { return max_services == 0 || announced < max_services; }

  std::string services_problem() const {
    return "not announced: maxServices (" + std::to_string(max_services) + ") services are announced already";
  }
};

}  // namespace interlook
