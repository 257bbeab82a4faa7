#pragma once
// lb.haproxy's own configuration file: what it holds, how it is written and
// read back, and how the binds of the user's other files are found.
//
// The file is interlook's alone. It starts with a header that says so, then
// one block per service, in service-name order:
//
//   # interlook-service: {"name":"web","public_ip":"10.0.0.5","tls":false,"targets":[...]}
//   frontend interlook-web
//       mode tcp
//       bind 10.0.0.5:80
//       default_backend interlook-web
//
//   backend interlook-web
//       mode tcp
//       balance roundrobin
//       server 10.0.1.1:8080 10.0.1.1:8080 weight 1
//
// The comment line is the record interlook reads back at start (the state
// of truth, with the running HAProxy); the sections are derived from it and
// from the extension's settings (ports, mode, health checks), so a changed
// setting rewrites every block on the next batch.
//
// Names. A service's frontend and backend are both named "interlook-" + the
// service name with every character outside [A-Za-z0-9._-] replaced by '_';
// when that changed the name, or the name is longer than 64 characters, it
// is cut to 48 and "-" + 8 hex digits of a hash of the real name are added,
// so that two services never share a name. A server is named after its
// target, "host:port" (IPv6 hosts unbracketed; HAProxy accepts ':' in
// names), which is unique within a backend since targets are merged.

#include <interlook/core/message.hpp>
#include <interlook/support/ip_address.hpp>
#include <interlook/support/json_read.hpp>
#include <interlook/support/json_write.hpp>

#include <boost/json/parse.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::ext::lb::haproxy_detail {

// HAProxy's proxy mode for services without TLS (TLS is always passed
// through in tcp mode: HAProxy holds no certificate).
enum class proxy_mode : std::uint8_t { tcp, http };

inline std::string_view to_string(proxy_mode m) noexcept { return m == proxy_mode::http ? "http" : "tcp"; }
inline std::optional<proxy_mode> parse_setting(std::string_view s, proxy_mode*) {
  if (s == "tcp") return proxy_mode::tcp;
  if (s == "http") return proxy_mode::http;
  return std::nullopt;
}
inline std::string_view setting_hint(proxy_mode*) { return "tcp or http"; }
inline std::string print_value(proxy_mode m) { return std::string(to_string(m)); }

inline constexpr std::string_view header_first_line =
    "# Written by interlook (lb.haproxy), which owns this file and rewrites it whole.";
inline constexpr std::string_view record_prefix = "# interlook-service: ";
inline constexpr std::string_view name_prefix = "interlook-";
inline constexpr std::uint32_t max_weight = 256;  // HAProxy's limit

inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

inline std::string hex(std::uint64_t v, int digits) {
  static constexpr char d[] = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = d[v & 15];
  return out;
}

inline bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

// The frontend's and backend's name for a service (see the top of this file).
inline std::string proxy_name(std::string_view service) {
  std::string out(name_prefix);
  bool changed = false;
  for (char c : service) {
    if (name_char(c)) {
      out += c;
    } else {
      out += '_';
      changed = true;
    }
  }
  if (changed || service.size() > 64) {
    out.resize(std::min(out.size(), name_prefix.size() + 48));
    out += '-';
    out += hex(fnv1a(service), 8);
  }
  return out;
}

// A target host as HAProxy may be given it: an IP literal (IPv6 possibly in
// brackets) or a host name. Anything else could inject configuration, so it
// is refused.
struct host_address {
  std::string text;  // without brackets
  bool ip = false;
  bool v6 = false;
};

inline std::optional<host_address> parse_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host.size() > 253) return std::nullopt;
  host_address h{std::string(host)};
  if (auto a = ip_address::parse(h.text)) {
    h.ip = true;
    h.v6 = a->v6;
    return h;
  }
  for (char c : host)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == '_'))
      return std::nullopt;
  return h;
}

