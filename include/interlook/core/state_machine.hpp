#pragma once
// The workflow state machine (SPEC "workflow state machine", rules 1-8).
//
// It is owned by one thread, the core: no locks. It works on workflow
// positions (small integers), not on names; what it sends goes through a
// sink, so the same machine serves the runtime and the compile-time
// workflows and is tested without threads. Its parts: the workflow
// (workflow.hpp), the entries (entry_table.hpp), the counters for /metrics
// (counters.hpp); this file holds the rules.

#include <interlook/config/core_config.hpp>
#include <interlook/support/duration.hpp>
#include <interlook/core/counters.hpp>
#include <interlook/core/entry.hpp>
#include <interlook/core/entry_table.hpp>
#include <interlook/core/workflow.hpp>
#include <interlook/extension/name.hpp>
#include <interlook/core/message.hpp>
#include <interlook/support/timestamp.hpp>

#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

namespace interlook {

class state_machine {
 public:
  using clock = std::chrono::steady_clock;

  struct sink {
    // Deliver a message to the extension at workflow step `step` (0-based).
    // The box is the message's: the receiver may keep it or hand it on.
    std::function<void(std::size_t step, message_ptr&&)> send;
    // Log a line at a level; only called when enabled(level).
    std::function<void(log_level, const std::string&)> log;
    log_level threshold = log_level::info;
  };

  state_machine(const core_config& cfg, std::vector<workflow_step> steps, sink out)
      : cfg_(cfg), steps_(std::move(steps)), out_(std::move(out)) {
    K_ = static_cast<std::uint16_t>(steps_.size());
    counters_.received.resize(K_);
    counters_.sent.resize(K_);
    counters_.errors.resize(K_);
    for (std::size_t i = 0; i < steps_.size(); ++i)
      if (steps_[i].provider && !first_provider_) first_provider_ = i;
    for (auto& st : steps_) any_wants_outcomes_ = any_wants_outcomes_ || (st.provider && st.wants_outcomes);
    next_housekeeping_ = clock::now() + to_clock(cfg_.workflowHousekeeperInterval);
  }

  // --- Inputs --------------------------------------------------------------

  // A message from the extension at workflow step `from`.
  void receive(std::size_t from, message_ptr&& box) {
    if (!box || from >= steps_.size()) return;
    message& m = *box;
    ++counters_.received[from][static_cast<std::size_t>(m.action)];
    // The box goes on as the carrier of the next step the message causes:
    // nothing is allocated for it, and its strings and vectors already
    // have the capacity the definition needs.
    carrier_ = &box;
    if (steps_[from].provider) {
      from_provider(from, std::move(m));
    } else {
      from_provisioner(from, std::move(m));
    }
    carrier_ = nullptr;
  }

  void receive(std::size_t from, message&& m) { receive(from, std::make_unique<message>(std::move(m))); }

  // Runs what is due: retries whose backoff expired, and the housekeeper.
  void tick(clock::time_point now = clock::now()) {
    while (!retries_.empty() && retries_.top().first <= now) {
      // Not a structured binding: clang 14 (tools/fuzz) cannot capture one in the lambda below.
      auto due = retries_.top().first;
      auto name = retries_.top().second;
      retries_.pop();
      auto it = entries_.find(name);
      if (it == entries_.end()) continue;
      entry& e = *it->second;
      if (e.work_in_progress || e.error.empty() || e.retry_at != due) continue;  // superseded
      debug([&] { return "retrying " + name + " at " + state_name(e) + " (attempt " + std::to_string(e.retries + 1) + ")"; });
      resume(name, e);
    }
    if (now >= next_housekeeping_) {
      housekeep();
      next_housekeeping_ = now + to_clock(cfg_.workflowHousekeeperInterval);
    }
  }

  // When tick() next has work to do.
  clock::time_point next_deadline() const {
    auto t = next_housekeeping_;
    if (!retries_.empty()) t = std::min(t, retries_.top().first);
    return t;
  }

