#pragma once
// provider.swarm: Docker Swarm services labelled for interlook (Go interlook's
// provider, with its keys), followed through Docker's event stream.
//
//   provider:
//     swarm:
//       endpoint: unix:///var/run/docker.sock   # or tcp://host:2376
//       labelSelector: [l7aas, team=web]        # extra labels a service must carry
//       tlsCa: /etc/interlook/docker/ca.pem     # tcp:// only: TLS with these
//       tlsCert: /etc/interlook/docker/cert.pem
//       tlsKey: /etc/interlook/docker/key.pem
//       pollInterval: 15s                       # the safety net's full listing
//
// A service is announced when it carries interlook.hosts and interlook.port
// (and the selector's labels); see discovery.hpp for its targets. Two threads:
//   - the extension's own, which runs job_queue::serve: it keeps the set of
//     services announced and sends add/delete for what changed, and passes
//     refresh requests to the watcher;
//   - the watcher (watcher.hpp): an io_context with the HTTP client's
//     coroutines (the event stream, listings, refresh look-ups) that posts
//     what it saw to the extension's thread as jobs.
// Never delete on doubt: only a successful listing that no longer shows a
// service (or a look-up that Docker answers 404, or labels that no longer
// select it) removes it. A failed listing changes nothing; an invalid label
// keeps the last definition of a service announced before (and skips a new
// one), logged once; a service whose tasks all stopped keeps its last
// definition until it has running tasks again (a rolling update with one
// replica passes through zero).

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/extension/announce_limits.hpp>
#include <interlook/extension/concepts.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/extension/job_queue.hpp>
#include <interlook/ext/provider/swarm/discovery.hpp>
#include <interlook/ext/provider/swarm/model.hpp>
#include <interlook/ext/provider/swarm/watcher.hpp>
#include <interlook/http/endpoint.hpp>
#include <interlook/support/duration.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace interlook::ext::provider {

class swarm {
 public:
  static constexpr std::string_view name = "provider.swarm";
  static constexpr bool answers_refresh = true;

  struct config {
    std::string endpoint = "unix:///var/run/docker.sock";
    std::vector<std::string> labelSelector;  // "key" or "key=value"
    std::string tlsCa;
    std::string tlsCert;
    std::string tlsKey;
    bool insecureSkipVerify = false;
    duration pollInterval = std::chrono::seconds(15);
    // The publish mode of a port that names none (engines before API 1.25).
    // Go interlook read this key but never used it.
    std::string defaultPortPublishMode = "ingress";
    std::uint32_t maxServices = 0;  // 0: no limit
    std::uint32_t maxTargets = announce_limits::default_max_targets;  // per service; 0: no limit

    static constexpr auto fields() {
      return interlook::fields(
          optional("endpoint", &config::endpoint), optional("labelSelector", &config::labelSelector),
          optional("tlsCa", &config::tlsCa), optional("tlsCert", &config::tlsCert), optional("tlsKey", &config::tlsKey),
          optional("insecureSkipVerify", &config::insecureSkipVerify), optional("pollInterval", &config::pollInterval),
          optional("defaultPortPublishMode", &config::defaultPortPublishMode),
          optional("maxServices", &config::maxServices), optional("maxTargets", &config::maxTargets));
    }

    void validate() const {
      http::endpoint ep;
      try {
        ep = http::endpoint::parse(endpoint);
      } catch (const std::exception& e) {
        throw invalid_setting("endpoint", e.what());
      }
      if (ep.scheme != http::endpoint::scheme_kind::unix_socket && ep.scheme != http::endpoint::scheme_kind::docker_tcp &&
          ep.scheme != http::endpoint::scheme_kind::https && ep.scheme != http::endpoint::scheme_kind::http)
        throw invalid_setting("endpoint", "expected unix:///path or tcp://host:port");
      if (!tlsKey.empty() && tlsCert.empty()) throw invalid_setting("tlsKey", "needs tlsCert (the certificate of this key)");
      if (pollInterval <= duration::zero()) throw invalid_setting("pollInterval", "must be longer than 0s");
      for (const auto& l : labelSelector)
        if (l.empty() || l.front() == '=') throw invalid_setting("labelSelector", "entries are \"key\" or \"key=value\"");
      auto mode = publish_mode();
      if (mode != "ingress" && mode != "host")
        throw invalid_setting("defaultPortPublishMode", "expected ingress or host, got \"" + defaultPortPublishMode + "\"");
    }

