#pragma once
// ipam.ipalloc: gives each service an address of network_cidr (or of
// ip_start..ip_end), never the network or broadcast address, never a
// multicast one; IPv4 and IPv6. A service keeps its address across restarts
// and re-deploys; delete frees it; an exhausted range is an error for that
// service only.
//
// db_file keeps Go interlook's shape, [{"ip": ..., "host": ...}], plus a
// "released": true marker on freed addresses, remembered so that the same
// service gets the same address back (others take released addresses only
// once no never-used one is left). It is rewritten atomically (temporary
// file, fsync, rename, directory fsync) before every answer, so after a crash
// no address is ever handed to two services.

#include <interlook/config_error.hpp>
#include <interlook/config_fields.hpp>
#include <interlook/detail/atomic_file.hpp>
#include <interlook/extension_context.hpp>
#include <interlook/json.hpp>
#include <interlook/message.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace interlook::ext::ipam {

// An IPv4 or IPv6 address as a 128-bit number.
struct ip_address {
  unsigned __int128 value = 0;
  bool v6 = false;

  static std::optional<ip_address> parse(const std::string& s) {
    in_addr a4{};
    if (::inet_pton(AF_INET, s.c_str(), &a4) == 1) return ip_address{ntohl(a4.s_addr), false};
    in6_addr a6{};
    if (::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
      unsigned __int128 v = 0;
      for (unsigned char byte : a6.s6_addr) v = (v << 8) | byte;
      return ip_address{v, true};
    }
    return std::nullopt;
  }

  std::string str() const {
    char buf[INET6_ADDRSTRLEN];
    if (!v6) {
      in_addr a4{htonl(static_cast<std::uint32_t>(value))};
      ::inet_ntop(AF_INET, &a4, buf, sizeof buf);
    } else {
      in6_addr a6{};
      auto v = value;
      for (int i = 15; i >= 0; --i) {
        a6.s6_addr[i] = static_cast<unsigned char>(v & 0xff);
        v >>= 8;
      }
      ::inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    }
    return buf;
  }

  bool multicast() const {
    return v6 ? (value >> 120) == 0xff : (value >> 28) == 0xe;
  }
};

// "10.0.0.0/24" -> first and last usable address (network and broadcast
// excluded for IPv4 prefixes shorter than /31; for IPv6 the all-zero
// subnet-router anycast address is excluded).
struct ip_network {
  ip_address base;
  int prefix = 0;
  unsigned __int128 first = 0, last = 0;

  static std::optional<ip_network> parse(const std::string& cidr, std::string& why) {
    auto slash = cidr.find('/');
    if (slash == std::string::npos) {
      why = "expected an address/prefix such as 10.0.0.0/24";
      return std::nullopt;
    }
    auto addr = ip_address::parse(cidr.substr(0, slash));
    if (!addr) {
      why = "\"" + cidr.substr(0, slash) + "\" is not an IP address";
      return std::nullopt;
    }
    int bits = addr->v6 ? 128 : 32;
    int prefix = -1;
    try {
      std::size_t used = 0;
      prefix = std::stoi(cidr.substr(slash + 1), &used);
      if (used != cidr.size() - slash - 1) prefix = -1;
    } catch (...) {
    }
    if (prefix < 0 || prefix > bits) {
      why = "invalid prefix length \"" + cidr.substr(slash + 1) + "\"";
      return std::nullopt;
    }
    ip_network n;
    n.prefix = prefix;
    unsigned __int128 host_mask = prefix == bits ? 0 : ((static_cast<unsigned __int128>(1) << (bits - prefix)) - 1);
    unsigned __int128 base = addr->value & ~host_mask;
    if (!addr->v6) base &= 0xffffffffu;
    n.base = {base, addr->v6};
    n.first = base;
    n.last = base | host_mask;
    if (addr->v6) {
      if (bits - prefix >= 1) n.first = base + 1;  // skip the subnet-router anycast address
    } else if (bits - prefix >= 2) {
      n.first = base + 1;  // network address
      n.last = (base | host_mask) - 1;  // broadcast address
    }
    return n;
  }

  bool contains(const ip_address& a) const {
    return a.v6 == base.v6 && a.value >= first && a.value <= last;
  }
};

class ipalloc {
 public:
  static constexpr std::string_view name = "ipam.ipalloc";

  struct config {
    std::string network_cidr;
    std::string ip_start;
    std::string ip_end;
    std::string db_file;
    static constexpr auto fields() {
      return interlook::fields(required("network_cidr", &config::network_cidr),
                               optional("ip_start", &config::ip_start), optional("ip_end", &config::ip_end),
                               required("db_file", &config::db_file));
    }
    void validate() const { (void)range(); }

