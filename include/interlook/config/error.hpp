#pragma once
// Configuration errors that say where: file, line and key.

#include <stdexcept>
#include <string>

namespace interlook {

class config_error : public std::runtime_error {
 public:
  // line is 1-based; 0 when the problem has no line (unreadable file).
  config_error(std::string file, int line, std::string key, const std::string& reason)
      : std::runtime_error(render(file, line, key, reason)),
        file_(std::move(file)),
        line_(line),
        key_(std::move(key)),
        reason_(reason) {}

  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  const std::string& key() const noexcept { return key_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  static std::string render(const std::string& file, int line, const std::string& key, const std::string& reason) {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
    if (!key.empty()) out += key + ": ";
    return out + reason;
  }

  std::string file_;
  int line_;
  std::string key_;
  std::string reason_;
};

// Thrown by a config type's validate() for a value that parsed but makes no
// sense; the loader adds file and line from the key.
class invalid_setting : public std::runtime_error {
 public:
  invalid_setting(std::string key, const std::string& reason) : std::runtime_error(reason), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

}  // namespace interlook
