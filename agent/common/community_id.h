// Community ID v1 (the Community ID specification, github.com/corelight/community-id-spec): a
// flow hash that other tools (Zeek's community-id policy, Suricata, Elastic) compute the same way,
// so that records of one connection can be joined across them.
#pragma once

#include <cstdint>
#include <string>

#include "mailtap/packet.h"

namespace mailtap {

inline constexpr uint8_t kIpProtoTcp = 6;

enum class CommunityIdEncoding : uint8_t { kBase64, kHex };

// "1:" + the encoded SHA-1 of (seed, the two endpoints ordered smaller (address, port) first,
// protocol, a zero byte, the ports). IPv4 addresses (held IPv4-mapped) hash as 4 bytes. Only for
// port-based protocols (TCP, UDP, SCTP): ICMP's type/code mapping is not implemented.
// Never throws; returns an empty string if libcrypto fails.
std::string CommunityId(const IpAddress& src, uint16_t src_port, const IpAddress& dst,
                        uint16_t dst_port, uint8_t protocol = kIpProtoTcp, uint16_t seed = 0,
                        CommunityIdEncoding encoding = CommunityIdEncoding::kBase64);

}  // namespace mailtap
