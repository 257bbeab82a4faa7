#pragma once
// A direct JSON writer for the hot paths (journal, snapshot, /services):
// appends to a string, no intermediate DOM, no allocation beyond the output.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace interlook::json_write {

inline bool needs_escape(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == '"' || c == '\\';
}

inline void string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < s.size() && !needs_escape(s[i])) ++i;
  if (i == s.size()) {  // the common case, nothing to escape: one append
    std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    out[at] = '"';
    s.copy(out.data() + at + 1, s.size());
    out[at + s.size() + 1] = '"';
    return;
  }
  out += '"';
  std::size_t run = 0;  // copy unescaped runs in one go
  for (; i < s.size(); ++i) {
    if (!needs_escape(s[i])) continue;
    auto c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

inline void number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

inline void boolean(std::string& out, bool b) { out += b ? "true" : "false"; }

// "key": (with the comma before it unless first)
inline void key(std::string& out, std::string_view k, bool& first) {
  if (!first) out += ',';
  first = false;
  out += '"';
  out += k;
  out += "\":";
}

}  // namespace interlook::json_write