  // The housekeeper's three duties (rule 7).
  void housekeep(timestamp wall = interlook::now()) {
    std::vector<std::string> to_remove;
    for (auto& [name, owned] : entries_) {
      entry& e = *owned;
      if (e.work_in_progress) {
        if (wall - e.wip_time > cfg_.serviceWIPTimeout) {
          e.work_in_progress = false;
          settle(e);
          e.error = "timed out after " + format_duration(cfg_.serviceWIPTimeout) + " in step " + state_name(e);
          ++counters_.timeouts;
          log(log_level::error, "service " + name + ": " + e.error);
          mark(e);
          schedule_retry(name, e);
        }
      } else if (e.expect_deployed && e.position == deployed_position() &&
                 wall - e.last_update > cfg_.serviceMaxLastUpdated) {
        request_refresh(name, e);
      } else if (!e.expect_deployed && e.position == 0 && !is_zero(e.close_time) &&
                 wall - e.close_time > cfg_.cleanUndeployedServiceAfter) {
        to_remove.push_back(name);
      }
    }
    for (auto& name : to_remove) {
      auto it = entries_.find(name);
      detach(*it->second);
      entries_.erase(it);
      ++counters_.removed;
      removed_.push_back(name);
      debug([&] { return "removed undeployed service " + name; });
    }
  }

  // --- Time ----------------------------------------------------------------

  // The owner reads the clocks once per batch of messages and hands them in;
  // without this, every transition reads the clocks itself.
  void begin_batch(timestamp wall = interlook::now(), clock::time_point steady = clock::now()) {
    batch_wall_ = wall;
    batch_steady_ = steady;
    batch_time_ = true;
  }

  // Without a store, nobody reads the changed-entries list: skip keeping it.
  void track_changes(bool on) { track_changes_ = on; }

  // --- Shutdown ------------------------------------------------------------

  // While held, steps are not sent: an entry that reaches a new step is
  // recorded as in progress there and resumes from it after a restart.
  void hold_new_steps() { holding_ = true; }

  // Write-ahead for new services (on when the owner persists the entries):
  // the first step of an entry a provider has just created is kept back
  // (take_held) until the journal that records the entry is on disk, and
  // only then sent (send_held). Otherwise a crash in between could leave a
  // provisioner's work (an allocated address) for a service the restarted
  // core has never heard of, which nothing would ever undo.
  void hold_first_steps(bool on) { write_ahead_ = on; }
  using held_steps = std::vector<std::pair<std::size_t, message_ptr>>;
  // The first steps kept back since the last call.
  held_steps take_held() { return std::exchange(held_, {}); }
  void send_held(held_steps&& held) {
    for (auto& [step, box] : held) out_.send(step, std::move(box));
    held.clear();
  }
  // At stop: kept-back steps are not sent; their entries stay in progress at
  // their first step and resume there at the next start.
  void drop_held(held_steps&& held) {
    for (auto& [step, box] : held)
      if (entry* e = by_ticket(box->ticket)) settle(*e);
    held.clear();
  }
  // Steps sent and not yet answered.
  std::size_t in_flight() const { return in_flight_; }

  // --- State ---------------------------------------------------------------

  const entry_table& entries() const { return table_; }
  const std::vector<workflow_step>& steps() const { return steps_; }
  const workflow_counters& counters() const { return counters_; }
  std::uint16_t deployed_position() const { return static_cast<std::uint16_t>(K_ + 1); }

  const std::string& state_name(const entry& e) const { return state_name_at(e.position); }

  // The position of a state name in this workflow, or nullopt when the
  // workflow has no such step (it changed since the entry was saved).
  std::optional<std::uint16_t> position_of(std::string_view state) const {
    if (state == undeployed_state) return 0;
    if (state == deployed_state) return deployed_position();
    for (std::size_t i = 0; i < steps_.size(); ++i)
      if (steps_[i].name == state) return static_cast<std::uint16_t>(i + 1);
    return std::nullopt;
  }

  // Loads a saved entry (start-up, before resume_all()).
  void restore(std::string name, entry e) {
    e.service.name = name;  // the key is the name; a hand-edited file may disagree
    auto& owned = entries_[std::move(name)];
    if (owned) detach(*owned);
    owned = std::make_unique<entry>(std::move(e));
    attach(*owned);
  }

  // Resumes every loaded entry where it stood: in-progress steps are sent
  // again (provisioners are idempotent), entries in error are retried.
  void resume_all() {
    for (auto& [name, owned] : entries_) {
      entry& e = *owned;
      bool at_rest = e.position == (e.expect_deployed ? deployed_position() : 0);
      if (e.work_in_progress) {
        e.work_in_progress = false;
        resume(name, e);
      } else if (!e.error.empty()) {
        schedule_retry(name, e);
      } else if (!at_rest) {
        resume(name, e);
      }
    }
  }

  bool has_changes() const { return !dirty_.empty() || !removed_.empty(); }

