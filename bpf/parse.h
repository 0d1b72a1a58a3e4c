/* Header parsing for the socket filter. Every read goes through bpf_skb_load_bytes*: a socket
 * filter may not touch skb->data directly. Parse functions return PARSE_OK or the index of the
 * counter that names why the packet was dropped (enum mailtap_counter). */
#ifndef MAILTAP_BPF_PARSE_H_
#define MAILTAP_BPF_PARSE_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "mailtap/bpf_abi.h"

#define PARSE_OK MAILTAP_CTR__COUNT

/* IPv4 fragment bits of iphdr.frag_off (RFC 791): "more fragments" and the offset. */
#define MAILTAP_IP_MF 0x2000
#define MAILTAP_IP_OFFSET 0x1fff
/* IPv6 fragment header (RFC 8200 4.5): offset (13 bits) and M flag; reserved bits ignored. */
#define MAILTAP_IP6_FRAG_OFF_M 0xfff9
/* Extension headers followed before giving up; real traffic has at most two or three. */
#define MAILTAP_MAX_IPV6_EXT 6

struct mailtap_parsed {
	__u32 l4_rel;      /* TCP header, from the network header */
	__u32 ip_end_rel;  /* end of the IP packet, from the network header; 0 = unknown (BIG TCP) */
	__u32 payload_rel; /* TCP payload, from the network header */
	__u64 ip_head[2];  /* first 16 bytes of the IP header, to locate it in the frame */
};

static __always_inline long parse__load_net(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_NET);
}

static __always_inline int parse__ipv4(struct __sk_buff *skb, struct mailtap_rec_hdr *h,
				       struct mailtap_parsed *p)
{
	struct iphdr ip;

	if (parse__load_net(skb, 0, &ip, sizeof(ip)) < 0)
		return MAILTAP_CTR_BAD_IP_HEADER;
	if (ip.version != 4 || ip.ihl < 5)
		return MAILTAP_CTR_BAD_IP_HEADER;
	if (ip.frag_off & bpf_htons(MAILTAP_IP_MF | MAILTAP_IP_OFFSET))
		return MAILTAP_CTR_FRAGMENT;
	if (ip.protocol != IPPROTO_TCP)
		return MAILTAP_CTR_NOT_TCP;
	p->l4_rel = ip.ihl * 4;
	/* tot_len 0 is how IPv4 BIG TCP (Linux 6.3+) marks a GSO packet longer than 64 KiB. */
	p->ip_end_rel = bpf_ntohs(ip.tot_len);
	if (p->ip_end_rel != 0 && p->ip_end_rel < p->l4_rel)
		return MAILTAP_CTR_BAD_IP_HEADER;
	h->ip_version = 4;
	__builtin_memcpy(h->saddr, &ip.saddr, 4);
	__builtin_memcpy(h->daddr, &ip.daddr, 4);
	__builtin_memcpy(p->ip_head, &ip, sizeof(p->ip_head));
	return PARSE_OK;
}

/* Walks the IPv6 extension header chain up to TCP (RFC 8200 section 4). */
static __always_inline int parse__ipv6_ext(struct __sk_buff *skb, __u8 next, __u32 *off)
{
	struct {
		__u8 next;
		__u8 len;
		__u16 frag_off;
	} ext;

	for (int i = 0; i < MAILTAP_MAX_IPV6_EXT; i++) {
		if (next == IPPROTO_TCP)
			return PARSE_OK;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			return MAILTAP_CTR_NOT_TCP;
		if (parse__load_net(skb, *off, &ext, sizeof(ext)) < 0)
			return MAILTAP_CTR_BAD_IP_HEADER;
		if (next == IPPROTO_FRAGMENT) {
			/* An atomic fragment (offset 0, M clear, RFC 6946) carries the whole packet. */
			if (ext.frag_off & bpf_htons(MAILTAP_IP6_FRAG_OFF_M))
				return MAILTAP_CTR_FRAGMENT;
			*off += 8;
		} else if (next == IPPROTO_AH) {
			*off += ((__u32)ext.len + 2) * 4; /* RFC 4302: length in 4-octet units - 2 */
		} else {
			*off += ((__u32)ext.len + 1) * 8; /* length in 8-octet units, first not counted */
		}
		next = ext.next;
	}
	return next == IPPROTO_TCP ? PARSE_OK : MAILTAP_CTR_BAD_IP_HEADER;
}

