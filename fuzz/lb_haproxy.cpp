// lb.haproxy's readers of the master CLI's answers
// (ext/lb/haproxy/master_cli.hpp): `show proc`, `show backend` and
// `show servers state`, each fed the whole input. cli_error naming the
// socket is the documented failure of `show proc` (an answer that is not
// the master's); the others read what they can and never throw.
// fuzz-dict: haproxy
#include "fuzz/fuzz.hpp"

#include <interlook/ext/lb/haproxy/master_cli.hpp>

using namespace interlook::ext::lb::haproxy_detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::text(data, size);
  try {
    auto p = parse_show_proc(text, "/run/haproxy/master.sock");
    FUZZ_CHECK(p.master_pid >= 0 && p.reloads >= 0 && p.failed_reloads >= 0, "negative counts");
    for (long w : p.workers) FUZZ_CHECK(w >= 0, "a negative pid");
    if (p.workers.empty()) {
      try {
        (void)p.route();
        FUZZ_CHECK(false, "a route without a worker");
      } catch (const cli_error&) {
      }
    } else {
      FUZZ_CHECK(p.route() == "@!" + std::to_string(p.workers.front()), p.route());
    }
  } catch (const cli_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("master socket /run/haproxy/master.sock "), e.what());
  }
  for (const auto& b : parse_show_backend(text)) FUZZ_CHECK(!b.empty() && b.front() != '#', b);
  for (const auto& [backend, servers] : parse_servers_state(text)) {
    FUZZ_CHECK(!backend.empty(), "a backend without a name");
    for (const auto& s : servers) FUZZ_CHECK(!s.name.empty() && !s.address.empty(), backend + "/" + s.name);
  }
  return 0;
}