  struct change {
    std::string name;
    bool definition = false;       // the service definition changed, not only progress
    const entry* now = nullptr;    // the entry as it is; nullptr: removed
  };

  // Entries changed (or removed) since the last call: what the store must
  // write. A removed entry is a name no longer in entries(). The pointers
  // are good until the next input.
  std::vector<change> take_changes() {
    std::vector<change> out;
    out.reserve(removed_.size() + dirty_.size());
    // Removals first: a name removed and then added again in one batch must
    // end up present. A changed entry removed since has nothing to write.
    for (auto& name : removed_) out.push_back({std::move(name), false, nullptr});
    removed_.clear();
    for (auto t : dirty_) {
      entry* e = by_ticket(t);
      if (!e) continue;
      e->queued_for_store = false;
      out.push_back({e->service.name, std::exchange(e->definition_changed, false), e});
    }
    dirty_.clear();
    return out;
  }

  std::vector<std::string> take_dirty() {
    std::vector<std::string> out;
    for (auto& c : take_changes()) out.push_back(std::move(c.name));
    return out;
  }

 private:
  // --- Provider messages (rules 1, 2, 5) -----------------------------------

  void from_provider(std::size_t from, message&& m) {
    if (m.service.name.empty()) {
      log(log_level::warn, steps_[from].name + " sent a " + std::string(to_string(m.action)) +
                               " without a service name; ignored");
      return;
    }
    if (m.service.provider.empty()) m.service.provider = steps_[from].name;
    switch (m.action) {
      case action::add:
      case action::update: provider_add(std::move(m.service)); break;
      case action::remove: provider_delete(m.service.name); break;
      case action::refresh:
        log(log_level::warn, steps_[from].name + " sent a refresh for " + m.service.name + "; ignored");
        break;
    }
  }

  void provider_add(service&& svc) {
    merge_targets(svc.targets);
    auto wall = wall_now();
    auto [it, inserted] = entries_.try_emplace(svc.name);
    if (inserted) {
      it->second = std::make_unique<entry>();
      attach(*it->second);
    }
    const std::string& name = it->first;
    entry& e = *it->second;
    if (inserted) {  // rule 1
      e.definition_changed = true;
      e.time_detected = wall;
      e.last_update = wall;
      e.expect_deployed = true;
      // Copied, not moved: the message goes on to the first step with the
      // same definition, and its capacity is reused after the walk.
      e.service = svc;
      debug([&] { return "new service " + name; });
      mark(e);
      defer_send_ = write_ahead_;
      forward_from(name, e, 1);
      defer_send_ = false;
      return;
    }
    // Rule 2. last_update alone is not journalled: losing it on a crash
    // only costs a refresh request.
    e.last_update = wall;
    bool same = same_definition(e.service, svc);
    if (same && e.expect_deployed && e.position == deployed_position() && e.error.empty() && !e.work_in_progress)
      return;
    if (!same) {
      take_definition(e, svc);
      e.definition_changed = true;
    }
    if (e.work_in_progress) {
      // Applied once the current step answers: nothing lost, nothing twice.
      if (!same) e.restart_walk = true;
      e.expect_deployed = true;
      mark(e);
      return;
    }
    e.expect_deployed = true;
    e.restart_walk = false;
    mark(e);
    if (!same || e.position == 0 || e.position == deployed_position()) {
      forward_from(name, e, 1);
    } else {
      forward_from(name, e, e.position);  // stopped in error here: try it again now
    }
  }

  void provider_delete(const std::string& service_name) {
    auto it = entries_.find(service_name);
    if (it == entries_.end()) {
      debug([&] { return "delete for unknown service " + service_name + "; nothing to undo"; });
      return;
    }
    const std::string& name = it->first;
    entry& e = *it->second;
    e.last_update = wall_now();
    if (!e.expect_deployed && e.position == 0 && !e.work_in_progress) return;  // already undeployed
    e.expect_deployed = false;
    e.restart_walk = false;
    mark(e);
    if (e.work_in_progress) return;  // the walk turns round when the current step answers
    // Rule 5: from the last step reached, the one stopped in error included.
    reverse_from(name, e, e.position == deployed_position() ? K_ : e.position);
  }

  static void take_definition(entry& e, const service& svc) {
    // Targets, TLS and aliases come only from providers; public_ip is ours.
    e.service.provider = svc.provider;
    e.service.targets = svc.targets;
    e.service.tls = svc.tls;
    e.service.dns_names = svc.dns_names;
    e.sent_fingerprint = 0;
  }

