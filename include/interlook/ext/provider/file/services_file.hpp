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

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <sstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::provider {

namespace detail {

// A small YAML tree for one service at a time. The file is read through
// yaml-cpp's event API and each item of `services:` is built, checked and
// dropped in turn: a 100k-service file never exists as one document tree
// (yaml-cpp's tree of a 10 MB file peaks at about 600 MiB).
struct ynode {
  enum kind_t : std::uint8_t { null, scalar, sequence, map } kind = null;
  YAML::Mark mark;
  std::string value;         // scalar
  std::vector<ynode> items;  // sequence: items; map: key, value, key, value...

  bool IsScalar() const { return kind == scalar; }
  bool IsSequence() const { return kind == sequence; }
  bool IsMap() const { return kind == map; }
  bool IsNull() const { return kind == null; }
  const std::string& Scalar() const {
    static const std::string none;
    return kind == scalar ? value : none;
  }
};

// Builds ynodes from parser events; the items of the root's `services:`
// sequence go to on_service as each is complete instead of into the tree.
class streaming_builder : public YAML::EventHandler {
 public:
  template <class F>
  explicit streaming_builder(F on_service) : on_service_(std::move(on_service)) {}

  ynode root;
  bool saw_services = false;
  ynode services_node;  // its mark and kind, for errors (items are streamed)

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    ynode n;
    n.mark = mark;
    complete(std::move(n), anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    ynode n = it != anchors_.end() ? it->second : ynode{};
    n.mark = mark;
    complete(std::move(n), 0);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    ynode n;
    n.kind = ynode::scalar;
    n.mark = mark;
    n.value = value;
    complete(std::move(n), anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(ynode::sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(ynode::map, mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct frame {
    ynode node;
    YAML::anchor_t anchor = 0;
    bool streamed = false;  // the services sequence: items go out, not in
  };

  void open(ynode::kind_t kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    frame f;
    f.node.kind = kind;
    f.node.mark = mark;
    f.anchor = anchor;
    // The root mapping's value under the key "services".
    f.streamed = kind == ynode::sequence && stack_.size() == 1 && stack_[0].node.IsMap() &&
                 stack_[0].node.items.size() % 2 == 1 && stack_[0].node.items.back().Scalar() == "services" &&
                 anchor == 0;
    stack_.push_back(std::move(f));
  }

  void close() {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    complete(std::move(f.node), f.anchor);
  }

  void complete(ynode n, YAML::anchor_t anchor) {
    if (anchor) anchors_[anchor] = n;
    if (stack_.empty()) {
      root = std::move(n);
      return;
    }
    frame& parent = stack_.back();
    if (parent.streamed) {
      on_service_(n);
      return;
    }
    parent.node.items.push_back(std::move(n));
  }

  std::function<void(const ynode&)> on_service_;
  std::vector<frame> stack_;
  std::map<YAML::anchor_t, ynode> anchors_;
};

struct file_reader {
  std::string_view file;

  [[noreturn]] void fail(const ynode& at, const std::string& where, const std::string& what) const {
    int line = at.mark.line >= 0 ? at.mark.line + 1 : 0;
    throw config_error(std::string(file), line, where, what);
  }

  std::string text(const ynode& n, const std::string& where) const {
    if (!n.IsScalar()) fail(n, where, "expected a single value");
    return n.Scalar();
  }

  std::uint32_t port(const ynode& at, std::string_view s, const std::string& where) const {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535)
      fail(at, where, "invalid port \"" + std::string(s) + "\" (1-65535)");
    return v;
  }

  bool flag(const ynode& at, const std::string& s, const std::string& where) const {
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

  void aliases(const ynode& n, const std::string& where, std::vector<std::string>& out) const {
    auto add = [&](std::string a, const ynode& at) {
      while (!a.empty() && a.front() == ' ') a.erase(a.begin());
      while (!a.empty() && a.back() == ' ') a.pop_back();
      if (a.empty()) return;
      if (!valid_alias(a)) fail(at, where, "invalid DNS name \"" + a + "\"");
      out.push_back(std::move(a));
    };
    if (n.IsSequence()) {
      for (const auto& item : n.items) add(text(item, where), item);
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

  target one_target(const ynode& n, const std::string& where, std::uint32_t default_port) const {
    target t;
    if (n.IsMap()) {
      for (std::size_t i = 0; i + 1 < n.items.size(); i += 2) {
        const ynode& k = n.items[i];
        const ynode& v = n.items[i + 1];
        const std::string& key = k.Scalar();
        if (key == "host") t.host = text(v, where + ".host");
        else if (key == "port") t.port = port(v, text(v, where + ".port"), where + ".port");
        else if (key == "weight") {
          std::string w = text(v, where + ".weight");
          unsigned val = 0;
          auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), val);
          if (ec != std::errc{} || end != w.data() + w.size() || val == 0 || val > 1000000)
            fail(v, where + ".weight", "invalid weight \"" + w + "\"");
          t.weight = val;
        } else fail(k, where, "unknown key \"" + key + "\" (host, port, weight)");
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

  // One item of `services:`; nullopt for a service without targets yet.
  std::optional<service> one_service(const ynode& item, const std::string& where_index, std::string_view provider_name,
                                     std::set<std::string>& names) const {
    std::string where = where_index;
    if (!item.IsMap()) fail(item, where, "expected a mapping (name, hosts, port, targets...)");
    service s;
    s.provider = std::string(provider_name);
    std::uint32_t port_number = 0;
    bool has_aliases = false;
    const ynode* targets = nullptr;
    for (std::size_t i = 0; i + 1 < item.items.size(); i += 2) {
      const ynode& k = item.items[i];
      const ynode& v = item.items[i + 1];
      const std::string& key = k.Scalar();
      std::string at = where + "." + key;
      if (key == "name") {
        s.name = text(v, at);
      } else if (key == "hosts" || key == "dns_name") {
        aliases(v, at, s.dns_names);
        has_aliases = true;
      } else if (key == "port") {
        port_number = port(v, text(v, at), at);
      } else if (key == "tls") {
        s.tls = flag(v, text(v, at), at);
      } else if (key == "targets") {
        targets = &v;
      } else if (key == "labels") {
        if (!v.IsMap()) fail(v, at, "expected a mapping of labels");
        for (std::size_t j = 0; j + 1 < v.items.size(); j += 2) {
          const std::string& lk = v.items[j].Scalar();
          const ynode& lv = v.items[j + 1];
          std::string lat = at + "." + lk;
          if (lk == "interlook.hosts") {
            aliases(lv, lat, s.dns_names);
            has_aliases = true;
          } else if (lk == "interlook.port") {
            port_number = port(lv, text(lv, lat), lat);
          } else if (lk == "interlook.ssl") {
            s.tls = flag(lv, text(lv, lat), lat);
          }  // other labels are the platform's business
        }
      } else {
        fail(k, where, "unknown key \"" + key + "\" (name, hosts, port, tls, targets, labels)");
      }
    }
    if (s.name.empty()) fail(item, where, "a service needs a name");
    for (char c : s.name)
      if (c == ' ' || c == '\t' || c == '/' || static_cast<unsigned char>(c) < 0x20)
        fail(item, where + ".name", "invalid service name \"" + s.name + "\"");
    where = "service " + s.name;
    if (!names.insert(s.name).second) fail(item, where, "listed twice");
    if (!has_aliases || s.dns_names.empty()) fail(item, where, "needs hosts (its DNS aliases)");
    if (targets) {
      if (targets->IsSequence()) {
        std::size_t ti = 0;
        for (const auto& t : targets->items)
          s.targets.push_back(one_target(t, where + ".targets[" + std::to_string(ti++) + "]", port_number));
      } else if (!targets->IsNull()) {
        fail(*targets, where + ".targets", "expected a list of targets");
      }
    }
    merge_targets(s.targets);
    if (s.targets.empty()) return std::nullopt;
    return s;
  }
};

}  // namespace detail

// Parses a services file; throws config_error naming file, line and field.
// Services without targets are left out (skipped until they have one).
inline std::vector<service> parse_services(const std::string& text, std::string_view file,
                                           std::string_view provider_name = "provider.file") {
  detail::file_reader r{file};
  std::vector<service> out;
  std::set<std::string> names;
  std::size_t index = 0;
  detail::streaming_builder builder([&](const detail::ynode& item) {
    auto s = r.one_service(item, "services[" + std::to_string(index++) + "]", provider_name, names);
    if (s) out.push_back(std::move(*s));
  });
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    parser.HandleNextDocument(builder);
  } catch (const YAML::ParserException& e) {
    throw config_error(std::string(file), e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "malformed YAML: " + e.msg);
  }
  const detail::ynode& root = builder.root;
  if (root.IsNull()) return out;  // an empty file lists no services
  if (!root.IsMap()) r.fail(root, "", "expected a mapping with a `services:` list");
  for (std::size_t i = 0; i + 1 < root.items.size(); i += 2) {
    if (root.items[i].Scalar() != "services") continue;
    const detail::ynode& list = root.items[i + 1];
    if (!list.IsSequence() && !list.IsNull()) r.fail(list, "services", "expected a list of services");
    // A streamed sequence arrives here empty; one behind an anchor was built whole.
    for (const auto& item : list.items) {
      auto s = r.one_service(item, "services[" + std::to_string(index++) + "]", provider_name, names);
      if (s) out.push_back(std::move(*s));
    }
  }
  return out;
}

}  // namespace interlook::ext::provider
