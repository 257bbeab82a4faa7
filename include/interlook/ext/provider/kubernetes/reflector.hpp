#pragma once
// provider.kubernetes: a reflector, as Kubernetes controllers keep a cache of
// one kind of object (client-go's Reflector, written for interlook's HTTP
// client):
//
//   1. list, in pages (limit/continue), and take the list's
//      metadata.resourceVersion;
//   2. watch from it (watch=1&resourceVersion=..&allowWatchBookmarks=true
//      &timeoutSeconds=..), one JSON event per line: ADDED, MODIFIED and
//      DELETED change the cache, BOOKMARK only advances the version;
//   3. when the stream ends (timeoutSeconds, or a connection cut), watch
//      again from the last version seen: nothing is listed again;
//   4. 410 Gone (the HTTP status of a watch or of a continued list, or an
//      ERROR event whose object is a Status with code 410): the version is
//      no longer in the server's history, so list again and reconcile the
//      cache with the new list (what is missing from it was deleted);
//   5. any other failure (server unreachable, TLS, 401/403, 5xx, a response
//      that does not decode): the cache is kept as it is (nothing deleted),
//      the owner is told, and after a backoff the reflector lists again;
//   6. every relist_period, a full list and reconciliation anyway (the
//      provider's pollInterval), as a safety net.
//
// A reflector runs as one coroutine on the watcher's io_context; its cache
// is that thread's. Objects that do not decode are logged (naming the object
// and the path of the bad value) and keep their previous version.

#include <interlook/ext/provider/kubernetes/model.hpp>
#include <interlook/http/client.hpp>
#include <interlook/http/url.hpp>
#include <interlook/support/log_level.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace interlook::ext::provider::k8s {

namespace asio = boost::asio;

// What a reflector needs from its owner, all called on the owner's thread.
template <class T>
struct reflector_hooks {
  // One object changed: added (before null), modified, or deleted (after null).
  std::function<void(const T* before, const T* after)> changed;
  // The end of a run of changes (one list, or one watch event).
  std::function<void()> settled;
  // A list succeeded: the cache is complete and current.
  std::function<void()> listed;
  // A request failed: `problem` is the message (it names the URL), `key` is
  // the same for the same kind of failure (for logging it once).
  std::function<void(const std::string& problem, const std::string& key)> failed;
  // A message for the log.
  std::function<void(log_level, const std::string&)> log;
  // Whether the owner is stopping (the reflector then returns).
  std::function<bool()> stopping;
};

struct reflector_settings {
  std::string resource;   // "services", for messages
  std::string kind;       // "Service", for messages
  std::string path;       // "/api/v1/services", "/api/v1/namespaces/x/services"
  std::string selector;   // a label selector for the server, or ""
  std::chrono::nanoseconds relist_period = std::chrono::seconds(15);
  std::size_t page_size = 500;
  // A watch is asked to end after at most this long (and at the next re-list).
  std::chrono::seconds max_watch = std::chrono::seconds(300);
  std::chrono::nanoseconds backoff_initial = std::chrono::milliseconds(250);
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(8);
};

template <class T>
class reflector {
 public:
  using clock = std::chrono::steady_clock;

  reflector(reflector_settings s, reflector_hooks<T> hooks) : s_(std::move(s)), hooks_(std::move(hooks)) {
    seed_ = std::hash<std::string>{}(s_.path) | 1;
  }

  const reflector_settings& settings() const noexcept { return s_; }
  const std::map<std::string, T>& store() const noexcept { return store_; }
  const T* find(const std::string& key) const {
    auto it = store_.find(key);
    return it == store_.end() ? nullptr : &it->second;
  }
  const std::string& resource_version() const noexcept { return rv_; }
  bool synced() const noexcept { return synced_; }
  bool failing() const noexcept { return failing_; }
  std::uint64_t lists() const noexcept { return lists_; }
  std::uint64_t watches() const noexcept { return watches_; }

