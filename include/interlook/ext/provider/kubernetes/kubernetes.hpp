#pragma once
// provider.kubernetes: Services of a Kubernetes cluster (issue 11).
//
// What it watches, and why EndpointSlices rather than Pods: a Service's
// EndpointSlices (discovery.k8s.io/v1, label kubernetes.io/service-name) are
// what kube-proxy itself routes by. They hold exactly the Service's
// endpoints, in the Service's namespace, with readiness already folded in
// (conditions.ready: the Pod is Running, its readiness gates and probes
// pass, it is not terminating) and the node each runs on (nodeName). Reading
// Pods instead means repeating the Service's selector matching, namespace
// scoping and readiness rules, which is where the Go provider went wrong
// (same-labelled Pods of other namespaces, Pending Pods as targets).
//
// Three kinds of reflector (reflector.hpp) keep a cache: Services (with the
// labelSelector, server side), EndpointSlices and Nodes; with `namespaces`
// set, one Service and one EndpointSlice reflector per namespace. They run
// as coroutines of the HTTP client on a watcher thread's io_context; what
// they compute is posted to the extension's thread as jobs (job_queue),
// which sends add and delete messages. Which Services count and how their
// targets are found is in services.hpp.
//
// Never delete on doubt: an API server that cannot be reached, refuses the
// credentials (401/403) or answers garbage changes nothing; the error is
// logged once, naming the endpoint, and the reflectors retry with backoff.
// Deletions come only from the API server's own word: a DELETED event, or a
// re-list that no longer holds the object (after 410 Gone, a failure, or
// every pollInterval).
//
// updateStatus: the core tells this provider (wants_outcomes) when one of
// its services reaches deployed (with its public_ip) or undeployed; the VIP
// is then written to status.loadBalancer.ingress[].ip of a LoadBalancer
// Service through the /status subresource (GET, change, PUT with
// metadata.resourceVersion; 409 Conflict: read again and retry), and
// removed again on undeploy. Ingress entries it did not write are left.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/extension/announce_limits.hpp>
#include <interlook/extension/concepts.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/extension/job_queue.hpp>
#include <interlook/ext/provider/kubernetes/model.hpp>
#include <interlook/ext/provider/kubernetes/reflector.hpp>
#include <interlook/ext/provider/kubernetes/services.hpp>
#include <interlook/http/client.hpp>
#include <interlook/http/url.hpp>
#include <interlook/support/duration.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace interlook::ext::provider {

class kubernetes {
 public:
  static constexpr std::string_view name = "provider.kubernetes";
  static constexpr bool answers_refresh = true;
  // Outcomes are heard always and acted on with updateStatus only.
  static constexpr bool wants_outcomes = true;

  struct config {
    std::string name;                        // a name for the cluster, in log lines
    std::string endpoint;                    // https://host:6443; empty: in-cluster
    std::vector<std::string> labelSelector;  // requirements the Services must match too
    std::string tlsCa;
    std::string tlsCert;
    std::string tlsKey;
    bool insecureSkipVerify = false;
    duration pollInterval = std::chrono::seconds(15);  // the full re-list period
    secret token;
    std::string tokenFile;
    std::vector<std::string> namespaces;  // empty: all
    bool updateStatus = false;
    std::uint32_t maxServices = 0;  // 0: no limit
    std::uint32_t maxTargets = announce_limits::default_max_targets;  // per service; 0: no limit
    // Not a YAML key: where the in-cluster service-account files are
    // (tests point it elsewhere).
    std::string serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

    static constexpr auto fields() {
      return interlook::fields(
          optional("name", &config::name), optional("endpoint", &config::endpoint),
          optional("labelSelector", &config::labelSelector), optional("tlsCa", &config::tlsCa),
          optional("tlsCert", &config::tlsCert), optional("tlsKey", &config::tlsKey),
          optional("insecureSkipVerify", &config::insecureSkipVerify), optional("pollInterval", &config::pollInterval),
          optional("token", &config::token), optional("tokenFile", &config::tokenFile),
          optional("namespaces", &config::namespaces), optional("updateStatus", &config::updateStatus),
          optional("maxServices", &config::maxServices), optional("maxTargets", &config::maxTargets));
    }

    // All labelSelector entries as one selector.
    std::string selector_text() const {
      std::string s;
      for (const auto& r : labelSelector) {
        if (!s.empty()) s += ',';
        s += r;
      }
      return s;
    }

    announce_limits limits() const { return {maxServices, maxTargets}; }

