#!/usr/bin/env python3
"""Summarises Google Benchmark JSON outputs (one file per process) for tools/bench.

  summarize.py table FILE...
      One table per benchmark family: a row per case, a column per counter,
      each cell the median over every run of that case in FILE... and, when
      there are several, its spread: +-x% is half the range (max - min) as a
      percentage of the median.

  summarize.py compare CASE_REGEX LABEL FILE... [-- LABEL FILE...]...
      The case matching CASE_REGEX, one row per labelled group of files.
"""
import json
import re
import statistics
import sys

# Counters shown first, in this order; the others follow alphabetically.
PREFERRED = [
    "services_per_s", "undeploy_services_per_s", "messages_per_s", "raw_services_per_s", "vs_raw",
    "cpu_ns_per_service", "raw_cpu_ns_per_service", "p50_us", "p99_us", "faults_per_service",
    "switches_per_service", "deploy_s", "undeploy_s", "parse_s", "parse_peak_mib", "peak_rss_mib",
    "ipalloc_writes", "hosts_writes", "cpu_us_per_service", "seconds_inflight_1", "seconds_inflight_16",
    "inflight_speedup", "cpu_us_per_service_1", "cpu_us_per_service_16",
]
NOT_COUNTERS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit", "error_occurred",
    "error_message", "aggregate_name", "aggregate_unit",
}


def runs_of(paths):
    """(case name, family, counters dict, error or None) for every run in the files."""
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            yield (path, "?", {}, "no benchmark output (%s)" % e)
            continue
        for b in doc.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            name = re.sub(r"/(iterations:\d+|manual_time|real_time)", "", b["name"])
            family = name.split("/")[0]
            counters = {k: v for k, v in b.items() if k not in NOT_COUNTERS and isinstance(v, (int, float))}
            error = b.get("error_message") if b.get("error_occurred") else None
            yield (name, family, counters, error)


def fmt(v):
    a = abs(v)
    if a >= 1e6:
        return "%.3gM" % (v / 1e6) if a < 1e9 else "%.4gG" % (v / 1e9)
    if a >= 1e4:
        return "%.4gk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a >= 1:
        return "%.3g" % v
    return "%.3g" % v


def cell(values):
    med = statistics.median(values)
    text = fmt(med)
    if len(values) > 1:
        spread = (max(values) - min(values)) / 2
        text += " ±%.0f%%" % (100 * spread / abs(med)) if med else " ±%s" % fmt(spread)
    return text


def ordered(keys):
    first = [k for k in PREFERRED if k in keys]
    return first + sorted(k for k in keys if k not in PREFERRED)


def print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))) + " |"
    print(line(header))
    print("| " + " | ".join("-" * w if i == 0 else "-" * (w - 1) + ":" for i, w in enumerate(widths)) + " |")
    for r in rows:
        print(line(r))


def table(paths):
    cases, errors = {}, []
    for name, family, counters, error in runs_of(paths):
        if error:
            errors.append("%s: %s" % (name, error))
            continue
        cases.setdefault(family, {}).setdefault(name, []).append(counters)
    for family, by_case in cases.items():
        keys = ordered({k for runs in by_case.values() for r in runs for k in r})
        rows = []
        for name, runs in by_case.items():
            rows.append([name, str(len(runs))] + [cell([r[k] for r in runs if k in r]) if any(k in r for r in runs)
                                                  else "" for k in keys])
        print()
        print_table(["case", "runs"] + keys, rows)
    for e in errors:
        print("ERROR " + e)
    return 1 if errors else 0


def compare(pattern, groups):
    rows, keys, errors = [], set(), []
    collected = []
    for label, paths in groups:
        runs = []
        for name, _, counters, error in runs_of(paths):
            if not re.search(pattern, name):
                continue
            if error:
                errors.append("%s (%s): %s" % (name, label, error))
            else:
                runs.append(counters)
        collected.append((label, runs))
        for r in runs:
            keys.update(r)
    keys = ordered(keys)
    for label, runs in collected:
        rows.append([label, str(len(runs))] + [cell([r[k] for r in runs if k in r]) if runs else "" for k in keys])
    print_table([pattern, "runs"] + keys, rows)
    for e in errors:
        print("ERROR " + e)
    return 1 if errors else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "table":
        return table(argv[1:])
    if len(argv) >= 4 and argv[0] == "compare":
        groups, current = [], None
        for a in argv[2:]:
            if a == "--":
                current = None
            elif current is None:
                current = (a, [])
                groups.append(current)
            else:
                current[1].append(a)
        return compare(argv[1], groups)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
