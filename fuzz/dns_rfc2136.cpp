// dns.rfc2136's reading of DNS answers (ext/dns/rfc2136/client.hpp,
// zone_view.hpp). The input is a TCP stream of messages, each after its
// two-byte length, as a server sends a zone transfer: each is parsed as an
// answer to a request of id 0x1234 (network_error otherwise), its TSIG
// checked against a key (answer_error: the fuzzer cannot sign, so this
// exercises ldns' TSIG reading on hostile records) and then, whatever that
// said, taken as a transfer message into a zone view, as a transfer that
// verified would be. A view never marks a name as a service's unless the
// name's TXT is exactly that service's ownership text.
// fuzz-link: -lldns
#include "fuzz/fuzz.hpp"

#include <interlook/ext/dns/rfc2136/client.hpp>
#include <interlook/ext/dns/rfc2136/zone_view.hpp>

using namespace interlook::ext::dns::rfc2136_detail;

namespace {

struct signed_request {
  tsig_key key{"interlook-key.", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==", "hmac-sha256."};
  pkt_ptr request;
  signed_request() {
    auto zone = make_dname("example.test.");
    request = dns_client::query(zone.get(), LDNS_RR_TYPE_AXFR);
    ldns_pkt_set_id(request.get(), 0x1234);
    if (ldns_pkt_tsig_sign(request.get(), key.name.c_str(), key.secret.c_str(), 300, key.algorithm.c_str(), nullptr) !=
        LDNS_STATUS_OK)
      std::abort();
  }
  const ldns_rdf* mac() const { return ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const signed_request req;
  zone_view view("il1");
  std::size_t soas = 0;
  bool done = false, refused = false;
  std::string_view in = fuzz::text(data, size);
  for (bool first = true; in.size() >= 2 && !done && !refused; first = false) {
    std::size_t n = (std::size_t(std::uint8_t(in[0])) << 8) | std::uint8_t(in[1]);
    in.remove_prefix(2);
    n = std::min(n, in.size());
    std::vector<std::uint8_t> wire(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    in.remove_prefix(n);
    pkt_ptr answer;
    try {
      answer = parse_reply(wire, 0x1234);
    } catch (const network_error&) {
      continue;
    }
    FUZZ_CHECK(ldns_pkt_id(answer.get()) == 0x1234 && ldns_pkt_qr(answer.get()), "an answer to another request");
    try {
      check_tsig(answer.get(), wire, req.key, req.mac(), !first);
    } catch (const answer_error& e) {
      FUZZ_CHECK(std::string_view(e.what()).starts_with("the "), e.what());
    }
    try {
      done = take_transfer_message(answer.get(), soas, [&](const ldns_rr* rr) { view.add(rr); });
    } catch (const answer_error& e) {
      refused = true;
      FUZZ_CHECK(std::string_view(e.what()).starts_with("zone transfer refused") ||
                     std::string_view(e.what()).starts_with("the zone transfer does not start with the SOA"),
                 e.what());
    }
  }
  const std::string text = ownership_text("il1", "web");
  for (const auto& key : view.owned_by("web")) {
    const auto* rec = view.find(key);
    FUZZ_CHECK(rec && rec->in_use && rec->find_txt(text), key + " marked web's without web's TXT");
  }
  return 0;
}
