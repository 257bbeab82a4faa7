#pragma once
// dns.hosts: keeps a hosts-format file ("<public_ip> <alias> ...") that
// CoreDNS's hosts plugin or dnsmasq --addn-hosts can serve. Each line it
// writes ends with an ownership marker, "# interlook:<service>"; lines
// without one are never touched, moved or removed. Every change rewrites
// the file atomically.

#include <interlook/config_error.hpp>
#include <interlook/config_fields.hpp>
#include <interlook/detail/atomic_file.hpp>
#include <interlook/extension_context.hpp>
#include <interlook/message.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::dns {

class hosts {
 public:
  static constexpr std::string_view name = "dns.hosts";
  static constexpr std::string_view marker = "# interlook:";

  struct config {
    std::string path;
    static constexpr auto fields() { return interlook::fields(required("path", &config::path)); }
    void validate() const {
      if (path.empty()) throw invalid_setting("path", "must name the hosts file to maintain");
    }
  };

  hosts(const config& c, extension_context& ctx) : cfg_(c), ctx_(ctx) {
    std::string text;
    interlook::detail::read_whole_file(cfg_.path, text);  // fails early if unreadable
  }

  message handle(message m) {
    const auto& s = m.service;
    if (s.name.empty()) throw std::runtime_error("a service without a name");
    if (m.action == action::add) {
      if (s.public_ip.empty()) throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before dns.hosts)");
      if (s.dns_names.empty()) throw std::runtime_error("service " + s.name + " has no DNS alias");
      std::string line = s.public_ip;
      for (const auto& alias : s.dns_names) line += " " + alias;
      line += " ";
      line += marker;
      line += s.name;
      rewrite(s.name, &line);
    } else if (m.action == action::remove) {
      rewrite(s.name, nullptr);
    }
    return m;
  }

 private:
  // Replaces (or removes, when line is null) the service's own line; every
  // other line stays as it was, in its place.
  void rewrite(const std::string& service_name, const std::string* line) {
    std::string text;
    interlook::detail::read_whole_file(cfg_.path, text);
    std::string tag = std::string(marker) + service_name;
    std::string out;
    bool placed = false, changed = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto end = text.find('\n', pos);
      std::string_view current(text.data() + pos, (end == std::string::npos ? text.size() : end) - pos);
      pos = end == std::string::npos ? text.size() : end + 1;
      bool ours = current.size() >= tag.size() && current.substr(current.size() - tag.size()) == tag &&
                  (current.size() == tag.size() || current[current.size() - tag.size() - 1] == ' ');
      if (ours) {
        if (line && !placed) {
          out += *line;
          out += '\n';
          placed = true;
          changed = changed || current != *line;
        } else {
          changed = true;  // removed (or a duplicate of ours)
        }
        continue;
      }
      out += current;
      out += '\n';
    }
    if (line && !placed) {
      out += *line;
      out += '\n';
      changed = true;
    }
    if (!changed) return;  // idempotent: nothing to write
    interlook::detail::write_file_atomically(cfg_.path, out);
    ctx_.debug((line ? "wrote " : "removed ") + std::string("the line of ") + service_name + " in " + cfg_.path);
  }

  config cfg_;
  extension_context& ctx_;
};

}  // namespace interlook::ext::dns
