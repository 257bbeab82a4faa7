#pragma once
// Small string helpers for the HTTP client: case-insensitive comparison,
// durations for messages, body excerpts, query redaction, secret scrubbing,
// base64. No Beast, no Asio.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace interlook::http::detail {

inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// For messages: "2s", "1.5s", "250ms", "100us"; a minute or more as "1m30s", "2h".
inline std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  auto ns = d.count();
  if (ns < 0) return "-" + format_duration(-d);
  auto decimal = [](std::int64_t whole, std::int64_t frac, std::int64_t unit_ns, const char* unit) {
    std::string s = std::to_string(whole);
    if (frac != 0) {
      // up to three significant decimals, trailing zeros dropped
      std::string f = std::to_string(frac * 1000 / unit_ns);
      f.insert(0, 3 - std::min<std::size_t>(3, f.size()), '0');
      while (!f.empty() && f.back() == '0') f.pop_back();
      if (!f.empty()) s += "." + f;
    }
    return s + unit;
  };
  if (ns < 1000) return std::to_string(ns) + "ns";
  if (ns < 1'000'000) return decimal(ns / 1000, ns % 1000, 1000, "us");
  if (ns < 1'000'000'000) return decimal(ns / 1'000'000, ns % 1'000'000, 1'000'000, "ms");
  if (ns < 60'000'000'000) return decimal(ns / 1'000'000'000, ns % 1'000'000'000, 1'000'000'000, "s");
  auto secs = ns / 1'000'000'000;
  std::string s;
  if (secs >= 3600) s += std::to_string(secs / 3600) + "h";
  if (secs % 3600 / 60) s += std::to_string(secs % 3600 / 60) + "m";
  if (secs % 60) s += std::to_string(secs % 60) + "s";
  return s;
}

// At most `limit` bytes of `body` on one line: control characters become
// spaces, a cut is marked with "...", and never falls inside a UTF-8 sequence.
inline std::string excerpt(std::string_view body, std::size_t limit = 200) {
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
  bool cut = body.size() > limit;
  if (cut) {
    std::size_t n = limit - 3;
    while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;  // continuation byte
    body = body.substr(0, n);
  }
  std::string out;
  out.reserve(body.size() + 3);
  for (char c : body) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  if (cut) out += "...";
  return out;
}

// Whether a query parameter of this name carries a credential.
inline bool secret_parameter(std::string_view name) {
  std::string n = to_lower(name);
  static constexpr std::string_view contains[] = {"token", "secret", "passw", "apikey", "api_key", "api-key", "auth", "signature", "credential", "session"};
  static constexpr std::string_view exact[] = {"key", "sig", "pwd", "code"};
  for (auto c : contains)
    if (n.find(c) != std::string::npos) return true;
  for (auto e : exact)
    if (n == e) return true;
  return false;
}

// The target with the values of credential-looking query parameters replaced
// by "***" (the path is kept).
inline std::string redact_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  if (auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
  for (std::size_t start = 0;;) {
    auto amp = query.find('&', start);
    std::string_view pair = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && secret_parameter(pair.substr(0, eq))) {
      out.append(pair.substr(0, eq));
      out += "=***";
    } else {
      out.append(pair);
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    start = amp + 1;
  }
  return out;
}

// The values of the credential-looking query parameters of `target`.
inline std::vector<std::string> secret_query_values(std::string_view target) {
  std::vector<std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  for (std::size_t start = 0;;) {
    auto amp = query.find('&', start);
    std::string_view pair = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && eq + 1 < pair.size() && secret_parameter(pair.substr(0, eq))) out.emplace_back(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

// Secrets shorter than this are not scrubbed from text (they would mangle it
// and hide nothing).
inline constexpr std::size_t min_scrubbed_secret = 4;

// Replaces every occurrence of each secret in `text` by "***".
inline void scrub(std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < min_scrubbed_secret) continue;
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3)) text.replace(pos, s.size(), "***");
  }
}

inline std::string base64(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A header name is an RFC 9110 token.
inline bool valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// No CR, LF or NUL: a value cannot end the header line early.
inline bool valid_header_value(std::string_view value) noexcept {
  return std::none_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

}  // namespace interlook::http::detail
