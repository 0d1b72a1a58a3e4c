/* The record layout shared by the eBPF program (bpf/mailtap.bpf.c) and its only reader
 * (agent/capture/ringbuf_source.cc). C, not C++: the BPF side compiles it with clang -target bpf.
 *
 * Rules that keep both sides agreeing:
 * - fixed-width __u8/__u16/__u32/__u64 only (linux/types.h), every field naturally aligned, no
 *   implicit padding (explicit `reserved` bytes instead); sizes and offsets are static_assert'ed at
 *   the bottom for the C++ side, which is compiled for the same host as the kernel;
 * - a change here changes both sides at once (the skeleton embeds the program compiled from it).
 */
#ifndef MAILTAP_BPF_ABI_H_
#define MAILTAP_BPF_ABI_H_

#include <linux/types.h>

/* One ring-buffer record carries at most this many payload bytes. A segment's payload that is
 * longer (BIG TCP on loopback can exceed 64 KiB) is split into consecutive chunk records. */
#define MAILTAP_CHUNK_MAX 65536u
/* Chunks per segment: 8 x 64 KiB covers the largest GSO packet Linux builds (GSO_MAX_SIZE,
 * 512 KiB). Payload beyond that is not copied and is counted as truncated. */
#define MAILTAP_MAX_CHUNKS 8u
#define MAILTAP_MAX_COPY (MAILTAP_CHUNK_MAX * MAILTAP_MAX_CHUNKS)

/* mailtap_rec_hdr.rec_flags */
#define MAILTAP_REC_FIRST 0x01u     /* first record of a packet (offset == 0) */
#define MAILTAP_REC_LAST 0x02u      /* last record of a packet: the segment is complete */
#define MAILTAP_REC_TRUNCATED 0x04u /* the packet's payload is not copied in full */
#define MAILTAP_REC_LOST 0x08u      /* marker: the chunks from `offset` on could not be reserved */

/* Header of every ring-buffer record; chunk_len payload bytes follow it. */
struct mailtap_rec_hdr {
	__u64 ts_ns;     /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME of the capture */
	__u32 ifindex;   /* interface the packet was seen on */
	__u32 seq;       /* TCP sequence number, host byte order */
	__u32 ack;       /* TCP acknowledgment number, host byte order */
	__u32 wire_len;  /* TCP payload length on the wire, from the IP header */
	__u32 offset;    /* offset of this chunk's first byte within the TCP payload */
	__u32 chunk_len; /* payload bytes in this record */
	__u16 sport;     /* host byte order */
	__u16 dport;     /* host byte order */
	__u16 window;    /* raw TCP window field, host byte order (unscaled) */
	__u8 tcp_flags;  /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 (+ECE/CWR) */
	__u8 ip_version; /* 4 or 6 */
	__u8 saddr[16];  /* IPv4: first 4 bytes; IPv6: all 16 */
	__u8 daddr[16];
	__u32 cpu;       /* CPU that produced the record: chunks of one packet share it */
	__u32 pkt_id;    /* per-CPU packet number: chunks of one packet share it */
	__u8 rec_flags;  /* MAILTAP_REC_* */
	__u8 reserved[7];
};

/* Indices of the kernel-side counters. Each CPU owns one struct mailtap_counters (one element of
 * the `counters` map); userspace sums them. Keep in step with kCounterInfo in ringbuf_source.cc. */
