#pragma once
// The `core` section of the configuration file (Go interlook's keys kept).

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/support/log_level.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace interlook {

struct core_config {
  log_level logLevel = log_level::info;
  std::uint16_t listenPort = 8080;
  std::string listenAddress;  // empty: all interfaces, as Go interlook did
  std::string logFile = "stdout";
  std::string workflowSteps;  // required unless the binary fixes its workflow
  std::string workflowEntriesFile = "./flowentries.db";
  // Go interlook polled its entries on this interval. This core is event
  // driven (it wakes on messages and on its own timers), so the key is
  // accepted for compatibility and has no effect.
  duration workflowActivityLauncherInterval = std::chrono::seconds(3);
  duration workflowHousekeeperInterval = std::chrono::seconds(60);
  duration serviceWIPTimeout = std::chrono::seconds(90);
  duration cleanUndeployedServiceAfter = std::chrono::minutes(10);
  duration serviceMaxLastUpdated = std::chrono::seconds(90);
  duration retryInitialInterval = std::chrono::seconds(5);
  duration retryMaxInterval = std::chrono::minutes(5);
  // On SIGINT/SIGTERM, how long in-flight steps may take to answer.
  duration shutdownTimeout = std::chrono::seconds(10);

  static constexpr auto fields() {
    return interlook::fields(
        optional("logLevel", &core_config::logLevel), optional("listenPort", &core_config::listenPort),
        optional("listenAddress", &core_config::listenAddress), optional("logFile", &core_config::logFile),
        optional("workflowSteps", &core_config::workflowSteps),
        optional("workflowEntriesFile", &core_config::workflowEntriesFile),
        optional("workflowActivityLauncherInterval", &core_config::workflowActivityLauncherInterval),
        optional("workflowHousekeeperInterval", &core_config::workflowHousekeeperInterval),
        optional("serviceWIPTimeout", &core_config::serviceWIPTimeout),
        optional("cleanUndeployedServiceAfter", &core_config::cleanUndeployedServiceAfter),
        optional("serviceMaxLastUpdated", &core_config::serviceMaxLastUpdated),
        optional("retryInitialInterval", &core_config::retryInitialInterval),
        optional("retryMaxInterval", &core_config::retryMaxInterval),
        optional("shutdownTimeout", &core_config::shutdownTimeout));
  }

  void validate() const {
    auto positive = [](std::string_view key, duration d) {
      if (d <= duration::zero()) throw invalid_setting(std::string(key), "must be longer than 0s");
    };
    positive("workflowActivityLauncherInterval", workflowActivityLauncherInterval);
    positive("workflowHousekeeperInterval", workflowHousekeeperInterval);
    positive("serviceWIPTimeout", serviceWIPTimeout);
    positive("serviceMaxLastUpdated", serviceMaxLastUpdated);
    positive("retryInitialInterval", retryInitialInterval);
    positive("retryMaxInterval", retryMaxInterval);
    if (shutdownTimeout < duration::zero()) throw invalid_setting("shutdownTimeout", "must not be negative");
    if (cleanUndeployedServiceAfter < duration::zero())
      throw invalid_setting("cleanUndeployedServiceAfter", "must not be negative");
    if (retryMaxInterval < retryInitialInterval)
      throw invalid_setting("retryMaxInterval", "must not be shorter than retryInitialInterval");
    if (workflowEntriesFile.empty()) throw invalid_setting("workflowEntriesFile", "must not be empty");
    if (logFile.empty()) throw invalid_setting("logFile", "must not be empty (use stdout)");
  }
};

}  // namespace interlook
