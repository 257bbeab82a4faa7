#pragma once
// provider.file: services listed in a YAML file (see services_file.hpp),
// like Traefik's file provider. The file is re-read every pollInterval;
// what changed becomes add / delete messages; refresh requests are answered
// from the file's current content.
//
// A file that fails to parse, holds an invalid service or has disappeared is
// an error logged with its line and reason, and the last good content stays
// in force: a typo never undeploys what is running.

#include <interlook/config/fields.hpp>
#include <interlook/config/error.hpp>
#include <interlook/extension/announce_limits.hpp>
#include <interlook/extension/concepts.hpp>
#include <interlook/ext/provider/file/services_file.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace interlook::ext::provider {

class file {
 public:
  static constexpr std::string_view name = "provider.file";
  static constexpr bool answers_refresh = true;

  struct config {
    std::string path;
    duration pollInterval = std::chrono::seconds(5);
    std::uint32_t maxServices = 0;  // 0: no limit
    std::uint32_t maxTargets = announce_limits::default_max_targets;  // per service; 0: no limit
    static constexpr auto fields() {
      return interlook::fields(required("path", &config::path), optional("pollInterval", &config::pollInterval),
                               optional("maxServices", &config::maxServices), optional("maxTargets", &config::maxTargets));
    }
    announce_limits limits() const { return {maxServices, maxTargets}; }
    void validate() const {
      if (path.empty()) throw invalid_setting("path", "must name the services file");
      if (pollInterval <= duration::zero()) throw invalid_setting("pollInterval", "must be longer than 0s");
    }
  };

  file(const config& c, extension_context& ctx) : cfg_(c), ctx_(ctx) {}

  void start(inbox& in, outbox& out) {
    in_.store(&in);
    scan(out);
    auto next = inbox::clock::now() + poll();
    while (!stopped_.load()) {
      auto m = in.receive_until(next);
      if (!m) {
        if (in.closed()) return;
        scan(out);
        next = inbox::clock::now() + poll();
        continue;
      }
      if (m->action == action::refresh) {
        scan(out);  // answer from what the file says now
        answer_refresh(m->service.name, out);
      }
    }
  }

  void stop() {
    stopped_.store(true);
    if (auto* in = in_.load()) in->waker().notify();
  }

 private:
  inbox::clock::duration poll() const { return std::chrono::duration_cast<inbox::clock::duration>(cfg_.pollInterval); }

  void scan(outbox& out) {
    std::string text;
    {
      std::ifstream in(cfg_.path, std::ios::binary);
      if (!in) {
        report(cfg_.path + ": cannot read the services file: " + std::strerror(errno));
        return;
      }
      std::ostringstream s;
      s << in.rdbuf();
      text = s.str();
    }
    if (loaded_ && text == last_text_) {
      last_error_.clear();  // back to (or still at) the last good content
      return;
    }
    std::vector<service> listed;
    try {
      listed = parse_services(text, cfg_.path, name);
    } catch (const config_error& e) {
      report(e.what());
      return;
    }
    // A file over a limit is refused whole, as a file with an invalid service.
    auto limits = cfg_.limits();
    if (limits.max_services && listed.size() > limits.max_services) {
      report(cfg_.path + ": " + std::to_string(listed.size()) + " services, more than maxServices (" +
             std::to_string(limits.max_services) + ")");
      return;
    }
    for (const auto& s : listed)
      if (auto problem = limits.targets_problem(s); !problem.empty()) {
        report(cfg_.path + ": service " + s.name + ": " + problem);
        return;
      }
    last_text_ = std::move(text);
    last_error_.clear();
    std::map<std::string, service> next;
    for (auto& s : listed) next.emplace(s.name, std::move(s));
    std::size_t added = 0, changed = 0, removed = 0;
    for (auto& [n, s] : next) {
      auto it = current_.find(n);
      if (it != current_.end() && it->second == s) continue;
      ++(it == current_.end() ? added : changed);
      send(out, action::add, s);
    }
    for (auto& [n, s] : current_) {
      if (next.count(n)) continue;
      ++removed;
      send(out, action::remove, s);
    }
    current_ = std::move(next);
    if (!loaded_ || added || changed || removed)
      ctx_.info(cfg_.path + ": " + std::to_string(current_.size()) + " services (" + std::to_string(added) +
                " added, " + std::to_string(changed) + " changed, " + std::to_string(removed) + " removed)");
    loaded_ = true;
  }

  void answer_refresh(const std::string& service_name, outbox& out) {
    if (!loaded_) {
      // Never read the file successfully: "not listed" would be a guess, and
      // a wrong guess undeploys a running service.
      ctx_.warn("cannot answer the refresh of " + service_name + " before the services file has been read");
      return;
    }
    auto it = current_.find(service_name);
    if (it != current_.end()) {
      send(out, action::add, it->second);
    } else {
      service gone;
      gone.provider = std::string(name);
      gone.name = service_name;
      send(out, action::remove, gone);
    }
  }

  static void send(outbox& out, action a, const service& s) {
    message m;
    m.action = a;
    m.sender = std::string(name);
    m.service = s;
    out.send(std::move(m));
  }

  // Logs an error once per distinct problem, keeping the last good content.
  void report(const std::string& problem) {
    if (problem == last_error_) return;
    last_error_ = problem;
    ctx_.error(problem + "; keeping the " + std::to_string(current_.size()) + " services last read");
  }

  config cfg_;
  extension_context& ctx_;
  std::map<std::string, service> current_;
  std::string last_text_;
  std::string last_error_;
  bool loaded_ = false;
  std::atomic<inbox*> in_{nullptr};
  std::atomic<bool> stopped_{false};
};

}  // namespace interlook::ext::provider