    void validate() const {
      if (pollInterval < std::chrono::seconds(1)) throw invalid_setting("pollInterval", "must be at least 1s");
      if (!endpoint.empty()) {
        try {
          auto ep = http::endpoint::parse(endpoint);
          if (ep.scheme != http::endpoint::scheme_kind::https && ep.scheme != http::endpoint::scheme_kind::http)
            throw invalid_setting("endpoint", "must be an https:// (or http://) URL");
        } catch (const http::error& e) {
          throw invalid_setting("endpoint", e.what());
        }
      }
      for (const auto& r : labelSelector)
        if (r.find_first_not_of(" \t") == std::string::npos) throw invalid_setting("labelSelector", "an empty requirement");
      try {
        (void)k8s::label_selector::parse(selector_text());
      } catch (const std::invalid_argument& e) {
        throw invalid_setting("labelSelector", e.what());
      }
      if (!token.empty() && !tokenFile.empty()) throw invalid_setting("token", "set token or tokenFile, not both");
      if (!tlsKey.empty() && tlsCert.empty()) throw invalid_setting("tlsKey", "needs tlsCert");
      for (const auto& ns : namespaces) {
        bool ok = !ns.empty() && ns.size() <= 63;
        for (char c : ns) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
        if (!ok) throw invalid_setting("namespaces", "\"" + ns + "\" is not a namespace name (lower-case letters, digits, '-')");
      }
    }
  };

  // Throws (a start failure) when there is no endpoint and no in-cluster
  // environment, or a TLS file cannot be loaded.
  kubernetes(const config& c, extension_context& ctx) : cfg_(c), ctx_(ctx), selector_(k8s::label_selector::parse(c.selector_text())) {
    w_ = std::make_unique<watcher>(*this);
  }
  ~kubernetes() = default;
  kubernetes(const kubernetes&) = delete;
  kubernetes& operator=(const kubernetes&) = delete;

  void start(inbox& in, outbox& out) {
    std::thread watcher_thread([this] { w_->run(); });
    jobs_.serve(in, out, [this](message m, outbox& o) { on_message(std::move(m), o); });
    w_->shutdown();
    if (!w_->wait_done(std::chrono::seconds(5))) {
      ctx_.warn("the watcher did not stop within 5s; stopping its io_context");
      w_->force_stop();
    }
    watcher_thread.join();
  }

  void stop() { w_->shutdown(); }

 private:
  // ===== the extension's thread ===================================================

  struct update {
    enum class kind { set, erase, keep };
    std::string name;  // "web.default"
    kind what = kind::erase;
    service def;
  };

  void on_message(message m, outbox&) {
    switch (m.action) {
      case action::refresh:
        // Through the job queue, so that what the watcher posted before the
        // request arrived (its health above all) is taken into account.
        jobs_.post([this, entry = std::move(m.service.name)](outbox& o) {
          if (healthy_) answer_from_cache(entry, o);
          else w_->lookup(entry);
        });
        break;
      case action::add:  // outcome: deployed
        if (cfg_.updateStatus && !m.service.public_ip.empty()) w_->want_status(m.service.name, true, m.service.public_ip);
        break;
      case action::remove:  // outcome: undeployed
        if (cfg_.updateStatus) w_->want_status(m.service.name, false, m.service.public_ip);
        break;
      default:
        break;
    }
  }

  void answer_from_cache(const std::string& entry, outbox& out) {
    if (auto it = desired_.find(entry); it != desired_.end()) {
      send(out, action::add, it->second);
    } else if (kept_.count(entry)) {
      ctx_.warn("refresh of " + entry + ": its labels cannot be used, or it has no ready endpoint yet; not answered (nothing is undeployed for that)");
      return;
    } else {
      service gone;
      gone.provider = std::string(name);
      gone.name = entry;
      send(out, action::remove, gone);
    }
    out.flush();
  }

  // A refresh looked up at the API server: the service (set), gone (erase),
  // or unusable for now (keep: the last definition, if any, is the answer).
  void answer_lookup(const std::string& entry, update::kind what, std::optional<service> def, outbox& out) {
    if (what == update::kind::keep) {
      if (auto it = desired_.find(entry); it != desired_.end()) send(out, action::add, it->second);
      else ctx_.warn("refresh of " + entry + ": its labels cannot be used, or it has no ready endpoint yet; not answered");
    } else if (def) {
      auto it = desired_.find(entry);
      if (!within_limits(entry, *def, it != desired_.end())) {
        if (it != desired_.end()) send(out, action::add, it->second);  // its last definition answers
        out.flush();
        return;
      }
      desired_[entry] = *def;
      kept_.erase(entry);
      send(out, action::add, *def);
    } else {
      service gone;
      gone.provider = std::string(name);
      gone.name = entry;
      if (auto it = desired_.find(entry); it != desired_.end()) {
        gone = it->second;
        desired_.erase(it);
      }
      kept_.erase(entry);
      over_limit_.erase(entry);
      waiting_room_.erase(entry);
      send(out, action::remove, gone);
      admit_waiting(out);
    }
    out.flush();
  }

