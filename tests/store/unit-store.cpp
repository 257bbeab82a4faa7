#include <interlook/store/store.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace interlook;

namespace {
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    const char* base = std::getenv("TEST_TMPDIR");
    path = std::filesystem::path(base ? base : "/tmp") / ("store-" + std::to_string(std::rand()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

entry sample(const std::string& ip) {
  entry e;
  e.expect_deployed = true;
  e.time_detected = now();
  e.service = service{"provider.file", "web", {{"h", 80, 2}}, true, ip, {"web.example"}};
  return e;
}
}  // namespace

TEST_CASE("a state file written by Go interlook loads") {
  temp_dir d;
  // Go's shape: omitempty fields left out, local-time offsets, no weights.
  write(d.file("flowentries.db"), R"({
 "web": {"wip_time":"0001-01-01T00:00:00Z","state":"deployed","expected_state":"deployed",
         "time_detected":"2020-03-01T10:00:00.123456789+01:00","last_update":"2020-03-01T10:05:00+01:00",
         "service":{"provider":"provider.swarm","name":"web","targets":[{"host":"10.1.0.5","port":30080},
                    {"host":"10.1.0.5","port":30080}],"tls":true,"public_ip":"10.32.0.7","dns_name":["web.acme"]},
         "close_time":"2020-03-01T10:00:02+01:00"},
 "old": {"work_in_progress":true,"wip_time":"2020-03-01T10:00:00Z","state":"lb.f5ltm","expected_state":"undeployed",
         "error":"timeout","time_detected":"2020-03-01T09:00:00Z","last_update":"2020-03-01T09:00:00Z",
         "service":{"name":"old"},"close_time":"0001-01-01T00:00:00Z"}
})");
  state_store store(d.file("flowentries.db"));
  auto loaded = store.load();
  REQUIRE(loaded.size() == 2);
  auto& web = loaded[0].name == "web" ? loaded[0] : loaded[1];
  auto& old = loaded[0].name == "web" ? loaded[1] : loaded[0];
  CHECK(web.state == "deployed");
  CHECK(web.value.expect_deployed);
  CHECK_FALSE(web.value.work_in_progress);
  CHECK(format_timestamp(web.value.time_detected) == "2020-03-01T09:00:00.123456789Z");
  CHECK(web.value.service.public_ip == "10.32.0.7");
  CHECK(web.value.service.targets == std::vector<target>{{"10.1.0.5", 30080, 2}});  // merged on load
  CHECK(old.state == "lb.f5ltm");
  CHECK_FALSE(old.value.expect_deployed);
  CHECK(old.value.work_in_progress);
  CHECK(old.value.error == "timeout");
}

TEST_CASE("the journal replays over the snapshot: last change wins, removals remove") {
  temp_dir d;
  state_store store(d.file("entries.json"));
  std::string lines;
  state_store::journal_line(lines, "web", sample("10.0.0.1"), "ipam.ipalloc");
  state_store::journal_line(lines, "api", sample("10.0.0.2"), "deployed");
  store.append(lines);
  lines.clear();
  state_store::journal_line(lines, "web", sample("10.0.0.3"), "deployed");
  state_store::journal_removal(lines, "api");
  store.append(lines);
  state_store again(d.file("entries.json"));
  auto loaded = again.load();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].name == "web");
  CHECK(loaded[0].state == "deployed");
  CHECK(loaded[0].value.service.public_ip == "10.0.0.3");
}

TEST_CASE("an entry named \"\" loads the same with or without a journal (found by fuzz/state_file)") {
  // Removals used to be marked by clearing the name, so an entry whose name
  // was "" vanished as soon as any journal was replayed.
  temp_dir d;
  std::string snapshot = R"({"": {"state":"deployed","expected_state":"deployed","service":{"name":""}},)"
                         R"( "web": {"state":"deployed","expected_state":"deployed","service":{"name":"web"}}})";
  write(d.file("entries.json"), snapshot);
  CHECK(state_store(d.file("entries.json")).load().size() == 2);
  state_store store(d.file("entries.json"));
  std::string lines;
  state_store::journal_line(lines, "api", sample("10.0.0.2"), "deployed");
  state_store::journal_removal(lines, "web");
  store.append(lines);
  auto loaded = state_store(d.file("entries.json")).load();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].name == "");
  CHECK(loaded[1].name == "api");
}

TEST_CASE("a snapshot replaces the file atomically and empties the journal") {
  temp_dir d;
  state_store store(d.file("entries.json"));
  std::string lines;
  state_store::journal_line(lines, "web", sample("10.0.0.1"), "deployed");
  store.append(lines);
  CHECK(store.journal_bytes() > 0);
  boost::json::object doc;
  doc["web"] = entry_to_json(sample("10.0.0.9"), "deployed");
  store.snapshot(boost::json::serialize(doc));
  CHECK(store.journal_bytes() == 0);
  CHECK(read(d.file("entries.json.journal")).empty());
  CHECK_FALSE(std::filesystem::exists(d.file("entries.json.tmp")));
  auto loaded = state_store(d.file("entries.json")).load();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].value.service.public_ip == "10.0.0.9");
}

