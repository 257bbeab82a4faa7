#pragma once
// The services file that provider.file watches.
//
//   services:
//     - name: web
//       hosts: [web.example.com, www.example.com]   # DNS aliases (or "a,b")
//       port: 8080                                  # port of targets given without one
//       tls: false
//       targets:
//         - 10.0.0.1:8080
//         - 10.0.0.2                                # port 8080
//         - {host: 10.0.0.3, port: 8081, weight: 2}
//     - name: api                                   # the platform providers' labels work too
//       labels:
//         interlook.hosts: api.example.com
//         interlook.port: "9090"
//         interlook.ssl: "true"
//       targets: [10.0.0.4]
//
// Errors carry the file, the line and what is wrong.

#include <interlook/config/error.hpp>
#include <interlook/core/message.hpp>

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::provider {

namespace detail {

struct file_reader {
  std::string_view file;

  [[noreturn]] void fail(const YAML::Node& at, const std::string& where, const std::string& what) const {
    int line = at.IsDefined() && at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    throw config_error(std::string(file), line, where, what);
  }

  std::string text(const YAML::Node& n, const std::string& where) const {
    if (!n.IsScalar()) fail(n, where, "expected a single value");
    return n.Scalar();
  }

  std::uint32_t port(const YAML::Node& at, std::string_view s, const std::string& where) const {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535)
      fail(at, where, "invalid port \"" + std::string(s) + "\" (1-65535)");
    return v;
  }

  bool flag(const YAML::Node& at, const std::string& s, const std::string& where) const {
    if (s == "true" || s == "True" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "no" || s.empty()) return false;
    fail(at, where, "expected true or false, got \"" + s + "\"");
  }

  static bool valid_alias(std::string_view a) {
    if (a.empty() || a.size() > 253) return false;
    for (char c : a)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
            c == '_' || c == '*'))
        return false;
    return a.front() != '.' && a.front() != '-';
  }

  void aliases(const YAML::Node& n, const std::string& where, std::vector<std::string>& out) const {
    auto add = [&](std::string a, const YAML::Node& at) {
      while (!a.empty() && a.front() == ' ') a.erase(a.begin());
      while (!a.empty() && a.back() == ' ') a.pop_back();
      if (a.empty()) return;
      if (!valid_alias(a)) fail(at, where, "invalid DNS name \"" + a + "\"");
      out.push_back(std::move(a));
    };
    if (n.IsSequence()) {
      for (const auto& item : n) add(text(item, where), item);
    } else {
      std::string all = text(n, where);
      std::size_t pos = 0;
      while (pos <= all.size()) {
        auto comma = all.find(',', pos);
        if (comma == std::string::npos) comma = all.size();
        add(all.substr(pos, comma - pos), n);
        pos = comma + 1;
      }
    }
  }

  target one_target(const YAML::Node& n, const std::string& where, std::uint32_t default_port) const {
    target t;
    if (n.IsMap()) {
      for (const auto& kv : n) {
        std::string key = kv.first.Scalar();
        if (key == "host") t.host = text(kv.second, where + ".host");
        else if (key == "port") t.port = port(kv.second, text(kv.second, where + ".port"), where + ".port");
        else if (key == "weight") {
          std::string w = text(kv.second, where + ".weight");
          unsigned v = 0;
          auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
          if (ec != std::errc{} || end != w.data() + w.size() || v == 0 || v > 1000000)
            fail(kv.second, where + ".weight", "invalid weight \"" + w + "\"");
          t.weight = v;
        } else fail(kv.first, where, "unknown key \"" + key + "\" (host, port, weight)");
      }
    } else {
      std::string s = text(n, where);
      std::string_view v = s;
      if (v.starts_with("[")) {  // [2001:db8::1]:8080
        auto close = v.find(']');
        if (close == std::string_view::npos) fail(n, where, "unterminated [ in \"" + s + "\"");
        t.host = std::string(v.substr(1, close - 1));
        v.remove_prefix(close + 1);
        if (v.starts_with(":")) t.port = port(n, v.substr(1), where);
        else if (!v.empty()) fail(n, where, "unexpected text after ] in \"" + s + "\"");
      } else if (auto colon = v.rfind(':'); colon != std::string_view::npos && v.find(':') == colon) {
        t.host = std::string(v.substr(0, colon));
        t.port = port(n, v.substr(colon + 1), where);
      } else {
        t.host = s;  // a name, an IPv4 or a bare IPv6 address
      }
    }
    if (t.host.empty()) fail(n, where, "target without a host");
    if (t.port == 0) {
      if (default_port == 0) fail(n, where, "target \"" + t.host + "\" has no port and the service sets none");
      t.port = default_port;
    }
    return t;
  }
};

}  // namespace detail

