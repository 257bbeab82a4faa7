#pragma once
// A workflow entry: the core's record of one service on its way through the
// workflow. Field names are Go interlook's, in the API and the state file.

#include <interlook/message.hpp>
#include <interlook/timestamp.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace interlook {

inline constexpr std::string_view deployed_state = "deployed";
inline constexpr std::string_view undeployed_state = "undeployed";

struct entry {
  // What the state file and the API show.
  bool work_in_progress = false;
  timestamp wip_time{};
  bool expect_deployed = true;  // expected_state: deployed / undeployed
  std::string info;
  std::string error;
  timestamp time_detected{};
  timestamp last_update{};
  timestamp close_time{};
  interlook::service service;

  // Where the entry stands: 0 = undeployed, 1..K = at workflow step
  // position-1, K+1 = deployed (K = number of workflow steps). The state
  // name is derived from it.
  std::uint16_t position = 0;
  // A newer definition arrived while a step was in progress: restart the
  // forward walk once that step answers (persisted, so a crash keeps it).
  bool restart_walk = false;

  // Core-only bookkeeping, not persisted.
  bool reverse_in_flight = false;  // the step in progress is a delete
  bool sent = false;               // ...and its message went out (not held back)
  bool queued_for_store = false;   // listed for the next journal write
  bool definition_changed = false; // ...with its definition, not just its progress
  std::uint32_t retries = 0;       // consecutive failed attempts (backoff)
  std::chrono::steady_clock::time_point retry_at{};
  std::chrono::steady_clock::time_point sent_at{};  // for step latency
};

}  // namespace interlook