  // --- Provisioner answers (rules 3, 4, 5, 6) ------------------------------

  void from_provisioner(std::size_t from, message&& m) {
    entry* found = by_ticket(m.ticket);
    // The ticket saves the lookup, not the check: an answer about another
    // service than the one it was sent for is judged by its name.
    if (found && found->service.name != m.service.name) found = nullptr;
    if (!found) {  // an answer made from scratch, or renamed: by name
      auto it = entries_.find(m.service.name);
      if (it != entries_.end()) found = it->second.get();
    }
    auto position = static_cast<std::uint16_t>(from + 1);
    bool is_delete = m.action == action::remove;
    if (!found || !found->work_in_progress || found->position != position || found->reverse_in_flight != is_delete ||
        (m.action != action::add && !is_delete)) {
      ++counters_.stale;
      log(log_level::warn, "ignored a stale " + std::string(to_string(m.action)) + " answer from " +
                               steps_[from].name + " for " +
                               (m.service.name.empty() ? std::string("an unnamed service") : m.service.name));
      return;
    }
    entry& e = *found;
    const std::string& name = e.service.name;  // its key, see restore()
    e.work_in_progress = false;
    settle(e);
    counters_.observe_latency(std::chrono::duration<double>(steady_now() - e.sent_at).count());
    // A step done is not journalled by itself: the walk's next move is (an
    // error, a close); see send_step().

    bool turned = e.expect_deployed == is_delete;  // the provider changed its mind meanwhile
    // Extension law 4: an ipam step sets public_ip; another step may set one
    // the service lacks (a load balancer that picks its own VIP), but not
    // change one already given: that is an error, not silently ignored.
    if (!is_delete && m.error.empty() && !steps_[from].ipam && !m.service.public_ip.empty() &&
        !e.service.public_ip.empty() && m.service.public_ip != e.service.public_ip)
      m.error = steps_[from].name + " answered with public IP " + m.service.public_ip + " for a service that has " +
                e.service.public_ip + "; only an ipam step may change an address already given";
    if (!m.error.empty()) {
      ++counters_.errors[from];
      e.error = std::move(m.error);
      mark(e);
      log(log_level::error, "service " + name + ": " + steps_[from].name + " failed to " +
                                (is_delete ? "delete" : "add") + ": " + e.error);
      if (turned) {
        continue_walk(name, e, position);
      } else if (!is_delete && e.restart_walk) {
        e.restart_walk = false;
        forward_from(name, e, 1);  // the newer definition may well succeed
      } else {
        schedule_retry(name, e);  // rule 4: stop here, retry with backoff
      }
      return;
    }
    if (!is_delete && m.service.public_ip != e.service.public_ip &&
        (steps_[from].ipam || (e.service.public_ip.empty() && !m.service.public_ip.empty()))) {
      e.service.public_ip = m.service.public_ip;
      e.sent_fingerprint = 0;
      mark(e);
    }
    if (turned) {
      continue_walk(name, e, position);  // undo (or redo) the step just answered, then onwards
    } else if (!is_delete && e.restart_walk) {
      e.restart_walk = false;
      mark(e);
      forward_from(name, e, 1);
    } else if (!is_delete) {
      forward_from(name, e, static_cast<std::uint16_t>(position + 1));
    } else {
      reverse_from(name, e, static_cast<std::uint16_t>(position - 1));
    }
  }

  // Start walking towards the expected state, from `position` inclusive.
  void continue_walk(const std::string& name, entry& e, std::uint16_t position) {
    if (e.expect_deployed) {
      forward_from(name, e, position);
    } else {
      reverse_from(name, e, position);
    }
  }

  void resume(const std::string& name, entry& e) {
    std::uint16_t p = e.position;
    if (e.expect_deployed) {
      forward_from(name, e, p == 0 ? 1 : std::min<std::uint16_t>(p, deployed_position()));
    } else {
      reverse_from(name, e, p > K_ ? K_ : p);
    }
  }

  // Rule 3: the next provisioner at or after `p`, or deployed.
  void forward_from(const std::string& name, entry& e, std::uint16_t p) {
    while (p >= 1 && p <= K_ && steps_[p - 1].provider) ++p;
    if (p < 1 || p > K_) {
      close(name, e, true);
      return;
    }
    send_step(name, e, p, action::add);
  }