  // What the watcher computed; `complete`: every service it knows of is in
  // `ups`, so what is not was deleted.
  void apply(std::vector<update>& ups, bool complete, outbox& out) {
    // Removals first: they make room under maxServices.
    std::stable_partition(ups.begin(), ups.end(), [](const update& u) { return u.what != update::kind::set; });
    std::set<std::string> mentioned;
    std::size_t added = 0, changed = 0, removed = 0;
    for (auto& u : ups) {
      if (complete) mentioned.insert(u.name);
      switch (u.what) {
        case update::kind::set: {
          auto it = desired_.find(u.name);
          if (it != desired_.end() && it->second == u.def) {
            kept_.erase(u.name);
            over_limit_.erase(u.name);
            break;
          }
          if (!within_limits(u.name, u.def, it != desired_.end())) {
            kept_.insert(u.name);
            break;
          }
          kept_.erase(u.name);
          ++(it == desired_.end() ? added : changed);
          if (ctx_.enabled(log_level::debug))
            ctx_.debug("service " + u.name + ": " + std::to_string(u.def.targets.size()) + " targets");
          send(out, action::add, u.def);
          desired_[u.name] = std::move(u.def);
          break;
        }
        case update::kind::erase: {
          kept_.erase(u.name);
          over_limit_.erase(u.name);
          waiting_room_.erase(u.name);
          auto it = desired_.find(u.name);
          if (it == desired_.end()) break;
          ++removed;
          send(out, action::remove, it->second);
          desired_.erase(it);
          break;
        }
        case update::kind::keep:
          kept_.insert(u.name);
          waiting_room_.erase(u.name);  // not usable now: not announced when room comes
          break;
      }
    }
    if (complete) {
      for (auto it = desired_.begin(); it != desired_.end();) {
        if (mentioned.count(it->first)) {
          ++it;
          continue;
        }
        ++removed;
        send(out, action::remove, it->second);
        it = desired_.erase(it);
      }
      std::erase_if(kept_, [&](const std::string& n) { return !mentioned.count(n); });
      std::erase_if(over_limit_, [&](const auto& kv) { return !mentioned.count(kv.first); });
      std::erase_if(waiting_room_, [&](const auto& kv) { return !mentioned.count(kv.first); });
    }
    admit_waiting(out);
    out.flush();
    if (added || removed || (complete && !announced_once_))
      ctx_.info(std::to_string(desired_.size()) + " services (" + std::to_string(added) + " added, " + std::to_string(changed) +
                " changed, " + std::to_string(removed) + " removed)");
    if (complete) announced_once_ = true;
  }

  // maxTargets and maxServices: a service over a limit is logged once per
  // problem and not announced (one announced keeps its last definition).
  bool within_limits(const std::string& entry, const service& def, bool announced) {
    auto limits = cfg_.limits();
    std::string problem = limits.targets_problem(def);
    if (!problem.empty()) {
      problem += announced ? "; keeping its last definition" : "; not announced";
      waiting_room_.erase(entry);
    } else if (!announced && !limits.room_for_one_more(desired_.size())) {
      problem = limits.services_problem();
      waiting_room_[entry] = def;  // announced when another goes
    } else {
      over_limit_.erase(entry);
      waiting_room_.erase(entry);
      return true;
    }
    auto [at, fresh] = over_limit_.try_emplace(entry, problem);
    if (fresh || at->second != problem) {
      at->second = problem;
      ctx_.error("service " + entry + ": " + problem);
    }
    return false;
  }

  // Services held back by maxServices, announced (in name order) while
  // there is room again.
  void admit_waiting(outbox& out) {
    while (!waiting_room_.empty() && cfg_.limits().room_for_one_more(desired_.size())) {
      auto it = waiting_room_.begin();
      ctx_.info("service " + it->first + ": announced (room under maxServices)");
      over_limit_.erase(it->first);
      kept_.erase(it->first);
      send(out, action::add, it->second);
      desired_[it->first] = std::move(it->second);
      waiting_room_.erase(it);
    }
  }

  static void send(outbox& out, action a, const service& s) {
    message m;
    m.action = a;
    m.sender = std::string(name);
    m.service = s;
    out.send_batched(std::move(m));
  }

  // ===== the watcher thread =======================================================

  class watcher {
   public:
    using service_reflector = k8s::reflector<k8s::service_object>;
    using slice_reflector = k8s::reflector<k8s::endpoint_slice>;
    using node_reflector = k8s::reflector<k8s::node_object>;

