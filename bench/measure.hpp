#pragma once
// What the benchmarks measure with, besides the clock: process CPU time,
// memory (resident now, peak), the machine's load, and a warm-up that puts
// the process's heap in the same state whatever ran before.

#include <interlook/support/log.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
#include <string>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// CPU time of the whole process (every thread) and its context switches,
// so that a phase's figures say where the wall time went.
// Page faults too: a process's first burst pays one for every page its heap
// grows by, a later one reuses what malloc kept.
struct process_usage {
  double cpu_s = 0;
  double switches = 0;
  double faults = 0;
  static process_usage now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  // every thread's, finer than rusage's
    return {static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9,
            static_cast<double>(ru.ru_nvcsw + ru.ru_nivcsw), static_cast<double>(ru.ru_minflt + ru.ru_majflt)};
  }
  process_usage operator-(const process_usage& o) const {
    return {cpu_s - o.cpu_s, switches - o.switches, faults - o.faults};
  }
};

// Whether a case runs its workload once, untimed, before the measured run
// (on unless INTERLOOK_BENCH_WARMUP=0): the measured run then finds the
// process as its own warm-up left it, whatever ran before in the process.
inline bool warm_up_enabled() {
  const char* v = std::getenv("INTERLOOK_BENCH_WARMUP");
  return !(v && std::string(v) == "0");
}

// Resident memory after handing freed heap back to the system, so that the
// figure counts live data, not what malloc keeps cached.
inline long rss_bytes() {
  malloc_trim(0);
  long pages = 0, resident = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// A field of /proc/self/status in KiB ("VmHWM", "VmRSS"), or -1.
inline long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// Starts a new peak-RSS window: VmHWM is reset to the current resident
// size (Linux >= 4.0, "5" to clear_refs). Returns whether it worked; when it
// did not, VmHWM is the process's peak since it started, and only a case
// run in a process of its own reads its own peak.
inline bool reset_peak_rss() {
  malloc_trim(0);
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok;
}

inline double peak_rss_mib() { return static_cast<double>(status_kib("VmHWM")) / 1024.0; }

// The machine's 1-minute load average when a case starts: this machine is
// shared, and its figures move with what else runs.
inline double load_average() {
  double one = 0;
  std::ifstream("/proc/loadavg") >> one;
  return one;
}

inline interlook::logger& quiet_logger() {
  static interlook::logger log(interlook::log_level::error, "stderr");
  return log;
}

}  // namespace bench
