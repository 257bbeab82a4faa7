// ipam.ipalloc's db_file (ext/ipam/ipalloc/ipalloc.hpp): an ipalloc built
// on any db_file content, then one batch. A corrupt file is the documented
// failure (std::runtime_error naming the file). After loading: hosts that
// hold an address keep it, newcomers get unused, usable addresses of the
// range (or "no free address left"), a released address comes back to its
// host, and the file written after the batch loads back to the same
// allocations.
//
// Input: the db_file text. A first byte below 0x20 picks another network
// (and is not part of the file).
// fuzz-dict: json
#include "fuzz/fuzz.hpp"

#include <interlook/ext/ipam/ipalloc/ipalloc.hpp>

#include <array>

using namespace interlook;
using interlook::ext::ipam::ipalloc;

namespace {
struct network {
  const char *cidr, *start, *end;
};
constexpr std::array<network, 6> networks{{{"10.1.0.0/24", "", ""},
                                           {"10.77.0.0/24", "10.77.0.10", "10.77.0.250"},
                                           {"10.1.0.0/30", "", ""},
                                           {"2001:db8:5::/120", "", ""},
                                           {"239.255.255.0/29", "", ""},  // multicast only: always exhausted
                                           {"10.0.0.0/31", "", ""}}};

message make(action a, const std::string& name) {
  message m;
  m.action = a;
  m.service.name = name;
  return m;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static logger log{log_level::error, [](log_level, std::string_view) {}};
  static extension_context ctx{log, "ipam.ipalloc"};
  static const std::string path = (fuzz::scratch_dir() / "ipalloc.json").string();

  network net = networks[0];
  if (size && data[0] < 0x20) {
    net = networks[data[0] % networks.size()];
    ++data;
    --size;
  }
  fuzz::put_file(path, fuzz::text(data, size));
  ipalloc::config cfg{net.cidr, net.start, net.end, path};
  const auto range = cfg.range();
  const ip_network& range_net = range.first;
  const auto bounds = range.second;

  std::optional<ipalloc> ip;
  try {
    ip.emplace(cfg, ctx);
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("db_file " + path + " is corrupt: "), e.what());
    return 0;
  }
  const auto before = ip->allocations();  // address -> host
  std::map<std::string, std::set<std::string>> held;  // host -> its addresses
  for (const auto& [a, h] : before) held[h].insert(a);

  std::vector<message> batch{make(action::add, "fuzz-new-1"), make(action::add, "fuzz-new-2")};
  std::string old_host;
  for (const auto& [a, h] : before)
    if (!h.empty()) {  // a record without a host holds its address for nobody
      old_host = h;
      break;
    }
  if (!old_host.empty()) {
    batch.push_back(make(action::add, old_host));     // keeps its address
    batch.push_back(make(action::remove, old_host));  // frees it
    batch.push_back(make(action::add, old_host));     // and takes it back
  }
  ip->handle_batch(batch);

  auto in_range = [&](const ip_address& a) {
    return a.v6 == range_net.base.v6 && a.value >= bounds.first && a.value <= bounds.second && !a.multicast();
  };
  std::set<std::string> given;
  std::string kept;  // old_host's address after its first add
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& m = batch[i];
    if (m.action != action::add) {
      FUZZ_CHECK(m.error.empty(), m.error);
      continue;
    }
    if (m.service.name == old_host && kept.empty()) {  // holds an address: keeps it
      FUZZ_CHECK(m.error.empty(), m.error);
      FUZZ_CHECK(held[old_host].count(m.service.public_ip), old_host + " moved to " + m.service.public_ip);
      kept = m.service.public_ip;
      continue;
    }
    if (m.service.name == old_host && in_range(*ip_address::parse(kept))) {  // released in range: comes back
      FUZZ_CHECK(m.service.public_ip == kept, old_host + " got " + m.service.public_ip + " back, not " + kept);
      continue;
    }
    if (!m.error.empty()) {  // a newcomer, or old_host whose address is outside the range now
      FUZZ_CHECK(m.error.starts_with("ipam.ipalloc: no free address left in "), m.error);
      continue;
    }
    auto a = ip_address::parse(m.service.public_ip);
    FUZZ_CHECK(a.has_value(), m.service.name + " got \"" + m.service.public_ip + "\"");
    FUZZ_CHECK(in_range(*a), m.service.name + " got " + m.service.public_ip + ", outside the range of " + net.cidr);
    FUZZ_CHECK(!before.count(m.service.public_ip),
               m.service.name + " got " + m.service.public_ip + ", held by " + before.at(m.service.public_ip));
    FUZZ_CHECK(given.insert(m.service.public_ip).second, m.service.public_ip + " given twice");
  }

  // The file written after the batch loads back to the same allocations.
  const auto after = ip->allocations();
  std::optional<ipalloc> again;
  try {
    again.emplace(cfg, ctx);
  } catch (const std::runtime_error& e) {
    fuzz::fail(__FILE__, __LINE__, "the db_file ipalloc wrote loads", e.what());
  }
  FUZZ_CHECK(again->allocations() == after, "allocations differ after a reload");
  return 0;
}