    explicit watcher(kubernetes& owner) : owner_(owner), ctx_(owner.ctx_), cfg_(owner.cfg_) {
      http::client_options opts;
      std::string url = cfg_.endpoint;
      std::string where;
      if (url.empty()) {
        // In-cluster: the service's environment and the service account's files.
        const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
        const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host)
          throw std::runtime_error("no endpoint is set and KUBERNETES_SERVICE_HOST is not (not running in a cluster?); set endpoint");
        std::string h = host;
        if (h.find(':') != std::string::npos) h = "[" + h + "]";
        url = "https://" + h + ":" + std::string(port && *port ? port : "443");
        const std::string& dir = cfg_.serviceAccountDir;
        opts.tls.ca_file = cfg_.tlsCa.empty() ? dir + "/ca.crt" : cfg_.tlsCa;
        if (!cfg_.token.empty()) opts.credentials = http::credentials::bearer(cfg_.token.value);
        else opts.credentials = http::credentials::bearer_file(cfg_.tokenFile.empty() ? dir + "/token" : cfg_.tokenFile);
        std::ifstream ns_file(dir + "/namespace");
        std::string pod_ns;
        std::getline(ns_file, pod_ns);
        where = "in-cluster" + (pod_ns.empty() ? std::string() : " (namespace " + pod_ns + ")");
      } else {
        opts.tls.ca_file = cfg_.tlsCa;
        if (!cfg_.token.empty()) opts.credentials = http::credentials::bearer(cfg_.token.value);
        else if (!cfg_.tokenFile.empty()) opts.credentials = http::credentials::bearer_file(cfg_.tokenFile);
        where = "out-of-cluster";
      }
      opts.tls.cert_file = cfg_.tlsCert;
      opts.tls.key_file = cfg_.tlsKey;
      opts.tls.insecure_skip_verify = cfg_.insecureSkipVerify;
      std::size_t scopes = cfg_.namespaces.empty() ? 1 : cfg_.namespaces.size();
      opts.max_connections = 2 * scopes + 1 + 4;  // the watches, and room for lists, look-ups and status writes
      opts.user_agent = "interlook (provider.kubernetes)";
      try {
        api_.emplace(io_.get_executor(), url, std::move(opts));
      } catch (const http::error& e) {
        throw std::runtime_error(std::string(e.what()));
      }
      origin_ = api_->url();

      auto relist = cfg_.pollInterval;
      auto make = [&](std::string resource, std::string kind, std::string path, std::string selector) {
        k8s::reflector_settings s;
        s.resource = std::move(resource);
        s.kind = std::move(kind);
        s.path = std::move(path);
        s.selector = std::move(selector);
        s.relist_period = relist;
        return s;
      };
      auto scoped = [](const std::string& ns) { return ns.empty() ? std::string() : "/namespaces/" + ns; };
      std::vector<std::string> scope_list = cfg_.namespaces;
      if (scope_list.empty()) scope_list.push_back("");
      for (const auto& ns : scope_list) {
        std::string suffix = ns.empty() ? "" : " in " + ns;
        services_[ns] = std::make_unique<service_reflector>(
            make("services" + suffix, "Service", "/api/v1" + scoped(ns) + "/services", owner_.selector_.text()), hooks_for_services());
        slices_[ns] = std::make_unique<slice_reflector>(
            make("endpointslices" + suffix, "EndpointSlice", "/apis/discovery.k8s.io/v1" + scoped(ns) + "/endpointslices", ""),
            hooks_for_slices());
      }
      nodes_ = std::make_unique<node_reflector>(make("nodes", "Node", "/api/v1/nodes", ""), hooks_for_nodes());

      std::string scope = cfg_.namespaces.empty() ? std::string("all namespaces") : "namespaces " + join(cfg_.namespaces);
      ctx_.info(std::string(cfg_.name.empty() ? "" : "cluster " + cfg_.name + ": ") + "watching Services (NodePort, LoadBalancer" +
                (owner_.selector_.empty() ? "" : ", labelSelector " + owner_.selector_.text()) + "), EndpointSlices and Nodes of " +
                scope + " at " + api_->describe() + ", " + where + "; re-list every " + format_duration(relist) +
                (cfg_.updateStatus ? "; updateStatus on" : ""));
    }

    ~watcher() {
      // The client and its connections belong to the io_context's thread,
      // which has ended (or never started) by now.
      if (api_) api_->close();
    }

    // The watcher thread.
    void run() {
      for (auto& [ns, r] : services_) spawn(r->run(*api_));
      for (auto& [ns, r] : slices_) spawn(r->run(*api_));
      spawn(nodes_->run(*api_));
      io_.run();
      api_->close();
      {
        std::lock_guard lock(done_mutex_);
        done_ = true;
      }
      done_cv_.notify_all();
    }

    // Any thread: end every request, wait and timer; the coroutines return.
    void shutdown() {
      if (shutdown_posted_.exchange(true)) return;
      boost::asio::post(io_, [this] {
        stopping_ = true;
        api_->close();
        for (auto& [ns, r] : services_) r->cancel();
        for (auto& [ns, r] : slices_) r->cancel();
        nodes_->cancel();
        for (auto* t : timers_) {
          try {
            t->cancel();
          } catch (...) {
          }
        }
      });
    }

    bool wait_done(std::chrono::milliseconds timeout) {
      std::unique_lock lock(done_mutex_);
      return done_cv_.wait_for(lock, timeout, [&] { return done_; });
    }
    void force_stop() { io_.stop(); }

