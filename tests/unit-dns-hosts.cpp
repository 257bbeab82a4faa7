#include <interlook/ext/dns/hosts.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace interlook;
using interlook::ext::dns::hosts;

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
  h.handle(msg(action::add, "web", "10.0.0.1", {"web.example", "www.example"}));
  h.handle(msg(action::add, "api", "10.0.0.2", {"api.example"}));
  CHECK(f.read() == "10.0.0.1 web.example www.example # interlook:web\n10.0.0.2 api.example # interlook:api\n");
  h.handle(msg(action::add, "web", "10.0.0.9", {"web.example"}));
  CHECK(f.read() == "10.0.0.9 web.example # interlook:web\n10.0.0.2 api.example # interlook:api\n");
  h.handle(msg(action::remove, "web", "10.0.0.9", {"web.example"}));
  CHECK(f.read() == "10.0.0.2 api.example # interlook:api\n");
  h.handle(msg(action::remove, "web", "10.0.0.9", {"web.example"}));  // idempotent
  CHECK(f.read() == "10.0.0.2 api.example # interlook:api\n");
}

TEST_CASE("lines without the ownership marker are never touched") {
  fixture f;
  std::ofstream(f.path()) << "127.0.0.1 localhost\n# a comment about web\n10.9.9.9 web.example # by hand\n\n"
                             "10.0.0.5 webby # interlook:webby\n";
  hosts h({f.path()}, f.ctx);
  h.handle(msg(action::add, "web", "10.0.0.1", {"web.example"}));
  h.handle(msg(action::remove, "web", "", {}));
  CHECK(f.read() ==
        "127.0.0.1 localhost\n# a comment about web\n10.9.9.9 web.example # by hand\n\n"
        "10.0.0.5 webby # interlook:webby\n");
}

TEST_CASE("an add without a public IP is an error, and the file is left alone") {
  fixture f;
  hosts h({f.path()}, f.ctx);
  CHECK_THROWS_WITH(h.handle(msg(action::add, "web", "", {"web.example"})),
                    "service web has no public_ip (put an ipam step before dns.hosts)");
  CHECK_FALSE(std::filesystem::exists(f.path()));
}
