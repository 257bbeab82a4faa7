#pragma once
// A small leveled logger: one line per event, to stdout or a file, safe to
// call from every thread. Lines below the threshold cost one comparison.

#include <interlook/support/log_level.hpp>
#include <interlook/support/timestamp.hpp>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace interlook {

class logger {
 public:
  // target: "stdout", "stderr" or a file path (appended to).
  explicit logger(log_level threshold = log_level::info, const std::string& target = "stdout")
      : threshold_(threshold) {
    if (target == "stdout") {
      out_ = stdout;
    } else if (target == "stderr") {
      out_ = stderr;
    } else {
      out_ = std::fopen(target.c_str(), "ae");
      if (!out_) throw std::runtime_error("cannot open log file " + target + ": " + std::strerror(errno));
      owned_ = true;
    }
  }
  // Lines go to `sink` instead of a file (tests, embedding).
  using sink_fn = std::function<void(log_level, std::string_view)>;
  logger(log_level threshold, sink_fn sink) : threshold_(threshold), sink_(std::move(sink)) {}

  logger(const logger&) = delete;
  logger& operator=(const logger&) = delete;
  ~logger() {
    if (owned_) std::fclose(out_);
  }

  log_level threshold() const noexcept { return threshold_; }
  bool enabled(log_level l) const noexcept { return l >= threshold_; }

  void write(log_level l, std::string_view line) {
    if (!enabled(l)) return;
    if (sink_) {
      std::lock_guard lock(mutex_);
      sink_(l, line);
      return;
    }
    std::string text = format_timestamp(now());
    text += ' ';
    text += to_string(l);
    text += ' ';
    append_escaped(text, line);
    text += '\n';
    std::lock_guard lock(mutex_);
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fflush(out_);
  }

  // Appends `line` with its control bytes written as \n, \r or \xNN (tabs
  // stay): messages carry peers' words, and a newline in them must not
  // forge a log line of its own.
  static void append_escaped(std::string& out, std::string_view line) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u != 0x7f) {
        out += c;
      } else if (c == '\t') {
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else {
        out += "\\x";
        out += hex[u >> 4];
        out += hex[u & 15];
      }
    }
  }

  void debug(std::string_view s) { write(log_level::debug, s); }
  void info(std::string_view s) { write(log_level::info, s); }
  void warn(std::string_view s) { write(log_level::warn, s); }
  void error(std::string_view s) { write(log_level::error, s); }

 private:
  log_level threshold_;
  std::FILE* out_ = nullptr;
  bool owned_ = false;
  sink_fn sink_;
  std::mutex mutex_;
};

}  // namespace interlook
