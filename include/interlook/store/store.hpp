#pragma once
// Crash-safe persistence of the workflow entries.
//
// The state file (core.workflowEntriesFile) keeps Go interlook's shape: one
// JSON object, service name -> entry. It is only ever replaced atomically
// (temporary file, fsync, rename, fsync of the directory). Between two
// snapshots, changes go to an append-only journal beside it
// ("<file>.journal", one JSON line per changed or removed entry), written
// once per batch of messages with one fsync (group commit). Loading reads the
// snapshot and replays the journal; a torn last journal line (a crash during
// the write) is dropped, anything else that does not parse stops the load
// with the path named.

#include <interlook/support/atomic_file.hpp>
#include <interlook/store/entry_json.hpp>

#include <boost/unordered/unordered_flat_map.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace interlook {

class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct stored_entry {
  std::string name;
  entry value;
  std::string state;  // step name as saved; the caller places it in its workflow
};

class state_store {
 public:
  // durable = false skips fsync (tests, benchmarks of the cost).
  explicit state_store(std::string path, bool durable = true)
      : path_(std::move(path)), journal_path_(path_ + ".journal"), durable_(durable) {}
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;
  ~state_store() {
    if (journal_fd_ >= 0) ::close(journal_fd_);
  }

  const std::string& path() const noexcept { return path_; }
  const std::string& journal_path() const noexcept { return journal_path_; }
  std::size_t journal_bytes() const noexcept { return journal_bytes_; }
  std::size_t snapshot_bytes() const noexcept { return snapshot_bytes_; }