TEST_CASE("a snapshot written in pieces takes effect only when finished; an abandoned one changes nothing") {
  temp_dir d;
  state_store store(d.file("entries.json"));
  boost::json::object before;
  before["web"] = entry_to_json(sample("10.0.0.1"), "deployed");
  store.snapshot(boost::json::serialize(before));
  std::string lines;
  state_store::journal_line(lines, "api", sample("10.0.0.2"), "deployed");
  store.append(lines);

  boost::json::object after;
  after["web"] = entry_to_json(sample("10.0.0.9"), "deployed");
  std::string doc = boost::json::serialize(after);
  {
    auto file = store.begin_snapshot();
    file.write(std::string_view(doc).substr(0, 10));
    // Dropped unfinished (a failed write, a stop): the old state stands.
  }
  CHECK_FALSE(std::filesystem::exists(d.file("entries.json.tmp")));
  auto loaded = state_store(d.file("entries.json")).load();
  CHECK(loaded.size() == 2);

  auto file = store.begin_snapshot();
  file.write(std::string_view(doc).substr(0, 10));
  file.write(std::string_view(doc).substr(10));
  // Until finished, readers still see the old state file and journal.
  CHECK(state_store(d.file("entries.json")).load().size() == 2);
  store.finish_snapshot(std::move(file), doc.size());
  CHECK(store.journal_bytes() == 0);
  CHECK(store.snapshot_bytes() == doc.size());
  loaded = state_store(d.file("entries.json")).load();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].value.service.public_ip == "10.0.0.9");
}

TEST_CASE("a torn last journal line (crash mid-write) is dropped with a warning") {
  temp_dir d;
  state_store store(d.file("entries.json"));
  std::string lines;
  state_store::journal_line(lines, "web", sample("10.0.0.1"), "deployed");
  store.append(lines);
  std::string torn;
  state_store::journal_line(torn, "api", sample("10.0.0.2"), "deployed");
  std::ofstream(d.file("entries.json.journal"), std::ios::app) << torn.substr(0, torn.size() / 2);
  std::vector<std::string> warnings;
  auto loaded = state_store(d.file("entries.json")).load(&warnings);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].name == "web");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("dropped an incomplete last line of") != std::string::npos);
}

TEST_CASE("a corrupt state file or journal refuses to load, naming the path") {
  temp_dir d;
  write(d.file("entries.json"), "{\"web\": {\"state\": \"deployed\", \"service\": {\"name\": 42}}}");
  try {
    state_store(d.file("entries.json")).load();
    FAIL("no error");
  } catch (const store_error& e) {
    std::string what = e.what();
    CHECK(what.find("state file " + d.file("entries.json") + " is corrupt") != std::string::npos);
    CHECK(what.find("web.service.name: expected a string") != std::string::npos);
    CHECK(what.find("--start-empty") != std::string::npos);
  }
  write(d.file("entries.json"), "{\"web\": {\"state\": \"dep");  // truncated
  CHECK_THROWS_WITH_AS(state_store(d.file("entries.json")).load(), doctest::Contains("malformed JSON"), store_error);
  write(d.file("entries.json"), "{}");
  write(d.file("entries.json.journal"), "garbage\n{\"name\":\"web\",\"removed\":true}\n");
  CHECK_THROWS_WITH_AS(state_store(d.file("entries.json")).load(),
                       doctest::Contains("entries.json.journal is corrupt at line 1"), store_error);
}

TEST_CASE("missing files mean no entries yet") {
  temp_dir d;
  CHECK(state_store(d.file("nothing.json")).load().empty());
}

TEST_CASE("the direct JSON writer produces the same document as Boost.JSON, escapes included") {
  entry e = sample("10.0.0.1");
  e.error = "quote \" backslash \\ newline \n tab \t bell \x07";
  e.info = "caf\xC3\xA9";
  e.close_time = now();
  e.wip_time = timestamp{std::chrono::nanoseconds(1'700'000'000'120'000'000)};
  std::string direct;
  append_entry_json(direct, e, "dns.hosts");
  auto parsed = parse_json_text(direct);
  CHECK(parsed == boost::json::value(entry_to_json(e, "dns.hosts")));
  CHECK(direct.find("\"wip_time\":\"2023-11-14T22:13:20.12Z\"") != std::string::npos);
  // The other branches: several targets, no aliases, TLS off, undeployed,
  // a walk in progress and to restart.
  entry f;
  f.work_in_progress = true;
  f.expect_deployed = false;
  f.restart_walk = true;
  f.service = service{"provider.swarm", "stack_api", {{"10.0.0.1", 80, 1}, {"10.0.0.2", 8080, 3}}, false, "", {}};
  std::string second;
  append_entry_json(second, f, "lb.f5ltm");
  CHECK(parse_json_text(second) == boost::json::value(entry_to_json(f, "lb.f5ltm")));
}

TEST_CASE("progress records update the saved entry; progress without an entry is a warning") {
  temp_dir d;
  state_store store(d.file("entries.json"));
  std::string lines;
  entry e = sample("");
  state_store::journal_line(lines, "web", e, "undeployed");
  e.position = 2;
  e.work_in_progress = true;
  e.wip_time = now();
  e.service.public_ip = "10.0.0.7";
  state_store::journal_progress(lines, "web", e, "dns.hosts");
  state_store::journal_progress(lines, "ghost", e, "dns.hosts");
  store.append(lines);
  std::vector<std::string> warnings;
  auto loaded = state_store(d.file("entries.json")).load(&warnings);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].state == "dns.hosts");
  CHECK(loaded[0].value.work_in_progress);
  CHECK(loaded[0].value.wip_time == e.wip_time);
  CHECK(loaded[0].value.service.public_ip == "10.0.0.7");
  CHECK(loaded[0].value.service.dns_names == std::vector<std::string>{"web.example"});  // from the full record
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("progress of ghost, whose entry is not saved") != std::string::npos);
}
