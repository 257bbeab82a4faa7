#pragma once
// The HTTP API's routes (SPEC "HTTP API"), answered from the core thread
// through engine::ask with a bounded wait, so no lock guards the entries.

#include <interlook/store/entries_json.hpp>
#include <interlook/store/entry_json.hpp>
#include <interlook/extension/name.hpp>
#include <interlook/api/http_server.hpp>
#include <interlook/runtime/metrics.hpp>
#include <interlook/core/state_machine.hpp>

#include <boost/json/serialize.hpp>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <string_view>

namespace interlook {

namespace detail {
// "%2F" -> "/"; nullopt for a malformed escape.
inline std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}
}  // namespace detail

template <class Engine>
class api_routes {
 public:
  api_routes(Engine& core, std::string version) : core_(core), version_(std::move(version)) {}

  // What the server calls: answers at once, or from the core thread for what
  // reads the entries (the server answers 503 if that takes too long).
  void operator()(std::string_view method, std::string_view target, http_server::respond done) {
    if (auto r = route(method, target, done)) done(std::move(*r));
  }

 private:
  // The answer, or nullopt when `done` went to the core thread with the
  // request.
  std::optional<http_reply> route(std::string_view method, std::string_view target, http_server::respond& done) {
    auto path = target.substr(0, target.find('?'));
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    bool known = path == "/health" || path == "/services" || path == "/workflow" || path == "/extensions" ||
                 path == "/version" || path == "/metrics" || path.starts_with("/services/");
    if (!known) return error_reply(404, "no such resource");
    if (method != "GET") {
      auto r = error_reply(405, "only GET is allowed");
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    if (path == "/health") return json(R"({"status":"ok"})");
    if (path == "/version") return json(boost::json::serialize(boost::json::value(version_)));
    if (path == "/services") {
      return from_core(done, [](const state_machine& sm) { return json(entries_to_json(sm)); });
    }
    if (path.starts_with("/services/")) {
      auto name = detail::url_decode(path.substr(std::string_view("/services/").size()));
      if (!name) return error_reply(400, "malformed service name");
      return from_core(done, [name = *name](const state_machine& sm) {
        auto it = sm.entries().find(name);
        if (it == sm.entries().end()) return error_reply(404, "no service named " + name);
        std::string doc;
        append_entry_json(doc, it->second, sm.state_name(it->second));
        return json(std::move(doc));
      });
    }
    if (path == "/workflow") {
      return from_core(done, [](const state_machine& sm) {
        // Go interlook's shape: the steps with their IDs, undeployed = 0.
        boost::json::array steps;
        steps.push_back(boost::json::object{{"ID", 0}, {"Name", undeployed_state}});
        for (std::size_t i = 0; i < sm.steps().size(); ++i)
          steps.push_back(boost::json::object{{"ID", i + 1}, {"Name", sm.steps()[i].name}});
        steps.push_back(boost::json::object{{"ID", sm.steps().size() + 1}, {"Name", deployed_state}});
        return json(boost::json::serialize(steps));
      });
    }
    if (path == "/extensions") {
      return from_core(done, [&core = core_](const state_machine& sm) {
        auto depths = core.queue_depths();
        boost::json::array out;
        for (std::size_t i = 0; i < sm.steps().size(); ++i) {
          const auto& s = sm.steps()[i];
          out.push_back(boost::json::object{{"name", s.name},
                                            {"kind", s.provider ? "provider" : "provisioner"},
                                            {"queued_to_extension", depths[i].first},
                                            {"queued_to_core", depths[i].second}});
        }
        return json(boost::json::serialize(out));
      });
    }
    // /metrics
    return from_core(done, [&core = core_](const state_machine& sm) {
      http_reply r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = render_metrics(sm, core.queue_depths());
      return r;
    });
  }

  static http_reply json(std::string body) {
    http_reply r;
    r.body = std::move(body);
    return r;
  }

    // Hands the request to the core thread: f runs there between two batches
  // and its reply answers.
  template <class F>
  std::nullopt_t from_core(http_server::respond& done, F f) {
    (void)core_.ask([f = std::move(f), done = std::move(done)](const state_machine& sm) mutable {
      http_reply r;
      try {
        r = f(sm);
      } catch (const std::exception&) {
        r = error_reply(500, "internal error");
      }
      done(std::move(r));
    });
    return std::nullopt;
  }

  Engine& core_;
  std::string version_;
};

}  // namespace interlook
