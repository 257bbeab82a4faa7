#pragma once
// Every built-in extension this project has: what the stock daemon contains.

#include <interlook/ext/dns/consul/consul.hpp>
#include <interlook/ext/dns/hosts/hosts.hpp>
#include <interlook/ext/dns/powerdns/powerdns.hpp>
#include <interlook/ext/dns/rfc2136/rfc2136.hpp>
#include <interlook/ext/ipam/ipalloc/ipalloc.hpp>
#include <interlook/ext/lb/f5ltm/f5ltm.hpp>
#include <interlook/ext/lb/haproxy/haproxy.hpp>
#include <interlook/ext/lb/kemplm/kemplm.hpp>
#include <interlook/ext/provider/file/file.hpp>
#include <interlook/ext/provider/kubernetes/kubernetes.hpp>
#include <interlook/ext/provider/swarm/swarm.hpp>
#include <interlook/extension/registry.hpp>

namespace interlook::examples {

using builtin_registry = interlook::registry<ext::provider::file, ext::provider::swarm, ext::provider::kubernetes, ext::ipam::ipalloc,
                                             ext::dns::hosts, ext::dns::rfc2136, ext::dns::consul, ext::dns::powerdns, ext::lb::haproxy,
                                             ext::lb::f5ltm, ext::lb::kemplm>;

}  // namespace interlook::examples
