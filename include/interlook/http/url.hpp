#pragma once
// Building request targets: percent-encoding of path segments and query
// values (RFC 3986: everything but the unreserved characters is escaped).

#include <string>
#include <string_view>

namespace interlook::http {

// "web.example.test" stays; "a/b c" becomes "a%2Fb%20c". Safe for a path
// segment and for a query value alike.
inline std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace interlook::http
