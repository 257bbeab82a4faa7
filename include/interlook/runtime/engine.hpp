#pragma once
// The engine: extensions on their own threads, one core thread that owns
// every workflow entry, SPSC channels between them, crash-safe persistence.
//
//   auto cfg = interlook::load_config_file<my_registry>("interlook.yml");
//   interlook::logger log(cfg.core.logLevel, cfg.core.logFile);
//   interlook::engine<my_registry> core(cfg, log, std::make_unique<interlook::state_store>(path));
//   core.load_state();
//   core.start();
//   ...                       // signals: core.request_stop()
//   return core.wait();       // 0 after a clean stop

#include <interlook/runtime/channel.hpp>
#include <interlook/runtime/core_requests.hpp>
#include <interlook/runtime/persistence.hpp>
#include <interlook/config/file.hpp>
#include <interlook/runtime/detail/thread_name.hpp>
#include <interlook/support/log.hpp>
#include <interlook/extension/registry.hpp>
#include <interlook/core/state_machine.hpp>
#include <interlook/store/store.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace interlook {

// An extension that could not be built from its configuration.
class extension_start_error : public std::runtime_error {
 public:
  extension_start_error(std::string extension, const std::string& reason)
      : std::runtime_error("extension " + extension + " failed to start: " + reason),
        extension_(std::move(extension)) {}
  const std::string& extension() const noexcept { return extension_; }

 private:
  std::string extension_;
};

namespace detail {
template <class Registry, class Seq>
struct instance_tuple_of;
template <class Registry, std::size_t... I>
struct instance_tuple_of<Registry, std::index_sequence<I...>> {
  using type = std::tuple<std::unique_ptr<typename Registry::template type_at<I>>...>;
};

// The two channels between the core and one workflow step, and for a
// provider a third: boxes the core has finished with, back for reuse.
struct step_link {
  explicit step_link(wakeup& core) : from(core), spares(spares_wake), in(to.get()), out(from, &spares) {}
  mailbox<message_ptr> to;    // core -> extension
  channel<message_ptr> from;  // extension -> core
  wakeup spares_wake;         // nobody waits for spares: make_message() takes one if there is one
  channel<message_ptr> spares;
  inbox in;
  outbox out;
  std::atomic<bool> stopping{false};
};
}  // namespace detail

template <class Registry>
class engine {
 public:
  using clock = std::chrono::steady_clock;

  engine(const loaded_config<Registry>& cfg, logger& log, std::unique_ptr<state_store> store = nullptr)
      : cfg_(cfg.core),
        log_(log),
        steps_(cfg.steps),
        persistence_(std::move(store), log, core_wake_),
        machine_(cfg.core, workflow_steps(cfg.steps),
                 state_machine::sink{[this](std::size_t step, message_ptr&& m) { links_[step]->to.get().send_batched(std::move(m)); },
                                     [this](log_level l, const std::string& line) { log_.write(l, line); },
                                     log.threshold()}) {
    for (std::size_t j = 0; j < steps_.size(); ++j) {
      links_.push_back(std::make_unique<detail::step_link>(core_wake_));
      if (Registry::is_provider(steps_[j])) provider_links_.push_back(links_.back().get());
    }
    machine_.track_changes(persistence_.enabled());
    machine_.hold_first_steps(persistence_.enabled());
    // Build every extension of the workflow; a failure names it.
    for (auto s : steps_) {
      Registry::with_type(s, [&](auto type) {
        using E = typename decltype(type)::type;
        constexpr std::size_t index = *Registry::find(E::name);
        try {
          const auto& ext_cfg = *std::get<index>(cfg.extensions);
          if constexpr (std::is_constructible_v<E, decltype(ext_cfg), extension_context&>) {
            contexts_.push_back(std::make_unique<extension_context>(log_, E::name));
            std::get<index>(instances_) = std::make_unique<E>(ext_cfg, *contexts_.back());
          } else {
            std::get<index>(instances_) = std::make_unique<E>(ext_cfg);
          }
        } catch (const std::exception& e) {
          throw extension_start_error(std::string(E::name), e.what());
        }
      });
    }
  }

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  ~engine() {
    if (core_thread_.joinable()) {
      request_stop();
      wait();
    }
  }

  // Loads the saved entries (before start()). Throws store_error for a
  // corrupt file unless start_empty, which renames it aside and starts empty.
  void load_state(bool start_empty = false) { loaded_ = persistence_.load(machine_, start_empty); }

  // Starts the extension threads, then the core thread.
  void start() {
    for (std::size_t j = 0; j < steps_.size(); ++j) {
      ext_threads_.emplace_back([this, j] {
        detail::name_this_thread(step_name(j));
        run_extension(j);
      });
    }
    core_thread_ = std::thread([this] {
      detail::name_this_thread("interlook-core");
      run_core();
    });
  }