    // From the extension's thread: answer a refresh from the API server.
    void lookup(std::string entry) {
      boost::asio::post(io_, [this, entry = std::move(entry)]() mutable {
        if (!stopping_) spawn(do_lookup(std::move(entry)));
      });
    }

    // From the extension's thread: an outcome to write into a Service's status.
    void want_status(std::string entry, bool deployed, std::string ip) {
      boost::asio::post(io_, [this, entry = std::move(entry), deployed, ip = std::move(ip)] {
        if (stopping_) return;
        auto& g = status_[entry];
        if (deployed) {
          if (!g.add.empty() && g.add != ip) g.remove.insert(g.add);
          g.add = ip;
          g.remove.erase(ip);
        } else {
          if (!ip.empty()) g.remove.insert(ip);
          if (!g.add.empty()) g.remove.insert(g.add);
          g.add.clear();
        }
        ++g.version;
        if (!g.running) {
          g.running = true;
          spawn(write_status(entry));
        }
      });
    }

   private:
    template <class Awaitable>
    void spawn(Awaitable a) {
      boost::asio::co_spawn(io_, std::move(a), boost::asio::detached);
    }

    static std::string join(const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s;
    }

    // ---- reflector hooks ----------------------------------------------------------

    template <class T>
    k8s::reflector_hooks<T> common_hooks() {
      k8s::reflector_hooks<T> h;
      h.settled = [this] { flush(false); };
      h.listed = [this] { on_listed(); };
      h.failed = [this](const std::string& problem, const std::string& key) { on_failed(problem, key); };
      h.log = [this](log_level l, const std::string& line) { ctx_.log(l, line); };
      h.stopping = [this] { return stopping_; };
      return h;
    }

    k8s::reflector_hooks<k8s::service_object> hooks_for_services() {
      auto h = common_hooks<k8s::service_object>();
      h.changed = [this](const k8s::service_object* before, const k8s::service_object* after) {
        if (before) dirty_.insert(before->meta.key());
        if (after) dirty_.insert(after->meta.key());
      };
      return h;
    }

    k8s::reflector_hooks<k8s::endpoint_slice> hooks_for_slices() {
      auto h = common_hooks<k8s::endpoint_slice>();
      h.changed = [this](const k8s::endpoint_slice* before, const k8s::endpoint_slice* after) {
        if (before && !before->service().empty()) {
          auto svc = before->meta.ns + "/" + before->service();
          auto it = slices_by_service_.find(svc);
          if (it != slices_by_service_.end()) {
            it->second.erase(before->meta.key());
            if (it->second.empty()) slices_by_service_.erase(it);
          }
          dirty_.insert(svc);
        }
        if (after && !after->service().empty()) {
          auto svc = after->meta.ns + "/" + after->service();
          slices_by_service_[svc].insert(after->meta.key());
          dirty_.insert(svc);
        }
      };
      return h;
    }

    k8s::reflector_hooks<k8s::node_object> hooks_for_nodes() {
      auto h = common_hooks<k8s::node_object>();
      h.changed = [this](const k8s::node_object* before, const k8s::node_object* after) {
        const auto& node = before ? before->meta.name : after->meta.name;
        if (auto it = services_by_node_.find(node); it != services_by_node_.end()) dirty_.insert(it->second.begin(), it->second.end());
      };
      return h;
    }

    bool all_synced() const {
      for (auto& [ns, r] : services_)
        if (!r->synced()) return false;
      for (auto& [ns, r] : slices_)
        if (!r->synced()) return false;
      return nodes_->synced();
    }
    bool any_failing() const {
      for (auto& [ns, r] : services_)
        if (r->failing()) return true;
      for (auto& [ns, r] : slices_)
        if (r->failing()) return true;
      return nodes_->failing();
    }

    void on_listed() {
      if (!all_synced()) return;
      // Every list reconciles everything: a complete picture for the
      // extension's thread, which deletes what is no longer there.
      for (auto& [ns, r] : services_)
        for (auto& [k, s] : r->store()) dirty_.insert(k);
      flush(true);
      update_health();
    }

    void on_failed(const std::string& problem, const std::string& key) {
      update_health();  // first: a refresh asked after the log line below goes to the API server
      std::size_t known = 0;
      for (auto& [ns, r] : services_) known += r->store().size();
      if (key != last_failure_) {
        last_failure_ = key;
        ctx_.error("API server " + origin_ + ": " + problem + "; keeping what is known (" + std::to_string(known) +
                   " Services), nothing is deleted; retrying");
      } else {
        ctx_.debug("API server " + origin_ + " still failing: " + problem);
      }
    }

    void update_health() {
      bool healthy = all_synced() && !any_failing();
      if (healthy == healthy_) return;
      healthy_ = healthy;
      if (healthy) lookup_failures_reported_ = false;
      if (healthy && !last_failure_.empty()) {
        ctx_.info("API server " + origin_ + " answers again");
        last_failure_.clear();
      }
      owner_.jobs_.post([o = &owner_, healthy](outbox&) { o->healthy_ = healthy; });
    }