// "addr:port" as HAProxy reads it; IPv6 with the ipv6@ prefix (HAProxy takes
// the port after the last colon).
inline std::string haproxy_address(const host_address& h, std::uint32_t port) {
  std::string out = h.v6 ? "ipv6@" : "";
  out += h.text;
  out += ':';
  out += std::to_string(port);
  return out;
}

inline std::string server_name(const host_address& h, std::uint32_t port) {
  return h.text + ":" + std::to_string(port);
}

// One backend server as interlook wants it.
struct server_spec {
  std::string name;
  host_address host;
  std::uint32_t port = 0;
  std::uint32_t weight = 1;
};

// One service as the file records it (what came in the add message) and the
// HAProxy objects derived from it.
struct service_record {
  std::string service;
  std::string public_ip;
  bool tls = false;
  std::vector<target> targets;  // merged, sorted

  bool operator==(const service_record&) const = default;
};

struct render_options {
  std::uint32_t http_port = 80;
  std::uint32_t https_port = 443;
  proxy_mode mode = proxy_mode::tcp;
  bool health_check = false;
};

struct derived_service {
  std::string proxy;  // frontend and backend name
  ip_address vip;
  std::string bind;   // HAProxy address of the frontend
  std::uint32_t port = 0;
  proxy_mode mode = proxy_mode::tcp;
  std::vector<server_spec> servers;
};

inline derived_service derive(const service_record& r, const render_options& o) {
  derived_service d;
  d.proxy = proxy_name(r.service);
  auto vip = ip_address::parse(r.public_ip);
  if (!vip) throw std::runtime_error("public_ip \"" + r.public_ip + "\" is not an IP address");
  d.vip = *vip;
  d.port = r.tls ? o.https_port : o.http_port;
  d.mode = r.tls ? proxy_mode::tcp : o.mode;
  d.bind = haproxy_address(host_address{vip->str(), true, vip->v6}, d.port);
  d.servers.reserve(r.targets.size());
  for (const auto& t : r.targets) {
    auto h = parse_host(t.host);
    if (!h) throw std::runtime_error("target host \"" + t.host + "\" is neither an IP address nor a host name");
    if (t.port == 0 || t.port > 65535)
      throw std::runtime_error("target " + t.host + " has port " + std::to_string(t.port) + " (1..65535)");
    server_spec s;
    s.name = server_name(*h, t.port);
    s.host = std::move(*h);
    s.port = t.port;
    s.weight = std::clamp<std::uint32_t>(t.weight, 1, max_weight);
    d.servers.push_back(std::move(s));
  }
  return d;
}

// A rendered file, with the lines that belong to each service (1-based,
// inclusive) so that HAProxy's "[file:line]" in an error names the service.
struct rendered_file {
  std::string text;
  struct span {
    std::size_t first = 0, last = 0;
    std::string service;
  };
  std::vector<span> spans;
  // A digest of everything only a reload can change: the set of frontends
  // and backends, their binds and modes, health checking, and servers whose
  // host is a name (the runtime API cannot add those).
  std::string structure;

  const std::string* service_at(std::size_t line) const {
    for (const auto& s : spans)
      if (line >= s.first && line <= s.last) return &s.service;
    return nullptr;
  }
};

inline void write_record_json(std::string& out, const service_record& r) {
  namespace jw = interlook::json_write;
  bool first = true;
  out += '{';
  jw::key(out, "name", first);
  jw::string(out, r.service);
  jw::key(out, "public_ip", first);
  jw::string(out, r.public_ip);
  jw::key(out, "tls", first);
  jw::boolean(out, r.tls);
  jw::key(out, "targets", first);
  out += '[';
  for (std::size_t i = 0; i < r.targets.size(); ++i) {
    if (i) out += ',';
    bool f = true;
    out += '{';
    jw::key(out, "host", f);
    jw::string(out, r.targets[i].host);
    jw::key(out, "port", f);
    jw::number(out, r.targets[i].port);
    jw::key(out, "weight", f);
    jw::number(out, r.targets[i].weight);
    out += '}';
  }
  out += "]}";
}