  // Asks for a clean stop; callable from any thread.
  void request_stop() noexcept {
    stop_requested_.store(true, std::memory_order_release);
    core_wake_.notify();
  }

  // Waits for the core to finish its shutdown; 0 after a clean stop, 1 when
  // an extension failed.
  int wait() {
    if (core_thread_.joinable()) core_thread_.join();
    for (auto& t : ext_threads_)
      if (t.joinable()) t.join();
    return failed_.load() ? 1 : 0;
  }

  // Runs f(const state_machine&) on the core thread between two batches and
  // returns its result: how the API and tests read the entries without
  // locks around them.
  template <class F>
  auto ask(F f) {
    return requests_.ask(std::move(f));
  }

  // Blocks until pred(state_machine) holds after some batch, or the timeout
  // passes; returns whether it held. The predicate runs on the core thread.
  template <class Pred>
  bool await(Pred pred, duration timeout) {
    return requests_.await(std::move(pred), timeout);
  }

  // The first extension failure (name and reason), if any.
  std::optional<std::pair<std::string, std::string>> failure() const {
    std::lock_guard lock(failure_mutex_);
    return failure_;
  }

  const std::vector<step_index>& steps() const noexcept { return steps_; }

  // The running instance of a registered extension type in the workflow
  // (for instance a handler's provisioner_adapter).
  template <class E>
  E& extension() {
    constexpr auto index = Registry::find(E::name);
    static_assert(index.has_value(), "interlook::engine::extension: type not in the registry");
    auto& p = std::get<*index>(instances_);
    if (!p) throw std::logic_error("extension " + std::string(E::name) + " is not in the workflow");
    return *p;
  }

  // The journal is folded into a new state file once it is larger than
  // this and than twice the state file (default 64 MiB), at the next quiet
  // moment (at once past four times that). Before start().
  void compact_journal_after(std::size_t bytes) noexcept { persistence_.compact_journal_after(bytes); }

