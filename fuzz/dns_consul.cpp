// dns.consul's decoding of Consul catalog answers (ext/dns/consul/catalog.hpp):
// GET /v1/catalog/node/<node>, /v1/catalog/nodes, /v1/catalog/service/<name>
// and a rolled-back /v1/txn's Errors, each fed the whole input; then the
// aliases of the input's first line as node names. bad_reply naming the
// answer is the documented failure.
// fuzz-dict: json consul
#include "fuzz/fuzz.hpp"

#include <interlook/ext/dns/consul/catalog.hpp>

using namespace interlook::ext::dns::consul_detail;

namespace {
template <class F>
void decoded(F&& f) {
  try {
    f();
  } catch (const bad_reply& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("catalog "), e.what());
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = fuzz::text(data, size);
  decoded([&] {
    if (auto n = parse_node(body)) {
      for (const auto& s : n->services) FUZZ_CHECK(n->find_service(s.id) != nullptr, s.id);
    }
  });
  decoded([&] { (void)parse_nodes(body); });
  decoded([&] { (void)parse_service_nodes(body); });

  // Errors that name operations outside the transaction (or wrap around it)
  // are shown as "?", never read past the operations.
  std::vector<txn_op> ops(5);
  for (std::size_t i = 0; i < ops.size(); ++i) ops[i].node = "n" + std::to_string(i);
  auto errors = parse_txn_errors(body);
  auto text = rollback_text(body, ops, 2, 4, "409");
  FUZZ_CHECK(text.starts_with("Consul rolled the transaction back"), text);
  for (const auto& e : errors)
    FUZZ_CHECK(text.find("node " + (e.op_index < 2 ? "n" + std::to_string(2 + e.op_index) : std::string("?")) + ": " +
                         e.what) != std::string::npos,
               text);

  std::string why;
  auto line = body.substr(0, body.find('\n'));
  if (auto n = node_name(line, why)) {
    FUZZ_CHECK(!n->empty() && n->size() <= 253 && n->back() != '.', *n);
    std::string again;
    FUZZ_CHECK(node_name(*n, again) == n, *n + ": " + again);
  } else {
    FUZZ_CHECK(!why.empty(), std::string(line));
  }
  return 0;
}