    announce_limits limits() const { return {maxServices, maxTargets}; }

    std::string publish_mode() const {
      std::string m = defaultPortPublishMode;
      std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return m.empty() ? "ingress" : m;
    }
  };

  // Throws for an endpoint or TLS files that cannot be used (a start failure).
  swarm(const config& c, extension_context& ctx) : cfg_(c), ctx_(ctx) {
    swarm_detail::watcher_settings s;
    s.endpoint = http::endpoint::parse(c.endpoint).to_string();
    s.options.tls.ca_file = c.tlsCa;
    s.options.tls.cert_file = c.tlsCert;
    s.options.tls.key_file = c.tlsKey;
    s.options.tls.insecure_skip_verify = c.insecureSkipVerify;
    s.selector = swarm_detail::parse_selector(c.labelSelector);
    s.poll_interval = c.pollInterval;
    s.default_mode = c.publish_mode();
    if (http::endpoint::parse(c.endpoint).is_unix() && s.options.tls.requested())
      ctx_.warn("tlsCa, tlsCert, tlsKey and insecureSkipVerify apply to tcp:// endpoints only; " + s.endpoint +
                " is a unix socket");
    watcher_ = std::make_unique<swarm_detail::watcher>(
        std::move(s), ctx_,
        [this](swarm_detail::listing l) {
          jobs_.post([this, l = std::move(l)](outbox& out) mutable { apply(std::move(l), out); });
        },
        [this](swarm_detail::observation o) {
          jobs_.post([this, o = std::move(o)](outbox& out) mutable { answer(std::move(o), out); });
        });
  }

  ~swarm() {
    if (watcher_) watcher_->stop();
    if (thread_.joinable()) thread_.join();
  }

  void start(inbox& in, outbox& out) {
    ctx_.debug("watching " + watcher_->describe());
    thread_ = std::thread([this] { watcher_->run(); });
    jobs_.serve(in, out, [this](message m, outbox&) {
      if (m.action == action::refresh) watcher_->refresh(m.service.name);
    });
    watcher_->stop();
    thread_.join();
  }

  void stop() { watcher_->stop(); }

 private:
  using observation = swarm_detail::observation;

  // On the extension's thread.
  void apply(swarm_detail::listing l, outbox& out) {
    std::set<std::string> seen;
    for (const auto& o : l.services)
      if (o.what != observation::kind::absent) seen.insert(o.name);
    // Deletes first: they free room under maxServices.
    for (const auto& o : l.services)
      if (o.what == observation::kind::absent && !seen.count(o.name)) remove(o.name, out);
    if (l.full) {
      std::vector<std::string> gone;
      for (const auto& [n, s] : current_)
        if (!seen.count(n)) gone.push_back(n);
      for (const auto& n : gone) remove(n, out);
    }
    std::vector<const observation*> ordered;
    for (const auto& o : l.services)
      if (o.what != observation::kind::absent) ordered.push_back(&o);
    std::sort(ordered.begin(), ordered.end(), [](const observation* a, const observation* b) { return a->name < b->name; });
    for (const observation* o : ordered) take(*o, out);
    if (l.full) {
      // Forget what was logged about services that no longer exist.
      std::erase_if(reported_, [&](const auto& kv) { return !seen.count(kv.first); });
      std::erase_if(over_cap_, [&](const std::string& n) { return !seen.count(n); });
    }
    out.flush();
  }

