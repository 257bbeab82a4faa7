// provider.kubernetes' decoding of API server answers
// (ext/provider/kubernetes/model.hpp, reflector.hpp, services.hpp). The
// input is up to five NUL-separated parts: a list page of Services, of
// EndpointSlices and of Nodes, watch-stream lines for the Services, and a
// label selector. The reflectors take them as they take the server's
// answers (json_error naming the bad value, http::error for a watch ERROR
// event, std::invalid_argument for a selector are the documented failures);
// what they hold is then judged and made into services as the provider does,
// and a service it would announce is one the core accepts.
// fuzz-dict: json kubernetes
#include "fuzz/fuzz.hpp"

#include <interlook/ext/provider/kubernetes/reflector.hpp>
#include <interlook/ext/provider/kubernetes/services.hpp>

using namespace interlook;
namespace k8s = interlook::ext::provider::k8s;

namespace {

template <class T>
struct cache {
  std::size_t changes = 0;
  k8s::reflector<T> r;

  explicit cache(std::string resource)
      : r(k8s::reflector_settings{resource, resource, "/api/v1/" + resource},
          k8s::reflector_hooks<T>{
              .changed = [this](const T* before, const T* after) {
                FUZZ_CHECK(before || after, "a change of nothing");
                if (before && after) FUZZ_CHECK(before->meta.key() == after->meta.key(), after->meta.key());
                ++changes;
              },
              .settled = [] {},
              .listed = [] {},
              .failed = [](const std::string&, const std::string&) {},
              .log = [](log_level, const std::string& m) { FUZZ_CHECK(!m.empty(), "an empty log message"); },
              .stopping = [] { return false; },
          }) {}

  // A list of one page, as list() takes it.
  void list(std::string_view body) {
    std::map<std::string, T> fresh;
    std::string rv;
    try {
      (void)r.take_page(body, fresh, rv, true);
      FUZZ_CHECK(!rv.empty(), "a page without a resourceVersion was taken");
      for (const auto& [k, obj] : fresh) FUZZ_CHECK(k == obj.meta.key(), k + " stored as " + obj.meta.key());
    } catch (const json_error&) {
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = fuzz::parts(fuzz::text(data, size), 5);
  cache<k8s::service_object> services("services");
  cache<k8s::endpoint_slice> slices("endpointslices");
  cache<k8s::node_object> nodes("nodes");
  services.list(p[0]);
  slices.list(p[1]);
  nodes.list(p[2]);

  // The services' watch: the events apply to an empty cache (list() above
  // only checked the pages), so that ADDED/MODIFIED/DELETED all matter.
  std::string_view lines = p[3];
  while (!lines.empty()) {
    auto nl = lines.find('\n');
    auto line = lines.substr(0, nl);
    lines = nl == std::string_view::npos ? std::string_view{} : lines.substr(nl + 1);
    bool gone = false;
    try {
      bool more = services.r.on_line(line, gone);
      FUZZ_CHECK(more != gone, "gone and going on");
      if (!more) break;
    } catch (const json_error&) {
    } catch (const http::error& e) {
      FUZZ_CHECK(e.kind() == http::error_kind::status, e.what());
    }
  }
  for (const auto& [k, s] : services.r.store()) FUZZ_CHECK(k == s.meta.key(), k);

  k8s::label_selector selector;
  try {
    selector = k8s::label_selector::parse(p[4]);
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("label selector requirement"), e.what());
  }

  // Slices and nodes as the provider reads them: the decoded objects of the
  // pages, whatever the cache above kept.
  std::vector<k8s::endpoint_slice> all_slices;
  std::map<std::string, k8s::node_object> node_by_name;
  try {
    auto doc = k8s::parse_json(p[1], "slices");
    if (doc.is_object())
      if (const auto* items = doc.get_object().if_contains("items"); items && items->is_array())
        for (const auto& it : items->get_array()) try {
            all_slices.push_back(k8s::decode_endpoint_slice(it));
          } catch (const json_error&) {
          }
  } catch (const json_error&) {
  }
  try {
    auto doc = k8s::parse_json(p[2], "nodes");
    if (doc.is_object())
      if (const auto* items = doc.get_object().if_contains("items"); items && items->is_array())
        for (const auto& it : items->get_array()) try {
            auto n = k8s::decode_node(it);
            node_by_name.emplace(n.meta.name, std::move(n));
          } catch (const json_error&) {
          }
  } catch (const json_error&) {
  }

  for (const auto& [key, svc] : services.r.store()) {
    auto v = k8s::judge(svc, selector);
    if (v.what == k8s::verdict::kind::malformed) FUZZ_CHECK(!v.problem.empty(), key);
    if (v.what != k8s::verdict::kind::ours) continue;
    FUZZ_CHECK(!v.hosts.empty() && v.port >= 1 && v.port <= 65535 && v.node_port != 0, key);
    std::vector<const k8s::endpoint_slice*> mine;
    for (const auto& s : all_slices)
      if (s.meta.ns == svc.meta.ns && s.service() == svc.meta.name) mine.push_back(&s);
    auto def = k8s::make_service("provider.kubernetes", svc, v, mine, [&](const std::string& node) {
      auto it = node_by_name.find(node);
      return it == node_by_name.end() ? std::string() : it->second.address();
    });
    FUZZ_CHECK(def.name == k8s::entry_name(svc.meta.ns, svc.meta.name), def.name);
    // Refresh look-ups find the Service again from the entry's name.
    auto back = k8s::split_entry_name(def.name);
    FUZZ_CHECK(back && back->first == svc.meta.ns && back->second == svc.meta.name, def.name);
    FUZZ_CHECK(!def.dns_names.empty(), def.name + " without DNS names");
    for (std::size_t i = 0; i < def.targets.size(); ++i) {
      const auto& t = def.targets[i];
      FUZZ_CHECK(!t.host.empty() && t.port == v.node_port && t.weight >= 1, def.name + ": target " + t.host);
      if (i) FUZZ_CHECK(detail::target_less(def.targets[i - 1], t), def.name + ": targets not merged");
    }
  }
  return 0;
}