    const k8s::service_object* find_service(const std::string& key) const {
      auto slash = key.find('/');
      auto ns = key.substr(0, slash);
      auto it = services_.find(cfg_.namespaces.empty() ? std::string() : ns);
      return it == services_.end() ? nullptr : it->second->find(key);
    }
    const k8s::endpoint_slice* find_slice(const std::string& key) const {
      auto slash = key.find('/');
      auto ns = key.substr(0, slash);
      auto it = slices_.find(cfg_.namespaces.empty() ? std::string() : ns);
      return it == slices_.end() ? nullptr : it->second->find(key);
    }

    // The computed state of the dirty services, posted to the extension's
    // thread (all of them, and `complete`, after a list).
    void flush(bool complete) {
      if (!all_synced() || (dirty_.empty() && !complete)) return;
      std::vector<update> ups;
      ups.reserve(dirty_.size());
      for (const auto& key : dirty_) {
        auto u = compute(key);
        if (complete && u.what == update::kind::erase) continue;
        ups.push_back(std::move(u));
      }
      dirty_.clear();
      owner_.jobs_.post([o = &owner_, ups = std::move(ups), complete](outbox& out) mutable { o->apply(ups, complete, out); });
    }

    void index_nodes(const std::string& key, std::set<std::string> nodes) {
      auto& old = nodes_by_service_[key];
      for (const auto& n : old)
        if (!nodes.count(n)) {
          auto it = services_by_node_.find(n);
          if (it != services_by_node_.end()) {
            it->second.erase(key);
            if (it->second.empty()) services_by_node_.erase(it);
          }
        }
      for (const auto& n : nodes) services_by_node_[n].insert(key);
      if (nodes.empty()) nodes_by_service_.erase(key);
      else old = std::move(nodes);
    }

    update compute(const std::string& key) {
      update u;
      auto slash = key.find('/');
      u.name = k8s::entry_name(key.substr(0, slash), key.substr(slash + 1));
      const auto* svc = find_service(key);
      k8s::verdict v;
      if (svc) v = k8s::judge(*svc, owner_.selector_);
      if (v.what != k8s::verdict::kind::malformed) problems_.erase(key);
      if (!svc || v.what == k8s::verdict::kind::not_ours) {
        index_nodes(key, {});
        u.what = update::kind::erase;
        return u;
      }
      if (v.what == k8s::verdict::kind::malformed) {
        index_nodes(key, {});
        if (problems_[key] != v.problem) {
          problems_[key] = v.problem;
          ctx_.error("Service " + key + ": " + v.problem + "; not announced (a service already announced keeps its last definition)");
        }
        u.what = update::kind::keep;
        return u;
      }
      std::vector<const k8s::endpoint_slice*> slices;
      std::set<std::string> nodes;
      if (auto it = slices_by_service_.find(key); it != slices_by_service_.end())
        for (const auto& sk : it->second)
          if (const auto* s = find_slice(sk)) {
            slices.push_back(s);
            for (const auto& e : s->endpoints)
              if (!e.node_name.empty()) nodes.insert(e.node_name);
          }
      index_nodes(key, std::move(nodes));
      u.def = k8s::make_service(name, *svc, v, slices, [this](const std::string& node) {
        const auto* n = nodes_->find(node);
        return n ? n->address() : std::string();
      });
      // No ready endpoint (on a node with an address): skipped until it has
      // one, or, if announced, kept as it was (a one-replica rolling update
      // has none for a moment; undeploying would drop its address and names).
      u.what = u.def.targets.empty() ? update::kind::keep : update::kind::set;
      return u;
    }

    // ---- refresh look-ups ------------------------------------------------------