// Parses a services file; throws config_error naming file, line and field.
// Services without targets are left out (skipped until they have one).
inline std::vector<service> parse_services(const std::string& text, std::string_view file,
                                           std::string_view provider_name = "provider.file") {
  detail::file_reader r{file};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw config_error(std::string(file), e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "malformed YAML: " + e.msg);
  }
  std::vector<service> out;
  if (root.IsNull()) return out;  // an empty file lists no services
  if (!root.IsMap()) r.fail(root, "", "expected a mapping with a `services:` list");
  const YAML::Node list = root["services"];
  if (!list.IsDefined() || list.IsNull()) return out;
  if (!list.IsSequence()) r.fail(list, "services", "expected a list of services");
  std::set<std::string> names;
  std::size_t index = 0;
  for (const auto& item : list) {
    std::string where = "services[" + std::to_string(index++) + "]";
    if (!item.IsMap()) r.fail(item, where, "expected a mapping (name, hosts, port, targets...)");
    service s;
    s.provider = std::string(provider_name);
    std::uint32_t port = 0;
    bool has_aliases = false;
    const YAML::Node* targets = nullptr;
    YAML::Node targets_node;
    for (const auto& kv : item) {
      std::string key = kv.first.Scalar();
      std::string at = where + "." + key;
      if (key == "name") {
        s.name = r.text(kv.second, at);
      } else if (key == "hosts" || key == "dns_name") {
        r.aliases(kv.second, at, s.dns_names);
        has_aliases = true;
      } else if (key == "port") {
        port = r.port(kv.second, r.text(kv.second, at), at);
      } else if (key == "tls") {
        s.tls = r.flag(kv.second, r.text(kv.second, at), at);
      } else if (key == "targets") {
        targets_node.reset(kv.second);
        targets = &targets_node;
      } else if (key == "labels") {
        if (!kv.second.IsMap()) r.fail(kv.second, at, "expected a mapping of labels");
        for (const auto& label : kv.second) {
          std::string lk = label.first.Scalar();
          std::string lat = at + "." + lk;
          if (lk == "interlook.hosts") {
            r.aliases(label.second, lat, s.dns_names);
            has_aliases = true;
          } else if (lk == "interlook.port") {
            port = r.port(label.second, r.text(label.second, lat), lat);
          } else if (lk == "interlook.ssl") {
            s.tls = r.flag(label.second, r.text(label.second, lat), lat);
          }  // other labels are the platform's business
        }
      } else {
        r.fail(kv.first, where, "unknown key \"" + key + "\" (name, hosts, port, tls, targets, labels)");
      }
    }
    if (s.name.empty()) r.fail(item, where, "a service needs a name");
    for (char c : s.name)
      if (c == ' ' || c == '\t' || c == '/' || static_cast<unsigned char>(c) < 0x20)
        r.fail(item, where + ".name", "invalid service name \"" + s.name + "\"");
    where = "service " + s.name;
    if (!names.insert(s.name).second) r.fail(item, where, "listed twice");
    if (!has_aliases || s.dns_names.empty()) r.fail(item, where, "needs hosts (its DNS aliases)");
    if (targets) {
      if (targets->IsSequence()) {
        std::size_t ti = 0;
        for (const auto& t : *targets)
          s.targets.push_back(r.one_target(t, where + ".targets[" + std::to_string(ti++) + "]", port));
      } else if (!targets->IsNull()) {
        r.fail(*targets, where + ".targets", "expected a list of targets");
      }
    }
    merge_targets(s.targets);
    if (!s.targets.empty()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace interlook::ext::provider
