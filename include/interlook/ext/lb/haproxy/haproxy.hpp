#pragma once
// lb.haproxy: puts each service behind HAProxy 2.6+ in master-worker mode.
// interlook does not start HAProxy; the user runs
//
//   haproxy -W -S <masterSocket> -f <their haproxy.cfg> -f <configFile>
//
// and interlook owns configFile alone (config_writer.hpp has its format and
// the naming rules): per service a frontend on public_ip:httpPort (httpsPort
// when the service is TLS, passed through in tcp mode) and a backend of the
// service's targets with their weights, balanced round-robin.
//
// Batch form. For each batch, HAProxy is asked its state once (`show proc`
// for the current worker, then `show backend` and `show servers state`
// through it), and the file is rendered from the records:
//   - a changed file is written as configFile.tmp, validated with
//     `haproxyBinary -c -f <validateWith...> -f configFile.tmp`, and only
//     then renamed over configFile (fsynced). A rejected file is never
//     installed: the services whose lines HAProxy named fail with its message
//     and the rest of the batch is validated again without them (every
//     changed service fails when HAProxy names none);
//   - when the set of frontends and backends changed (a service added or
//     removed, a bind, a mode, health checking, a server given by host
//     name), HAProxy is reloaded once for the whole batch through the master
//     socket, and a new worker must appear in `show proc` within
//     reloadTimeout (`reload` itself answers nothing, and a refused
//     configuration leaves the old worker running: that is an error on every
//     changed service, and the previous configFile is put back);
//   - otherwise targets are changed through the runtime API of the current
//     worker, with no reload (add server + enable, set weight, disable + del
//     server; a server that still has connections stays disabled and is
//     deleted on a later batch or vanishes at the next reload), checked with
//     `show servers state`; if the worker does not end up as the file says,
//     HAProxy is reloaded instead.
// What the runtime API changed is in configFile too, so a reload or restart
// loses nothing.
//
// State of truth: configFile's records, read back at start, and the running
// HAProxy, compared on every batch (so an add repeated after a crash or a
// HAProxy restart converges). configFile.applied holds a digest of the
// frontends/backends the running HAProxy was last confirmed to have loaded;
// when it differs from configFile's (a crash between writing and
// reloading), the next batch reloads.
//
// Objects interlook did not create are never touched: runtime commands name
// only backends of configFile, and a public_ip:port a frontend or listen
// section of the validateWith files binds is an error naming it. An
// unreachable master socket is an error on the batch's services (the core
// retries), never a reason to delete anything; nothing is written then.

#include <interlook/config/error.hpp>
#include <interlook/config/fields.hpp>
#include <interlook/core/message.hpp>
#include <interlook/ext/lb/haproxy/check_config.hpp>
#include <interlook/ext/lb/haproxy/config_writer.hpp>
#include <interlook/ext/lb/haproxy/master_cli.hpp>
#include <interlook/extension/context.hpp>
#include <interlook/support/atomic_file.hpp>
#include <interlook/support/duration.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace interlook::ext::lb {

class haproxy {
 public:
  static constexpr std::string_view name = "lb.haproxy";
  using proxy_mode = haproxy_detail::proxy_mode;

  struct config {
    std::string configFile;    // the file interlook owns
    std::string masterSocket;  // haproxy -S <this>
    std::uint16_t httpPort = 80;
    std::uint16_t httpsPort = 443;
    proxy_mode mode = proxy_mode::tcp;
    bool healthCheck = false;
    std::string haproxyBinary = "haproxy";
    std::vector<std::string> validateWith;  // the user's -f files, for haproxy -c
    duration reloadTimeout = std::chrono::seconds(10);

    static constexpr auto fields() {
      return interlook::fields(
          required("configFile", &config::configFile), required("masterSocket", &config::masterSocket),
          optional("httpPort", &config::httpPort), optional("httpsPort", &config::httpsPort),
          optional("mode", &config::mode), optional("healthCheck", &config::healthCheck),
          optional("haproxyBinary", &config::haproxyBinary), optional("validateWith", &config::validateWith),
          optional("reloadTimeout", &config::reloadTimeout));
    }
    void validate() const {
      if (configFile.empty()) throw invalid_setting("configFile", "must name the file interlook owns");
      if (masterSocket.empty()) throw invalid_setting("masterSocket", "must name HAProxy's master CLI socket (-S)");
      if (httpPort == 0) throw invalid_setting("httpPort", "must be 1..65535");
      if (httpsPort == 0) throw invalid_setting("httpsPort", "must be 1..65535");
      if (haproxyBinary.empty()) throw invalid_setting("haproxyBinary", "must name the haproxy program");
      if (reloadTimeout <= duration::zero()) throw invalid_setting("reloadTimeout", "must be longer than 0s");
      for (const auto& f : validateWith)
        if (f == configFile) throw invalid_setting("validateWith", "lists configFile, which interlook validates itself");
    }
  };