  // Messages waiting in each direction, per workflow step (approximate).
  std::vector<std::pair<std::size_t, std::size_t>> queue_depths() const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (auto& l : links_) out.emplace_back(l->to.get().size_approx(), l->from.size_approx());
    return out;
  }

 private:
  static std::vector<workflow_step> workflow_steps(const std::vector<step_index>& steps) {
    std::vector<workflow_step> out;
    for (auto s : steps) {
      out.push_back(make_workflow_step(Registry::names[s]));
      out.back().wants_outcomes = Registry::outcomes[s];
    }
    return out;
  }

  std::string_view step_name(std::size_t j) const { return Registry::names[steps_[j]]; }

  // --- Extension threads -----------------------------------------------------

  void run_extension(std::size_t j) {
    auto& link = *links_[j];
    std::string name(step_name(j));
    try {
      with_instance(j, [&](auto& ext) { ext.start(link.in, link.out); });
      if (!link.stopping.load()) fail(name, "start() returned before the extension was stopped");
    } catch (const std::exception& e) {
      fail(name, e.what());
    } catch (...) {
      fail(name, "unknown exception");
    }
  }

  template <class F>
  void with_instance(std::size_t j, F&& f) {
    Registry::with_type(steps_[j], [&](auto type) {
      using E = typename decltype(type)::type;
      constexpr std::size_t index = *Registry::find(E::name);
      f(*std::get<index>(instances_));
    });
  }

  void fail(const std::string& name, const std::string& reason) {
    {
      std::lock_guard lock(failure_mutex_);
      if (!failure_) failure_.emplace(name, reason);
    }
    log_.error("extension " + name + " failed: " + reason + "; shutting down");
    failed_.store(true);
    request_stop();
  }

  void stop_extension(std::size_t j) {
    auto& link = *links_[j];
    link.stopping.store(true);
    link.to.get().close();
    with_instance(j, [](auto& ext) { ext.stop(); });
    if (ext_threads_[j].joinable()) ext_threads_[j].join();
  }

  // --- Core thread -------------------------------------------------------------

  // Drains every inbound channel once; returns how many messages it handled.
  std::size_t drain() {
    std::size_t handled = 0;
    message_ptr m;
    for (std::size_t j = 0; j < links_.size(); ++j) {
      // A bounded batch per channel keeps one busy extension from starving
      // the others.
      for (int n = 0; n < 4096 && links_[j]->from.try_receive(m); ++n) {
        machine_.receive(j, std::move(m));
        if (m) recycle(std::move(m));  // the walk ended here: nothing more to send
        ++handled;
      }
      flush_sends();
    }
    return handled;
  }

  // A box the core has finished with goes back to a provider, whose next
  // message reuses it and the capacity of its strings and vectors: in a
  // steady flow, messages then cost no allocations. Bounded, so that a
  // burst does not keep its peak in spares for good.
  void recycle(message_ptr&& m) {
    detail::step_link* to = nullptr;
    for (auto* link : provider_links_)
      if (!to || link->spares.size_approx() < to->spares.size_approx()) to = link;
    if (to && to->spares.size_approx() < spare_boxes) to->spares.send_batched(std::move(m));
  }

  // The state machine's sends wake each extension once per batch.
  void flush_sends() {
    for (auto& l : links_) l->to.get().flush();
  }

  // Group commit, and the write-ahead of new services: their first steps
  // go out once the batch recording them has been written (or has failed,
  // which is logged: the daemon keeps running on what is in memory).
  void commit(bool quiet = false) {
    switch (persistence_.commit(machine_, quiet)) {
      case entry_persistence::committed::busy:
        return;
      case entry_persistence::committed::submitted:
        for (auto& h : machine_.take_held()) journalled_.push_back(std::move(h));
        return;
      case entry_persistence::committed::nothing:
      case entry_persistence::committed::failed:
        machine_.send_held(machine_.take_held());
        flush_sends();
        return;
    }
  }
  void release_journalled() {
    if (journalled_.empty() || !persistence_.idle()) return;
    machine_.send_held(std::move(journalled_));
    journalled_.clear();
    flush_sends();
  }

  void run_jobs() { requests_.run_jobs(machine_); }
  void check_waiters() { requests_.check_waiters(machine_); }

  void run_core() {
    machine_.begin_batch();
    if (loaded_) machine_.resume_all();
    flush_sends();
    commit();
    while (!stop_requested_.load(std::memory_order_acquire)) {
      auto ticket = core_wake_.prepare();
      machine_.begin_batch();
      release_journalled();
      std::size_t handled = drain();
      run_jobs();
      machine_.tick();
      flush_sends();
      // Group commit: one journal write and fsync, at most every
      // commit_interval, for everything that changed since the last one; an
      // entry that moves several steps in that time is written once. A crash
      // loses at most that interval, which a restart replays (providers
      // announce again, provisioners are idempotent).
      // The write and its fsync happen on the journal writer's thread.
      if (clock::now() - persistence_.last_commit() >= commit_interval || (handled == 0 && persistence_.idle() && persistence_.fold_due(true)))
        commit(handled == 0);
      release_journalled();
      check_waiters();
      if (handled == 0) {
        auto deadline = machine_.next_deadline();
        // A finished writer notifies core_wake_; until then, no deadline for it.
        if (machine_.has_changes() && persistence_.idle())
          deadline = std::min(deadline, persistence_.last_commit() + commit_interval);
        core_wake_.wait_until(ticket, deadline);
      }
    }
    shutdown();
  }

  // Rule 9: providers first, in-flight steps answered (bounded), then the
  // provisioners; the final state saved as one snapshot.
  void shutdown() {
    log_.info("stopping: providers first");
    for (std::size_t j = 0; j < steps_.size(); ++j)
      if (Registry::is_provider(steps_[j])) stop_extension(j);
    machine_.begin_batch();
    drain();
    machine_.hold_new_steps();
    // New services' first steps not yet sent stay in progress there (the
    // final snapshot records them) and go out at the next start.
    machine_.drop_held(machine_.take_held());
    machine_.drop_held(std::move(journalled_));
    journalled_.clear();
    auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(cfg_.shutdownTimeout);
    while (machine_.in_flight() > 0 && clock::now() < deadline) {
      auto ticket = core_wake_.prepare();
      machine_.begin_batch();
      if (drain() == 0 && machine_.in_flight() > 0) core_wake_.wait_until(ticket, deadline);
    }
    if (machine_.in_flight() > 0)
      log_.warn(std::to_string(machine_.in_flight()) + " steps still in progress after " +
                format_duration(cfg_.shutdownTimeout) + "; they resume at the next start");
    for (std::size_t j = 0; j < steps_.size(); ++j)
      if (!Registry::is_provider(steps_[j])) stop_extension(j);
    machine_.begin_batch();
    drain();
    run_jobs();
    if (!persistence_.save_final(machine_)) failed_.store(true);
    check_waiters();
  }

  core_config cfg_;
  logger& log_;
  std::vector<step_index> steps_;
  wakeup core_wake_;
  entry_persistence persistence_;  // after core_wake_, which its writer notifies
  std::vector<std::unique_ptr<detail::step_link>> links_;
  std::vector<detail::step_link*> provider_links_;  // where spent boxes go back
  std::vector<std::unique_ptr<extension_context>> contexts_;
  typename detail::instance_tuple_of<Registry, std::make_index_sequence<Registry::size>>::type instances_;
  state_machine machine_;
  std::vector<std::thread> ext_threads_;
  std::thread core_thread_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mutex_;
  std::optional<std::pair<std::string, std::string>> failure_;
  core_requests requests_{core_wake_};
  bool loaded_ = false;
  state_machine::held_steps journalled_;  // new services' first steps, in the batch being written
  static constexpr std::size_t spare_boxes = 1024;  // per provider
  static constexpr auto commit_interval = std::chrono::milliseconds(20);
};

}  // namespace interlook