enum mailtap_counter {
	MAILTAP_CTR_SEEN = 0,           /* every packet the filter ran on */
	MAILTAP_CTR_LO_OUTGOING,        /* loopback transmit copies skipped (seen again as received) */
	MAILTAP_CTR_NON_IP,             /* link-layer protocol is neither IPv4 nor IPv6 */
	MAILTAP_CTR_BAD_IP_HEADER,      /* IP header unreadable, wrong version or lengths inconsistent */
	MAILTAP_CTR_FRAGMENT,           /* IPv4/IPv6 fragment (not reassembled in the kernel filter) */
	MAILTAP_CTR_NOT_TCP,            /* IP but not TCP */
	MAILTAP_CTR_BAD_TCP_HEADER,     /* TCP header unreadable or data offset inconsistent */
	MAILTAP_CTR_PORT_MISS,          /* TCP, neither port in the SMTP port set */
	MAILTAP_CTR_MATCHED,            /* TCP segments on an SMTP port */
	MAILTAP_CTR_MATCHED_BYTES,      /* their payload bytes on the wire */
	MAILTAP_CTR_RECORDS,            /* ring-buffer records submitted */
	MAILTAP_CTR_RECORD_BYTES,       /* payload bytes copied into records */
	MAILTAP_CTR_RINGBUF_FULL,       /* packets whose payload (or all of it) could not be reserved */
	MAILTAP_CTR_RINGBUF_FULL_BYTES, /* payload bytes lost that way */
	MAILTAP_CTR_RINGBUF_LOST_PKTS,  /* packets of which not even a loss marker was delivered */
	MAILTAP_CTR_TRUNCATED,          /* packets whose payload exceeds what the filter can copy */
	MAILTAP_CTR_TRUNCATED_BYTES,    /* payload bytes not copied that way */
	MAILTAP_CTR_UNKNOWN_LINK,       /* link header length not recognised (payload > 64 KiB only) */
	MAILTAP_CTR_LOAD_FAILED,        /* bpf_skb_load_bytes failed although the bounds were checked */
	MAILTAP_CTR_IP_LENGTH_PAST_FRAME, /* IP length field claims more than the packet (dropped) */
	MAILTAP_CTR__COUNT,
};

/* 24 slots = 3 cache lines, so that two CPUs never write the same line. */
#define MAILTAP_CTR_SLOTS 24
struct mailtap_counters {
	__u64 v[MAILTAP_CTR_SLOTS];
};

/* The SMTP port set: bit (port & 7) of byte (port >> 3). */
struct mailtap_port_bitmap {
	__u8 bits[65536 / 8];
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct mailtap_rec_hdr) == 88, "mailtap_rec_hdr layout changed");
static_assert(offsetof(struct mailtap_rec_hdr, ts_ns) == 0);
static_assert(offsetof(struct mailtap_rec_hdr, ifindex) == 8);
static_assert(offsetof(struct mailtap_rec_hdr, seq) == 12);
static_assert(offsetof(struct mailtap_rec_hdr, ack) == 16);
static_assert(offsetof(struct mailtap_rec_hdr, wire_len) == 20);
static_assert(offsetof(struct mailtap_rec_hdr, offset) == 24);
static_assert(offsetof(struct mailtap_rec_hdr, chunk_len) == 28);
static_assert(offsetof(struct mailtap_rec_hdr, sport) == 32);
static_assert(offsetof(struct mailtap_rec_hdr, dport) == 34);
static_assert(offsetof(struct mailtap_rec_hdr, window) == 36);
static_assert(offsetof(struct mailtap_rec_hdr, tcp_flags) == 38);
static_assert(offsetof(struct mailtap_rec_hdr, ip_version) == 39);
static_assert(offsetof(struct mailtap_rec_hdr, saddr) == 40);
static_assert(offsetof(struct mailtap_rec_hdr, daddr) == 56);
static_assert(offsetof(struct mailtap_rec_hdr, cpu) == 72);
static_assert(offsetof(struct mailtap_rec_hdr, pkt_id) == 76);
static_assert(offsetof(struct mailtap_rec_hdr, rec_flags) == 80);
static_assert(sizeof(struct mailtap_counters) == MAILTAP_CTR_SLOTS * 8);
static_assert(MAILTAP_CTR__COUNT <= MAILTAP_CTR_SLOTS);
static_assert(sizeof(struct mailtap_port_bitmap) == 8192);
#endif

#endif /* MAILTAP_BPF_ABI_H_ */
