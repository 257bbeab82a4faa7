#pragma once
// provider.swarm's watcher: a thread of its own running an io_context with
// the HTTP client's coroutines. It follows Docker's event stream, lists what
// changed, and hands each result to a callback (which posts it to the
// extension's thread: the watcher never touches the outbox).
//
//   connect     GET /version: the API version is min(the engine's, 1.41), used
//               in every later path (/v1.41/...); the server's Date header
//               dates the event subscription.
//   events      GET /events?since=<Date - 1s>&filters={"type":["service",
//               "container","node"]}, line by line. dockerd 20.10 has no task
//               events: a task's changes show as service events (create,
//               update, remove) and as events of its container on the node
//               (start, die, stop, destroy), which carry the attribute
//               com.docker.swarm.service.id. A burst of events is debounced
//               into one re-list `debounce` after its first event; the re-list
//               covers only the services named (full listing for node events
//               or more than `max_targeted` services).
//   follow-ups  A service whose tasks are still on their way to running (or
//               that has fewer than its replicas, or is updating) is listed
//               again after 200 ms, 400 ms, ... (six times at most) until it
//               settles: task states reach the manager a little after the
//               container's own events.
//   poll        A full listing every pollInterval, the safety net that
//               reconciles everything; a service missing from a successful
//               full listing is gone.
//   failure     Any failure (unreachable, error status, timeout, malformed
//               JSON, the stream ending) ends the session: an error is logged
//               once per outage naming the endpoint, nothing is reported
//               absent, and the watcher reconnects with a backoff (250 ms
//               doubling to 5 s). A new session starts with a full listing.
//   refresh     Answered from a fresh look-up of that service; a failed
//               look-up answers nothing (logged).
//   stop        stop() (any thread) posts a job that closes both clients
//               (cancelling the stream and any request) and wakes the loop;
//               run() returns once every coroutine has ended.

#include <interlook/extension/context.hpp>
#include <interlook/ext/provider/swarm/discovery.hpp>
#include <interlook/ext/provider/swarm/model.hpp>
#include <interlook/http/client.hpp>
#include <interlook/http/url.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace interlook::ext::provider::swarm_detail {

struct watcher_settings {
  std::string endpoint;  // as configured, for messages
  http::client_options options;
  std::vector<label_rule> selector;
  std::chrono::nanoseconds poll_interval = std::chrono::seconds(15);
  std::string default_mode = "ingress";
  std::chrono::milliseconds debounce{150};
  std::chrono::milliseconds followup_first{200};
  int followups = 6;
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{5000};
  std::size_t max_targeted = 16;
};

// What one listing saw. A full listing names every selected service (what it
// leaves out is gone); a partial one only the services it looked up.
struct listing {
  bool full = false;
  std::vector<observation> services;
};


// Docker's filters parameter: {"key":["v1","v2"],...}, URL-encoded.
inline std::string filters_param(const std::vector<std::pair<std::string, std::vector<std::string>>>& filters) {
  boost::json::object o;
  for (const auto& [key, values] : filters) {
    boost::json::array a;
    for (const auto& v : values) a.emplace_back(v);
    o[key] = std::move(a);
  }
  return http::percent_encode(boost::json::serialize(o));
}

// Request targets. Built outside the coroutines: GCC 12 rejects braced
// lists of string literals in a coroutine body ("array used as initializer").
inline std::string events_target(const std::string& api, std::int64_t since) {
  return api + "/events?since=" + std::to_string(since) + "&filters=" + filters_param({{"type", {"service", "container", "node"}}});
}
inline std::string services_target(const std::string& api, const std::vector<label_rule>& selector) {
  return api + "/services?filters=" + filters_param({{"label", label_filters(selector)}});
}
inline std::string tasks_target(const std::string& api, const std::vector<std::string>& service_ids) {
  if (service_ids.empty()) return api + "/tasks?filters=" + filters_param({{"desired-state", {"running"}}});
  return api + "/tasks?filters=" + filters_param({{"desired-state", {"running"}}, {"service", service_ids}});
}

// An HTTP Date ("Wed, 25 Nov 2026 22:16:48 GMT") as Unix seconds.
inline std::optional<std::int64_t> parse_http_date(std::string_view s) {
  std::string text(s);
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm));
}

class watcher {
 public:
  using listing_handler = std::function<void(listing)>;
  // A refresh's answer: the service as Docker shows it now (absent: gone).
  using refresh_handler = std::function<void(observation)>;

