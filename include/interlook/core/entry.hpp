#pragma once
// A workflow entry: the core's record of one service on its way through the
// workflow. Field names are Go interlook's, in the API and the state file.

#include <interlook/core/message.hpp>
#include <interlook/support/timestamp.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace interlook {

inline constexpr std::string_view deployed_state = "deployed";
inline constexpr std::string_view undeployed_state = "undeployed";

// The fields every message for the entry reads or writes come first, in
// one cache line: with many entries, each answer finds its entry cold, and
// one line fetched beats five.
struct entry {
  // Where the entry stands: 0 = undeployed, 1..K = at workflow step
  // position-1, K+1 = deployed (K = number of workflow steps). The state
  // name is derived from it.
  std::uint16_t position = 0;
  bool work_in_progress = false;
  bool expect_deployed = true;  // expected_state: deployed / undeployed
  // A newer definition arrived while a step was in progress: restart the
  // forward walk once that step answers (persisted, so a crash keeps it).
  bool restart_walk = false;

  // Core-only bookkeeping, not persisted.
  bool reverse_in_flight = false;   // the step in progress is a delete
  bool sent = false;                // ...and its message went out (not held back)
  bool queued_for_store = false;    // listed for the next journal write
  bool definition_changed = false;  // ...with its definition, not just its progress
  std::uint32_t retries = 0;        // consecutive failed attempts (backoff)
  std::uint32_t slot = 0;           // the state machine's index of it (message tickets)
  std::chrono::steady_clock::time_point sent_at{};  // for step latency
  // Fingerprint of the definition last sent (0: none, or the entry's
  // definition changed since): an answer that carries it back unchanged
  // needs no comparison with the entry's copy.
  std::uint64_t sent_fingerprint = 0;

  // What the state file and the API show.
  timestamp wip_time{};
  timestamp last_update{};
  timestamp time_detected{};
  timestamp close_time{};
  std::string error;
  std::string info;
  interlook::service service;

  std::chrono::steady_clock::time_point retry_at{};
};

}  // namespace interlook
