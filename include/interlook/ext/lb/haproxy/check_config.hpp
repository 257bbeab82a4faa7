#pragma once
// `haproxy -c -f <file> ... -f <file>`: validates a configuration before it
// replaces the one HAProxy runs, and says what HAProxy objected to.

#include <interlook/support/duration.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace interlook::ext::lb::haproxy_detail {

struct check_result {
  bool valid = false;
  std::string output;  // stdout and stderr together
};

// The program to run for `binary`: a path as it is; a bare name as found on
// PATH, else in /usr/local/sbin, /usr/sbin or /sbin (where Debian puts
// haproxy, and which a non-root PATH leaves out).
inline std::string find_program(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return binary;
  std::string path = [] {
    const char* p = std::getenv("PATH");
    return std::string(p ? p : "/usr/local/bin:/usr/bin:/bin");
  }();
  path += ":/usr/local/sbin:/usr/sbin:/sbin";
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + binary;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return binary;
}

// Runs `binary -c -f files[0] -f files[1] ...`; throws when it cannot run
// or does not finish within `timeout`.
inline check_result check_config(const std::string& binary, const std::vector<std::string>& files,
                                 duration timeout) {
  const std::string program = find_program(binary);
  std::vector<std::string> args{program, "-c"};
  for (const auto& f : files) {
    args.emplace_back("-f");
    args.push_back(f);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error("cannot run " + binary + " (haproxyBinary): " + std::strerror(rc));
  }

  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(timeout);
  check_result result;
  bool timed_out = false;
  char buf[8192];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n > 0) {
      if (result.output.size() < (1u << 20)) result.output.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EOF
  }
  ::close(pipe_fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    throw std::runtime_error(binary + " -c did not finish within " + format_duration(timeout) + " (reloadTimeout)");
  // Exit status 2: "no error but will not start (no listener)", which only
  // holds without -W: a master-worker HAProxy runs without listeners (the
  // state of a file whose last service was removed).
  result.valid = WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
                                       (WEXITSTATUS(status) == 2 &&
                                        result.output.find("Configuration file has no error") != std::string::npos));
  return result;
}

// HAProxy's complaints, one line each without the "[ALERT] (pid) :" prefix,
// joined with "; " (the generic closing lines only when nothing else is
// there).
inline std::string alert_summary(std::string_view output) {
  const std::string_view all = output;
  std::vector<std::string> alerts, generic;
  while (!output.empty()) {
    auto end = output.find('\n');
    auto line = output.substr(0, end);
    output = end == std::string_view::npos ? std::string_view() : output.substr(end + 1);
    if (line.find("[ALERT]") == std::string_view::npos) continue;
    auto colon = line.find(") : ");
    auto text = std::string(colon == std::string_view::npos ? line : line.substr(colon + 4));
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
    bool is_generic = text.find("Error(s) found in configuration file") != std::string::npos ||
                      text.find("Fatal errors found in configuration") != std::string::npos;
    (is_generic ? generic : alerts).push_back(std::move(text));
  }
  if (alerts.empty()) alerts = std::move(generic);
  std::string out;
  for (const auto& a : alerts) out += (out.empty() ? "" : "; ") + a;
  if (out.empty()) out = all.empty() ? std::string("no message") : std::string(all);
  if (out.size() > 2000) out = out.substr(0, 2000) + "...";
  return out;
}

// The lines of `file` that HAProxy's output points at ("[<file>:<line>]").
inline std::set<std::size_t> lines_named(std::string_view output, const std::string& file) {
  std::set<std::size_t> out;
  std::string needle = "[" + file + ":";
  std::size_t pos = 0;
  while ((pos = output.find(needle, pos)) != std::string_view::npos) {
    pos += needle.size();
    std::size_t line = 0;
    bool digits = false;
    while (pos < output.size() && output[pos] >= '0' && output[pos] <= '9') {
      line = line * 10 + static_cast<std::size_t>(output[pos++] - '0');
      digits = true;
    }
    if (digits && pos < output.size() && output[pos] == ']') out.insert(line);
  }
  return out;
}

}  // namespace interlook::ext::lb::haproxy_detail
