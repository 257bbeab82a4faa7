#pragma once
// A small XML reader for the Kemp LoadMaster's /access/ answers, e.g.
//
//   <?xml version="1.0" encoding="ISO-8859-1"?>
//   <Response stat="200" code="ok"><Success><Data><VS>...</VS></Data></Success></Response>
//
// Elements, attributes, character data, CDATA, the five predefined entities
// and character references; the prolog, comments, processing instructions
// and a DOCTYPE are skipped. Bytes are kept as they are (no transcoding).
// Malformed input throws std::runtime_error with the byte offset.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace interlook::ext::lb::kemplm_detail {

struct xml_element {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // character data directly inside, concatenated
  std::vector<xml_element> children;

  // Names compare case-insensitively: LoadMaster versions differ in case
  // ("VStype", "VSType").
  static bool same_name(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }
  const xml_element* child(std::string_view n) const {
    for (const auto& c : children)
      if (same_name(c.name, n)) return &c;
    return nullptr;
  }
  std::vector<const xml_element*> all(std::string_view n) const {
    std::vector<const xml_element*> out;
    for (const auto& c : children)
      if (same_name(c.name, n)) out.push_back(&c);
    return out;
  }
  // The text of the first child of this name, trimmed; "" without one.
  std::string child_text(std::string_view n) const {
    const auto* c = child(n);
    if (!c) return {};
    std::string_view t = c->text;
    while (!t.empty() && (t.front() == ' ' || t.front() == '\n' || t.front() == '\r' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\r' || t.back() == '\t')) t.remove_suffix(1);
    return std::string(t);
  }
  std::string attribute(std::string_view n) const {
    for (const auto& [k, v] : attributes)
      if (same_name(k, n)) return v;
    return {};
  }
};

namespace xml_impl {

class reader {
 public:
  explicit reader(std::string_view in) : s_(in) {}

  xml_element document() {
    skip_misc();
    if (at_end() || peek() != '<') fail("expected the root element");
    xml_element root = element();
    skip_misc();
    if (!at_end()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("malformed XML at byte " + std::to_string(i_) + ": " + why);
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  bool starts(std::string_view p) const { return s_.substr(i_, p.size()) == p; }
  static bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
  }
  void skip_space() {
    while (!at_end() && space(peek())) ++i_;
  }
  void skip_past(std::string_view end) {
    auto p = s_.find(end, i_);
    if (p == std::string_view::npos) fail("unterminated construct (no \"" + std::string(end) + "\")");
    i_ = p + end.size();
  }
  // Whitespace, the XML declaration, processing instructions, comments, DOCTYPE.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts("<?")) skip_past("?>");
      else if (starts("<!--")) skip_past("-->");
      else if (starts("<!DOCTYPE") || starts("<!doctype")) skip_past(">");
      else return;
    }
  }
  std::string name() {
    std::size_t start = i_;
    while (!at_end() && name_char(peek())) ++i_;
    if (i_ == start) fail("expected a name");
    return std::string(s_.substr(start, i_ - start));
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // At '&': appends the entity's character.
  void entity(std::string& out) {
    auto semi = s_.find(';', i_);
    if (semi == std::string_view::npos || semi - i_ > 12) fail("unterminated entity");
    auto e = s_.substr(i_ + 1, semi - i_ - 1);
    if (e == "lt") out += '<';
    else if (e == "gt") out += '>';
    else if (e == "amp") out += '&';
    else if (e == "quot") out += '"';
    else if (e == "apos") out += '\'';
    else if (e.size() > 1 && e[0] == '#') {
      std::uint32_t cp = 0;
      bool hex = e[1] == 'x' || e[1] == 'X';
      auto digits = e.substr(hex ? 2 : 1);
      if (digits.empty()) fail("empty character reference");
      for (char c : digits) {
        std::uint32_t d;
        if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
        else if (hex && c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
        else fail("bad character reference");
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10FFFF) fail("character reference out of range");
      }
      append_utf8(out, cp);
    } else {
      fail("unknown entity &" + std::string(e) + ";");
    }
    i_ = semi + 1;
  }
  std::string attribute_value() {
    if (at_end() || (peek() != '"' && peek() != '\'')) fail("expected a quoted attribute value");
    char q = peek();
    ++i_;
    std::string v;
    while (!at_end() && peek() != q) {
      if (peek() == '&') entity(v);
      else if (peek() == '<') fail("'<' in an attribute value");
      else v += s_[i_++];
    }
    if (at_end()) fail("unterminated attribute value");
    ++i_;
    return v;
  }
  xml_element element() {
    if (++depth_ > 64) fail("elements nested too deeply");
    ++i_;  // '<'
    xml_element e;
    e.name = name();
    for (;;) {
      skip_space();
      if (at_end()) fail("unterminated start tag <" + e.name + ">");
      if (starts("/>")) {
        i_ += 2;
        --depth_;
        return e;
      }
      if (peek() == '>') {
        ++i_;
        break;
      }
      std::string k = name();
      skip_space();
      if (at_end() || peek() != '=') fail("expected = after attribute " + k);
      ++i_;
      skip_space();
      e.attributes.emplace_back(std::move(k), attribute_value());
    }
    for (;;) {
      if (at_end()) fail("unterminated element <" + e.name + ">");
      if (starts("</")) {
        i_ += 2;
        std::string end = name();
        if (end != e.name) fail("</" + end + "> closes <" + e.name + ">");
        skip_space();
        if (at_end() || peek() != '>') fail("expected > after </" + end);
        ++i_;
        --depth_;
        return e;
      }
      if (starts("<!--")) skip_past("-->");
      else if (starts("<![CDATA[")) {
        auto end = s_.find("]]>", i_ + 9);
        if (end == std::string_view::npos) fail("unterminated CDATA section");
        e.text.append(s_.substr(i_ + 9, end - i_ - 9));
        i_ = end + 3;
      } else if (starts("<?")) skip_past("?>");
      else if (peek() == '<') e.children.push_back(element());
      else if (peek() == '&') entity(e.text);
      else e.text += s_[i_++];
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace xml_impl

inline xml_element parse_xml(std::string_view text) { return xml_impl::reader(text).document(); }

// Text with &, <, >, " escaped (for the simulator and tests that write XML).
inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace interlook::ext::lb::kemplm_detail