  haproxy(const config& c, extension_context& ctx)
      : cfg_(c), ctx_(ctx), cli_(c.masterSocket, c.reloadTimeout), applied_path_(c.configFile + ".applied") {
    opts_.http_port = c.httpPort;
    opts_.https_port = c.httpsPort;
    opts_.mode = c.mode;
    opts_.health_check = c.healthCheck;
    bool exists = read_whole_file(cfg_.configFile, file_text_);
    if (!exists) file_text_.clear();
    for (auto& [service, record] : haproxy_detail::parse_owned_file(file_text_, cfg_.configFile)) {
      try {
        services_.emplace(service, haproxy_detail::make_entry(record, opts_));
      } catch (const std::exception& e) {
        throw std::runtime_error(cfg_.configFile + ": service " + service + ": " + e.what());
      }
    }
    if (!exists) {
      // HAProxy refuses to start on a missing -f file: give it an empty one.
      auto empty = haproxy_detail::render({}, opts_);
      write_file_atomically(cfg_.configFile, empty.text);
      file_text_ = std::move(empty.text);
    }
    std::string applied;
    if (read_whole_file(applied_path_, applied)) {
      while (!applied.empty() && (applied.back() == '\n' || applied.back() == ' ')) applied.pop_back();
      applied_ = applied;
    }
    ctx_.debug(cfg_.configFile + ": " + std::to_string(services_.size()) + " services");
  }