inline std::string server_line(const server_spec& s, bool check) {
  std::string out = "    server ";
  out += s.name;
  out += ' ';
  out += haproxy_address(s.host, s.port);
  out += " weight ";
  out += std::to_string(s.weight);
  if (check) out += " check";
  out += '\n';
  return out;
}

// One service: its record and what is derived from it.
struct service_entry {
  service_record record;
  derived_service derived;
};
using service_map = std::map<std::string, service_entry>;  // by service name

inline service_entry make_entry(service_record r, const render_options& o) {
  auto d = derive(r, o);
  return {std::move(r), std::move(d)};
}

inline rendered_file render(const service_map& services, const render_options& o) {
  rendered_file f;
  std::string& out = f.text;
  out += header_first_line;
  out += "\n# Do not edit it. Load it after your own configuration:\n"
         "#   haproxy -W -S <masterSocket> -f <your haproxy.cfg> -f <this file>\n"
         "# Each \"# interlook-service:\" line is the record of one service, read back at start.\n";
  std::size_t line = 4;
  std::string structure = o.health_check ? "check\n" : "\n";
  for (const auto& [name, e] : services) {
    const auto& d = e.derived;
    const auto mode = std::string(to_string(d.mode));
    out += '\n';
    ++line;
    rendered_file::span sp{line + 1, 0, name};
    std::string block(record_prefix);
    write_record_json(block, e.record);
    block += "\nfrontend " + d.proxy + "\n    mode " + mode + "\n    bind " + d.bind + "\n    default_backend " +
             d.proxy + "\n\nbackend " + d.proxy + "\n    mode " + mode + "\n    balance roundrobin\n";
    structure += d.proxy + ' ' + d.bind + ' ' + mode + '\n';
    for (const auto& s : d.servers) {
      auto l = server_line(s, o.health_check);
      if (!s.host.ip) structure += l;
      block += l;
    }
    line += static_cast<std::size_t>(std::count(block.begin(), block.end(), '\n'));
    sp.last = line;
    out += block;
    f.spans.push_back(std::move(sp));
  }
  f.structure = hex(fnv1a(structure), 16);
  return f;
}

inline service_record record_from_json(std::string_view json, const std::string& where) {
  namespace jr = interlook::json_read;
  boost::json::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec) throw std::runtime_error(where + ": unreadable service record: " + ec.message());
  try {
    const auto& o = jr::object(v, "");
    service_record r;
    r.service = jr::string(o, "name", "");
    r.public_ip = jr::string(o, "public_ip", "");
    r.tls = jr::boolean(o, "tls", "");
    if (const auto* ts = jr::find(o, "targets")) {
      const auto& a = jr::array(*ts, "targets");
      for (std::size_t i = 0; i < a.size(); ++i) {
        auto path = jr::index("targets", i);
        const auto& t = jr::object(a[i], path);
        target tg;
        tg.host = jr::string(t, "host", path);
        tg.port = jr::unsigned_number<std::uint32_t>(t, "port", path, 0);
        tg.weight = jr::unsigned_number<std::uint32_t>(t, "weight", path, 1);
        r.targets.push_back(std::move(tg));
      }
    }
    if (r.service.empty()) throw std::runtime_error("a record without a name");
    merge_targets(r.targets);
    return r;
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": bad service record: " + e.what());
  }
}

