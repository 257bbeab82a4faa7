#pragma once
// Every built-in extension this project has: what the stock daemon contains.

#include <interlook/ext/dns/hosts.hpp>
#include <interlook/ext/ipam/ipalloc.hpp>
#include <interlook/ext/provider/file.hpp>
#include <interlook/registry.hpp>

namespace interlook::examples {

using builtin_registry = interlook::registry<ext::provider::file, ext::ipam::ipalloc, ext::dns::hosts>;

}  // namespace interlook::examples
