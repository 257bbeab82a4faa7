// Message throughput of the engine against the raw pipeline baseline, in
// one binary and one run. See README.md's performance section for what each
// figure means.
//
//   bazel run --config=bench //bench:throughput
//   bazel run --config=bench //bench:throughput -- --benchmark_filter='DeployUndeploy/N:100000/K:3/'
//   tools/bench --throughput       (each case in its own process, medians of 5)
//
// Every timed case but BM_Memory first runs its workload once untimed
// (INTERLOOK_BENCH_WARMUP=0 turns that off), so that its figures do not
// depend on what ran before it in the process.
#include "bench/measure.hpp"
#include "bench/pipeline.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace bench;

namespace {

loaded_config<bench_registry> bench_config(int k) {
  // Long housekeeping and timeouts: the bench measures the message path.
  return load_config<bench_registry>(config_document::parse(
      "core:\n  workflowSteps: " + workflow_of(k) +
          "\n  workflowHousekeeperInterval: 1h\n  serviceWIPTimeout: 1h\n  serviceMaxLastUpdated: 1h\n",
      "bench.yml"));
}

auto closed_count(bool deployed, std::uint64_t target) {
  return [deployed, target](const state_machine& sm) {
    return (deployed ? sm.counters().deployed : sm.counters().undeployed) >= target;
  };
}

// Add-to-deployed latencies (core receipt of the provider's add to the
// close of the walk), p50 and p99, in microseconds.
std::pair<double, double> deploy_latency(engine<bench_registry>& core) {
  auto lat = core.ask([](const state_machine& sm) {
                   std::vector<double> v;
                   v.reserve(sm.entries().size());
                   for (const auto& [n, e] : sm.entries())
                     v.push_back(std::chrono::duration<double, std::micro>(e.close_time - e.time_detected).count());
                   std::sort(v.begin(), v.end());
                   return v;
                 }).get();
  if (lat.empty()) return {0, 0};
  return {lat[lat.size() / 2], lat[std::min(lat.size() - 1, lat.size() * 99 / 100)]};
}

// Services per second through the raw pipeline, and what that cost.
std::pair<double, process_usage> raw_deploy(std::size_t n, int k, const std::vector<service>& services) {
  raw_pipeline raw(k);
  auto u0 = process_usage::now();
  auto t0 = clock_type::now();
  raw.run(services, action::add);
  double s = seconds_since(t0);
  return {static_cast<double>(n) / s, process_usage::now() - u0};
}

// One engine with K echo provisioners: N services deployed, then
// undeployed.
struct engine_run {
  double deploy_s = 0, undeploy_s = 0, p50 = 0, p99 = 0;
  process_usage deploy_usage;
};
engine_run deploy_undeploy(int k, const std::vector<service>& services) {
  auto n = services.size();
  engine_run r;
  engine<bench_registry> core(bench_config(k), quiet_logger());
  core.start();
  auto& provider = core.extension<push_provider>();
  auto u0 = process_usage::now();
  auto t0 = clock_type::now();
  provider.push(&services, action::add);
  core.await(closed_count(true, n), std::chrono::hours(1));
  r.deploy_s = seconds_since(t0);
  r.deploy_usage = process_usage::now() - u0;
  std::tie(r.p50, r.p99) = deploy_latency(core);
  auto t1 = clock_type::now();
  provider.push(&services, action::remove);
  core.await(closed_count(false, n), std::chrono::hours(1));
  r.undeploy_s = seconds_since(t1);
  core.request_stop();
  core.wait();
  return r;
}

// 1 + 2: deploy then undeploy N services through the engine with K echo
// provisioners; the raw pipeline runs the same deploy in the same process.
// Both are run once untimed first (see warm_up_enabled()): a case's figures
// then do not depend on which cases ran before it in the process.
void BM_DeployUndeploy(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  int k = static_cast<int>(state.range(1));
  auto services = make_services(n);
  bool warm = warm_up_enabled();
  if (warm) {
    deploy_undeploy(k, services);
    raw_deploy(n, k, services);
  }
  engine_run r;
  for (auto _ : state) {
    r = deploy_undeploy(k, services);
    state.SetIterationTime(r.deploy_s + r.undeploy_s);
  }
  auto [raw, raw_usage] = raw_deploy(n, k, services);
  double hops = 2.0 * k + 1;
  state.counters["services_per_s"] = static_cast<double>(n) / r.deploy_s;
  state.counters["messages_per_s"] = static_cast<double>(n) * hops / r.deploy_s;
  state.counters["undeploy_services_per_s"] = static_cast<double>(n) / r.undeploy_s;
  state.counters["p50_us"] = r.p50;
  state.counters["p99_us"] = r.p99;
  state.counters["raw_services_per_s"] = raw;
  state.counters["vs_raw"] = (static_cast<double>(n) / r.deploy_s) / raw;
  state.counters["cpu_ns_per_service"] = r.deploy_usage.cpu_s * 1e9 / static_cast<double>(n);
  state.counters["switches_per_service"] = r.deploy_usage.switches / static_cast<double>(n);
  state.counters["faults_per_service"] = r.deploy_usage.faults / static_cast<double>(n);
  state.counters["raw_cpu_ns_per_service"] = raw_usage.cpu_s * 1e9 / static_cast<double>(n);
  state.counters["warm_up"] = warm ? 1 : 0;
}

// The core alone, on one thread: the state machine's cost per service for a
// deploy and an undeploy walk, echo answers handed straight back. No
// threads, no queues: a stable figure to profile the core against, and a
// bound on what the threaded engine can reach (its core thread does this
// work plus the queueing).
void BM_CoreOnly(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  int k = static_cast<int>(state.range(1));
  auto services = make_services(n);
  auto cfg = bench_config(k);
  std::vector<workflow_step> steps;
  for (auto s : cfg.steps) steps.push_back(make_workflow_step(bench_registry::names[s]));
  double deploy_s = 0, undeploy_s = 0;
  auto run = [&] {
    std::vector<std::pair<std::size_t, message_ptr>> pending, next;
    state_machine sm(cfg.core, steps,
                     state_machine::sink{[&](std::size_t step, message_ptr&& m) {
                                           // What the extension's outbox does on the way back.
                                           m->fingerprint = detail::service_fingerprint(m->service);
                                           next.emplace_back(step, std::move(m));
                                         },
                                         nullptr, log_level::error});
    sm.track_changes(false);
    auto walk = [&](action a) {
      auto t0 = clock_type::now();
      sm.begin_batch();
      // Breadth first, as the queues deliver a burst: every service's
      // message for one step before any service's next one, so that an
      // entry has gone cold by the time its answer comes.
      for (const auto& svc : services) {
        auto m = std::make_unique<message>();
        m->action = a;
        m->service = svc;
        sm.receive(0, std::move(m));
      }
      while (!next.empty()) {
        pending.swap(next);
        for (auto& [step, msg] : pending) sm.receive(step, std::move(msg));
        pending.clear();
      }
      return seconds_since(t0);
    };
    deploy_s = walk(action::add);
    undeploy_s = walk(action::remove);
    return sm.counters().deployed == n && sm.counters().undeployed == n;
  };
  if (warm_up_enabled()) run();
  for (auto _ : state) {
    if (!run()) state.SkipWithError("walks did not close");
    state.SetIterationTime(deploy_s + undeploy_s);
  }
  state.counters["deploy_ns_per_service"] = deploy_s * 1e9 / static_cast<double>(n);
  state.counters["undeploy_ns_per_service"] = undeploy_s * 1e9 / static_cast<double>(n);
}

// 3: re-push the same N deployed services: nothing may be re-provisioned.
void BM_SteadyState(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  int k = 3;
  auto services = make_services(n);
  double repush_s = 0, reprovisioned = 0;
  for (auto _ : state) {
    engine<bench_registry> core(bench_config(k), quiet_logger());
    core.start();
    auto& provider = core.extension<push_provider>();
    provider.push(&services, action::add);
    core.await(closed_count(true, n), std::chrono::hours(1));
    auto sent_before = core.ask([](const state_machine& sm) { return sm.counters().sent[1][0]; }).get();
    // Same services, targets in another order: still the same definitions.
    static std::vector<service> shuffled;
    shuffled = services;
    for (auto& s : shuffled) std::reverse(s.targets.begin(), s.targets.end());
    auto t0 = clock_type::now();
    provider.push(&shuffled, action::add);
    core.await([n](const state_machine& sm) { return sm.counters().received[0][0] >= 2 * n; }, std::chrono::hours(1));
    repush_s = seconds_since(t0);
    auto sent_after = core.ask([](const state_machine& sm) { return sm.counters().sent[1][0]; }).get();
    reprovisioned = static_cast<double>(sent_after - sent_before) / static_cast<double>(n);
    state.SetIterationTime(repush_s);
    core.request_stop();
    core.wait();
  }
  state.counters["reprovisioned"] = reprovisioned;
  state.counters["noop_add_ns"] = repush_s * 1e9 / static_cast<double>(n);
}

// 4: resident memory per tracked (deployed) service.
void BM_Memory(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  double per_service = 0;
  for (auto _ : state) {
    long before = rss_bytes();
    engine<bench_registry> core(bench_config(1), quiet_logger());
    core.start();
    auto& provider = core.extension<push_provider>();
    {
      auto services = make_services(n);
      auto t0 = clock_type::now();
      provider.push(&services, action::add);
      core.await(closed_count(true, n), std::chrono::hours(1));
      state.SetIterationTime(seconds_since(t0));
      // Wait for the provider to have dropped its last copy before freeing.
      core.await([](const state_machine&) { return true; }, std::chrono::seconds(1));
    }
    long after = rss_bytes();
    per_service = static_cast<double>(after - before) / static_cast<double>(n);
    core.request_stop();
    core.wait();
  }
  state.counters["bytes_per_service"] = per_service;
}

// 5: throughput with crash-safe persistence on (journal + fsync per batch)
// against off, and the time to load the resulting state file.
void BM_Persistence(benchmark::State& state) {
  auto n = static_cast<std::size_t>(state.range(0));
  bool durable = state.range(1) != 0;
  auto services = make_services(n);
  auto dir = std::filesystem::temp_directory_path() / ("interlook-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "entries.json").string();
  double deploy_s = 0, off_s = 0, load_s = 0, journal_bytes = 0;
  auto deploy_without_store = [&] {
    engine<bench_registry> core(bench_config(3), quiet_logger());
    core.start();
    auto t0 = clock_type::now();
    core.extension<push_provider>().push(&services, action::add);
    core.await(closed_count(true, n), std::chrono::hours(1));
    double s = seconds_since(t0);
    core.request_stop();
    core.wait();
    return s;
  };
  // Otherwise the run with the store would be the process's first and the
  // one without it the second: the comparison would favour the latter.
  if (warm_up_enabled()) deploy_without_store();
  for (auto _ : state) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".journal");
    {
      engine<bench_registry> core(bench_config(3), quiet_logger(), std::make_unique<state_store>(path, durable));
      core.load_state();
      core.start();
      auto t0 = clock_type::now();
      core.extension<push_provider>().push(&services, action::add);
      core.await(closed_count(true, n), std::chrono::hours(1));
      deploy_s = seconds_since(t0);
      state.SetIterationTime(deploy_s);
      journal_bytes = static_cast<double>(std::filesystem::file_size(path + ".journal"));
      core.request_stop();
      core.wait();
    }
    off_s = deploy_without_store();
    auto t0 = clock_type::now();
    state_store store(path);
    auto loaded = store.load();
    load_s = seconds_since(t0);
    if (loaded.size() != n) state.SkipWithError("the state file lost entries");
  }
  std::filesystem::remove_all(dir);
  state.counters["services_per_s"] = static_cast<double>(n) / deploy_s;
  state.counters["off_services_per_s"] = static_cast<double>(n) / off_s;
  state.counters["cost"] = 1.0 - off_s / deploy_s;
  state.counters["load_s"] = load_s;
  state.counters["journal_bytes_per_service"] = journal_bytes / static_cast<double>(n);
}

}  // namespace

// Smallest N first: a small case run right after a 1M one was seen to stall
// for hundreds of milliseconds while the system took back the previous
// case's gigabytes.
BENCHMARK(BM_DeployUndeploy)
    ->ArgNames({"N", "K"})
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (int n : {1000, 10000, 100000, 1000000})
        for (int k : {1, 3, 6}) b->Args({n, k});
    })
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CoreOnly)
    ->ArgNames({"N", "K"})
    ->Args({100000, 3})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SteadyState)->ArgNames({"N"})->Arg(100000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memory)->ArgNames({"N"})->Arg(1000000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Persistence)
    ->ArgNames({"N", "durable"})
    ->Args({100000, 1})
    ->Args({100000, 0})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
