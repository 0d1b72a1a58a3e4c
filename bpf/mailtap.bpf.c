// SPDX-License-Identifier: GPL-2.0-only
/* mailtap socket filter: attached with SO_ATTACH_BPF to AF_PACKET sockets, it copies every TCP
 * segment on an SMTP port into the `events` ring buffer (struct mailtap_rec_hdr + payload) and
 * returns 0, so nothing is ever queued on the socket itself. See README.md. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "parse.h"

char LICENSE[] SEC("license") = "GPL";

/* What one packet's records share, kept on the stack while its chunks are emitted. */
struct emit_ctx {
	struct __sk_buff *skb;
	struct mailtap_rec_hdr hdr; /* template: offset, chunk_len and FIRST/LAST set per record */
	__s32 l3_abs;               /* network header from skb->data; -1 = unknown link layer */
	__u32 payload_rel;          /* TCP payload from the network header */
};

#define EMIT_NO_ROOM (-1)
#define EMIT_LOAD_FAILED (-2)

/* Counter `idx` of this CPU is element cpu * MAILTAP_CTR_SLOTS + idx. A map lookup rather than
 * pointer arithmetic on one element: the verifier lets only CAP_PERFMON programs add different
 * offsets to one pointer on different paths, and the program must load with CAP_BPF alone. */
