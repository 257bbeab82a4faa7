#pragma once
// A user-written provisioner: appends one line per add/delete to a file.
// Written as a handler (one function); interlook's adapter gives it the
// receive loop, the shutdown and the exception-to-error capture.

#include <interlook/extension.hpp>

#include <fstream>
#include <stdexcept>
#include <string>

namespace acme {

struct audit_log {
  static constexpr std::string_view name = "audit.logfile";  // section `audit: logfile:`

  struct config {
    std::string path;                 // required
    std::string prefix = "interlook"; // optional, with its default
    static constexpr auto fields() {
      return interlook::fields(interlook::required("path", &config::path),
                               interlook::optional("prefix", &config::prefix));
    }
    void validate() const {
      if (path.empty()) throw interlook::invalid_setting("path", "must name a file");
    }
  };

  audit_log(const config& c, interlook::extension_context& ctx) : cfg(c), ctx(ctx) {}

  interlook::message handle(interlook::message m) {
    std::ofstream out(cfg.path, std::ios::app);
    if (!out) throw std::runtime_error("cannot open " + cfg.path);  // becomes the entry's error
    out << cfg.prefix << ' ' << interlook::to_string(m.action) << ' ' << m.service.name << ' '
        << m.service.public_ip << '\n';
    ctx.debug("logged " + m.service.name);
    return m;  // answered unchanged
  }

  config cfg;
  interlook::extension_context& ctx;
};

}  // namespace acme
