#pragma once
// The ownership TXT record the DNS provisioners (dns.rfc2136, dns.powerdns)
// write beside each name they create, in external-dns's habit, so that a zone
// moved from one to the other keeps its owners:
//
//   web.example.test. 60 IN TXT "heritage=interlook,owner=<ownerId>,service=<name>"
//
// A name is ours when its TXT RRset holds exactly this text for our ownerId:
// then its A/AAAA records are ours to change or delete. Any other name is
// never touched. Values are percent-encoded where they hold ',', '=', '%',
// '"', '\\', a space or a byte outside printable ASCII, so the record always
// parses back to the same owner and service.

#include <optional>
#include <string>
#include <string_view>

namespace interlook::ext::dns::ownership_record {

inline constexpr std::string_view heritage = "interlook";

struct ownership {
  std::string owner;
  std::string service;
  friend bool operator==(const ownership&, const ownership&) = default;
};

namespace detail {
inline bool plain(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != ',' && c != '=' && c != '%' && c != '"' && c != '\\';
}

inline std::string encode(std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if (plain(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

inline std::optional<std::string> decode(std::string_view v) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return std::nullopt;
    int hi = digit(v[i + 1]), lo = digit(v[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}
}  // namespace detail

// The TXT text for (owner, service).
inline std::string ownership_text(std::string_view owner, std::string_view service) {
  std::string out = "heritage=";
  out += heritage;
  out += ",owner=";
  out += detail::encode(owner);
  out += ",service=";
  out += detail::encode(service);
  return out;
}

// The owner and service a TXT text names, when it is an interlook ownership
// record ("heritage=interlook" among comma-separated key=value pairs, in any
// order, with an owner and a service); nullopt for any other TXT.
inline std::optional<ownership> parse_ownership(std::string_view text) {
  std::optional<std::string> her, owner, service;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view pair = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = pair.substr(0, eq);
    auto value = detail::decode(pair.substr(eq + 1));
    if (!value) return std::nullopt;
    if (key == "heritage") her = std::move(value);
    else if (key == "owner") owner = std::move(value);
    else if (key == "service") service = std::move(value);
  }
  if (!her || *her != heritage || !owner || !service) return std::nullopt;
  return ownership{std::move(*owner), std::move(*service)};
}

}  // namespace interlook::ext::dns::ownership_record