  // Reads the snapshot and replays the journal. Missing files mean no
  // entries. Warnings (a dropped torn line) go to `warnings`.
  std::vector<stored_entry> load(std::vector<std::string>* warnings = nullptr) {
    std::vector<stored_entry> out;
    std::string text;
    if (read_file(path_, text)) {
      snapshot_bytes_ = text.size();
      if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
        boost::json::value doc;
        try {
          doc = parse_json_text(text, path_);
          const auto& obj = json_read::object(doc, "");
          out.reserve(obj.size());
          for (const auto& kv : obj) {
            std::string state;
            entry e = entry_from_json(kv.value(), std::string(kv.key()), state);
            out.push_back({std::string(kv.key()), std::move(e), std::move(state)});
          }
        } catch (const json_error& e) {
          throw store_error("state file " + path_ + " is corrupt: " + e.what() +
                            " (refusing to start; move it away or start with --start-empty)");
        }
      }
    }
    // The name index is built only when there is a journal to replay.
    std::string journal;
    if (read_file(journal_path_, journal) && !journal.empty()) {
      boost::unordered_flat_map<std::string, std::size_t> where;
      for (std::size_t i = 0; i < out.size(); ++i) where.emplace(out[i].name, i);
      // Removed entries, compacted at the end (not marked by their name: any
      // name, "" included, is a name).
      std::vector<bool> removed(out.size(), false);
      std::size_t pos = 0, line_no = 0;
      while (pos < journal.size()) {
        auto end = journal.find('\n', pos);
        bool last = end == std::string::npos;
        std::string_view line(journal.data() + pos, (last ? journal.size() : end) - pos);
        pos = last ? journal.size() : end + 1;
        ++line_no;
        if (line.empty()) continue;
        try {
          auto v = parse_json_text(line, "line " + std::to_string(line_no));
          const auto& o = json_read::object(v, "line " + std::to_string(line_no));
          std::string name = json_read::string(o, "name", "line " + std::to_string(line_no));
          if (json_read::boolean(o, "removed", "")) {
            auto it = where.find(name);
            if (it != where.end()) {
              removed[it->second] = true;
              where.erase(it);
            }
            continue;
          }
          if (const auto* pv = json_read::find(o, "progress")) {
            auto it = where.find(name);
            if (it == where.end()) {
              if (warnings)
                warnings->push_back(journal_path_ + " line " + std::to_string(line_no) + ": progress of " + name +
                                    ", whose entry is not saved; its provider will announce it again");
              continue;
            }
            apply_progress(out[it->second], *pv, name);
            continue;
          }
          const auto* ev = json_read::find(o, "entry");
          if (!ev) throw json_error("line " + std::to_string(line_no), "neither entry, progress nor removed");
          std::string state;
          entry e = entry_from_json(*ev, name, state);
          auto it = where.find(name);
          if (it != where.end()) {
            out[it->second] = {name, std::move(e), std::move(state)};
          } else {
            where.emplace(name, out.size());
            out.push_back({name, std::move(e), std::move(state)});
            removed.push_back(false);
          }
        } catch (const json_error& e) {
          if (last) {  // torn write at the end: the crash happened here
            if (warnings) warnings->push_back("dropped an incomplete last line of " + journal_path_);
            journal.resize(journal.size() - line.size());
            break;
          }
          throw store_error("journal " + journal_path_ + " is corrupt at line " + std::to_string(line_no) + ": " +
                            e.what() + " (refusing to start; move it away or start with --start-empty)");
        }
      }
      std::size_t kept = 0;
      for (std::size_t i = 0; i < out.size(); ++i)
        if (!removed[i]) {
          if (kept != i) out[kept] = std::move(out[i]);
          ++kept;
        }
      out.resize(kept);
      journal_bytes_ = journal.size();
    }
    return out;
  }

  // Appends one line per change with a single write and fsync.
  // `lines` holds complete journal lines, each ending in '\n'.
  void append(const std::string& lines) {
    if (lines.empty()) return;
    open_journal();
    try {
      write_all(journal_fd_, lines, journal_path_);
    } catch (const std::runtime_error& e) {
      throw store_error(e.what());
    }
    if (durable_ && ::fdatasync(journal_fd_) != 0) fail("fsync", journal_path_);
    journal_bytes_ += lines.size();
  }

  // Journal lines, each ending in '\n', for append().
  static void journal_line(std::string& out, std::string_view name, const entry& e, std::string_view state) {
    out += "{\"name\":";
    json_write::string(out, name);
    out += ",\"entry\":";
    append_entry_json(out, e, state);
    out += "}\n";
  }
  // Only what a walk changes: state, progress, error, times, public IP.
  static void journal_progress(std::string& out, std::string_view name, const entry& e, std::string_view state) {
    namespace jw = json_write;
    out += "{\"name\":";
    jw::string(out, name);
    out += ",\"progress\":{\"state\":";
    jw::string(out, state);
    out += ",\"work_in_progress\":";
    jw::boolean(out, e.work_in_progress);
    out += ",\"wip_time\":\"";
    append_timestamp(out, e.wip_time);
    out += "\",\"expected_state\":";
    jw::string(out, e.expect_deployed ? deployed_state : undeployed_state);
    out += ",\"error\":";
    jw::string(out, e.error);
    out += ",\"close_time\":\"";
    append_timestamp(out, e.close_time);
    out += "\",\"restart_walk\":";
    jw::boolean(out, e.restart_walk);
    out += ",\"public_ip\":";
    jw::string(out, e.service.public_ip);
    out += "}}\n";
  }
  static void journal_removal(std::string& out, std::string_view name) {
    out += "{\"name\":";
    json_write::string(out, name);
    out += ",\"removed\":true}\n";
  }

  // Replaces the state file atomically with `document` (the whole JSON
  // object) and empties the journal.
  void snapshot(const std::string& document) {
    auto file = begin_snapshot();
    try {
      file.write(document);
    } catch (const std::runtime_error& e) {
      throw store_error(e.what());
    }
    finish_snapshot(std::move(file), document.size());
  }

  // The same in two halves, for a document written piece by piece: the
  // pieces go to the returned file, then finish_snapshot() makes it the
  // state file (the durable part, which may run on another thread).
  atomic_file_writer begin_snapshot() {
    try {
      return atomic_file_writer(path_, 0600);
    } catch (const std::runtime_error& e) {
      throw store_error(e.what());
    }
  }
  void finish_snapshot(atomic_file_writer&& file, std::size_t bytes) {
    try {
      file.commit(durable_);
    } catch (const std::runtime_error& e) {
      throw store_error(e.what());
    }
    snapshot_bytes_ = bytes;
    // Only now that the snapshot is durable may the journal go.
    open_journal();
    if (::ftruncate(journal_fd_, 0) != 0) fail("truncate", journal_path_);
    if (durable_ && ::fsync(journal_fd_) != 0) fail("fsync", journal_path_);
    journal_bytes_ = 0;
  }

 private:
  static void apply_progress(stored_entry& s, const boost::json::value& v, const std::string& path) {
    namespace jr = json_read;
    const auto& o = jr::object(v, path);
    s.state = jr::string(o, "state", path);
    s.value.work_in_progress = jr::boolean(o, "work_in_progress", path);
    s.value.wip_time = jr::time(o, "wip_time", path);
    s.value.expect_deployed = jr::expects_deployed(o, path);
    s.value.error = jr::string(o, "error", path);
    s.value.close_time = jr::time(o, "close_time", path);
    s.value.restart_walk = jr::boolean(o, "restart_walk", path);
    s.value.service.public_ip = jr::string(o, "public_ip", path);
  }

  static bool read_file(const std::string& path, std::string& out) {
    try {
      return read_whole_file(path, out);
    } catch (const std::runtime_error& e) {
      throw store_error(e.what());
    }
  }

  void open_journal() {
    if (journal_fd_ >= 0) return;
    journal_fd_ = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (journal_fd_ < 0) fail("open", journal_path_);
  }

  [[noreturn]] static void fail(const std::string& op, const std::string& path) {
    throw store_error("cannot " + op + " " + path + ": " + std::strerror(errno));
  }

  std::string path_;
  std::string journal_path_;
  bool durable_;
  int journal_fd_ = -1;
  std::size_t journal_bytes_ = 0;
  std::size_t snapshot_bytes_ = 0;
};

}  // namespace interlook
