#pragma once
// The message model exchanged between the core and the extensions.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace interlook {

// What a message asks for. `remove` is written "delete" on the wire (a C++
// keyword cannot name the enumerator).
enum class action : std::uint8_t { add, update, remove, refresh };

constexpr std::string_view to_string(action a) noexcept {
  switch (a) {
    case action::add: return "add";
    case action::update: return "update";
    case action::remove: return "delete";
    case action::refresh: return "refresh";
  }
  return "?";
}

constexpr std::optional<action> parse_action(std::string_view s) noexcept {
  if (s == "add") return action::add;
  if (s == "update") return action::update;
  if (s == "delete") return action::remove;
  if (s == "refresh") return action::refresh;
  return std::nullopt;
}

// One backend of a service: where its traffic goes and how much of it.
struct target {
  std::string host;
  std::uint32_t port = 0;
  std::uint32_t weight = 1;

  friend bool operator==(const target&, const target&) = default;
};

struct service {
  std::string provider;
  std::string name;
  std::vector<target> targets;
  bool tls = false;
  std::string public_ip;
  std::vector<std::string> dns_names;  // "dns_name" on the wire, as in Go

  friend bool operator==(const service&, const service&) = default;
};

struct message {
  interlook::action action = action::add;
  // Set by the outbox as the message leaves an extension: a digest of its
  // service, which tells the core whether an answer carries back the
  // definition it was sent without the core reading that definition. Not
  // part of the message's value (ignored by ==, not in JSON). It sits in
  // what would be padding after `action`.
  std::uint64_t fingerprint = 0;
  // The core's reference to the entry a message is about, carried back by
  // the answer so that the core finds the entry without a lookup by name.
  // Extensions leave it alone; like the fingerprint, not part of the value.
  std::uint64_t ticket = 0;
  std::string sender;       // set by the core to the sending extension's name
  std::string destination;  // the extension the core addresses
  std::string error;        // empty means success
  interlook::service service;

  friend bool operator==(const message& a, const message& b) {
    return a.action == b.action && a.sender == b.sender && a.destination == b.destination && a.error == b.error &&
           a.service == b.service;
  }
};

// Messages travel between threads boxed: a hop moves a pointer, not the
// message's six strings and two vectors (moving a message costs a few
// hundred instructions; profiling showed those moves to be most of the
// engine's work before messages were boxed).
using message_ptr = std::unique_ptr<message>;

// Empties a message for reuse; its strings and vectors keep their capacity,
// so filling it in again allocates little or nothing.
inline void clear(message& m) noexcept {
  m.action = action::add;
  m.fingerprint = 0;
  m.ticket = 0;
  m.sender.clear();
  m.destination.clear();
  m.error.clear();
  m.service.provider.clear();
  m.service.name.clear();
  m.service.targets.clear();
  m.service.tls = false;
  m.service.public_ip.clear();
  m.service.dns_names.clear();
}

namespace detail {
inline bool target_less(const target& a, const target& b) {
  return std::tie(a.host, a.port) < std::tie(b.host, b.port);
}
inline bool same_endpoint(const target& a, const target& b) { return a.port == b.port && a.host == b.host; }
}  // namespace detail

// Puts targets in canonical form: sorted by host:port, duplicates of one
// host:port merged into one target whose weight is the sum of their weights
// (a weight of 0 counts as 1, so N plain copies give weight N; the sum
// stops at the largest weight instead of wrapping round to 0).
inline void merge_targets(std::vector<target>& targets) {
  for (auto& t : targets)
    if (t.weight == 0) t.weight = 1;
  if (targets.size() < 2) return;
  if (!std::is_sorted(targets.begin(), targets.end(), detail::target_less))
    std::sort(targets.begin(), targets.end(), detail::target_less);
  std::size_t out = 0;
  for (std::size_t i = 1; i < targets.size(); ++i) {
    if (detail::same_endpoint(targets[out], targets[i])) {
      auto& w = targets[out].weight;
      w = targets[i].weight > std::numeric_limits<std::uint32_t>::max() - w ? std::numeric_limits<std::uint32_t>::max()
                                                                          : w + targets[i].weight;
    } else if (++out != i) {
      targets[out] = std::move(targets[i]);
    }
  }
  targets.resize(out + 1);
}

inline std::vector<target> merged_targets(std::vector<target> targets) {
  merge_targets(targets);
  return targets;
}

namespace detail {
// Order-insensitive equality of two lists, cheap when they already agree.
template <class T, class Canon>
bool same_elements(const std::vector<T>& a, const std::vector<T>& b, Canon canon) {
  if (a == b) return true;
  return canon(a) == canon(b);
}
}  // namespace detail

namespace detail {
// A 64-bit digest of everything a service carries, order-sensitive (it
// recognises the very definition that was sent, not an equivalent one).
// Not for adversaries: a change detector, cheap on short strings (a word at
// a time, no call per string). Never 0, which callers use for "none".
class fingerprinter {
 public:
  void word(std::uint64_t w) noexcept {
    h_ = (h_ ^ w) * 0x9E3779B97F4A7C15ull;
    h_ ^= h_ >> 29;
  }
  void text(std::string_view t) noexcept {
    word(t.size());
    const char* p = t.data();
    std::size_t n = t.size();
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      word(w);
    }
    if (n) {
      std::uint64_t w = 0;
      std::memcpy(&w, p, n);
      word(w);
    }
  }
  std::uint64_t digest() const noexcept {
    std::uint64_t x = h_;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
    return x == 0 ? 1 : x;
  }

 private:
  std::uint64_t h_ = 0x243F6A8885A308D3ull;
};

inline std::uint64_t service_fingerprint(const service& s) noexcept {
  fingerprinter f;
  f.text(s.provider);
  f.text(s.name);
  f.word(s.targets.size());
  for (const auto& t : s.targets) {
    f.text(t.host);
    f.word((std::uint64_t{t.port} << 32) | t.weight);
  }
  f.word(s.tls ? 1 : 2);
  f.text(s.public_ip);
  f.word(s.dns_names.size());
  for (const auto& d : s.dns_names) f.text(d);
  return f.digest();
}
}  // namespace detail

// Two definitions are "the same" when their DNS aliases, TLS flag and targets
// are equal; neither the order of targets or aliases nor duplicate targets
// written out instead of weighted make a difference.
inline bool same_definition(const service& a, const service& b) {
  if (a.tls != b.tls) return false;
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  return detail::same_elements(a.dns_names, b.dns_names, sorted) &&
         detail::same_elements(a.targets, b.targets, merged_targets);
}

}  // namespace interlook
