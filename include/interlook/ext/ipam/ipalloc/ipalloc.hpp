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
// file, fsync, rename, directory fsync) once per batch of messages, before
// any of them is answered, so after a crash no address is ever handed to two
// services. Look-ups by service and the next free address take constant
// (amortised) time, so a batch costs its size plus one write of the file.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/support/atomic_file.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/support/json_write.hpp>
#include <interlook/support/ip_address.hpp>
#include <interlook/support/json.hpp>
#include <interlook/core/message.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace interlook::ext::ipam {

using interlook::ip_address;
using interlook::ip_network;

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
    fresh_ = lo_;
    load();
  }

  // Batch form: every allocation and release of the batch in memory, then
  // one atomic write + fsync of db_file, then the answers. A message that
  // cannot be served (exhausted range) fails alone; a failed write fails
  // every message that changed something (nothing is answered as done that
  // is not durable).
  void handle_batch(std::span<message> batch) {
    bool changed_any = false;
    std::vector<bool> changed(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& m = batch[i];
      const std::string& host = m.service.name;
      try {
        if (host.empty()) throw std::runtime_error("a service without a name cannot get an address");
        if (m.action == action::add) {
          bool c = false;
          m.service.public_ip = allocate(host, c);
          changed[i] = c;
        } else if (m.action == action::remove) {
          changed[i] = release(host);
        }
        changed_any = changed_any || changed[i];
      } catch (const std::exception& e) {
        m.error = std::string(name) + ": " + e.what();
      }
    }
    if (!changed_any) return;
    try {
      save();
      ++saves_;
    } catch (const std::exception& e) {
      for (std::size_t i = 0; i < batch.size(); ++i)
        if (changed[i]) batch[i].error = std::string(name) + ": " + e.what();
    }
  }

  // The active allocations, address -> service (tests, diagnostics).
  std::map<std::string, std::string> allocations() const {
    std::map<std::string, std::string> out;
    for (auto& [ip, r] : records_)
      if (!r.released) out.emplace(ip_address{ip, net_.base.v6}.str(), r.host);
    return out;
  }

  // How many times db_file was written (tests, benchmarks).
  std::uint64_t saves() const noexcept { return saves_; }

 private:
  struct record {
    std::string host;
    std::string text;  // the address as written: formatted once, not at every save
    bool released = false;
    std::uint64_t released_order = 0;  // which released address to reuse first
  };
  using address = unsigned __int128;

  bool in_range(address ip) const { return ip >= lo_ && ip <= hi_; }

  std::string allocate(const std::string& host, bool& changed) {
    // 1. Its current or previous address, unless someone else holds it now.
    if (auto it = by_host_.find(host); it != by_host_.end()) {
      auto& r = records_.at(it->second);
      if (!r.released) return ip_address{it->second, net_.base.v6}.str();
      if (in_range(it->second)) {
        released_.erase({r.released_order, it->second});
        r.released = false;
        changed = true;
        return ip_address{it->second, net_.base.v6}.str();
      }
    }
    // 2. The first never-used address of the range: records are never
    // forgotten, so the cursor only moves forwards.
    while (!fresh_exhausted_ && (records_.count(fresh_) || ip_address{fresh_, net_.base.v6}.multicast())) advance_fresh();
    if (!fresh_exhausted_) {
      address ip = fresh_;
      advance_fresh();
      assign(ip, host);
      changed = true;
      return ip_address{ip, net_.base.v6}.str();
    }
    // 3. The address released longest ago.
    if (released_.empty()) throw std::runtime_error("no free address left in " + range_text() + " for " + host);
    auto [order, ip] = *released_.begin();
    released_.erase(released_.begin());
    assign(ip, host);
    changed = true;
    return ip_address{ip, net_.base.v6}.str();
  }

  void advance_fresh() {
    if (fresh_ == hi_)
      fresh_exhausted_ = true;
    else
      ++fresh_;
  }

  void assign(address ip, const std::string& host) {
    auto& r = records_[ip];
    if (!r.host.empty()) {
      if (auto it = by_host_.find(r.host); it != by_host_.end() && it->second == ip) by_host_.erase(it);
    }
    r = record{host, ip_address{ip, net_.base.v6}.str()};
    by_host_[host] = ip;
  }

  bool release(const std::string& host) {
    auto it = by_host_.find(host);
    if (it == by_host_.end()) return false;
    auto& r = records_.at(it->second);
    if (r.released) return false;
    r.released = true;
    r.released_order = ++release_clock_;
    if (in_range(it->second)) released_.insert({r.released_order, it->second});
    return true;
  }

  std::string range_text() const {
    return ip_address{lo_, net_.base.v6}.str() + "-" + ip_address{hi_, net_.base.v6}.str();
  }

  void load() {
    std::string text;
    if (!interlook::read_whole_file(cfg_.db_file, text)) return;  // no allocations yet
    try {
      auto doc = parse_json_text(text, cfg_.db_file);
      namespace jr = interlook::json_read;
      const auto& arr = jr::array(doc, "");
      for (std::size_t i = 0; i < arr.size(); ++i) {
        auto where = jr::index("", i);
        const auto& o = jr::object(arr[i], where);
        std::string ip_text = jr::string(o, "ip", where);
        auto ip = ip_address::parse(ip_text);
        if (!ip || ip->v6 != net_.base.v6) throw json_error(jr::join(where, "ip"), "invalid address \"" + ip_text + "\"");
        record r{jr::string(o, "host", where), ip->str(), jr::boolean(o, "released", where), 0};
        if (r.released) r.released_order = ++release_clock_;
        if (records_.count(ip->value)) throw json_error(jr::join(where, "ip"), ip_text + " is listed twice");
        // A host listed twice (an old file): its active address wins.
        auto [it, fresh] = by_host_.try_emplace(r.host, ip->value);
        if (!fresh && !r.released) it->second = ip->value;
        if (r.released && in_range(ip->value)) released_.insert({r.released_order, ip->value});
        records_[ip->value] = std::move(r);
      }
    } catch (const json_error& e) {
      throw std::runtime_error("db_file " + cfg_.db_file + " is corrupt: " + e.what());
    }
    ctx_.info("loaded " + std::to_string(records_.size()) + " addresses from " + cfg_.db_file);
  }

  // Go's shape, written directly: the whole file is rewritten once per
  // batch, so it must be cheap (~50 ns a record).
  void save() {
    std::string out;
    out.reserve(records_.size() * 48 + 2);
    out += '[';
    bool first = true;
    for (auto& [ip, r] : records_) {
      if (!first) out += ',';
      first = false;
      out += "{\"ip\":\"";
      out += r.text;
      out += "\",\"host\":";
      json_write::string(out, r.host);
      out += r.released ? ",\"released\":true}" : "}";
    }
    out += ']';
    interlook::write_file_atomically(cfg_.db_file, out);
  }

  config cfg_;
  extension_context& ctx_;
  ip_network net_;
  unsigned __int128 lo_ = 0, hi_ = 0;
  std::map<address, record> records_;              // every address ever given, in order (db_file's order)
  std::unordered_map<std::string, address> by_host_;  // a host's current or last address
  std::set<std::pair<std::uint64_t, address>> released_;  // released addresses in range, oldest first
  address fresh_ = 0;                                // no never-used address below this
  bool fresh_exhausted_ = false;
  std::uint64_t release_clock_ = 0;
  std::uint64_t saves_ = 0;
};

}  // namespace interlook::ext::ipam
