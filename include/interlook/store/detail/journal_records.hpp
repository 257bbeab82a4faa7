#pragma once
// Journal records in a compact binary form: what the core writes when it
// commits a batch (copies of fields, no formatting), and what the journal
// writer turns into the journal's JSON lines on its own thread. Formatting
// JSON (escaping, numbers, RFC 3339 times) cost the core about two
// microseconds a record; copying the fields costs a fraction of that.
//
// The format lives only in memory, between two threads of one process: no
// versioning, no validation beyond what a programming error would trip.

#include <interlook/core/entry.hpp>
#include <interlook/store/store.hpp>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace interlook::detail {

enum class record_kind : std::uint8_t { entry = 1, progress = 2, removal = 3 };

class record_writer {
 public:
  explicit record_writer(std::string& out) noexcept : out_(out) {}

  void entry(std::string_view name, const interlook::entry& e, std::string_view state) {
    start(record_kind::entry, name, state);
    common(e);
    text(e.info);
    time(e.time_detected);
    time(e.last_update);
    const service& s = e.service;
    text(s.provider);
    text(s.name);
    number(s.targets.size());
    for (const auto& t : s.targets) {
      text(t.host);
      number(t.port);
      number(t.weight);
    }
    flag(s.tls);
    number(s.dns_names.size());
    for (const auto& d : s.dns_names) text(d);
  }

  void progress(std::string_view name, const interlook::entry& e, std::string_view state) {
    start(record_kind::progress, name, state);
    common(e);
  }

  void removal(std::string_view name) {
    out_ += static_cast<char>(record_kind::removal);
    text(name);
  }

 private:
  void start(record_kind k, std::string_view name, std::string_view state) {
    out_ += static_cast<char>(k);
    text(name);
    text(state);
  }
  // What both kinds carry: what a walk changes.
  void common(const interlook::entry& e) {
    flag(e.work_in_progress);
    flag(e.expect_deployed);
    flag(e.restart_walk);
    time(e.wip_time);
    time(e.close_time);
    text(e.error);
    text(e.service.public_ip);
  }

  void flag(bool b) { out_ += b ? '\1' : '\0'; }
  void number(std::uint64_t v) { raw(&v, sizeof v); }
  void time(timestamp t) { number(static_cast<std::uint64_t>(t.time_since_epoch().count())); }
  void text(std::string_view t) {
    number(t.size());
    out_.append(t.data(), t.size());
  }
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }

  std::string& out_;
};

// Turns a buffer of records into journal lines, appended to `lines`.
// `scratch` is reused from record to record (and from batch to batch by the
// caller), so that its strings keep their capacity.
class record_reader {
 public:
  record_reader(std::string_view in, interlook::entry& scratch) noexcept : in_(in), e_(scratch) {}

  void to_journal_lines(std::string& lines) {
    while (!in_.empty()) {
      auto kind = static_cast<record_kind>(byte());
      name_ = text();
      if (kind == record_kind::removal) {
        state_store::journal_removal(lines, name_);
        continue;
      }
      state_ = text();
      common();
      if (kind == record_kind::progress) {
        state_store::journal_progress(lines, name_, e_, state_);
        continue;
      }
      if (kind != record_kind::entry) throw std::logic_error("journal record of unknown kind");
      e_.info.assign(text());
      e_.time_detected = time();
      e_.last_update = time();
      service& s = e_.service;
      s.provider.assign(text());
      s.name.assign(text());
      s.targets.resize(number());
      for (auto& t : s.targets) {
        t.host.assign(text());
        t.port = static_cast<std::uint32_t>(number());
        t.weight = static_cast<std::uint32_t>(number());
      }
      s.tls = byte() != 0;
      s.dns_names.resize(number());
      for (auto& d : s.dns_names) d.assign(text());
      state_store::journal_line(lines, name_, e_, state_);
    }
  }

 private:
  void common() {
    e_.work_in_progress = byte() != 0;
    e_.expect_deployed = byte() != 0;
    e_.restart_walk = byte() != 0;
    e_.wip_time = time();
    e_.close_time = time();
    e_.error.assign(text());
    e_.service.public_ip.assign(text());
  }

  unsigned char byte() {
    need(1);
    auto b = static_cast<unsigned char>(in_.front());
    in_.remove_prefix(1);
    return b;
  }
  std::uint64_t number() {
    need(sizeof(std::uint64_t));
    std::uint64_t v;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  timestamp time() { return timestamp(std::chrono::nanoseconds(static_cast<std::int64_t>(number()))); }
  std::string_view text() {
    auto n = number();
    need(n);
    auto t = in_.substr(0, n);
    in_.remove_prefix(n);
    return t;
  }
  void need(std::uint64_t n) const {
    if (in_.size() < n) throw std::logic_error("journal record cut short");
  }

  std::string_view in_;
  interlook::entry& e_;
  std::string_view name_, state_;
};

}  // namespace interlook::detail
