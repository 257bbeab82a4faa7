#pragma once
// IPv4 and IPv6 addresses as 128-bit numbers, and networks in CIDR notation:
// what an IPAM or a load balancer needs to compare, count and print them.

#include <arpa/inet.h>

#include <cstdint>
#include <optional>
#include <string>

namespace interlook {

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

}  // namespace interlook
