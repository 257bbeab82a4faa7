#include <interlook/ext/dns/hosts/hosts.hpp>
#include <interlook/testing/handle.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace interlook;
using interlook::ext::dns::hosts;
using interlook::testing::handle_one;

namespace {
struct fixture {
  std::filesystem::path dir;
  logger log{log_level::error, [](log_level, std::string_view) {}};
  extension_context ctx{log, "dns.hosts"};
  fixture() {
    const char* base = std::getenv("TEST_TMPDIR");
    dir = std::filesystem::path(base ? base : "/tmp") / ("hosts-" + std::to_string(std::rand()));
    std::filesystem::create_directories(dir);
  }
  ~fixture() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / "hosts").string(); }
  std::string read() const {
    std::ifstream in(path());
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
};

message msg(action a, const std::string& name, const std::string& ip, std::vector<std::string> aliases) {
  message m;
  m.action = a;
  m.service.name = name;
  m.service.public_ip = ip;
  m.service.dns_names = std::move(aliases);
  return m;
}
}  // namespace

TEST_CASE("add writes the service's line, update replaces it in place, delete removes it") {
  fixture f;
  hosts h({f.path()}, f.ctx);
  handle_one(h, msg(action::add, "web", "10.0.0.1", {"web.example", "www.example"}));
  handle_one(h, msg(action::add, "api", "10.0.0.2", {"api.example"}));
  CHECK(f.read() == "10.0.0.1 web.example www.example # interlook:web\n10.0.0.2 api.example # interlook:api\n");
  handle_one(h, msg(action::add, "web", "10.0.0.9", {"web.example"}));
  CHECK(f.read() == "10.0.0.9 web.example # interlook:web\n10.0.0.2 api.example # interlook:api\n");
  handle_one(h, msg(action::remove, "web", "10.0.0.9", {"web.example"}));
  CHECK(f.read() == "10.0.0.2 api.example # interlook:api\n");
  handle_one(h, msg(action::remove, "web", "10.0.0.9", {"web.example"}));  // idempotent
  CHECK(f.read() == "10.0.0.2 api.example # interlook:api\n");
}

TEST_CASE("lines without the ownership marker are never touched") {
  fixture f;
  std::ofstream(f.path()) << "127.0.0.1 localhost\n# a comment about web\n10.9.9.9 web.example # by hand\n\n"
                             "10.0.0.5 webby # interlook:webby\n";
  hosts h({f.path()}, f.ctx);
  handle_one(h, msg(action::add, "web", "10.0.0.1", {"web.example"}));
  handle_one(h, msg(action::remove, "web", "", {}));
  CHECK(f.read() ==
        "127.0.0.1 localhost\n# a comment about web\n10.9.9.9 web.example # by hand\n\n"
        "10.0.0.5 webby # interlook:webby\n");
}

TEST_CASE("an add without a public IP is an error, and the file is left alone") {
  fixture f;
  hosts h({f.path()}, f.ctx);
  CHECK(handle_one(h, msg(action::add, "web", "", {"web.example"})).error ==
        "dns.hosts: service web has no public_ip (put an ipam step before dns.hosts)");
  CHECK_FALSE(std::filesystem::exists(f.path()));
}

TEST_CASE("a batch is one rewrite: a bad message fails alone, the others are written") {
  fixture f;
  std::ofstream(f.path()) << "127.0.0.1 localhost\n10.0.0.5 old.example # interlook:old\n";
  hosts h({f.path()}, f.ctx);
  auto answers = interlook::testing::handle_batch(
      h, {msg(action::add, "a", "10.0.0.1", {"a.example"}), msg(action::add, "bad", "", {"bad.example"}),
          msg(action::add, "b", "10.0.0.2", {"b.example", "b2.example"}), msg(action::remove, "old", "", {})});
  CHECK(answers[0].error.empty());
  CHECK(answers[1].error == "dns.hosts: service bad has no public_ip (put an ipam step before dns.hosts)");
  CHECK(answers[2].error.empty());
  CHECK(answers[3].error.empty());
  CHECK(h.writes() == 1);
  CHECK(f.read() ==
        "127.0.0.1 localhost\n10.0.0.1 a.example # interlook:a\n10.0.0.2 b.example b2.example # interlook:b\n");
  // The same batch again changes nothing and writes nothing.
  interlook::testing::handle_batch(h, {msg(action::add, "a", "10.0.0.1", {"a.example"}),
                                       msg(action::add, "b", "10.0.0.2", {"b.example", "b2.example"})});
  CHECK(h.writes() == 1);
}

TEST_CASE("a batch whose write fails answers every message of it with the error") {
  fixture f;
  hosts h({(f.dir / "missing-dir" / "hosts").string()}, f.ctx);
  auto answers = interlook::testing::handle_batch(
      h, {msg(action::add, "a", "10.0.0.1", {"a.example"}), msg(action::add, "b", "10.0.0.2", {"b.example"})});
  for (auto& a : answers) CHECK(a.error.find("dns.hosts: ") == 0);
  CHECK(answers[0].error.find("missing-dir") != std::string::npos);
  CHECK(h.writes() == 0);
}