    // The usable range; throws invalid_setting naming the key at fault.
    std::pair<ip_network, std::pair<unsigned __int128, unsigned __int128>> range() const {
      std::string why;
      auto net = ip_network::parse(network_cidr, why);
      if (!net) throw invalid_setting("network_cidr", why);
      auto lo = net->first, hi = net->last;
      auto bound = [&](const std::string& key, const std::string& text, unsigned __int128& out) {
        if (text.empty()) return;
        auto a = ip_address::parse(text);
        if (!a) throw invalid_setting(key, "\"" + text + "\" is not an IP address");
        if (!net->contains(*a))
          throw invalid_setting(key, text + " is not a usable address of " + network_cidr);
        out = a->value;
      };
      bound("ip_start", ip_start, lo);
      bound("ip_end", ip_end, hi);
      if (lo > hi) throw invalid_setting("ip_end", "comes before ip_start");
      return {*net, {lo, hi}};
    }
  };

  ipalloc(const config& c, extension_context& ctx) : cfg_(c), ctx_(ctx) {
    auto [net, bounds] = c.range();
    net_ = net;
    lo_ = bounds.first;
    hi_ = bounds.second;
    load();
  }

  message handle(message m) {
    const std::string& host = m.service.name;
    if (host.empty()) throw std::runtime_error("a service without a name cannot get an address");
    if (m.action == action::add) {
      m.service.public_ip = allocate(host);
    } else if (m.action == action::remove) {
      release(host);
    }
    return m;
  }

  // The active allocations, address -> service (tests, diagnostics).
  std::map<std::string, std::string> allocations() const {
    std::map<std::string, std::string> out;
    for (auto& [ip, r] : records_)
      if (!r.released) out.emplace(ip_address{ip, net_.base.v6}.str(), r.host);
    return out;
  }

 private:
  struct record {
    std::string host;
    bool released = false;
    std::uint64_t released_order = 0;  // which released address to reuse first
  };

  std::string allocate(const std::string& host) {
    // 1. Its current or previous address, unless someone else holds it now.
    for (auto& [ip, r] : records_) {
      if (r.host == host && !r.released) return ip_address{ip, net_.base.v6}.str();
    }
    for (auto& [ip, r] : records_) {
      if (r.host == host && r.released && ip >= lo_ && ip <= hi_) {
        r.released = false;
        save();
        return ip_address{ip, net_.base.v6}.str();
      }
    }
    // 2. The first never-used address of the range.
    for (unsigned __int128 ip = lo_;; ++ip) {
      ip_address a{ip, net_.base.v6};
      if (!records_.count(ip) && !a.multicast()) {
        records_[ip] = record{host};
        save();
        return a.str();
      }
      if (ip == hi_) break;
    }
    // 3. The address released longest ago.
    record* oldest = nullptr;
    unsigned __int128 oldest_ip = 0;
    for (auto& [ip, r] : records_) {
      if (r.released && ip >= lo_ && ip <= hi_ && (!oldest || r.released_order < oldest->released_order)) {
        oldest = &r;
        oldest_ip = ip;
      }
    }
    if (!oldest)
      throw std::runtime_error("no free address left in " + range_text() + " for " + host);
    *oldest = record{host};
    save();
    return ip_address{oldest_ip, net_.base.v6}.str();
  }

  void release(const std::string& host) {
    for (auto& [ip, r] : records_) {
      if (r.host == host && !r.released) {
        r.released = true;
        r.released_order = ++release_clock_;
        save();
        return;
      }
    }
  }

  std::string range_text() const {
    return ip_address{lo_, net_.base.v6}.str() + "-" + ip_address{hi_, net_.base.v6}.str();
  }

  void load() {
    std::string text;
    if (!interlook::detail::read_whole_file(cfg_.db_file, text)) return;  // no allocations yet
    try {
      auto doc = parse_json_text(text, cfg_.db_file);
      namespace jr = interlook::detail::json_read;
      const auto& arr = jr::array(doc, "");
      for (std::size_t i = 0; i < arr.size(); ++i) {
        auto where = jr::index("", i);
        const auto& o = jr::object(arr[i], where);
        std::string ip_text = jr::string(o, "ip", where);
        auto ip = ip_address::parse(ip_text);
        if (!ip || ip->v6 != net_.base.v6) throw json_error(jr::join(where, "ip"), "invalid address \"" + ip_text + "\"");
        record r{jr::string(o, "host", where), jr::boolean(o, "released", where), 0};
        if (r.released) r.released_order = ++release_clock_;
        if (records_.count(ip->value)) throw json_error(jr::join(where, "ip"), ip_text + " is listed twice");
        records_[ip->value] = std::move(r);
      }
    } catch (const json_error& e) {
      throw std::runtime_error("db_file " + cfg_.db_file + " is corrupt: " + e.what());
    }
    ctx_.info("loaded " + std::to_string(records_.size()) + " addresses from " + cfg_.db_file);
  }

  void save() {
    boost::json::array arr;
    for (auto& [ip, r] : records_) {
      boost::json::object o{{"ip", ip_address{ip, net_.base.v6}.str()}, {"host", r.host}};
      if (r.released) o["released"] = true;
      arr.push_back(std::move(o));
    }
    interlook::detail::write_file_atomically(cfg_.db_file, boost::json::serialize(arr));
  }

  config cfg_;
  extension_context& ctx_;
  ip_network net_;
  unsigned __int128 lo_ = 0, hi_ = 0;
  std::map<unsigned __int128, record> records_;
  std::uint64_t release_clock_ = 0;
};

}  // namespace interlook::ext::ipam
