#pragma once
// dns.hosts: keeps a hosts-format file ("<public_ip> <alias> ...") that
// CoreDNS's hosts plugin or dnsmasq --addn-hosts can serve. Each line it
// writes ends with an ownership marker, "# interlook:<service>"; lines
// without one are never touched, moved or removed. Each batch of messages
// rewrites the file once, atomically, before any of them is answered.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/support/atomic_file.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/core/message.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <unordered_map>
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
    interlook::read_whole_file(cfg_.path, text);  // fails early if unreadable
  }

  // Batch form: the file is read once, every service of the batch gets its
  // line replaced, added or removed, and the file is written once
  // (atomically) before any answer. A service that cannot be written (no
  // public IP, no alias) fails alone.
  void handle_batch(std::span<message> batch) {
    std::unordered_map<std::string_view, std::optional<std::string>> wanted;  // service -> line, or none
    std::vector<std::string_view> order;  // new lines go at the end in the batch's order
    std::vector<std::size_t> touched;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& m = batch[i];
      const auto& s = m.service;
      try {
        if (s.name.empty()) throw std::runtime_error("a service without a name");
        if (m.action == action::add) {
          if (s.public_ip.empty())
            throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before dns.hosts)");
          if (s.dns_names.empty()) throw std::runtime_error("service " + s.name + " has no DNS alias");
          std::string line = s.public_ip;
          for (const auto& alias : s.dns_names) line += " " + alias;
          line += " ";
          line += marker;
          line += s.name;
          if (wanted.insert_or_assign(s.name, std::move(line)).second) order.push_back(s.name);
        } else if (m.action == action::remove) {
          if (wanted.insert_or_assign(s.name, std::nullopt).second) order.push_back(s.name);
        } else {
          continue;
        }
        touched.push_back(i);
      } catch (const std::exception& e) {
        m.error = std::string(name) + ": " + e.what();
      }
    }
    if (wanted.empty()) return;
    try {
      rewrite(wanted, order);
    } catch (const std::exception& e) {
      for (auto i : touched) batch[i].error = std::string(name) + ": " + e.what();
    }
  }

  // How many times the file was written (tests, benchmarks).
  std::uint64_t writes() const noexcept { return writes_; }

 private:
  // The service a line belongs to, or empty for a line that is not ours.
  static std::string_view owner_of(std::string_view line) {
    auto pos = line.rfind(marker);
    if (pos == std::string_view::npos || (pos > 0 && line[pos - 1] != ' ')) return {};
    return line.substr(pos + marker.size());
  }

  // Replaces (or removes) the lines of the services in `wanted`; every other
  // line stays as it was, in its place. Nothing is written when nothing
  // changes (idempotent).
  void rewrite(std::unordered_map<std::string_view, std::optional<std::string>>& wanted,
               const std::vector<std::string_view>& order) {
    std::string text;
    interlook::read_whole_file(cfg_.path, text);
    std::string out;
    out.reserve(text.size() + wanted.size() * 64);
    std::unordered_map<std::string_view, bool> placed;
    bool changed = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto end = text.find('\n', pos);
      std::string_view current(text.data() + pos, (end == std::string::npos ? text.size() : end) - pos);
      pos = end == std::string::npos ? text.size() : end + 1;
      auto owner = owner_of(current);
      auto it = owner.empty() ? wanted.end() : wanted.find(owner);
      if (it != wanted.end()) {
        bool& done = placed[it->first];
        if (it->second && !done) {
          out += *it->second;
          out += '\n';
          changed = changed || current != *it->second;
          done = true;
        } else {
          changed = true;  // removed (or a duplicate of ours)
        }
        continue;
      }
      out += current;
      out += '\n';
    }
    for (auto service : order) {
      const auto& line = wanted[service];
      if (!line || placed[service]) continue;
      out += *line;
      out += '\n';
      changed = true;
    }
    if (!changed) return;
    interlook::write_file_atomically(cfg_.path, out);
    ++writes_;
    ctx_.debug("rewrote " + cfg_.path + " for " + std::to_string(wanted.size()) + " services");
  }

  config cfg_;
  extension_context& ctx_;
  std::uint64_t writes_ = 0;
};

}  // namespace interlook::ext::dns
