// Whole workflows, end to end, as a user runs them:
//
//   BM_LocalWorkflow/N:*  the stock local workflow provider.file -> ipam.ipalloc
//                         -> dns.hosts, the real extensions in a real engine, on
//                         files in a temporary directory, fsync on, the
//                         engine's state file on (as the daemon runs it): N
//                         services written to the services file at once, the
//                         time until all are deployed; then the file emptied,
//                         the time until all are undeployed.
//   BM_InFlight           a concurrent-form provisioner whose every call waits
//                         5 ms on a timer (a remote API), 1,000 services,
//                         maxInFlight 1 against 16 in one run.
//
//   bazel run --config=bench //bench:workflows -- --benchmark_filter='LocalWorkflow/N:1000/'
//   tools/bench --workflows          (each LocalWorkflow case in its own process)
//
// Files go to $INTERLOOK_BENCH_DIR, else $TEST_TMPDIR, else the system's
// temporary directory: what it sits on (tmpfs or a disk) decides what an
// fsync costs.
#include "bench/measure.hpp"
#include "bench/pipeline.hpp"

// Before the registries below: the concurrent form's adapter.
#include <interlook/extension/async_handler.hpp>

#include <interlook/config/file.hpp>
#include <interlook/ext/dns/hosts/hosts.hpp>
#include <interlook/ext/ipam/ipalloc/ipalloc.hpp>
#include <interlook/ext/provider/file/file.hpp>
#include <interlook/runtime/engine.hpp>
#include <interlook/store/store.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace bench;
namespace fs = std::filesystem;