  void take(const observation& o, outbox& out) {
    switch (o.what) {
      case observation::kind::ready: {
        auto it = current_.find(o.name);
        if (it != current_.end() && it->second == o.svc) {
          reported_.erase(o.name);
          return;
        }
        if (auto problem = cfg_.limits().targets_problem(o.svc); !problem.empty()) {
          if (report(o.name, problem))
            ctx_.error("service " + o.name + ": " + problem +
                       (it != current_.end() ? "; keeping its last definition" : "; service skipped"));
          return;
        }
        reported_.erase(o.name);
        if (it == current_.end() && !cfg_.limits().room_for_one_more(current_.size())) {
          if (over_cap_.insert(o.name).second) ctx_.warn("service " + o.name + " " + cfg_.limits().services_problem());
          return;
        }
        over_cap_.erase(o.name);
        ctx_.info("service " + o.name + ": " + (it == current_.end() ? "announced" : "changed") + ", " + describe(o.svc));
        current_[o.name] = o.svc;
        send(out, action::add, o.svc);
        return;
      }
      case observation::kind::malformed:
        if (report(o.name, o.problem))
          ctx_.error("service " + o.name + ": " + o.problem + (current_.count(o.name) ? "; keeping its last definition" : "; service skipped"));
        return;
      case observation::kind::no_target:
        reported_.erase(o.name);
        if (!current_.count(o.name) && report(o.name, "no target"))
          ctx_.debug("service " + o.name + ": no running task publishes its port yet; announced once one does");
        return;
      case observation::kind::absent:
        return;
    }
  }

  void remove(const std::string& service_name, outbox& out) {
    reported_.erase(service_name);
    over_cap_.erase(service_name);
    auto it = current_.find(service_name);
    if (it == current_.end()) return;
    ctx_.info("service " + service_name + ": removed (no longer listed with its labels)");
    send(out, action::remove, it->second);
    current_.erase(it);
  }

  // A refresh's answer, from the watcher's fresh look-up.
  void answer(observation o, outbox& out) {
    switch (o.what) {
      case observation::kind::ready:
        if (auto it = current_.find(o.name); it != current_.end() && it->second == o.svc) {
          send(out, action::add, it->second);  // unchanged: the answer alone
        } else {
          take(o, out);  // announced or changed: that add is the answer (none over maxServices)
          // Over maxTargets: take() kept its last definition, which answers.
          if (auto it = current_.find(o.name); it != current_.end() && !cfg_.limits().targets_problem(o.svc).empty())
            send(out, action::add, it->second);
        }
        break;
      case observation::kind::absent: {
        auto it = current_.find(o.name);
        service gone;
        if (it != current_.end()) {
          ctx_.info("service " + o.name + ": removed (refresh: no longer listed with its labels)");
          gone = it->second;
          current_.erase(it);
        } else {
          gone.provider = std::string(name);
          gone.name = o.name;
        }
        reported_.erase(o.name);
        send(out, action::remove, gone);
        break;
      }
      case observation::kind::malformed:
      case observation::kind::no_target:
        take(o, out);
        if (auto it = current_.find(o.name); it != current_.end()) {
          send(out, action::add, it->second);  // still there: its last definition
        } else {
          ctx_.warn("refresh of " + o.name + " not answered: " +
                    (o.what == observation::kind::malformed ? o.problem : "no running task publishes its port yet"));
        }
        break;
    }
    out.flush();
  }

  // Whether `problem` is news for this service (then it is remembered).
  bool report(const std::string& service_name, const std::string& problem) {
    auto [it, inserted] = reported_.try_emplace(service_name, problem);
    if (inserted) return true;
    if (it->second == problem) return false;
    it->second = problem;
    return true;
  }

  static std::string describe(const service& s) {
    std::string d = std::to_string(s.targets.size()) + (s.targets.size() == 1 ? " target" : " targets");
    for (std::size_t i = 0; i < s.targets.size() && i < 4; ++i) {
      d += i ? ", " : " (";
      d += s.targets[i].host + ":" + std::to_string(s.targets[i].port);
      if (s.targets[i].weight != 1) d += "*" + std::to_string(s.targets[i].weight);
    }
    if (s.targets.size() > 4) d += ", ...";
    if (!s.targets.empty()) d += ")";
    if (s.tls) d += ", TLS";
    return d;
  }

  static void send(outbox& out, action a, const service& s) {
    message m;
    m.action = a;
    m.sender = std::string(name);
    m.service = s;
    out.send_batched(std::move(m));
  }

  config cfg_;
  extension_context& ctx_;
  job_queue jobs_;
  std::unique_ptr<swarm_detail::watcher> watcher_;
  std::thread thread_;
  // The extension thread's alone.
  std::map<std::string, service> current_;     // announced: name -> definition sent
  std::map<std::string, std::string> reported_;  // name -> the problem last logged
  std::set<std::string> over_cap_;
};

}  // namespace interlook::ext::provider