  // Rule 5: the previous provisioner at or before `p`, or undeployed.
  void reverse_from(const std::string& name, entry& e, std::uint16_t p) {
    while (p >= 1 && steps_[p - 1].provider) --p;
    if (p == 0) {
      close(name, e, false);
      return;
    }
    send_step(name, e, p, action::remove);
  }

  void send_step(const std::string& name, entry& e, std::uint16_t p, action a) {
    auto prev = e.position;
    e.position = p;
    e.work_in_progress = true;
    e.wip_time = wall_now();
    e.sent_at = steady_now();
    e.reverse_in_flight = a == action::remove;
    // A walk's advance from one step to the next is not journalled: after a
    // crash the entry resumes from its last journalled point (its creation,
    // a definition or expected-state change, an error, a close) and sends
    // the steps since again, which provisioners handle idempotently. That
    // halves what a burst writes, at the price of repeating at most one
    // walk's steps per entry after a crash. Snapshots (compaction,
    // shutdown) still record every position.
    debug([&] {
      return "service " + name + ": " + state_name_at(prev) + " -> " +
             steps_[p - 1].name + " (" + std::string(to_string(a)) + ")";
    });
    if (holding_) return;  // resumes from here after a restart
    message_ptr box = carrier_ && *carrier_ ? std::move(*carrier_) : std::make_unique<message>();
    carrier_ = nullptr;  // a message is sent once
    message& m = *box;
    m.action = a;
    m.sender.assign(core_sender);
    m.destination = steps_[p - 1].name;
    m.error.clear();
    // An answer usually carries back the definition it was sent with: the
    // fingerprint its outbox took shows that without reading either copy
    // of the definition, which with many entries is cold memory. Otherwise
    // compare (reads), and copy (writes) only what differs.
    if (e.sent_fingerprint == 0 || m.fingerprint != e.sent_fingerprint) {
      if (!(m.service == e.service)) m.service = e.service;
      e.sent_fingerprint = detail::service_fingerprint(m.service);
    }
    m.fingerprint = 0;  // the extension's outbox sets it again on the way back
    m.ticket = ticket(e);
    e.sent = true;
    ++in_flight_;
    ++counters_.sent[p - 1][static_cast<std::size_t>(a)];
    if (defer_send_) {
      held_.emplace_back(p - 1, std::move(box));
      return;
    }
    out_.send(p - 1, std::move(box));
  }

  void close(const std::string& name, entry& e, bool deployed) {
    e.work_in_progress = false;
    e.position = deployed ? deployed_position() : 0;
    e.close_time = wall_now();
    e.error.clear();
    e.retries = 0;
    e.restart_walk = false;
    ++(deployed ? counters_.deployed : counters_.undeployed);
    mark(e);
    if (enabled(log_level::info))
      log(log_level::info, "service " + name + " " + std::string(deployed ? deployed_state : undeployed_state) +
                               (deployed && !e.service.public_ip.empty() ? " on " + e.service.public_ip : ""));
    tell_outcome(name, e, deployed);
  }

  // A provider that wants outcomes hears of its service's arrival at
  // deployed or undeployed (Kubernetes writes the VIP into the Service's
  // status). It must not answer.
  void tell_outcome(const std::string& name, const entry& e, bool deployed) {
    if (!any_wants_outcomes_) return;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (!steps_[i].provider || !steps_[i].wants_outcomes || steps_[i].name != e.service.provider) continue;
      auto m = std::make_unique<message>();
      m->action = deployed ? action::add : action::remove;
      m->sender = core_sender;
      m->destination = steps_[i].name;
      m->service = e.service;
      m->service.name = name;
      ++counters_.sent[i][static_cast<std::size_t>(m->action)];
      out_.send(i, std::move(m));
      return;
    }
  }

  void schedule_retry(const std::string& name, entry& e) {
    auto delay = cfg_.retryInitialInterval;
    for (std::uint32_t i = 0; i < e.retries && delay < cfg_.retryMaxInterval; ++i) delay *= 2;
    delay = std::min(delay, cfg_.retryMaxInterval);
    ++e.retries;
    e.retry_at = steady_now() + to_clock(delay);
    retries_.emplace(e.retry_at, name);
    debug([&] { return "service " + name + ": retry in " + format_duration(delay); });
  }