namespace {

// --- LocalWorkflow -----------------------------------------------------------

using local_registry = registry<ext::provider::file, ext::ipam::ipalloc, ext::dns::hosts>;
using ipalloc_ext = batch_adapter<ext::ipam::ipalloc>;
using hosts_ext = batch_adapter<ext::dns::hosts>;

// A directory of its own for one case, removed afterwards.
struct scratch_dir {
  fs::path path;
  explicit scratch_dir(const std::string& what) {
    const char* base = std::getenv("INTERLOOK_BENCH_DIR");
    if (!base || !*base) base = std::getenv("TEST_TMPDIR");
    fs::path root = base && *base ? fs::path(base) : fs::temp_directory_path();
    path = root / ("interlook-bench-" + what + "-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string operator/(const std::string& file) const { return (path / file).string(); }
};

// N services in the services file's block style, each with 3 targets and 1
// DNS alias (the shape of the throughput benchmarks and of the Go figures).
std::string services_yaml(std::size_t n) {
  std::string out = "services:\n";
  out.reserve(n * 110 + 16);
  for (std::size_t i = 0; i < n; ++i) {
    auto id = std::to_string(i);
    auto low = "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
    out += "  - name: svc" + id + "\n    hosts: svc" + id + ".bench.example\n    port: " +
           std::to_string(30000 + i % 1000) + "\n    targets: [10.0" + low + ", 10.1" + low + ", 10.2" + low + "]\n";
  }
  return out;
}

// Replaces the file in one step, so that the provider never reads half of it.
void replace_file(const std::string& path, const std::string& text) {
  auto tmp = path + ".new";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

// The stock example's settings (examples/local/interlook.yml) on the
// scratch directory's files; the provider polls every 50 ms.
std::string local_config(const scratch_dir& dir) {
  return "core:\n"
         "  logLevel: ERROR\n"
         "  workflowSteps: provider.file,ipam.ipalloc,dns.hosts\n"
         "  workflowEntriesFile: " + dir / "flowentries.json" + "\n"
         "  workflowHousekeeperInterval: 10s\n"
         "  serviceWIPTimeout: 30s\n"
         "  serviceMaxLastUpdated: 60s\n"
         "  cleanUndeployedServiceAfter: 10m\n"
         "  retryInitialInterval: 2s\n"
         "  retryMaxInterval: 1m\n"
         "provider:\n"
         "  file:\n"
         "    path: " + dir / "services.yml" + "\n"
         "    pollInterval: 50ms\n"
         "ipam:\n"
         "  ipalloc:\n"
         "    network_cidr: 10.64.0.0/12\n"  // 1M addresses: room for every N
         "    db_file: " + dir / "ipalloc.json" + "\n"
         "dns:\n"
         "  hosts:\n"
         "    path: " + dir / "hosts" + "\n";
}

// Entries at rest in `state` (deployed or undeployed), counted on the core.
std::size_t entries_at(engine<local_registry>& core, std::string_view state) {
  return core
      .ask([state](const state_machine& sm) {
        std::size_t n = 0;
        for (const auto& [name, e] : sm.entries())
          if (!e.work_in_progress && e.error.empty() && sm.state_name(e) == state) ++n;
        return n;
      })
      .get();
}

std::size_t lines_of(const std::string& path) {
  std::ifstream f(path);
  std::size_t n = 0;
  for (std::string line; std::getline(f, line);) n += !line.empty();
  return n;
}

void BM_LocalWorkflow(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  const auto timeout = std::chrono::minutes(10);
  double deploy_s = 0, undeploy_s = 0, peak = 0, parse_s = 0, parse_peak = 0, load = load_average();
  double ipalloc_writes = 0, hosts_writes = 0, deploy_cpu_s = 0, undeploy_cpu_s = 0;
  bool peak_is_this_case = reset_peak_rss();
  for (auto _ : state) {
    scratch_dir dir("local-" + std::to_string(n));
    replace_file(dir / "services.yml", "services: []\n");
    replace_file(dir / "hosts", "127.0.0.1 localhost\n");
    replace_file(dir / "interlook.yml", local_config(dir));
    auto cfg = load_config_file<local_registry>(dir / "interlook.yml");
    engine<local_registry> core(cfg, quiet_logger(), std::make_unique<state_store>(cfg.core.workflowEntriesFile));
    core.load_state();
    core.start();
    std::string error;
    {
      // Written next to the services file first, then renamed over it.
      std::string text = services_yaml(n);
      std::ofstream(dir / "services.yml.next", std::ios::binary) << text;
    }
    auto u0 = process_usage::now();
    auto t0 = clock_type::now();
    fs::rename(dir / "services.yml.next", dir / "services.yml");
    if (!core.await([n](const state_machine& sm) { return sm.counters().deployed >= n; }, timeout))
      error = "not every service deployed within 10 minutes";
    deploy_s = seconds_since(t0);
    deploy_cpu_s = (process_usage::now() - u0).cpu_s;
    if (error.empty()) {
      if (auto deployed = entries_at(core, deployed_state); deployed != n)
        error = std::to_string(deployed) + " of " + std::to_string(n) + " entries deployed";
      else if (auto lines = lines_of(dir / "hosts"); lines != n + 1)
        error = "the hosts file has " + std::to_string(lines) + " lines, not " + std::to_string(n + 1);
    }
    if (error.empty()) {
      auto u1 = process_usage::now();
      auto t1 = clock_type::now();
      replace_file(dir / "services.yml", "services: []\n");
      if (!core.await([n](const state_machine& sm) { return sm.counters().undeployed >= n; }, timeout))
        error = "not every service undeployed within 10 minutes";
      undeploy_s = seconds_since(t1);
      undeploy_cpu_s = (process_usage::now() - u1).cpu_s;
      if (error.empty() && lines_of(dir / "hosts") != 1) error = "the hosts file still lists services";
    }
    peak = peak_rss_mib();
    core.request_stop();
    core.wait();
    if (auto f = core.failure()) error = "extension " + f->first + " failed: " + f->second;
    // Readable now that their threads have ended.
    ipalloc_writes = static_cast<double>(core.extension<ipalloc_ext>().get().saves());
    hosts_writes = static_cast<double>(core.extension<hosts_ext>().get().writes());
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    // What provider.file's parse of the whole file costs alone (a yaml-cpp
    // document, then the services; part of deploy_s), and the memory it
    // needs at its peak above what was resident before.
    std::string text = services_yaml(n);
    bool parse_peak_own = reset_peak_rss();
    double before_mib = static_cast<double>(rss_bytes()) / (1024.0 * 1024.0);
    auto t2 = clock_type::now();
    auto parsed = ext::provider::parse_services(text, "services.yml");
    parse_s = seconds_since(t2);
    parse_peak = parse_peak_own ? peak_rss_mib() - before_mib : 0;
    if (parsed.size() != n) state.SkipWithError("the services file did not parse back");
  }
  state.counters["deploy_s"] = deploy_s;
  state.counters["undeploy_s"] = undeploy_s;
  state.counters["services_per_s"] = deploy_s > 0 ? static_cast<double>(n) / deploy_s : 0;
  state.counters["undeploy_services_per_s"] = undeploy_s > 0 ? static_cast<double>(n) / undeploy_s : 0;
  state.counters["parse_s"] = parse_s;
  state.counters["parse_peak_mib"] = parse_peak;
  state.counters["peak_rss_mib"] = peak;
  // 1: peak_rss_mib is this case's own peak (VmHWM was reset at its start);
  // 0: the process's peak so far, meaningful only for a case run alone.
  state.counters["peak_rss_own"] = peak_is_this_case ? 1 : 0;
  state.counters["ipalloc_writes"] = ipalloc_writes;
  state.counters["hosts_writes"] = hosts_writes;
  state.counters["cpu_us_per_service"] = (deploy_cpu_s + undeploy_cpu_s) * 1e6 / (2.0 * static_cast<double>(n));
  state.counters["load_1m"] = load;
}

// --- InFlight --------------------------------------------------------------------

// A provisioner of the concurrent form standing for a remote API: every call
// takes 5 ms of waiting (an Asio timer) and no CPU.
struct remote_api {
  static constexpr std::string_view name = "lb.remote";
  struct config {
    unsigned maxInFlight = 16;
    static constexpr auto fields() { return interlook::fields(interlook::optional("maxInFlight", &config::maxInFlight)); }
  };
  remote_api(const config&, boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  boost::asio::awaitable<message> handle(message m) {
    boost::asio::steady_timer call(ex_, std::chrono::milliseconds(5));
    co_await call.async_wait(boost::asio::use_awaitable);
    co_return m;
  }

 private:
  boost::asio::any_io_executor ex_;
};

using inflight_registry = registry<push_provider, remote_api>;

// Seconds to deploy every service through provider -> remote_api with this
// bound, and the process's usage meanwhile.
std::pair<double, process_usage> deploy_through_remote(const std::vector<service>& services, unsigned max_in_flight,
                                                std::string& error) {
  auto cfg = load_config<inflight_registry>(config_document::parse(
      "core:\n  workflowSteps: provider.bench,lb.remote\n  workflowHousekeeperInterval: 1h\n"
      "  serviceWIPTimeout: 1h\n  serviceMaxLastUpdated: 1h\n"
      "lb:\n  remote:\n    maxInFlight: " +
          std::to_string(max_in_flight) + "\n",
      "inflight.yml"));
  engine<inflight_registry> core(cfg, quiet_logger());
  core.start();
  auto n = services.size();
  auto u0 = process_usage::now();
  auto t0 = clock_type::now();
  core.extension<push_provider>().push(&services, action::add);
  if (!core.await([n](const state_machine& sm) { return sm.counters().deployed >= n; }, std::chrono::minutes(5)))
    error = "not every service deployed within 5 minutes (maxInFlight " + std::to_string(max_in_flight) + ")";
  double s = seconds_since(t0);
  auto usage = process_usage::now() - u0;
  core.request_stop();
  core.wait();
  return {s, usage};
}

void BM_InFlight(benchmark::State& state) {
  const std::size_t n = 1000;
  auto services = make_services(n);
  double one_s = 0, sixteen_s = 0, load = load_average();
  process_usage one, sixteen;
  for (auto _ : state) {
    std::string error;
    std::tie(one_s, one) = deploy_through_remote(services, 1, error);
    if (error.empty()) std::tie(sixteen_s, sixteen) = deploy_through_remote(services, 16, error);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.counters["seconds_inflight_1"] = one_s;
  state.counters["seconds_inflight_16"] = sixteen_s;
  state.counters["inflight_speedup"] = sixteen_s > 0 ? one_s / sixteen_s : 0;
  state.counters["cpu_us_per_service_1"] = one.cpu_s * 1e6 / static_cast<double>(n);
  state.counters["cpu_us_per_service_16"] = sixteen.cpu_s * 1e6 / static_cast<double>(n);
  state.counters["switches_per_service_1"] = one.switches / static_cast<double>(n);
  state.counters["switches_per_service_16"] = sixteen.switches / static_cast<double>(n);
  state.counters["load_1m"] = load;
}

}  // namespace

BENCHMARK(BM_LocalWorkflow)
    ->ArgNames({"N"})
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InFlight)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