  // Cancels the backoff wait (at stop); the HTTP client's close() ends the
  // requests.
  void cancel() noexcept {
    if (timer_) {
      try {
        timer_->cancel();
      } catch (...) {
      }
    }
  }

  asio::awaitable<void> run(http::client& api) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer_ = &timer;
    struct forget {
      asio::steady_timer*& t;
      ~forget() { t = nullptr; }
    } forget_timer{timer_};

    bool need_list = true;
    unsigned failures = 0;  // consecutive failed attempts
    unsigned cuts = 0;      // consecutive watches that broke at once
    unsigned gones = 0;     // consecutive 410s
    auto next_list = clock::now();
    while (!hooks_.stopping()) {
      std::string problem, key;
      bool watching = false;
      auto watch_started = clock::now();
      try {
        if (need_list || clock::now() >= next_list) {
          co_await list(api);
          need_list = false;
          failures = 0;
          cuts = 0;
          gones = 0;
          next_list = clock::now() + std::chrono::duration_cast<clock::duration>(s_.relist_period);
          continue;
        }
        auto remaining = std::chrono::ceil<std::chrono::seconds>(next_list - clock::now());
        auto timeout = std::clamp(remaining, std::chrono::seconds(1), watch_cap());
        bool gone = false;
        lines_ = 0;
        ++watches_;
        auto req = http::request::get(watch_target(timeout));
        // A watch the server should have ended at timeoutSeconds but that
        // stays silent longer is a dead connection.
        req.timeout = timeout + std::chrono::seconds(30);
        watching = true;
        watch_started = clock::now();
        co_await api.stream_lines(std::move(req), [&](std::string_view line) { return on_line(line, gone); });
        watching = false;
        if (gone) {
          if (++gones > 3) throw http::error(http::error_kind::status, "GET", s_.path, s_.resource + ": 410 Gone again after listing", 410);
          hooks_.log(log_level::info, s_.resource + ": resourceVersion " + rv_ + " is too old to watch from (410 Gone); listing again");
          need_list = true;
          continue;
        }
        // The server ended the watch (timeoutSeconds): watch again from rv_.
        cuts = 0;
        continue;
      } catch (const http::error& e) {
        if (hooks_.stopping()) break;
        if (e.status() == 410 && ++gones <= 3) {
          hooks_.log(log_level::info, s_.resource + ": 410 Gone (" + std::string(e.what()) + "); listing again");
          need_list = true;
          continue;
        }
        // A watch that was cut (a proxy's idle timeout, a restarting API
        // server): watch again from the last version seen. One that breaks
        // at once twice in a row is a failure.
        bool established = lines_ > 0 || clock::now() - watch_started >= std::chrono::seconds(1);
        bool broken = watching && (e.kind() == http::error_kind::io || (e.kind() == http::error_kind::timeout && lines_ > 0));
        if (broken && (established || cuts == 0)) {
          cuts = established ? 0 : cuts + 1;
          hooks_.log(log_level::debug, s_.resource + ": watch ended (" + std::string(e.what()) + "); watching again from " + rv_);
          continue;
        }
        problem = e.what();
        key = std::string(http::to_string(e.kind())) + (e.status() ? " " + std::to_string(e.status()) : "");
      } catch (const json_error& e) {
        if (hooks_.stopping()) break;
        problem = s_.resource + ": " + e.what();
        key = "decode " + s_.resource;
      } catch (const std::exception& e) {
        if (hooks_.stopping()) break;
        problem = s_.resource + ": " + e.what();
        key = "other " + s_.resource;
      }
      failing_ = true;
      need_list = true;
      gones = 0;
      ++failures;
      hooks_.failed(problem, key);
      timer.expires_after(backoff(failures));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // One page of a list: its objects go into `fresh` (one that does not
  // decode keeps its previous version), the first page's resourceVersion
  // into `list_rv`. Returns the continue token ("" on the last page).
  // Throws json_error for a page that does not decode.
  std::string take_page(std::string_view body, std::map<std::string, T>& fresh, std::string& list_rv, bool first) {
    boost::json::error_code ec;
    auto doc = boost::json::parse(body, ec);
    if (ec) throw json_error(s_.resource + " list", "malformed JSON: " + ec.message());
    namespace jr = interlook::json_read;
    const auto& o = jr::object(doc, "");
    const auto* md_v = jr::find(o, "metadata");
    if (!md_v) throw json_error("metadata", "missing");
    const auto& md = jr::object(*md_v, "metadata");
    if (first) list_rv = jr::string(md, "resourceVersion", "metadata");
    if (list_rv.empty()) throw json_error("metadata.resourceVersion", "missing");
    auto cont = jr::string(md, "continue", "metadata");
    if (const auto* items_v = jr::find(o, "items")) {
      const auto& items = jr::array(*items_v, "items");
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto where = describe(items[i], i);
        auto obj = decode(items[i], where);
        if (obj) {
          auto k = obj->meta.key();
          fresh.insert_or_assign(std::move(k), std::move(*obj));
        } else if (auto it = store_.find(where); it != store_.end()) {
          fresh.insert_or_assign(where, it->second);
        }
      }
    }
    return cont;
  }

