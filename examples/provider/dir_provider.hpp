#pragma once
// provider.dir: the model for a platform provider. Services are files in a
// directory, one file per service (its name is the service name):
//
//   hosts web.example.test www.example.test
//   port 8080
//   target 10.0.0.1
//   target 10.0.0.2:9000
//
// What it shows a provider author:
//   - an event source of its own (a watcher thread blocked in poll(2) on
//     inotify), which never touches the outbox: it posts work to the
//     extension's thread through interlook::job_queue;
//   - a safety-net re-read every pollInterval, as a platform provider
//     re-lists;
//   - refresh answered from what the directory says now (add or delete);
//   - a clean stop: stop() wakes the watcher through an eventfd and the
//     receive loop through the inbox; start() returns, the watcher is joined.
//   - never delete on doubt: a directory that cannot be read changes nothing.

#include <interlook/extension.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace acme {

class dir_provider {
 public:
  static constexpr std::string_view name = "provider.dir";
  static constexpr bool answers_refresh = true;

  struct config {
    std::string path;
    interlook::duration pollInterval = std::chrono::seconds(30);
    static constexpr auto fields() {
      return interlook::fields(interlook::required("path", &config::path),
                               interlook::optional("pollInterval", &config::pollInterval));
    }
  };

  dir_provider(const config& c, interlook::extension_context& ctx) : cfg_(c), ctx_(ctx) {
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  ~dir_provider() { ::close(stop_fd_); }

  void start(interlook::inbox& in, interlook::outbox& out) {
    // The watch is in place before the first scan: a file written between
    // the two is then seen by one or the other, never by neither.
    int fd = open_watch();
    std::thread watcher([this, fd] { watch(fd); });
    jobs_.post([this](interlook::outbox& o) { rescan(o); });
    // The receive loop: posted jobs (from the watcher and the timer) and
    // refresh requests, on this thread, until the inbox is closed.
    std::thread ticker([this] { tick(); });
    jobs_.serve(in, out, [this](interlook::message m, interlook::outbox& o) {
      if (m.action == interlook::action::refresh) answer_refresh(m.service.name, o);
    });
    stopping_.store(true);
    wake_threads();
    watcher.join();
    ticker.join();
  }

  void stop() {
    stopping_.store(true);
    wake_threads();
  }

 private:
  void wake_threads() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
    {
      std::lock_guard lock(tick_mutex_);
    }
    tick_cv_.notify_all();
  }

  // The watcher thread: inotify events become a rescan on the extension's
  // thread. Several events in a burst coalesce into one rescan.
  int open_watch() {
    int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0 || ::inotify_add_watch(fd, cfg_.path.c_str(), IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_TO |
                                                                    IN_MOVED_FROM) < 0) {
      ctx_.warn("cannot watch " + cfg_.path + " (" + std::strerror(errno) + "); relying on pollInterval");
      if (fd >= 0) ::close(fd);
      return -1;
    }
    return fd;
  }

  void watch(int fd) {
    if (fd < 0) return;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    while (!stopping_.load()) {
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents) break;
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      if (!rescan_posted_.exchange(true)) jobs_.post([this](interlook::outbox& o) { rescan(o); });
    }
    ::close(fd);
  }

  // The safety net: a full re-read every pollInterval.
  void tick() {
    std::unique_lock lock(tick_mutex_);
    while (!stopping_.load()) {
      if (tick_cv_.wait_for(lock, cfg_.pollInterval, [&] { return stopping_.load(); })) break;
      jobs_.post([this](interlook::outbox& o) { rescan(o); });
    }
  }

  // On the extension's thread.
  void rescan(interlook::outbox& out) {
    rescan_posted_.store(false);
    std::map<std::string, interlook::service> now;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(cfg_.path, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      // Dot files are skipped: editors and atomic writers stage there.
      if (!it->is_regular_file() || it->path().filename().string().starts_with(".")) continue;
      auto svc = read_service(it->path());
      if (svc) now.emplace(svc->name, std::move(*svc));
    }
    if (ec) {
      ctx_.error("cannot read " + cfg_.path + ": " + ec.message() + "; keeping the services last read");
      return;  // never delete on doubt
    }
    for (auto& [n, s] : now) {
      auto it = current_.find(n);
      if (it == current_.end() || !(it->second == s)) send(out, interlook::action::add, s);
    }
    for (auto& [n, s] : current_)
      if (!now.count(n)) send(out, interlook::action::remove, s);
    out.flush();
    current_ = std::move(now);
    scanned_ = true;
  }

  std::optional<interlook::service> read_service(const std::filesystem::path& p) {
    std::ifstream in(p);
    interlook::service s;
    s.provider = std::string(name);
    s.name = p.filename().string();
    std::uint16_t port = 0;
    std::vector<std::string> targets;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      std::istringstream words(line);
      std::string key, value;
      words >> key;
      if (key.empty() || key[0] == '#') continue;
      if (key == "hosts") {
        while (words >> value) s.dns_names.push_back(value);
      } else if (key == "port" && (words >> port)) {
      } else if (key == "target" && (words >> value)) {
        targets.push_back(value);
      } else if (key == "tls") {
        s.tls = true;
      } else {
        ctx_.warn(p.string() + ":" + std::to_string(line_no) + ": cannot read \"" + line + "\"; service skipped");
        return std::nullopt;
      }
    }
    for (auto& t : targets) {
      auto colon = t.rfind(':');
      std::uint16_t tp = port;
      if (colon != std::string::npos) {
        tp = static_cast<std::uint16_t>(std::stoi(t.substr(colon + 1)));
        t.resize(colon);
      }
      s.targets.push_back({t, tp, 1});
    }
    if (s.targets.empty() || s.dns_names.empty()) return std::nullopt;  // not ready yet
    return s;
  }

  void answer_refresh(const std::string& service_name, interlook::outbox& out) {
    if (!scanned_) return;  // never read: "gone" would be a guess
    rescan(out);
    if (auto it = current_.find(service_name); it != current_.end()) {
      send(out, interlook::action::add, it->second);
    } else {
      interlook::service gone;
      gone.provider = std::string(name);
      gone.name = service_name;
      send(out, interlook::action::remove, gone);
    }
    out.flush();
  }

  static void send(interlook::outbox& out, interlook::action a, const interlook::service& s) {
    interlook::message m;
    m.action = a;
    m.service = s;
    out.send_batched(std::move(m));
  }

  config cfg_;
  interlook::extension_context& ctx_;
  interlook::job_queue jobs_;
  int stop_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> rescan_posted_{false};
  std::mutex tick_mutex_;
  std::condition_variable tick_cv_;
  std::map<std::string, interlook::service> current_;  // the extension thread's
  bool scanned_ = false;
};

}  // namespace acme
