#pragma once
// /metrics in the Prometheus text exposition format (version 0.0.4).

#include <interlook/core/state_machine.hpp>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace interlook {

namespace detail {
inline void metric_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}
inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace detail

// Must run on the core thread (it reads the entries). queue_depths holds,
// per workflow step, (messages waiting for the extension, messages waiting
// for the core).
inline std::string render_metrics(const state_machine& sm,
                                  const std::vector<std::pair<std::size_t, std::size_t>>& queue_depths) {
  using detail::metric_header;
  std::string out;
  const auto& steps = sm.steps();
  const auto& c = sm.counters();

  // Entries per state: every step, deployed and undeployed, zeros included.
  std::vector<std::uint64_t> per_position(steps.size() + 2, 0);
  std::uint64_t in_progress = 0, in_error = 0;
  for (const auto& [name, e] : sm.entries()) {
    ++per_position[std::min<std::size_t>(e.position, steps.size() + 1)];
    in_progress += e.work_in_progress;
    in_error += !e.error.empty();
  }
  metric_header(out, "interlook_entries", "gauge", "Workflow entries by current state.");
  for (std::size_t p = 0; p < per_position.size(); ++p) {
    if (p >= 1 && p <= steps.size() && steps[p - 1].provider) continue;  // entries never rest at a provider
    entry probe;
    probe.position = static_cast<std::uint16_t>(p);
    out += "interlook_entries{state=\"" + sm.state_name(probe) + "\"} " + std::to_string(per_position[p]) + "\n";
  }
  metric_header(out, "interlook_entries_in_progress", "gauge", "Entries with a step in progress.");
  out += "interlook_entries_in_progress " + std::to_string(in_progress) + "\n";
  metric_header(out, "interlook_entries_in_error", "gauge", "Entries stopped in error.");
  out += "interlook_entries_in_error " + std::to_string(in_error) + "\n";

  metric_header(out, "interlook_messages_total", "counter", "Messages between the core and each extension.");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    for (std::size_t a = 0; a < 4; ++a) {
      auto act = std::string(to_string(static_cast<action>(a)));
      out += "interlook_messages_total{extension=\"" + steps[i].name + "\",direction=\"received\",action=\"" + act +
             "\"} " + std::to_string(c.received[i][a]) + "\n";
      out += "interlook_messages_total{extension=\"" + steps[i].name + "\",direction=\"sent\",action=\"" + act +
             "\"} " + std::to_string(c.sent[i][a]) + "\n";
    }
  }
  metric_header(out, "interlook_errors_total", "counter", "Answers that reported an error, per extension.");
  for (std::size_t i = 0; i < steps.size(); ++i)
    out += "interlook_errors_total{extension=\"" + steps[i].name + "\"} " + std::to_string(c.errors[i]) + "\n";
  metric_header(out, "interlook_stale_answers_total", "counter", "Answers ignored as stale or foreign.");
  out += "interlook_stale_answers_total " + std::to_string(c.stale) + "\n";
  metric_header(out, "interlook_wip_timeouts_total", "counter", "Steps closed in error by the WIP timeout.");
  out += "interlook_wip_timeouts_total " + std::to_string(c.timeouts) + "\n";
  metric_header(out, "interlook_refresh_requests_total", "counter", "Refresh requests sent to providers.");
  out += "interlook_refresh_requests_total " + std::to_string(c.refreshes) + "\n";
  metric_header(out, "interlook_services_closed_total", "counter", "Walks that reached their expected state.");
  out += "interlook_services_closed_total{state=\"deployed\"} " + std::to_string(c.deployed) + "\n";
  out += "interlook_services_closed_total{state=\"undeployed\"} " + std::to_string(c.undeployed) + "\n";

  metric_header(out, "interlook_step_duration_seconds", "histogram",
                "Time from sending a step to an extension to its answer.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < workflow_counters::latency_bounds.size(); ++b) {
    cumulative += c.latency_buckets[b];
    out += "interlook_step_duration_seconds_bucket{le=\"" + detail::number(workflow_counters::latency_bounds[b]) +
           "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += c.latency_buckets.back();
  out += "interlook_step_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += "interlook_step_duration_seconds_sum " + detail::number(c.latency_sum) + "\n";
  out += "interlook_step_duration_seconds_count " + std::to_string(c.latency_count) + "\n";

  metric_header(out, "interlook_queue_depth", "gauge", "Messages waiting in each channel.");
  for (std::size_t i = 0; i < steps.size() && i < queue_depths.size(); ++i) {
    out += "interlook_queue_depth{extension=\"" + steps[i].name + "\",direction=\"to_extension\"} " +
           std::to_string(queue_depths[i].first) + "\n";
    out += "interlook_queue_depth{extension=\"" + steps[i].name + "\",direction=\"to_core\"} " +
           std::to_string(queue_depths[i].second) + "\n";
  }
  return out;
}

}  // namespace interlook
