#pragma once
// The engine's persistence policy: what the core hands the journal writer and
// when (group commit), when the journal is folded into a new state file,
// loading at start, the final save at stop. Owned by the core thread; the
// writes and fsyncs run on the journal writer's thread.

#include <interlook/core/state_machine.hpp>
#include <interlook/runtime/wakeup.hpp>
#include <interlook/store/detail/journal_records.hpp>
#include <interlook/store/detail/journal_writer.hpp>
#include <interlook/store/entries_json.hpp>
#include <interlook/store/store.hpp>
#include <interlook/support/log.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace interlook {

class entry_persistence {
 public:
  using clock = std::chrono::steady_clock;

  // store: null for no persistence. wake: the core's, notified when the
  // writer has finished a batch.
  entry_persistence(std::unique_ptr<state_store> store, logger& log, wakeup& wake)
      : store_(std::move(store)), log_(log), wake_(wake) {}

  bool enabled() const noexcept { return store_ != nullptr; }

  // The journal is folded into a new state file once it is larger than
  // this and than twice the state file (default 64 MiB).
  void compact_journal_after(std::size_t bytes) noexcept { compact_after_bytes_ = bytes; }

  clock::time_point last_commit() const noexcept { return last_commit_; }

  // Loads the saved entries (before start()). Throws store_error for a
  // corrupt file unless start_empty, which renames it aside and starts empty.
  bool load(state_machine& machine, bool start_empty) {
    if (!store_) return false;
    std::vector<std::string> warnings;
    std::vector<stored_entry> saved;
    try {
      saved = store_->load(&warnings);
    } catch (const store_error& e) {
      if (!start_empty) throw;
      log_.warn(std::string(e.what()) + "; starting empty as asked (--start-empty)");
      std::string aside = store_->path() + ".corrupt";
      std::rename(store_->path().c_str(), aside.c_str());
      std::rename(store_->journal_path().c_str(), (store_->journal_path() + ".corrupt").c_str());
      saved.clear();
    }
    for (auto& w : warnings) log_.warn(w);
    for (auto& s : saved) {
      auto position = machine.position_of(s.state);
      if (!position) {
        log_.warn("service " + s.name + " was saved at step \"" + s.state +
                  "\", which this workflow does not have; walking it again from the start");
        s.value.position = 0;
        s.value.work_in_progress = false;
        s.value.error.clear();
      } else {
        s.value.position = *position;
      }
      machine.restore(std::move(s.name), std::move(s.value));
    }
    if (!saved.empty()) log_.info("loaded " + std::to_string(saved.size()) + " entries from " + store_->path());
    return true;
  }

  // Hands what changed since the last commit to the journal writer, unless
  // it is still writing the previous batch (then changes accumulate).
  // quiet: the core found nothing to do in its last pass, a good moment to
  // fold the journal into the state file.
  enum class committed {
    busy,       // the writer is still on the previous batch: nothing taken
    nothing,    // nothing had changed
    submitted,  // every change so far is in the batch the writer now writes
    failed,     // the batch could not be made (logged); changes go with the next
  };

  committed commit(state_machine& machine, bool quiet = false) {
    if (!store_) return committed::nothing;  // changes are not tracked without a store
    if (!writer_) writer_ = std::make_unique<detail::journal_writer>(*store_, wake_);
    if (!writer_->idle()) return committed::busy;
    if (auto failure = writer_->take_error()) {
      // Keep running on what is in memory; the next commit writes a full
      // snapshot so that nothing of the failed batch is lost.
      log_.error("cannot save entries: " + *failure);
      snapshot_needed_ = true;
    }
    auto changes = machine.take_changes();
    bool fold = snapshot_needed_ || fold_due(quiet);
    if (changes.empty() && !fold) return committed::nothing;
    last_commit_ = clock::now();
    try {
      if (fold) {
        // The writer is idle: the store is ours. The document is written
        // here (it reads the entries); its fsyncs and the journal's
        // truncation happen on the writer's thread.
        std::size_t bytes = 0;
        auto file = write_snapshot(machine, bytes);
        writer_->submit_snapshot(std::move(file), bytes);
        snapshot_needed_ = false;
        return committed::submitted;
      }
    } catch (const std::exception& e) {
      log_.error(std::string("cannot save entries: ") + e.what());
      snapshot_needed_ = true;
      return committed::failed;
    }
    // The writer's last buffer, with its capacity: a burst's batches then
    // need no growing and no fresh pages. The core only copies fields into
    // it; the writer formats the JSON lines.
    std::string records = writer_->take_buffer();
    detail::record_writer put(records);
    for (auto& c : changes) {
      if (!c.now) {
        put.removal(c.name);
      } else if (c.definition) {
        put.entry(c.name, *c.now, machine.state_name(*c.now));
      } else {
        put.progress(c.name, *c.now, machine.state_name(*c.now));
      }
    }
    writer_->submit(std::move(records));
    return committed::submitted;
  }

  bool idle() const { return !writer_ || writer_->idle(); }

  // The journal has outgrown its limit (the larger of the configured size
  // and twice the state file): fold it when the core is quiet, so that a
  // burst is not held up by writing every entry, or at once past four
  // times the limit, so that a sustained load cannot grow it for ever.
  bool fold_due(bool quiet) const {
    if (!store_) return false;
    auto limit = std::max<std::size_t>(compact_after_bytes_, 2 * store_->snapshot_bytes());
    auto size = store_->journal_bytes();
    return size > limit && (quiet || size > 4 * limit);
  }

  // The state document, written through a buffer into the next state file
  // (not yet in place: see state_store::finish_snapshot).
  atomic_file_writer write_snapshot(const state_machine& machine, std::size_t& bytes) {
    auto file = store_->begin_snapshot();
    std::string buffer;
    buffer.reserve(snapshot_chunk + (snapshot_chunk >> 2));
    write_entries_json(machine, buffer, snapshot_chunk, [&](const std::string& part) {
      try {
        file.write(part);
      } catch (const std::runtime_error& e) {
        throw store_error(e.what());
      }
      bytes += part.size();
    });
    return file;
  }

  void snapshot(const state_machine& machine) {
    std::size_t bytes = 0;
    auto file = write_snapshot(machine, bytes);
    store_->finish_snapshot(std::move(file), bytes);
    snapshot_needed_ = false;
  }

  // At stop, with every extension stopped: the whole state as one snapshot.
  // False when it could not be written (logged).
  bool save_final(state_machine& machine) {
    machine.take_changes();  // the final state file has them all
    if (writer_) {
      writer_->wait_idle();  // the store is ours again
      if (auto failure = writer_->take_error()) log_.error("cannot save entries: " + *failure);
      writer_.reset();
    }
    if (!store_) return true;
    try {
      snapshot(machine);
      log_.info("saved " + std::to_string(machine.entries().size()) + " entries to " + store_->path());
      return true;
    } catch (const std::exception& e) {
      log_.error(std::string("cannot save entries: ") + e.what());
      return false;
    }
  }

 private:
  std::unique_ptr<state_store> store_;
  logger& log_;
  wakeup& wake_;
  std::unique_ptr<detail::journal_writer> writer_;  // after store_: stopped before it
  bool snapshot_needed_ = false;
  // Rewriting the state file is the expensive part: fold only past this.
  std::size_t compact_after_bytes_ = std::size_t{64} << 20;
  clock::time_point last_commit_{};
  static constexpr std::size_t snapshot_chunk = std::size_t{1} << 20;
};

}  // namespace interlook
