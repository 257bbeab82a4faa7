// dns.rfc2136 against a real BIND 9 server (tests/peers/bind).
#include "tests/ext/dns/rfc2136/scenarios.hpp"

using namespace rfc2136_test;

namespace {
constexpr auto server = server_kind::bind;
}

TEST_CASE("bind: add, update with a new VIP and a dropped alias, delete; repeated steps change nothing") {
  add_update_delete(server);
}

TEST_CASE("bind: records interlook did not create are errors naming them, and are never changed") {
  foreign_records_are_left_alone(server);
}

TEST_CASE("bind: a name taken between look-up and UPDATE is refused by the server; the batch's others go through") {
  the_server_refuses_a_name_taken_meanwhile(server);
}

TEST_CASE("bind: a name the key may not update fails alone; the batch's others go through") {
  a_name_outside_the_update_policy_fails_alone(server);
}

TEST_CASE("bind: a zone transfer of many messages is verified message by message") {
  a_large_zone_transfers_in_many_signed_messages(server);
}

TEST_CASE("bind: hmac-sha512 and hmac-sha1 keys work too") {
  other_tsig_algorithms(server);
}

TEST_CASE("bind: a wrong TSIG key is an error naming zone, server and key, never the secret") {
  a_wrong_key_is_a_clear_error_without_the_secret(server);
}

TEST_CASE("bind: a stopped server is an error, never a deletion; once it is back the retry converges") {
  an_unreachable_server_is_an_error_and_the_retry_converges(server);
}

TEST_CASE("bind: without zone transfers, names are looked up one by one and dropped aliases stay (logged)") {
  without_zone_transfers(server);
}

TEST_CASE("bind: 200 services in batches") {
  two_hundred_services(server);
}
