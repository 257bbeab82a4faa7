#pragma once
// dns.rfc2136's ownership TXT: the one the DNS provisioners share.

#include <interlook/ext/dns/ownership.hpp>

namespace interlook::ext::dns::rfc2136_detail {
using ownership_record::heritage;
using ownership_record::ownership;
using ownership_record::ownership_text;
using ownership_record::parse_ownership;
}  // namespace interlook::ext::dns::rfc2136_detail