  // One line of a watch stream (the watch loop feeds them; public for the
  // fuzz target and tests). Returns false to end the stream (gone: 410).
  // Throws json_error for a line that does not decode, http::error for an
  // ERROR event other than 410.
  bool on_line(std::string_view line, bool& gone) {
    if (line.empty()) return true;
    ++lines_;
    boost::json::error_code ec;
    auto doc = boost::json::parse(line, ec);
    if (ec) throw json_error(s_.resource + " watch event", "malformed JSON: " + ec.message());
    namespace jr = interlook::json_read;
    const auto& o = jr::object(doc, "watch event");
    auto type = jr::string(o, "type", "watch event");
    const auto* object = jr::find(o, "object");
    if (!object) throw json_error("watch event.object", "missing");
    if (type == "ERROR") {
      auto st = decode_status(*object);
      if (st.code == 410) {
        gone = true;
        return false;
      }
      throw http::error(http::error_kind::status, "GET", s_.path,
                        s_.resource + " watch: ERROR event: " + std::to_string(st.code) + " " + st.reason + ": " + st.message, st.code);
    }
    if (type == "BOOKMARK") {
      const auto& bo = jr::object(*object, "watch event.object");
      if (const auto* md = jr::find(bo, "metadata")) {
        auto rv = jr::string(jr::object(*md, "metadata"), "resourceVersion", "metadata");
        if (!rv.empty()) rv_ = std::move(rv);
      }
      return true;
    }
    if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
      hooks_.log(log_level::warn, s_.resource + ": watch event of unknown type \"" + type + "\" ignored");
      return true;
    }
    auto where = object_key_of(*object);
    auto obj = decode(*object, where.empty() ? "(unnamed)" : where);
    if (!obj) {
      // Keep the previous version; still, the stream has moved on.
      if (auto rv = object_rv(*object); !rv.empty()) rv_ = rv;
      return true;
    }
    bad_objects_.erase(where);
    std::string k = obj->meta.key();
    if (!obj->meta.resource_version.empty()) rv_ = obj->meta.resource_version;
    auto it = store_.find(k);
    if (type == "DELETED") {
      if (it != store_.end()) {
        T before = std::move(it->second);
        store_.erase(it);
        hooks_.changed(&before, nullptr);
      }
    } else if (it == store_.end()) {
      auto [at, inserted] = store_.emplace(k, std::move(*obj));
      hooks_.changed(nullptr, &at->second);
    } else if (!(it->second == *obj)) {
      T before = std::move(it->second);
      it->second = std::move(*obj);
      hooks_.changed(&before, &it->second);
    }
    hooks_.settled();
    return true;
  }


 private:
  std::chrono::seconds watch_cap() {
    // Spread the watches' ends (client-go picks 5-10 minutes).
    seed_ = seed_ * 6364136223846793005ULL + 1442695040888963407ULL;
    auto cap = s_.max_watch.count();
    return std::chrono::seconds(cap + static_cast<long>((seed_ >> 33) % static_cast<std::uint64_t>(std::max<long>(1, cap))));
  }

  std::chrono::nanoseconds backoff(unsigned failures) {
    auto d = s_.backoff_initial;
    for (unsigned i = 1; i < failures && d < s_.backoff_max; ++i) d *= 2;
    d = std::min(d, s_.backoff_max);
    seed_ = seed_ * 6364136223846793005ULL + 1442695040888963407ULL;
    auto jitter = static_cast<long>((seed_ >> 33) % 1000) - 500;  // +-10%
    return d + d * jitter / 5000;
  }

  std::string with_selector(std::string q) const {
    if (!s_.selector.empty()) q += "&labelSelector=" + interlook::http::percent_encode(s_.selector);
    return q;
  }

  std::string watch_target(std::chrono::seconds timeout) const {
    return with_selector(s_.path + "?watch=1&resourceVersion=" + interlook::http::percent_encode(rv_) + "&allowWatchBookmarks=true&timeoutSeconds=" +
                         std::to_string(timeout.count()));
  }

  static std::string describe(const boost::json::value& item, std::size_t i) {
    auto k = object_key_of(item);
    return k.empty() ? "item " + std::to_string(i) : k;
  }

  // Decodes an object, logging a failure once per object and message.
  std::optional<T> decode(const boost::json::value& v, const std::string& where) {
    try {
      return decoder<T>::decode(v);
    } catch (const json_error& e) {
      std::string msg = s_.kind + " " + where + ": " + e.what();
      if (bad_objects_[where] != msg) {
        bad_objects_[where] = msg;
        hooks_.log(log_level::error, msg + "; keeping its previous version");
      }
      return std::nullopt;
    }
  }

  asio::awaitable<void> list(http::client& api) {
    std::map<std::string, T> fresh;
    std::string list_rv, cont;
    bool first = true;
    do {
      std::string target = with_selector(s_.path + "?limit=" + std::to_string(s_.page_size));
      if (!cont.empty()) target += "&continue=" + interlook::http::percent_encode(cont);
      auto r = co_await api.request(http::request::get(target));
      cont = take_page(r.body, fresh, list_rv, first);
      first = false;
    } while (!cont.empty());
    ++lists_;
    // Reconcile: what the list lacks was deleted meanwhile.
    std::map<std::string, T> old = std::move(store_);
    store_ = std::move(fresh);
    rv_ = list_rv;
    for (auto& [k, before] : old) {
      auto it = store_.find(k);
      if (it == store_.end()) hooks_.changed(&before, nullptr);
      else if (!(it->second == before)) hooks_.changed(&before, &it->second);
    }
    for (auto& [k, after] : store_)
      if (!old.count(k)) hooks_.changed(nullptr, &after);
    synced_ = true;
    failing_ = false;
    hooks_.listed();
  }

  static std::string object_rv(const boost::json::value& v) {
    if (!v.is_object()) return {};
    const auto* md = v.get_object().if_contains("metadata");
    if (!md || !md->is_object()) return {};
    const auto* rv = md->get_object().if_contains("resourceVersion");
    return rv && rv->is_string() ? std::string(rv->get_string()) : std::string();
  }

  reflector_settings s_;
  reflector_hooks<T> hooks_;
  std::map<std::string, T> store_;
  std::map<std::string, std::string> bad_objects_;  // key -> the last decode error logged
  std::string rv_;
  bool synced_ = false;
  bool failing_ = false;
  std::uint64_t lines_ = 0;
  std::uint64_t lists_ = 0;
  std::uint64_t watches_ = 0;
  std::uint64_t seed_ = 1;
  asio::steady_timer* timer_ = nullptr;
};

}  // namespace interlook::ext::provider::k8s
