#pragma once
// What the engine lends an extension besides its config: a logger whose
// lines carry the extension's name.

#include <interlook/support/log.hpp>

#include <string>
#include <string_view>

namespace interlook {

class extension_context {
 public:
  extension_context(logger& log, std::string_view name) : log_(&log), name_(name) {}

  std::string_view name() const noexcept { return name_; }
  bool enabled(log_level l) const noexcept { return log_->enabled(l); }
  void log(log_level l, std::string_view line) {
    if (!log_->enabled(l)) return;
    std::string text(name_);
    text += ": ";
    text += line;
    log_->write(l, text);
  }
  void debug(std::string_view s) { log(log_level::debug, s); }
  void info(std::string_view s) { log(log_level::info, s); }
  void warn(std::string_view s) { log(log_level::warn, s); }
  void error(std::string_view s) { log(log_level::error, s); }

 private:
  logger* log_;
  std::string name_;
};

}  // namespace interlook