    boost::asio::awaitable<void> do_lookup(std::string entry) {
      std::optional<service> result;
      auto what = update::kind::erase;
      try {
        auto parts = k8s::split_entry_name(entry);
        bool in_scope = parts && (cfg_.namespaces.empty() ||
                                  std::find(cfg_.namespaces.begin(), cfg_.namespaces.end(), parts->first) != cfg_.namespaces.end());
        if (in_scope) {
          const auto& [ns, svc_name] = *parts;
          auto req = http::request::get("/api/v1/namespaces/" + ns + "/services/" + svc_name);
          req.throw_on_error_status = false;
          auto r = co_await api_->request(std::move(req));
          if (r.status != 404) {
            if (r.status >= 400)
              throw std::runtime_error("GET " + origin_ + "/api/v1/namespaces/" + ns + "/services/" + svc_name + ": " +
                                       std::to_string(r.status) + " " + r.reason);
            auto svc = k8s::decode_service(k8s::parse_json(r.body, "Service " + ns + "/" + svc_name));
            auto v = k8s::judge(svc, owner_.selector_);
            if (v.what == k8s::verdict::kind::malformed) what = update::kind::keep;
            if (v.what == k8s::verdict::kind::ours) {
              std::vector<k8s::endpoint_slice> slices;
              std::string cont;
              do {
                std::string target = "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices?labelSelector=" +
                                     interlook::http::percent_encode(std::string(k8s::service_name_label) + "=" + svc_name) + "&limit=500";
                if (!cont.empty()) target += "&continue=" + interlook::http::percent_encode(cont);
                auto lr = co_await api_->request(http::request::get(target));
                auto doc = k8s::parse_json(lr.body, "EndpointSlice list");
                namespace jr = interlook::json_read;
                const auto& o = jr::object(doc, "");
                cont.clear();
                if (const auto* md = jr::find(o, "metadata")) cont = jr::string(jr::object(*md, "metadata"), "continue", "metadata");
                if (const auto* items = jr::find(o, "items"))
                  for (const auto& item : jr::array(*items, "items")) slices.push_back(k8s::decode_endpoint_slice(item));
              } while (!cont.empty());
              std::map<std::string, std::string> addresses;
              std::vector<const k8s::endpoint_slice*> ptrs;
              for (const auto& s : slices) ptrs.push_back(&s);
              for (const auto& [node, count] : k8s::ready_per_node(ptrs)) {
                auto nreq = http::request::get("/api/v1/nodes/" + node);
                nreq.throw_on_error_status = false;
                auto nr = co_await api_->request(std::move(nreq));
                if (nr.status == 404) continue;
                if (nr.status >= 400)
                  throw std::runtime_error("GET " + origin_ + "/api/v1/nodes/" + node + ": " + std::to_string(nr.status) + " " + nr.reason);
                addresses[node] = k8s::decode_node(k8s::parse_json(nr.body, "Node " + node)).address();
              }
              auto def = k8s::make_service(name, svc, v, ptrs, [&](const std::string& node) {
                auto it = addresses.find(node);
                return it == addresses.end() ? std::string() : it->second;
              });
              what = def.targets.empty() ? update::kind::keep : update::kind::set;
              if (!def.targets.empty()) result = std::move(def);
            }
          }
        }
      } catch (const std::exception& e) {
        if (!stopping_) {
          // The housekeeper asks again for every stale Service at each pass
          // while the API server is down: one warning per outage.
          std::string line = "cannot answer the refresh of " + entry +
                             " (the watch is not healthy, and the look-up failed): " + e.what() +
                             "; not answered (nothing is undeployed for that)";
          if (lookup_failures_reported_) {
            ctx_.debug(line);
          } else {
            lookup_failures_reported_ = true;
            ctx_.warn(line + "; until the API server answers again, further ones are logged at debug level");
          }
        }
        co_return;
      }
      if (stopping_) co_return;
      owner_.jobs_.post([o = &owner_, entry = std::move(entry), what, result = std::move(result)](outbox& out) mutable {
        o->answer_lookup(entry, what, std::move(result), out);
      });
    }

    // ---- status writes ---------------------------------------------------------------

    struct status_goal {
      std::string add;                // our VIP to be in status.loadBalancer.ingress ("" none)
      std::set<std::string> remove;   // VIPs of ours to take out
      std::uint64_t version = 0;      // bumped by each outcome
      bool running = false;
    };

    // Registers a timer for cancellation at shutdown.
    struct timer_registration {
      std::set<boost::asio::steady_timer*>& set;
      boost::asio::steady_timer* t;
      timer_registration(std::set<boost::asio::steady_timer*>& s, boost::asio::steady_timer* timer) : set(s), t(timer) { set.insert(t); }
      ~timer_registration() { set.erase(t); }
    };