  void request_refresh(const std::string& name, const entry& e) {
    std::size_t to = first_provider_.value_or(0);
    for (std::size_t i = 0; i < steps_.size(); ++i)
      if (steps_[i].provider && steps_[i].name == e.service.provider) to = i;
    message m;
    m.action = action::refresh;
    m.sender = core_sender;
    m.destination = steps_[to].name;
    m.service.name = name;
    m.service.provider = steps_[to].name;
    ++counters_.refreshes;
    ++counters_.sent[to][static_cast<std::size_t>(action::refresh)];
    debug([&] { return "asking " + steps_[to].name + " to refresh " + name; });
    out_.send(to, std::make_unique<message>(std::move(m)));
  }

  // --- Helpers -------------------------------------------------------------

  // The step in progress has answered or given up: no longer in flight.
  void settle(entry& e) {
    if (e.sent) {
      e.sent = false;
      --in_flight_;
    }
  }

  const std::string& state_name_at(std::uint16_t p) const {
    if (p == 0) return undeployed_name_;
    if (p > K_) return deployed_name_;
    return steps_[p - 1].name;
  }

  timestamp wall_now() const { return batch_time_ ? batch_wall_ : interlook::now(); }
  clock::time_point steady_now() const { return batch_time_ ? batch_steady_ : clock::now(); }

  // Message tickets: slot + 1 in the low half (0: none), the slot's
  // generation in the high half, so that an answer about an entry removed
  // meanwhile (its slot since reused) finds nothing.
  void attach(entry& e) {
    if (free_slots_.empty()) {
      e.slot = static_cast<std::uint32_t>(slot_entries_.size());
      slot_entries_.push_back(&e);
      slot_generations_.push_back(0);
    } else {
      e.slot = free_slots_.back();
      free_slots_.pop_back();
      slot_entries_[e.slot] = &e;
    }
  }
  void detach(entry& e) {
    slot_entries_[e.slot] = nullptr;
    ++slot_generations_[e.slot];
    free_slots_.push_back(e.slot);
  }
  std::uint64_t ticket(const entry& e) const {
    return (std::uint64_t{slot_generations_[e.slot]} << 32) | (std::uint64_t{e.slot} + 1);
  }
  entry* by_ticket(std::uint64_t t) const {
    auto low = static_cast<std::uint32_t>(t);
    if (low == 0 || low > slot_entries_.size()) return nullptr;
    std::uint32_t slot = low - 1;
    if (slot_generations_[slot] != static_cast<std::uint32_t>(t >> 32)) return nullptr;
    return slot_entries_[slot];
  }

  // What the next commit journals. Listed by ticket, not by name: the
  // commit then finds the entry without a lookup.
  void mark(entry& e) {
    if (track_changes_ && !e.queued_for_store) {
      e.queued_for_store = true;
      dirty_.push_back(ticket(e));
    }
  }

  // Callers on the message path test enabled() before building a line.
  bool enabled(log_level level) const { return level >= out_.threshold && out_.log; }
  void log(log_level level, const std::string& line) {
    if (enabled(level)) out_.log(level, line);
  }
  template <class F>
  void debug(F&& make_line) {
    if (out_.threshold == log_level::debug && out_.log) out_.log(log_level::debug, make_line());
  }

  static clock::duration to_clock(duration d) { return std::chrono::duration_cast<clock::duration>(d); }

  core_config cfg_;
  std::vector<workflow_step> steps_;
  const std::string deployed_name_{deployed_state}, undeployed_name_{undeployed_state};
  sink out_;
  std::uint16_t K_ = 0;
  std::optional<std::size_t> first_provider_;
  bool any_wants_outcomes_ = false;
  entry_table table_;
  entry_table::map& entries_ = table_.map_;
  std::vector<entry*> slot_entries_;              // by entry::slot; nullptr when free
  std::vector<std::uint32_t> slot_generations_;   // bumped when a slot is freed
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint64_t> dirty_;   // tickets of entries changed since the last commit
  std::vector<std::string> removed_;   // names removed since then
  using retry_item = std::pair<clock::time_point, std::string>;
  std::priority_queue<retry_item, std::vector<retry_item>, std::greater<>> retries_;
  clock::time_point next_housekeeping_;
  std::size_t in_flight_ = 0;
  bool holding_ = false;
  bool write_ahead_ = false;
  bool defer_send_ = false;  // the step being sent is a new entry's first
  held_steps held_;
  bool track_changes_ = true;
  message_ptr* carrier_ = nullptr;  // the box being handled, reusable once
  bool batch_time_ = false;
  timestamp batch_wall_{};
  clock::time_point batch_steady_{};
  workflow_counters counters_;
};

}  // namespace interlook