// Reads back the records of a file interlook wrote. An empty (or blank)
// file has none; a file with other content that lacks interlook's header is
// not interlook's, and is refused rather than overwritten.
inline std::map<std::string, service_record> parse_owned_file(const std::string& text, const std::string& path) {
  std::map<std::string, service_record> out;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return out;
  if (text.compare(0, header_first_line.size(), header_first_line) != 0)
    throw std::runtime_error(path + " exists and was not written by interlook (its first line is not \"" +
                             std::string(header_first_line) +
                             "\"); refusing to overwrite it: name a file of interlook's own in configFile");
  std::size_t pos = 0, line = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string_view l(text.data() + pos, end - pos);
    pos = end + 1;
    if (l.substr(0, record_prefix.size()) != record_prefix) continue;
    auto r = record_from_json(l.substr(record_prefix.size()), path + ":" + std::to_string(line));
    auto name = r.service;
    out.insert_or_assign(std::move(name), std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------
// The binds of the user's files (validateWith), to refuse a VIP:port that a
// frontend interlook does not own already listens on.

struct user_bind {
  ip_address address;
  std::uint32_t first_port = 0, last_port = 0;
  std::string proxy;  // "frontend web" / "listen stats"
  std::string where;  // file:line
};

namespace detail {
inline std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    auto start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

inline bool section_keyword(std::string_view w) {
  static constexpr std::string_view keywords[] = {
      "global", "defaults", "frontend", "backend",  "listen", "peers",       "resolvers", "userlist",
      "cache",  "program",  "ring",     "mailers",  "http-errors", "dynamic-update", "fcgi-app", "traces"};
  return std::find(std::begin(keywords), std::end(keywords), w) != std::end(keywords);
}

// One address of a bind line: "10.0.0.1:80", "[::1]:443", "ipv6@::1:80",
// ":80", "*:8000-8010". Wildcards, unix sockets and the like give nothing:
// the kernel hands connections to a more specific address to its own
// listener, so they do not take a VIP's port.
inline std::optional<user_bind> parse_bind_address(std::string_view a) {
  if (auto at = a.find('@'); at != std::string_view::npos) {
    auto family = a.substr(0, at);
    if (family != "ipv4" && family != "ipv6" && family != "tcp" && family != "tcp4" && family != "tcp6")
      return std::nullopt;
    a = a.substr(at + 1);
  }
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = a.substr(0, colon), ports = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto ip = ip_address::parse(std::string(host));
  if (!ip || ip->value == 0) return std::nullopt;  // wildcard or not an address
  auto number = [](std::string_view s) -> std::optional<std::uint32_t> {
    if (s.empty() || s.size() > 5) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return v;
  };
  user_bind b;
  b.address = *ip;
  auto dash = ports.find('-');
  auto lo = number(ports.substr(0, dash));
  auto hi = dash == std::string_view::npos ? lo : number(ports.substr(dash + 1));
  if (!lo || !hi) return std::nullopt;
  b.first_port = *lo;
  b.last_port = *hi;
  return b;
}

inline void scan_file(const std::string& path, std::vector<user_bind>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + " (validateWith)");
  std::string line, section;
  bool in_frontend = false;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto w = words(line);
    if (w.empty()) continue;
    if (section_keyword(w[0])) {
      in_frontend = w[0] == "frontend" || w[0] == "listen";
      section = std::string(w[0]) + (w.size() > 1 ? " " + std::string(w[1]) : std::string());
      continue;
    }
    if (!in_frontend || w[0] != "bind" || w.size() < 2) continue;
    std::string_view list = w[1];
    while (!list.empty()) {
      auto comma = list.find(',');
      if (auto b = parse_bind_address(list.substr(0, comma))) {
        b->proxy = section;
        b->where = path + ":" + std::to_string(number);
        out.push_back(std::move(*b));
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
}
}  // namespace detail

// Every address:port a frontend or listen section of these files (or of the
// *.cfg files of these directories, as HAProxy loads them) binds.
inline std::vector<user_bind> user_binds(const std::vector<std::string>& paths) {
  std::vector<user_bind> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::string> files;
      for (const auto& e : std::filesystem::directory_iterator(p, ec))
        if (e.path().extension() == ".cfg") files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) detail::scan_file(f, out);
    } else {
      detail::scan_file(p, out);
    }
  }
  return out;
}

}  // namespace interlook::ext::lb::haproxy_detail
