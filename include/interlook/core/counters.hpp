#pragma once
// What the core counts for /metrics.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace interlook {

// Counters the core keeps for /metrics; plain integers, owned by the core.
struct workflow_counters {
  // Per workflow step: messages received from it and sent to it, by action.
  std::vector<std::array<std::uint64_t, 4>> received, sent;
  std::vector<std::uint64_t> errors;  // answers with `error`, per step
  std::uint64_t stale = 0;            // answers ignored (rule 6)
  std::uint64_t timeouts = 0;         // WIP timeouts
  std::uint64_t refreshes = 0;        // refresh requests sent
  std::uint64_t deployed = 0, undeployed = 0, removed = 0;
  // Step latency histogram (send to answer), seconds.
  static constexpr std::array<double, 12> latency_bounds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                         0.1,    0.5,    1,     5,     30,   120};
  std::array<std::uint64_t, latency_bounds.size() + 1> latency_buckets{};
  double latency_sum = 0;
  std::uint64_t latency_count = 0;

  void observe_latency(double seconds) {
    std::size_t i = 0;
    while (i < latency_bounds.size() && seconds > latency_bounds[i]) ++i;
    ++latency_buckets[i];
    latency_sum += seconds;
    ++latency_count;
  }
};

}  // namespace interlook