    boost::asio::awaitable<void> write_status(std::string entry) {
      auto& g = status_[entry];
      boost::asio::steady_timer timer(io_);
      timer_registration reg(timers_, &timer);
      unsigned failures = 0;
      std::string last_problem;
      auto parts = k8s::split_entry_name(entry);
      while (!stopping_ && parts) {
        auto version = g.version;
        auto add = g.add;
        auto remove = g.remove;
        try {
          co_await put_status(parts->first, parts->second, add, remove);
          if (g.version == version) {
            g.remove.clear();
            break;
          }
          continue;  // another outcome came meanwhile
        } catch (const std::exception& e) {
          if (stopping_) break;
          auto* he = dynamic_cast<const http::error*>(&e);
          if (he && he->status() == 404) {
            ctx_.debug("Service " + parts->first + "/" + parts->second + " is gone; its status is not updated");
            break;
          }
          std::string problem = e.what();
          if (problem != last_problem) {
            last_problem = problem;
            ctx_.error("cannot update the status of Service " + parts->first + "/" + parts->second + ": " + problem + "; retrying");
          }
        }
        ++failures;
        auto delay = std::chrono::milliseconds(250);
        for (unsigned i = 1; i < failures && delay < std::chrono::seconds(8); ++i) delay *= 2;
        timer.expires_after(std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(8)));
        boost::system::error_code ec;
        co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      }
      g.running = false;
    }

    // One convergence of status.loadBalancer.ingress: GET, change, PUT to
    // /status with the object's resourceVersion; 409 Conflict: again.
    boost::asio::awaitable<void> put_status(const std::string& ns, const std::string& svc_name, const std::string& add,
                                     const std::set<std::string>& remove) {
      std::string path = "/api/v1/namespaces/" + ns + "/services/" + svc_name;
      for (int attempt = 0; attempt < 10; ++attempt) {
        auto r = co_await api_->request(http::request::get(path));
        auto doc = k8s::parse_json(r.body, "Service " + ns + "/" + svc_name);
        if (!doc.is_object()) throw json_error("Service " + ns + "/" + svc_name, "expected an object");
        auto& o = doc.get_object();
        auto svc = k8s::decode_service(doc);
        if (svc.type != "LoadBalancer") {
          if (!add.empty()) ctx_.debug("Service " + ns + "/" + svc_name + " is of type " + svc.type + ", not LoadBalancer: its status is left alone");
          co_return;
        }
        boost::json::array ingress;
        if (auto* st = o.if_contains("status"); st && st->is_object())
          if (auto* lb = st->get_object().if_contains("loadBalancer"); lb && lb->is_object())
            if (auto* ing = lb->get_object().if_contains("ingress"); ing && ing->is_array()) ingress = ing->get_array();
        boost::json::array next;
        bool present = false;
        for (const auto& item : ingress) {
          std::string ip;
          if (item.is_object())
            if (const auto* v = item.get_object().if_contains("ip"); v && v->is_string()) ip = std::string(v->get_string());
          if (!ip.empty() && ip != add && remove.count(ip)) continue;
          if (!add.empty() && ip == add) {
            if (present) continue;
            present = true;
          }
          next.push_back(item);
        }
        if (!add.empty() && !present) next.push_back(boost::json::object{{"ip", add}});
        if (next == ingress) co_return;  // already so
        auto& status = o["status"];
        if (!status.is_object()) status = boost::json::object{};
        auto& lb = status.get_object()["loadBalancer"];
        if (!lb.is_object()) lb = boost::json::object{};
        lb.get_object()["ingress"] = next;
        try {
          co_await api_->request(http::request::put(path + "/status", boost::json::serialize(o)));
          ctx_.info("Service " + ns + "/" + svc_name + ": status.loadBalancer.ingress is now " + boost::json::serialize(next));
          co_return;
        } catch (const http::error& e) {
          if (e.status() != 409) throw;
          ctx_.debug("Service " + ns + "/" + svc_name + ": 409 Conflict on the status update; reading it again");
        }
      }
      throw std::runtime_error("the status update of Service " + ns + "/" + svc_name + " still conflicted after 10 attempts");
    }

    kubernetes& owner_;
    extension_context& ctx_;
    const config& cfg_;
    std::string origin_;
    std::optional<http::client> api_;
    std::map<std::string, std::unique_ptr<service_reflector>> services_;  // by namespace ("" all)
    std::map<std::string, std::unique_ptr<slice_reflector>> slices_;
    std::unique_ptr<node_reflector> nodes_;
    // Indexes: a Service's slices ("ns/svc" -> slice keys); nodes <-> Services.
    std::map<std::string, std::set<std::string>> slices_by_service_;
    std::map<std::string, std::set<std::string>> nodes_by_service_;
    std::map<std::string, std::set<std::string>> services_by_node_;
    std::set<std::string> dirty_;
    std::map<std::string, std::string> problems_;  // "ns/svc" -> the label problem logged
    std::string last_failure_;
    bool healthy_ = false;
    bool lookup_failures_reported_ = false;
    bool stopping_ = false;
    std::map<std::string, status_goal> status_;
    std::set<boost::asio::steady_timer*> timers_;
    std::atomic<bool> shutdown_posted_{false};
    std::mutex done_mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    // Last: destroyed first, with whatever it still holds, while the rest lives.
    boost::asio::io_context io_{1};
  };

  config cfg_;
  extension_context& ctx_;
  k8s::label_selector selector_;
  job_queue jobs_;
  // The extension thread's.
  std::map<std::string, service> desired_;  // what the core was told
  // Services that exist but cannot be announced now (unusable labels, no
  // ready endpoint): an announced one keeps its last definition.
  std::set<std::string> kept_;
  bool healthy_ = false;
  bool announced_once_ = false;
  std::map<std::string, std::string> over_limit_;  // entry -> the limit it is over (logged once)
  std::map<std::string, service> waiting_room_;    // held back by maxServices: entry -> its definition
  std::unique_ptr<watcher> w_;
};

}  // namespace interlook::ext::provider
