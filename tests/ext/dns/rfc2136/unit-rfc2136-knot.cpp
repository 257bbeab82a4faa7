// dns.rfc2136 against a real Knot DNS server (tests/peers/knot).
#include "tests/ext/dns/rfc2136/scenarios.hpp"

using namespace rfc2136_test;

namespace {
constexpr auto server = server_kind::knot;
}

TEST_CASE("knot: add, update with a new VIP and a dropped alias, delete; repeated steps change nothing") {
  add_update_delete(server);
}

TEST_CASE("knot: records interlook did not create are errors naming them, and are never changed") {
  foreign_records_are_left_alone(server);
}

TEST_CASE("knot: a name taken between look-up and UPDATE is refused by the server; the batch's others go through") {
  the_server_refuses_a_name_taken_meanwhile(server);
}

TEST_CASE("knot: a name the key may not update fails alone; the batch's others go through") {
  a_name_outside_the_update_policy_fails_alone(server);
}

TEST_CASE("knot: a zone transfer of many messages is verified message by message") {
  a_large_zone_transfers_in_many_signed_messages(server);
}

TEST_CASE("knot: hmac-sha512 and hmac-sha1 keys work too") {
  other_tsig_algorithms(server);
}

TEST_CASE("knot: a wrong TSIG key is an error naming zone, server and key, never the secret") {
  a_wrong_key_is_a_clear_error_without_the_secret(server);
}

TEST_CASE("knot: a stopped server is an error, never a deletion; once it is back the retry converges") {
  an_unreachable_server_is_an_error_and_the_retry_converges(server);
}

TEST_CASE("knot: without zone transfers, names are looked up one by one and dropped aliases stay (logged)") {
  without_zone_transfers(server);
}

TEST_CASE("knot: 200 services in batches") {
  two_hundred_services(server);
}