static __always_inline void ctr__add(__u32 cpu, __u32 idx, __u64 n)
{
	__u32 key = cpu * MAILTAP_CTR_SLOTS + idx;
	__u64 *v;

	if (idx >= MAILTAP_CTR_SLOTS)
		return;
	v = bpf_map_lookup_elem(&counters, &key);
	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline int ports__match(__u16 sport, __u16 dport)
{
	__u32 zero = 0;
	struct mailtap_port_bitmap *b = bpf_map_lookup_elem(&ports, &zero);

	if (!b)
		return 0; /* cannot happen: an array always has element 0 */
	return ((b->bits[sport >> 3] >> (sport & 7)) & 1) ||
	       ((b->bits[dport >> 3] >> (dport & 7)) & 1);
}

/* Batched wake-ups: waking the reader for every record costs more than the copy itself. The
 * reader polls on a short timer; only a ring that is filling up wakes it early. */
static __always_inline __u64 emit__wake_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

static __always_inline long emit__load(struct emit_ctx *e, __u32 off, void *to, __u32 len)
{
	__u32 rel = e->payload_rel + off;

	if (e->l3_abs >= 0)
		return bpf_skb_load_bytes(e->skb, (__u32)e->l3_abs + rel, to, len);
	return bpf_skb_load_bytes_relative(e->skb, rel, to, len, BPF_HDR_START_NET);
}

/* Reserves a record with room for `room` payload bytes (a constant after inlining: the ring
 * buffer only reserves constant sizes) and copies `len` <= room bytes of payload from `off`
 * straight from the skb into it. Returns 0, EMIT_NO_ROOM (nothing submitted) or
 * EMIT_LOAD_FAILED (submitted as the packet's truncated last record). */
static __always_inline int emit__record(struct emit_ctx *e, __u32 off, __u32 len, __u32 room,
					__u8 flags)
{
	struct mailtap_rec_hdr *r;
	int rc = 0;

	r = bpf_ringbuf_reserve(&events, sizeof(*r) + room, 0);
	if (!r)
		return EMIT_NO_ROOM;
	__builtin_memcpy(r, &e->hdr, sizeof(*r));
	r->offset = off;
	r->chunk_len = 0;
	r->rec_flags |= flags | (off == 0 ? MAILTAP_REC_FIRST : 0);
	if (room != 0 && len != 0) {
		if (len > room)
			len = room;
		if (emit__load(e, off, r + 1, len) == 0) {
			r->chunk_len = len;
		} else {
			r->rec_flags |= MAILTAP_REC_LAST | MAILTAP_REC_TRUNCATED;
			ctr__add(e->hdr.cpu, MAILTAP_CTR_LOAD_FAILED, 1);
			rc = EMIT_LOAD_FAILED;
		}
	}
	ctr__add(e->hdr.cpu, MAILTAP_CTR_RECORDS, 1);
	ctr__add(e->hdr.cpu, MAILTAP_CTR_RECORD_BYTES, r->chunk_len);
	bpf_ringbuf_submit(r, emit__wake_flag());
	return rc;
}

/* The last record of a packet, in the smallest size class that holds `len` bytes: at most half
 * of a record is wasted ring space, and the copy goes straight from the skb into the ring. */
static __always_inline int emit__tail(struct emit_ctx *e, __u32 off, __u32 len)
{
	const __u8 f = MAILTAP_REC_LAST;

	if (len == 0)
		return emit__record(e, off, 0, 0, f);
	if (len <= 128)
		return emit__record(e, off, len, 128, f);
	if (len <= 512)
		return emit__record(e, off, len, 512, f);
	if (len <= 1536)
		return emit__record(e, off, len, 1536, f);
	if (len <= 4096)
		return emit__record(e, off, len, 4096, f);
	if (len <= 9216)
		return emit__record(e, off, len, 9216, f);
	if (len <= 16384)
		return emit__record(e, off, len, 16384, f);
	if (len <= 32768)
		return emit__record(e, off, len, 32768, f);
	return emit__record(e, off, len, MAILTAP_CHUNK_MAX, f);
}

/* Emits copy_len payload bytes as full chunks plus a tail record. When the ring has no room,
 * the rest of the packet is lost: counted, and announced by a header-only LOST record so that
 * userspace reports a gap of the right size instead of silence. */
static __always_inline void emit__segment(struct emit_ctx *e, __u32 copy_len)
{
	__u32 off = 0;
	int rc;

	for (__u32 i = 0; i < MAILTAP_MAX_CHUNKS - 1; i++) {
		if (copy_len - off <= MAILTAP_CHUNK_MAX)
			break;
		rc = emit__record(e, off, MAILTAP_CHUNK_MAX, MAILTAP_CHUNK_MAX, 0);
		if (rc != 0)
			goto failed;
		off += MAILTAP_CHUNK_MAX;
	}
	rc = emit__tail(e, off, copy_len - off);
	if (rc == 0)
		return;
failed:
	if (rc != EMIT_NO_ROOM)
		return;
	ctr__add(e->hdr.cpu, MAILTAP_CTR_RINGBUF_FULL, 1);
	ctr__add(e->hdr.cpu, MAILTAP_CTR_RINGBUF_FULL_BYTES, copy_len - off);
	if (emit__record(e, off, 0, 0,
			 MAILTAP_REC_LAST | MAILTAP_REC_LOST | MAILTAP_REC_TRUNCATED) != 0)
		ctr__add(e->hdr.cpu, MAILTAP_CTR_RINGBUF_LOST_PKTS, 1);
}

static __always_inline int parse__packet(struct __sk_buff *skb, struct mailtap_rec_hdr *h,
					 struct mailtap_parsed *p)
{
	int rc;

	if (skb->protocol == bpf_htons(ETH_P_IP))
		rc = parse__ipv4(skb, h, p);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		rc = parse__ipv6(skb, h, p);
	else
		return MAILTAP_CTR_NON_IP;
	if (rc == PARSE_OK)
		rc = parse__tcp(skb, h, p);
	if (rc == PARSE_OK && !ports__match(h->sport, h->dport))
		rc = MAILTAP_CTR_PORT_MISS;
	return rc;
}

#define COPY_UNKNOWN_LINK (-1)
#define COPY_IP_LENGTH_PAST_FRAME (-2)

/* How many payload bytes to copy (<= wire_len), or why nothing is copied: the wire length is
 * unknowable (COPY_UNKNOWN_LINK), or the IP length field claims bytes the packet does not have
 * (COPY_IP_LENGTH_PAST_FRAME). The filter sees the whole skb, so such a packet was not cut by a
 * capture limit: it is short on the wire, and the kernel's IP input drops it too (ip_rcv_core and
 * ip6_rcv_core count it in InTruncatedPkts), so none of its bytes reached a socket. Checked only
 * where the network header's offset is known. Lengths the kernel writes are never past the skb:
 * a GSO or GRO skb's length field covers the whole merged packet the skb holds, and BIG TCP's
 * length 0 is taken from the skb. */
static __always_inline __s64 copy__length(struct emit_ctx *e, struct mailtap_parsed *p)
{
	__u32 skb_len = e->skb->len;
	__u32 net_len = 0, end = p->ip_end_rel, avail;

	if (e->l3_abs >= 0 && skb_len > (__u32)e->l3_abs)
		net_len = skb_len - (__u32)e->l3_abs;
	if (e->l3_abs >= 0 && end > net_len)
		return COPY_IP_LENGTH_PAST_FRAME;
	if (end == 0)
		end = net_len; /* BIG TCP: the IP header has no length */
	if (end < p->payload_rel)
		return COPY_UNKNOWN_LINK;
	e->hdr.wire_len = end - p->payload_rel;
	if (e->l3_abs >= 0)
		avail = net_len > p->payload_rel ? net_len - p->payload_rel : 0;
	else
		avail = MAILTAP_CHUNK_MAX; /* relative loads reach the first chunk only */
	if (avail > e->hdr.wire_len)
		avail = e->hdr.wire_len;
	return avail > MAILTAP_MAX_COPY ? MAILTAP_MAX_COPY : avail;
}

SEC("socket")
int mailtap__filter(struct __sk_buff *skb)
{
	struct mailtap_parsed p = {};
	struct emit_ctx e = {};
	__u32 cpu = bpf_get_smp_processor_id();
	__s64 copy_len;
	int rc;

	__u32 seen_key = cpu * MAILTAP_CTR_SLOTS + MAILTAP_CTR_SEEN;
	__u64 *seen = bpf_map_lookup_elem(&counters, &seen_key);

	if (!seen)
		return 0; /* cannot happen: slots for every possible CPU, and nowhere to count it */
	e.hdr.pkt_id = (__u32)*seen;
	__sync_fetch_and_add(seen, 1);
	e.hdr.cpu = cpu;
	/* On loopback every packet passes the taps twice: once sent (PACKET_OUTGOING), once
	 * received (PACKET_HOST). On other devices a packet is seen once either way, so only
	 * loopback's transmit copy is skipped. */
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == loopback_ifindex) {
		ctr__add(cpu, MAILTAP_CTR_LO_OUTGOING, 1);
		return 0;
	}
	rc = parse__packet(skb, &e.hdr, &p);
	if (rc != PARSE_OK) {
		ctr__add(cpu, rc, 1);
		return 0;
	}
	e.skb = skb;
	e.l3_abs = parse__l3_offset(skb, &p);
	e.payload_rel = p.payload_rel;
	copy_len = copy__length(&e, &p);
	if (copy_len == COPY_IP_LENGTH_PAST_FRAME) {
		ctr__add(cpu, MAILTAP_CTR_IP_LENGTH_PAST_FRAME, 1);
		return 0;
	}
	if (copy_len < 0) {
		ctr__add(cpu, MAILTAP_CTR_UNKNOWN_LINK, 1);
		return 0;
	}
	if (copy_len < e.hdr.wire_len) {
		e.hdr.rec_flags = MAILTAP_REC_TRUNCATED;
		ctr__add(cpu, MAILTAP_CTR_TRUNCATED, 1);
		ctr__add(cpu, MAILTAP_CTR_TRUNCATED_BYTES, e.hdr.wire_len - copy_len);
		if (e.l3_abs < 0)
			ctr__add(cpu, MAILTAP_CTR_UNKNOWN_LINK, 1);
	}
	ctr__add(cpu, MAILTAP_CTR_MATCHED, 1);
	ctr__add(cpu, MAILTAP_CTR_MATCHED_BYTES, e.hdr.wire_len);
	e.hdr.ts_ns = bpf_ktime_get_boot_ns();
	e.hdr.ifindex = skb->ifindex;
	emit__segment(&e, (__u32)copy_len);
	return 0;
}
