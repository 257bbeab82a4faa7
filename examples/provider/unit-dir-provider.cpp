// The example provider, run as the engine runs it by the public test kit
// (which checks what it sends against the provider laws).
#include "examples/provider/dir_provider.hpp"

#include <interlook/testing/ext_runner.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using interlook::action;
using interlook::testing::ext_runner;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
struct tmpdir {
  fs::path dir;
  tmpdir() {
    const char* base = std::getenv("TEST_TMPDIR");
    dir = fs::path(base ? base : "/tmp") / ("dirprov-" + std::to_string(std::rand()));
    fs::create_directories(dir);
  }
  ~tmpdir() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / ("." + name)) << text;
    fs::rename(dir / ("." + name), dir / name);  // appears whole: IN_MOVED_TO
  }
};
}  // namespace

TEST_CASE("files appearing, changing and going become add and delete at once, through inotify") {
  tmpdir d;
  d.write("web", "hosts web.example.test\nport 80\ntarget 10.0.0.1\n");
  ext_runner<acme::dir_provider> r({d.dir.string(), std::chrono::hours(1)});  // no poll: events only
  auto first = r.next();
  REQUIRE(first);
  CHECK(first->action == action::add);
  CHECK(first->service.name == "web");
  CHECK(first->service.targets == std::vector<interlook::target>{{"10.0.0.1", 80, 1}});

  d.write("web", "hosts web.example.test\nport 80\ntarget 10.0.0.1\ntarget 10.0.0.2:81\n");
  auto changed = r.next(5s);
  REQUIRE(changed);
  CHECK(changed->action == action::add);
  CHECK(changed->service.targets.size() == 2);

  fs::remove(d.dir / "web");
  auto gone = r.next(5s);
  REQUIRE(gone);
  CHECK(gone->action == action::remove);
  CHECK(gone->service.name == "web");
}

TEST_CASE("refresh is answered from the directory as it is now") {
  tmpdir d;
  d.write("api", "hosts api.example.test\ntarget 10.0.0.3:8080\n");
  ext_runner<acme::dir_provider> r({d.dir.string(), std::chrono::hours(1)});
  REQUIRE(r.next());
  interlook::message q;
  q.action = action::refresh;
  q.service.name = "api";
  r.send(q);
  auto a = r.next();
  REQUIRE(a);
  CHECK(a->action == action::add);
  q.service.name = "nothere";
  r.send(q);
  auto gone = r.next();
  REQUIRE(gone);
  CHECK(gone->action == action::remove);
  CHECK(gone->service.name == "nothere");
}

TEST_CASE("stop ends start() promptly, watcher and ticker joined") {
  tmpdir d;
  auto r = std::make_unique<ext_runner<acme::dir_provider>>(acme::dir_provider::config{d.dir.string(), std::chrono::hours(1)});
  auto t0 = std::chrono::steady_clock::now();
  r->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