  // Throws http::error (kind config) for a bad endpoint or TLS files.
  watcher(watcher_settings s, extension_context& ctx, listing_handler on_listing, refresh_handler on_refresh)
      : s_(std::move(s)),
        ctx_(ctx),
        on_listing_(std::move(on_listing)),
        on_refresh_(std::move(on_refresh)),
        requests_(io_.get_executor(), s_.endpoint, request_options(s_.options)),
        stream_(io_.get_executor(), s_.endpoint, stream_options(s_.options)),
        wake_(io_),
        backoff_timer_(io_) {}

  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  // The watcher thread: returns after stop().
  void run() {
    boost::asio::co_spawn(io_, main_loop(), [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        ctx_.error(std::string("the Docker watcher stopped: ") + x.what());
      }
    });
    io_.run();
  }

  // Any thread.
  void refresh(std::string name) {
    boost::asio::post(io_, [this, name = std::move(name)]() mutable {
      if (stopping_) return;
      refreshes_.push_back(std::move(name));
      wake_.cancel();
    });
  }

  // Any thread; idempotent.
  void stop() {
    if (stop_posted_.exchange(true)) return;
    boost::asio::post(io_, [this] {
      stopping_ = true;
      requests_.close();
      stream_.close();
      wake_.cancel();
      backoff_timer_.cancel();
    });
  }

  // "unix:///var/run/docker.sock, ..." for the start-up line.
  std::string describe() const { return requests_.describe(); }

 private:
  using clock = std::chrono::steady_clock;

  // A session ends: `quiet` when the event stream simply ended (dockerd
  // restarting closes it); an error otherwise.
  struct session_end : std::runtime_error {
    session_end(const std::string& what, bool quiet_) : std::runtime_error(what), quiet(quiet_) {}
    bool quiet;
  };

  static http::client_options request_options(http::client_options o) {
    o.request_timeout = std::chrono::seconds(15);
    o.max_connections = 2;
    o.max_body_bytes = std::size_t{256} << 20;  // every task of a large swarm
    return o;
  }
  static http::client_options stream_options(http::client_options o) {
    o.stream_idle_timeout = std::chrono::nanoseconds::zero();  // a quiet swarm sends nothing
    o.max_connections = 1;
    return o;
  }

  static http::request get(std::string target) { return http::request::get(std::move(target)); }

  // ---- the loop --------------------------------------------------------------

  boost::asio::awaitable<void> main_loop() {
    auto backoff = s_.backoff_initial;
    while (!stopping_) {
      std::string failure;
      bool quiet = false;
      bool unreachable = true;
      listed_in_session_ = false;
      try {
        co_await session();
      } catch (const session_end& e) {
        failure = e.what();
        quiet = e.quiet;
      } catch (const http::error& e) {
        failure = e.what();
        unreachable = e.kind() != http::error_kind::status && e.kind() != http::error_kind::protocol &&
                      e.kind() != http::error_kind::body_too_large;
      } catch (const std::exception& e) {  // malformed JSON, an API too old
        failure = e.what();
        unreachable = false;
      }
      if (stopping_) break;
      ++generation_;  // the stream of this session is stale from now on
      stream_.close();
      requests_.close();
      if (listed_in_session_) backoff = s_.backoff_initial;
      drop_refreshes(failure);
      if (!quiet) report_down(failure, unreachable);
      else ctx_.debug(failure + "; reconnecting to " + s_.endpoint);
      backoff_timer_.expires_after(backoff);
      boost::system::error_code ec;
      co_await backoff_timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      backoff = std::min(backoff * 2, s_.backoff_max);
    }
    ++generation_;
  }

  boost::asio::awaitable<void> session() {
    auto version_response = co_await requests_.request(get("/version"));
    auto version = decode_version(version_response.body);
    api_ = "/v" + negotiate_api_version(version);
    std::int64_t since = 0;
    if (auto date = version_response.headers.get("Date"); date && parse_http_date(*date)) {
      since = *parse_http_date(*date) - 1;
    } else {
      since = static_cast<std::int64_t>(std::time(nullptr)) - 1;
    }
    stream_failure_.reset();
    dirty_.clear();
    full_pending_ = false;
    dirty_deadline_.reset();
    auto gen = ++generation_;
    boost::asio::co_spawn(io_, stream_events(gen, since), boost::asio::detached);
    co_await full_listing();
    refresh_drops_reported_ = false;
    if (down_) {
      ctx_.info("Docker at " + s_.endpoint + " is reachable again (engine " + version.version + ", API " + api_.substr(2) +
                "); listed " + std::to_string(known_ids_.size()) + " services");
      down_ = false;
    } else if (!connected_once_) {
      ctx_.info("connected to Docker at " + s_.endpoint + " (engine " + version.version + ", API " + api_.substr(2) +
                "); listed " + std::to_string(known_ids_.size()) + " services");
    }
    connected_once_ = true;
    listed_in_session_ = true;
    co_await serve();
  }

  boost::asio::awaitable<void> serve() {
    auto next_poll = clock::now() + std::chrono::duration_cast<clock::duration>(s_.poll_interval);
    for (;;) {
      if (stopping_) co_return;
      if (stream_failure_) throw session_end(stream_failure_->first, stream_failure_->second);
      while (!refreshes_.empty() && !stopping_) {
        std::string name = std::move(refreshes_.front());
        refreshes_.pop_front();
        try {
          co_await answer_refresh(name);
        } catch (const std::exception& e) {
          ctx_.warn("cannot answer the refresh of " + name + ": " + e.what());
          throw;
        }
      }
      if (stopping_) co_return;
      auto now = clock::now();
      if (now >= next_poll) {
        co_await full_listing();
        next_poll = clock::now() + std::chrono::duration_cast<clock::duration>(s_.poll_interval);
        continue;
      }
      if (dirty_deadline_ && now >= *dirty_deadline_) {
        if (full_pending_ || dirty_.size() > s_.max_targeted) co_await full_listing();
        else co_await targeted_listing();
        continue;
      }
      auto deadline = next_poll;
      if (dirty_deadline_) deadline = std::min(deadline, *dirty_deadline_);
      wake_.expires_at(deadline);
      boost::system::error_code ec;
      co_await wake_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
  }

  // ---- events ----------------------------------------------------------------

  boost::asio::awaitable<void> stream_events(std::uint64_t gen, std::int64_t since) {
    std::string target = events_target(api_, since);
    std::optional<std::pair<std::string, bool>> end;
    try {
      co_await stream_.stream_lines(get(target), [this, gen](std::string_view line) {
        if (gen != generation_ || stopping_) return false;
        if (!line.empty()) on_event(line);
        return true;
      });
      end.emplace("Docker at " + s_.endpoint + " ended the event stream", true);
    } catch (const http::error& e) {
      if (e.kind() == http::error_kind::status && gen == generation_ && !stopping_) {
        // Refused (a socket proxy that forbids /events, say): the session
        // goes on with the poll alone; the next session asks again.
        if (!events_refused_) ctx_.warn(std::string("no events from Docker (") + e.what() + "); relying on pollInterval");
        events_refused_ = true;
        co_return;
      }
      end.emplace(std::string("the event stream failed: ") + e.what(), false);
    } catch (const std::exception& e) {
      end.emplace(std::string("the event stream failed: ") + e.what(), false);
    }
    if (gen != generation_ || stopping_) co_return;
    stream_failure_ = std::move(end);
    wake_.cancel();
  }

  void on_event(std::string_view line) {
    docker_event e;
    try {
      e = decode_event(line);
    } catch (const std::exception& x) {
      ctx_.warn(std::string("unreadable event from Docker (") + x.what() + "); listing everything");
      schedule(true);
      return;
    }
    if (e.type == "service") {
      if (!e.service_id.empty()) mark(e.service_id);
    } else if (e.type == "container") {
      // Only services already seen selected: a service that becomes
      // selected shows first as a service event.
      if (!e.service_id.empty() && known_ids_.count(e.service_id) &&
          (e.action == "start" || e.action == "die" || e.action == "stop" || e.action == "destroy"))
        mark(e.service_id);
    } else if (e.type == "node") {
      nodes_stale_ = true;
      schedule(true);
    }
  }

  void mark(const std::string& service_id) {
    dirty_.insert(service_id);
    followups_.erase(service_id);
    schedule(false);
  }

  void schedule(bool full) {
    if (full) full_pending_ = true;
    auto at = clock::now() + s_.debounce;
    if (!dirty_deadline_ || at < *dirty_deadline_) {
      dirty_deadline_ = at;
      wake_.cancel();
    }
  }

  // Services whose tasks are still starting get another look soon.
  void follow_up(const std::vector<observation>& seen) {
    for (const auto& o : seen) {
      if (o.what == observation::kind::absent || !o.unsettled) {
        followups_.erase(o.id);
        continue;
      }
      int& attempt = followups_[o.id];
      if (attempt >= s_.followups) continue;  // the next event or poll will tell
      auto at = clock::now() + s_.followup_first * (1 << attempt);
      ++attempt;
      dirty_.insert(o.id);
      if (!dirty_deadline_ || at < *dirty_deadline_) dirty_deadline_ = at;
    }
  }

  // ---- listings --------------------------------------------------------------

  boost::asio::awaitable<std::vector<docker_task>> all_running_tasks() {
    auto r = co_await requests_.request(get(tasks_target(api_, std::vector<std::string>())));
    co_return decode_tasks(r.body);
  }

  // The tasks of these services; a service removed meanwhile makes Docker
  // answer 404 for the whole filter, so then every running task is listed.
  boost::asio::awaitable<std::vector<docker_task>> tasks_of(const std::vector<std::string>& ids) {
    std::vector<docker_task> out;
    for (std::size_t i = 0; i < ids.size(); i += 25) {
      std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                     ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + 25)));
      auto req = get(tasks_target(api_, chunk));
      req.throw_on_error_status = false;
      auto r = co_await requests_.request(std::move(req));
      if (r.status == 404) co_return co_await all_running_tasks();
      if (r.status >= 400) throw std::runtime_error("GET " + api_ + "/tasks: " + std::to_string(r.status) + " " + r.reason + ": " + r.body.substr(0, 200));
      auto tasks = decode_tasks(r.body);
      out.insert(out.end(), std::make_move_iterator(tasks.begin()), std::make_move_iterator(tasks.end()));
    }
    co_return out;
  }

  boost::asio::awaitable<void> load_nodes() {
    auto r = co_await requests_.request(get(api_ + "/nodes"));
    nodes_ = address_map(decode_nodes(r.body));
    nodes_stale_ = false;
  }

  // Observes each service against its tasks; reloads the nodes once when a
  // task runs on a node not known yet.
  boost::asio::awaitable<std::vector<observation>> observe_all(const std::vector<docker_service>& services,
                                                               const std::vector<docker_task>& tasks) {
    std::unordered_map<std::string, std::vector<const docker_task*>> by_service;
    for (const auto& t : tasks) by_service[t.service_id].push_back(&t);
    static const std::vector<const docker_task*> none;
    auto run = [&](std::set<std::string>* missing) {
      std::vector<observation> out;
      out.reserve(services.size());
      for (const auto& s : services) {
        auto it = by_service.find(s.id);
        out.push_back(observe(s, it == by_service.end() ? none : it->second, nodes_, s_.default_mode, missing));
      }
      return out;
    };
    std::set<std::string> missing;
    auto out = run(&missing);
    if (!missing.empty()) {
      co_await load_nodes();
      out = run(nullptr);
    }
    co_return out;
  }

  boost::asio::awaitable<void> full_listing() {
    dirty_.clear();
    full_pending_ = false;
    dirty_deadline_.reset();
    auto r = co_await requests_.request(get(services_target(api_, s_.selector)));
    auto services = decode_services(r.body);
    std::erase_if(services, [&](const docker_service& s) { return !selected(s, s_.selector); });
    auto tasks = co_await all_running_tasks();
    co_await load_nodes();
    listing l;
    l.full = true;
    l.services = co_await observe_all(services, tasks);
    known_ids_.clear();
    for (const auto& s : services) known_ids_[s.id] = s.name;
    std::erase_if(followups_, [&](const auto& kv) { return !known_ids_.count(kv.first); });
    follow_up(l.services);
    on_listing_(std::move(l));
  }

  // GET /services/{id or name}: the service, or nullopt when Docker has none
  // of that ID (or name, with `by_name`).
  boost::asio::awaitable<std::optional<docker_service>> inspect(const std::string& key, bool by_name) {
    auto req = get(api_ + "/services/" + http::percent_encode(key));
    req.throw_on_error_status = false;
    auto r = co_await requests_.request(std::move(req));
    if (r.status == 404) co_return std::nullopt;
    if (r.status >= 400)
      throw std::runtime_error("GET " + api_ + "/services/" + key + ": " + std::to_string(r.status) + " " + r.reason + ": " +
                               r.body.substr(0, 200));
    auto s = decode_one_service(r.body);
    // Docker also matches an ID prefix: only an exact answer counts.
    if (by_name ? s.name != key : s.id != key) co_return std::nullopt;
    co_return s;
  }

  boost::asio::awaitable<void> targeted_listing() {
    std::set<std::string> ids;
    ids.swap(dirty_);
    full_pending_ = false;
    dirty_deadline_.reset();
    if (nodes_stale_) {
      co_await full_listing();
      co_return;
    }
    listing l;
    std::vector<docker_service> present;
    for (const auto& id : ids) {
      auto s = co_await inspect(id, false);
      auto known = known_ids_.find(id);
      if (!s || !selected(*s, s_.selector)) {
        if (known != known_ids_.end()) {
          observation gone;
          gone.name = known->second;
          gone.id = id;
          l.services.push_back(std::move(gone));
          known_ids_.erase(known);
        }
        continue;
      }
      if (known != known_ids_.end() && known->second != s->name) {  // renamed
        observation gone;
        gone.name = known->second;
        gone.id = id;
        l.services.push_back(std::move(gone));
      }
      known_ids_[id] = s->name;
      present.push_back(std::move(*s));
    }
    if (!present.empty()) {
      std::vector<std::string> present_ids;
      for (const auto& s : present) present_ids.push_back(s.id);
      auto tasks = co_await tasks_of(present_ids);
      auto seen = co_await observe_all(present, tasks);
      for (auto& o : seen) l.services.push_back(std::move(o));
    }
    follow_up(l.services);
    if (!l.services.empty()) on_listing_(std::move(l));
  }

  boost::asio::awaitable<void> answer_refresh(const std::string& name) {
    auto s = co_await inspect(name, true);
    observation answer;
    answer.name = name;
    if (s && selected(*s, s_.selector)) {
      std::vector<std::string> ids(1, s->id);
      std::vector<docker_service> one(1, *s);
      auto tasks = co_await tasks_of(ids);
      auto seen = co_await observe_all(one, tasks);
      answer = std::move(seen.front());
      known_ids_[s->id] = s->name;
    } else if (s) {
      known_ids_.erase(s->id);
    }
    on_refresh_(std::move(answer));
  }

  // ---- failures --------------------------------------------------------------

  void report_down(const std::string& failure, bool unreachable) {
    if (down_) {
      ctx_.debug("Docker at " + s_.endpoint + " still unreachable or failing: " + failure);
      return;
    }
    down_ = true;
    ctx_.error(std::string(unreachable ? "cannot reach Docker at " : "cannot use what Docker at ") + s_.endpoint +
               (unreachable ? "" : " answers") + ": " + failure +
               "; keeping the services last listed (nothing is deleted) and retrying");
  }

  // One line per reconnect attempt, not one per service: the housekeeper asks
  // again for every stale service at each pass while Docker is down. Only the
  // first drop of an outage is a warning.
  void drop_refreshes(const std::string& failure) {
    if (refreshes_.empty()) return;
    std::string names;
    std::size_t listed = 0;
    for (const auto& name : refreshes_) {
      if (listed == max_names_logged) break;
      names += (listed++ ? ", " : "") + name;
    }
    if (refreshes_.size() > listed) names += " and " + std::to_string(refreshes_.size() - listed) + " more";
    std::string line = "cannot answer the refresh of " + names + ": Docker at " + s_.endpoint + " is unreachable (" +
                       failure + "); nothing is undeployed for that";
    if (refresh_drops_reported_) {
      ctx_.debug(line);
    } else {
      refresh_drops_reported_ = true;
      ctx_.warn(line + "; until Docker answers again, further ones are logged at debug level");
    }
    refreshes_.clear();
  }

  static constexpr std::size_t max_names_logged = 10;

  watcher_settings s_;
  extension_context& ctx_;
  listing_handler on_listing_;
  refresh_handler on_refresh_;
  boost::asio::io_context io_{1};
  http::client requests_;
  http::client stream_;
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer backoff_timer_;
  std::atomic<bool> stop_posted_{false};

  // The io thread's alone.
  bool stopping_ = false;
  bool down_ = false;
  bool refresh_drops_reported_ = false;
  bool connected_once_ = false;
  bool listed_in_session_ = false;
  std::string api_ = "/v1.41";
  std::uint64_t generation_ = 0;
  std::optional<std::pair<std::string, bool>> stream_failure_;  // what, quiet
  bool events_refused_ = false;                                // logged once
  std::set<std::string> dirty_;                                // service IDs to look at again
  bool full_pending_ = false;
  bool nodes_stale_ = false;
  std::optional<clock::time_point> dirty_deadline_;
  std::map<std::string, int> followups_;                  // service ID -> follow-ups done
  std::unordered_map<std::string, std::string> known_ids_;  // selected service ID -> name
  node_addresses nodes_;
  std::deque<std::string> refreshes_;
};

}  // namespace interlook::ext::provider::swarm_detail