  void handle_batch(std::span<message> batch) {
    using namespace haproxy_detail;
    service_map next = services_;
    std::vector<std::size_t> involved;
    std::unordered_map<std::string, std::size_t> message_of;  // service -> index in batch
    // Who owns each VIP:port and each proxy name, to refuse collisions.
    std::map<std::pair<std::string, std::uint32_t>, std::string> binds;
    std::unordered_map<std::string, std::string> proxies;
    for (const auto& [service, e] : next) {
      binds.emplace(std::pair(e.derived.vip.str(), e.derived.port), service);
      proxies.emplace(e.derived.proxy, service);
    }
    std::optional<std::vector<user_bind>> user;  // read when first needed

    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& m = batch[i];
      const auto& s = m.service;
      try {
        if (m.action != action::add && m.action != action::update && m.action != action::remove) continue;
        if (s.name.empty()) throw std::runtime_error("a service without a name");
        auto old = next.find(s.name);
        if (m.action == action::remove) {
          if (old == next.end()) continue;  // already gone
          binds.erase(std::pair(old->second.derived.vip.str(), old->second.derived.port));
          proxies.erase(old->second.derived.proxy);
          next.erase(old);
        } else {
          if (s.public_ip.empty())
            throw std::runtime_error("service " + s.name + " has no public_ip (put an ipam step before lb.haproxy)");
          if (s.targets.empty()) throw std::runtime_error("service " + s.name + " has no target");
          service_record r{s.name, s.public_ip, s.tls, merged_targets(s.targets)};
          auto entry = make_entry(std::move(r), opts_);
          const auto& d = entry.derived;
          auto vip = d.vip.str();
          auto where = (d.vip.v6 ? "[" + vip + "]" : vip) + ":" + std::to_string(d.port);
          if (auto b = binds.find(std::pair(vip, d.port)); b != binds.end() && b->second != s.name)
            throw std::runtime_error(where + " is already the address of service " + b->second);
          if (auto p = proxies.find(d.proxy); p != proxies.end() && p->second != s.name)
            throw std::runtime_error("its HAProxy name " + d.proxy + " is already service " + p->second + "'s");
          if (!user) user = user_binds(cfg_.validateWith);
          for (const auto& ub : *user)
            if (ub.address.value == d.vip.value && ub.address.v6 == d.vip.v6 && d.port >= ub.first_port &&
                d.port <= ub.last_port)
              throw std::runtime_error(where + " is already bound by " + ub.proxy + " (" + ub.where +
                                       "), which interlook does not manage");
          if (old != next.end()) {
            binds.erase(std::pair(old->second.derived.vip.str(), old->second.derived.port));
            proxies.erase(old->second.derived.proxy);
          }
          binds.insert_or_assign(std::pair(vip, d.port), s.name);
          proxies.insert_or_assign(d.proxy, s.name);
          next.insert_or_assign(s.name, std::move(entry));
        }
        involved.push_back(i);
        message_of.emplace(s.name, i);
      } catch (const std::exception& e) {
        m.error = std::string(name) + ": " + e.what();
      }
    }
    if (involved.empty()) return;
    try {
      apply(batch, involved, message_of, std::move(next));
    } catch (const std::exception& e) {
      for (auto i : involved)
        if (batch[i].error.empty()) batch[i].error = std::string(name) + ": " + e.what();
    }
  }

  // Counters for tests and benchmarks.
  std::uint64_t writes() const noexcept { return writes_.load(std::memory_order_relaxed); }
  std::uint64_t reloads() const noexcept { return reloads_.load(std::memory_order_relaxed); }
  std::uint64_t runtime_commands() const noexcept { return runtime_commands_.load(std::memory_order_relaxed); }

 private:
  using service_map = haproxy_detail::service_map;
  using runtime_map = std::map<std::string, std::vector<haproxy_detail::runtime_server>>;

  class reload_refused : public std::runtime_error {
   public:
    using std::runtime_error::runtime_error;
  };

  static bool changed(const service_map& before, const service_map& next, const std::string& service) {
    auto a = before.find(service);
    auto b = next.find(service);
    if ((a == before.end()) != (b == next.end())) return true;
    return a != before.end() && !(a->second.record == b->second.record);
  }

  static void revert(const service_map& before, service_map& next, const std::string& service) {
    if (auto a = before.find(service); a != before.end())
      next.insert_or_assign(service, a->second);
    else
      next.erase(service);
  }

  void apply(std::span<message> batch, const std::vector<std::size_t>& involved,
             const std::unordered_map<std::string, std::size_t>& message_of, service_map next) {
    using namespace haproxy_detail;
    const service_map before = services_;
    auto fail_changed = [&](const std::string& why) {
      for (auto i : involved)
        if (batch[i].error.empty() && changed(before, next, batch[i].service.name))
          batch[i].error = std::string(name) + ": " + why;
    };

    // HAProxy as it runs now; unreachable: every service of the batch fails.
    auto procs = show_proc(cli_);
    auto route = procs.route();
    auto backends = parse_show_backend(cli_.run(route + " show backend"));
    auto runtime = parse_servers_state(cli_.run(route + " show servers state"));

    // The file: validated before it may replace configFile.
    rendered_file file;
    std::optional<atomic_file_writer> pending;
    const std::string tmp = cfg_.configFile + ".tmp";
    bool gave_up = false;
    for (int attempt = 0;; ++attempt) {
      file = render(next, opts_);
      if (file.text == file_text_) break;
      if (gave_up) return;  // even without this batch's changes the file differs (new settings): keep it
      atomic_file_writer w(cfg_.configFile, 0644);
      w.write(file.text);
      auto files = cfg_.validateWith;
      files.push_back(tmp);
      auto result = check_config(cfg_.haproxyBinary, files, cfg_.reloadTimeout);
      if (result.valid) {
        pending.emplace(std::move(w));
        break;
      }
      auto why = cfg_.haproxyBinary + " -c rejected the new " + cfg_.configFile +
                 " (HAProxy keeps the last good one): " + alert_summary(result.output);
      std::set<std::string> culprits;
      for (auto line : lines_named(result.output, tmp))
        if (const auto* s = file.service_at(line); s && changed(before, next, *s)) culprits.insert(*s);
      if (culprits.empty() || attempt >= 4) {
        ctx_.warn(why);
        fail_changed(why);
        for (auto i : involved) revert(before, next, batch[i].service.name);
        gave_up = true;
        continue;  // back to the file as it is: nothing to write
      }
      for (const auto& s : culprits) {
        if (auto it = message_of.find(s); it != message_of.end() && batch[it->second].error.empty())
          batch[it->second].error = std::string(name) + ": " + why;
        revert(before, next, s);
      }
    }

    std::set<std::string> present(backends.begin(), backends.end());
    bool structural = file.structure != applied_;
    for (const auto& [service, e] : next)
      if (!present.count(e.derived.proxy)) structural = true;

    const std::string old_text = file_text_;
    if (pending) {
      pending->commit(true);
      file_text_ = file.text;
      writes_.fetch_add(1, std::memory_order_relaxed);
      ctx_.debug("wrote " + cfg_.configFile + " (" + std::to_string(next.size()) + " services)");
    }
    services_ = next;  // what configFile holds now

    if (!structural) {
      bool needs_reload = false;
      auto commands = converge(next, runtime, needs_reload);
      if (!commands.empty() && !needs_reload) {
        send(route, commands);
        auto after = parse_servers_state(cli_.run(route + " show servers state"));
        if (!converged(next, after)) {
          ctx_.warn("the runtime API left HAProxy unlike " + cfg_.configFile + "; reloading instead");
          needs_reload = true;
        }
      }
      if (!needs_reload) return;
    }

    try {
      reload(procs, next, file.structure);
    } catch (const reload_refused& e) {
      ctx_.error(e.what());
      if (pending) {
        write_file_atomically(cfg_.configFile, old_text);
        file_text_ = old_text;
        services_ = before;
        writes_.fetch_add(1, std::memory_order_relaxed);
      }
      bool any = false;
      for (auto i : involved) any = any || changed(before, next, batch[i].service.name);
      if (!any) throw;
      fail_changed(e.what());
    }
  }

  static haproxy_detail::process_list show_proc(const haproxy_detail::master_cli& cli) {
    auto p = haproxy_detail::parse_show_proc(cli.run("show proc"), cli.path());
    if (p.workers.empty()) throw haproxy_detail::cli_error("HAProxy's master (" + cli.path() + ") has no worker");
    return p;
  }

  // The runtime commands that make the worker's servers what `next` says
  // (needs_reload when one cannot be done at run time).
  std::vector<std::string> converge(const service_map& next, const runtime_map& runtime, bool& needs_reload) const {
    static const std::vector<haproxy_detail::runtime_server> none;
    std::vector<std::string> out;
    for (const auto& [service, e] : next) {
      const auto& d = e.derived;
      auto it = runtime.find(d.proxy);
      const auto& have = it == runtime.end() ? none : it->second;
      auto id = [&](const std::string& server) { return d.proxy + "/" + server; };
      for (const auto& s : d.servers) {
        auto r = std::find_if(have.begin(), have.end(), [&](const auto& x) { return x.name == s.name; });
        if (r == have.end()) {
          if (!s.host.ip) {
            needs_reload = true;
            continue;
          }
          out.push_back("add server " + id(s.name) + " " + haproxy_detail::haproxy_address(s.host, s.port) +
                        " weight " + std::to_string(s.weight) + (opts_.health_check ? " check" : ""));
          if (opts_.health_check) out.push_back("enable health " + id(s.name));
          out.push_back("enable server " + id(s.name));
          continue;
        }
        if (s.host.ip && !same_address(*r, s))
          out.push_back("set server " + id(s.name) + " addr " + s.host.text + " port " + std::to_string(s.port));
        if (r->weight != s.weight) out.push_back("set server " + id(s.name) + " weight " + std::to_string(s.weight));
        if (r->in_maintenance()) out.push_back("enable server " + id(s.name));
      }
      for (const auto& r : have) {
        if (std::any_of(d.servers.begin(), d.servers.end(), [&](const auto& s) { return s.name == r.name; }))
          continue;
        if (!r.in_maintenance()) out.push_back("disable server " + id(r.name));
        out.push_back("del server " + id(r.name));
      }
    }
    return out;
  }

  static bool same_address(const haproxy_detail::runtime_server& r, const haproxy_detail::server_spec& s) {
    auto a = ip_address::parse(r.address), b = ip_address::parse(s.host.text);
    return r.port == s.port && a && b && a->value == b->value && a->v6 == b->v6;
  }

  // Every desired server serving with its weight; every other one out of
  // traffic (a server still finishing connections may linger disabled).
  bool converged(const service_map& next, const runtime_map& runtime) const {
    for (const auto& [service, e] : next) {
      const auto& d = e.derived;
      auto it = runtime.find(d.proxy);
      if (it == runtime.end()) return d.servers.empty();
      for (const auto& s : d.servers) {
        auto r = std::find_if(it->second.begin(), it->second.end(), [&](const auto& x) { return x.name == s.name; });
        if (r == it->second.end() || r->in_maintenance() || r->weight != s.weight) return false;
        if (s.host.ip && !same_address(*r, s)) return false;
      }
      for (const auto& r : it->second)
        if (!r.in_maintenance() &&
            std::none_of(d.servers.begin(), d.servers.end(), [&](const auto& s) { return s.name == r.name; }))
          return false;
    }
    return true;
  }

  // Commands go to the worker several to a line ("@!pid a; @!pid b"), in
  // lines of at most 4 KiB.
  void send(const std::string& route, const std::vector<std::string>& commands) {
    std::string line;
    auto flush = [&] {
      if (line.empty()) return;
      auto answer = cli_.run(line);
      ctx_.debug("runtime API: " + line + " -> " + answer);
      line.clear();
    };
    for (const auto& c : commands) {
      if (!line.empty() && line.size() + c.size() + route.size() + 3 > 4096) flush();
      if (!line.empty()) line += "; ";
      line += route + " " + c;
    }
    flush();
    runtime_commands_.fetch_add(commands.size(), std::memory_order_relaxed);
  }

  // One reload, confirmed by a new worker in `show proc`.
  void reload(const haproxy_detail::process_list& before, const service_map& next, const std::string& structure) {
    using clock = std::chrono::steady_clock;
    auto started = clock::now();
    auto deadline = started + std::chrono::duration_cast<clock::duration>(cfg_.reloadTimeout);
    const std::string previous = std::exchange(applied_, std::string());  // unknown until confirmed
    write_file_atomically(applied_path_, "\n");
    cli_.run("reload");
    reloads_.fetch_add(1, std::memory_order_relaxed);
    std::string last_error;
    auto pause = std::chrono::milliseconds(5);
    for (;;) {
      auto left = deadline - clock::now();
      if (left <= clock::duration::zero())
        throw std::runtime_error("HAProxy did not confirm the reload within " + format_duration(cfg_.reloadTimeout) +
                                 " (no new worker in show proc" + (last_error.empty() ? "" : "; " + last_error) + ")");
      try {
        haproxy_detail::master_cli quick(cfg_.masterSocket,
                                         std::min<duration>(std::chrono::duration_cast<duration>(left),
                                                            std::chrono::seconds(2)));
        auto p = haproxy_detail::parse_show_proc(quick.run("show proc"), cfg_.masterSocket);
        if (p.reloads > before.reloads) {
          auto fresh = std::find_if(p.workers.begin(), p.workers.end(), [&](long pid) {
            return std::find(before.workers.begin(), before.workers.end(), pid) == before.workers.end();
          });
          if (fresh != p.workers.end()) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
            ctx_.info("reloaded HAProxy for " + std::to_string(next.size()) + " services: worker " +
                      std::to_string(before.workers.front()) + " -> " + std::to_string(*fresh) + " in " +
                      std::to_string(ms) + " ms");
            verify_loaded(p, next);
            applied_ = structure;
            write_file_atomically(applied_path_, structure + "\n");
            return;
          }
          if (p.failed_reloads > 0) {
            // The old worker still runs what it ran.
            applied_ = previous;
            write_file_atomically(applied_path_, previous + "\n");
            throw reload_refused("HAProxy refused the reload of " + cfg_.configFile + " (show proc: reload failed, worker " +
                                 std::to_string(p.workers.empty() ? 0 : p.workers.front()) +
                                 " keeps the previous configuration; HAProxy's log says why); " + cfg_.configFile +
                                 " is put back as it was");
          }
        }
      } catch (const haproxy_detail::cli_error& e) {
        last_error = e.what();  // the master is re-executing itself
      }
      std::this_thread::sleep_for(pause);  // HAProxy offers no event to wait on
      pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
    }
  }

  void verify_loaded(const haproxy_detail::process_list& p, const service_map& next) {
    auto backends = haproxy_detail::parse_show_backend(cli_.run(p.route() + " show backend"));
    std::set<std::string> present(backends.begin(), backends.end());
    for (const auto& [service, e] : next)
      if (!present.count(e.derived.proxy))
        throw std::runtime_error("HAProxy reloaded without backend " + e.derived.proxy + ": does it load " +
                                 cfg_.configFile + " (haproxy -W -S " + cfg_.masterSocket + " -f <yours> -f " +
                                 cfg_.configFile + ")?");
  }

  config cfg_;
  extension_context& ctx_;
  haproxy_detail::master_cli cli_;
  haproxy_detail::render_options opts_;
  std::string applied_path_;
  service_map services_;    // what configFile holds
  std::string file_text_;   // configFile's content
  std::string applied_;     // structure digest the running HAProxy loaded ("" unknown)
  std::atomic<std::uint64_t> writes_{0}, reloads_{0}, runtime_commands_{0};
};

}  // namespace interlook::ext::lb