static __always_inline int parse__ipv6(struct __sk_buff *skb, struct mailtap_rec_hdr *h,
				       struct mailtap_parsed *p)
{
	struct ipv6hdr ip6;
	__u32 off = sizeof(ip6);
	__u32 plen;
	int rc;

	if (parse__load_net(skb, 0, &ip6, sizeof(ip6)) < 0)
		return MAILTAP_CTR_BAD_IP_HEADER;
	if (ip6.version != 6)
		return MAILTAP_CTR_BAD_IP_HEADER;
	rc = parse__ipv6_ext(skb, ip6.nexthdr, &off);
	if (rc != PARSE_OK)
		return rc;
	plen = bpf_ntohs(ip6.payload_len);
	/* payload_len 0: jumbogram / IPv6 BIG TCP, the length comes from the skb. */
	p->ip_end_rel = plen ? plen + (__u32)sizeof(ip6) : 0;
	if (p->ip_end_rel != 0 && p->ip_end_rel < off)
		return MAILTAP_CTR_BAD_IP_HEADER;
	p->l4_rel = off;
	h->ip_version = 6;
	__builtin_memcpy(h->saddr, &ip6.saddr, 16);
	__builtin_memcpy(h->daddr, &ip6.daddr, 16);
	__builtin_memcpy(p->ip_head, &ip6, sizeof(p->ip_head));
	return PARSE_OK;
}

static __always_inline int parse__tcp(struct __sk_buff *skb, struct mailtap_rec_hdr *h,
				      struct mailtap_parsed *p)
{
	struct tcphdr tcp;
	__u32 doff;

	if (parse__load_net(skb, p->l4_rel, &tcp, sizeof(tcp)) < 0)
		return MAILTAP_CTR_BAD_TCP_HEADER;
	doff = (__u32)tcp.doff * 4;
	if (doff < sizeof(tcp))
		return MAILTAP_CTR_BAD_TCP_HEADER;
	p->payload_rel = p->l4_rel + doff;
	if (p->ip_end_rel != 0 && p->payload_rel > p->ip_end_rel)
		return MAILTAP_CTR_BAD_TCP_HEADER;
	h->sport = bpf_ntohs(tcp.source);
	h->dport = bpf_ntohs(tcp.dest);
	h->seq = bpf_ntohl(tcp.seq);
	h->ack = bpf_ntohl(tcp.ack_seq);
	h->window = bpf_ntohs(tcp.window);
	h->tcp_flags = ((__u8 *)&tcp)[13];
	return PARSE_OK;
}

static __always_inline int parse__ip_at(struct __sk_buff *skb, __u32 off,
					const struct mailtap_parsed *p)
{
	__u64 buf[2];

	if (bpf_skb_load_bytes(skb, off, buf, sizeof(buf)) < 0)
		return 0;
	return buf[0] == p->ip_head[0] && buf[1] == p->ip_head[1];
}

/* Offset of the network header from skb->data, where bpf_skb_load_bytes counts from, or -1.
 * A SOCK_RAW packet socket shows the link-layer header when the device has one (Ethernet and
 * loopback: 14 bytes; an in-band 802.1Q tag: 18) and none otherwise (tun, WireGuard: 0). It is
 * found by looking for the IP header's first 16 bytes (read relative to the network header) at
 * those offsets: a link header cannot equal them (its first byte would have to be 0x4_/0x6_ and
 * the following 15 match too). Needed because bpf_skb_load_bytes_relative refuses offsets beyond
 * 0xffff, which the payload of a BIG TCP packet reaches. */
static __always_inline int parse__l3_offset(struct __sk_buff *skb, const struct mailtap_parsed *p)
{
	if (parse__ip_at(skb, ETH_HLEN, p))
		return ETH_HLEN;
	if (parse__ip_at(skb, 0, p))
		return 0;
	if (parse__ip_at(skb, ETH_HLEN + 4, p))
		return ETH_HLEN + 4;
	return -1;
}

#endif /* MAILTAP_BPF_PARSE_H_ */
