#pragma once
// The ownership TXT record dns.powerdns writes beside each name it creates,
// the same text dns.rfc2136 writes (external-dns's habit), so that a zone
// moved from one to the other keeps its owners:
//
//   web.example.test. 60 IN TXT "heritage=interlook,owner=<ownerId>,service=<name>"
//
// A name is ours when its TXT RRset holds exactly this text for our ownerId
// and the service: then its A/AAAA RRsets are ours to change or delete. Any
// other name is never touched. Values are percent-encoded where they hold
// ',', '=', '%', '"', '\\', a space or a byte outside printable ASCII, so the
// record always parses back to the same owner and service.
//
// PowerDNS's API shows TXT contents in zone-file presentation: one or more
// quoted character-strings ("..." "..."), with \" \\ and \DDD escapes.

#include <interlook/ext/dns/ownership.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace interlook::ext::dns::powerdns_detail {

using ownership_record::heritage;
using ownership_record::ownership;
using ownership_record::ownership_text;
using ownership_record::parse_ownership;

// A TXT content as PowerDNS shows it ("a" "b", escapes) -> the text, its
// character-strings joined. Unquoted content is taken as it is.
inline std::string txt_text(std::string_view content) {
  std::string out;
  bool quoted = false;
  for (std::size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c == ' ' || c == '\t')) continue;
    if (c == '\\' && i + 1 < content.size()) {
      char n = content[i + 1];
      if (n >= '0' && n <= '9' && i + 3 < content.size()) {
        out += static_cast<char>((n - '0') * 100 + (content[i + 2] - '0') * 10 + (content[i + 3] - '0'));
        i += 3;
      } else {
        out += n;
        ++i;
      }
      continue;
    }
    out += c;
  }
  return out;
}

// The text as a TXT content for PowerDNS: quoted character-strings of at
// most 255 bytes each (RFC 1035), '"' and '\\' escaped (our own texts have
// neither: they are percent-encoded).
inline std::string txt_content(std::string_view text) {
  std::string out;
  do {
    auto part = text.substr(0, 255);
    text.remove_prefix(part.size());
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : part) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  } while (!text.empty());
  return out;
}

}  // namespace interlook::ext::dns::powerdns_detail
