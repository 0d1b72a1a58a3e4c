// SPDX-License-Identifier: GPL-2.0-only
/* mailtap TLS probes: uprobes on the TLS libraries of mail servers (OpenSSL SSL_read/SSL_write
 * and their _ex forms, GnuTLS gnutls_record_recv/send) copy the plaintext each call returned or
 * wrote into the `tls_events` ring buffer. The connection is found in the kernel, not from the
 * library's structures: while a call is in flight, the fentry probes on tcp_sendmsg/tcp_recvmsg of the
 * same thread read the socket's addresses (CO-RE) and remember them per session. Beside that,
 * the owner of every socket on an SMTP port (accept or connect) is reported. See README.md. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tls_maps.h"

char LICENSE[] SEC("license") = "GPL";

#define MAILTAP_AF_INET 2
#define MAILTAP_AF_INET6 10

#define EMIT_NO_ROOM (-1)
#define EMIT_READ_FAILED (-2)

/* What the records of one call share while its chunks are emitted. */
struct tls_emit {
	struct mailtap_tls_rec hdr; /* template: offset, chunk_len, flags set per record */
	__u64 buf;
};

static __always_inline void ctr__add(__u32 cpu, __u32 idx, __u64 n)
{
	__u32 key = cpu * MAILTAP_TLS_CTR_SLOTS + idx;
	__u64 *v;

	if (idx >= MAILTAP_TLS_CTR_SLOTS)
		return;
	v = bpf_map_lookup_elem(&tls_counters, &key);
	if (v)
		__sync_fetch_and_add(v, n);
}

/* Adds 1 to counter `idx` and returns its previous value (a per-CPU sequence number). */
static __always_inline __u32 ctr__next(__u32 cpu, __u32 idx)
{
	__u32 key = cpu * MAILTAP_TLS_CTR_SLOTS + idx;
	__u64 *v = bpf_map_lookup_elem(&tls_counters, &key);

	if (!v)
		return 0;
	return (__u32)__sync_fetch_and_add(v, 1);
}

static __always_inline int ports__match(__u16 a, __u16 b)
{
	__u32 zero = 0;
	struct tls_port_bitmap *m = bpf_map_lookup_elem(&tls_ports, &zero);

	if (!m)
		return 0;
	return ((m->bits[a >> 3] >> (a & 7)) & 1) || ((m->bits[b >> 3] >> (b & 7)) & 1);
}

/* The socket's own view of its connection (CO-RE reads of struct sock_common). */
static __always_inline int tuple__from_sock(struct sock *sk, struct tls_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);

	if (protocol != IPPROTO_TCP)
		return -1; /* the socket hooks see every socket: UDP, unix, ... */
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == MAILTAP_AF_INET) {
		t->family = 4;
		BPF_CORE_READ_INTO((__u32 *)t->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->raddr, sk, __sk_common.skc_daddr);
		return 0;
	}
	if (family == MAILTAP_AF_INET6) {
		t->family = 6;
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		return 0;
	}
	return -1;
}

/* ---- entry probes: remember the call per thread ---- */

/* Whether the current task's name is one of --tls-processes. */
static __always_inline int comm__watched(void)
{
	struct mailtap_tls_comm comm = {};

	bpf_get_current_comm(comm.name, sizeof(comm.name));
	return bpf_map_lookup_elem(&tls_comms, &comm) != 0;
}

static __always_inline int call__enter(void *session, void *buf, void *count_ptr, __u8 op,
				       __u8 library, __u8 ret_kind)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call c = {};

	if (!comm__watched()) {
		ctr__add(cpu, MAILTAP_TLS_CTR_OTHER_PROCESS, 1);
		return 0;
	}
	ctr__add(cpu, MAILTAP_TLS_CTR_CALLS, 1);
	c.session = (__u64)session;
	c.buf = (__u64)buf;
	c.count_ptr = (__u64)count_ptr;
	c.op = op;
	c.library = library;
	c.ret_kind = ret_kind;
	if (bpf_map_update_elem(&tls_inflight, &id, &c, BPF_ANY) != 0)
		ctr__add(cpu, MAILTAP_TLS_CTR_INFLIGHT_FULL, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls__ssl_read, void *ssl, void *buf)
{
	return call__enter(ssl, buf, 0, MAILTAP_TLS_OP_READ, MAILTAP_TLS_LIB_OPENSSL, TLS_RET_INT);
}

SEC("uprobe")
int BPF_KPROBE(tls__ssl_write, void *ssl, void *buf)
{
	return call__enter(ssl, buf, 0, MAILTAP_TLS_OP_WRITE, MAILTAP_TLS_LIB_OPENSSL, TLS_RET_INT);
}

SEC("uprobe")
int BPF_KPROBE(tls__ssl_read_ex, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return call__enter(ssl, buf, readbytes, MAILTAP_TLS_OP_READ, MAILTAP_TLS_LIB_OPENSSL,
			   TLS_RET_EX);
}

SEC("uprobe")
int BPF_KPROBE(tls__ssl_write_ex, void *ssl, void *buf, __u64 num, void *written)
{
	return call__enter(ssl, buf, written, MAILTAP_TLS_OP_WRITE, MAILTAP_TLS_LIB_OPENSSL,
			   TLS_RET_EX);
}

SEC("uprobe")
int BPF_KPROBE(tls__gnutls_recv, void *session, void *buf)
{
	return call__enter(session, buf, 0, MAILTAP_TLS_OP_READ, MAILTAP_TLS_LIB_GNUTLS,
			   TLS_RET_SSIZE);
}

SEC("uprobe")
int BPF_KPROBE(tls__gnutls_send, void *session, void *buf)
{
	__u64 id = bpf_get_current_pid_tgid();

	/* A send made by gnutls_record_uncork() resends bytes already reported (below). */
	if (bpf_map_lookup_elem(&tls_uncorking, &id)) {
		ctr__add(bpf_get_smp_processor_id(), MAILTAP_TLS_CTR_UNCORK_RESENDS, 1);
		return 0;
	}
	return call__enter(session, buf, 0, MAILTAP_TLS_OP_WRITE, MAILTAP_TLS_LIB_GNUTLS,
			   TLS_RET_SSIZE);
}

/* A corked GnuTLS session (gnutls_record_cork(); Exim corks its pipelined replies) buffers what
 * gnutls_record_send() is given and returns its length: those bytes are reported then, in the
 * order the server wrote them. gnutls_record_uncork() later sends the buffer by calling
 * gnutls_record_send() itself, on the same thread: while a watched thread is inside uncork, its
 * sends are not reported a second time. */
SEC("uprobe")
int BPF_KPROBE(tls__gnutls_uncork, void *session)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u8 one = 1;

	if (comm__watched())
		bpf_map_update_elem(&tls_uncorking, &id, &one, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls__gnutls_uncork_ret, long rc)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&tls_uncorking, &id);
	return 0;
}

/* ---- records ---- */

static __always_inline __u64 emit__wake_flag(void)
{
	return bpf_ringbuf_query(&tls_events, BPF_RB_AVAIL_DATA) >= tls_wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

static __always_inline void emit__header(struct mailtap_tls_rec *h, const struct tls_tuple *t,
					 __u64 id, __u32 cpu)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->cpu = cpu;
	h->lport = t->lport;
	h->rport = t->rport;
	h->family = t->family;
	__builtin_memcpy(h->laddr, t->laddr, sizeof(h->laddr));
	__builtin_memcpy(h->raddr, t->raddr, sizeof(h->raddr));
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* A socket-owner record for the current task. */
static __always_inline void owner__emit(const struct tls_tuple *t)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct mailtap_tls_rec *r;

	r = bpf_ringbuf_reserve(&tls_events, sizeof(*r), 0);
	if (!r) {
		ctr__add(cpu, MAILTAP_TLS_CTR_OWNERS_LOST, 1);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	emit__header(r, t, bpf_get_current_pid_tgid(), cpu);
	r->kind = MAILTAP_TLS_KIND_OWNER;
	r->rec_flags = MAILTAP_TLS_REC_FIRST | MAILTAP_TLS_REC_LAST;
	ctr__add(cpu, MAILTAP_TLS_CTR_OWNERS, 1);
	bpf_ringbuf_submit(r, emit__wake_flag());
}

/* ---- the socket layer, in the task doing the I/O ---- */

/* Reports the task doing I/O on a socket of an SMTP port, once per (socket, process). Taken at
 * the I/O rather than at accept(): a socket handed to another process (Postfix's postscreen
 * passes it to smtpd) is reported for the process that actually talks on it, and every hook
 * runs in process context, where the current task is the socket's user. (The ESTABLISHED state
 * change of a server socket happens in softirq, where `current` is arbitrary.) */
static __always_inline void owner__report(struct sock *sk, const struct tls_tuple *t, __u32 tgid)
{
	struct tls_owner_key key = {};
	__u8 one = 1;

	key.sk = (__u64)sk;
	key.tgid = tgid;
	key.lport = t->lport;
	key.rport = t->rport;
	__builtin_memcpy(key.raddr, t->raddr, sizeof(key.raddr));
	if (bpf_map_lookup_elem(&tls_owners_seen, &key))
		return;
	bpf_map_update_elem(&tls_owners_seen, &key, &one, BPF_ANY);
	owner__emit(t);
}

/* Ties the thread's TLS call in flight (if any, and not yet tied) to this socket, and reports
 * the socket's owner. */
static __always_inline int sock__io(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *c = bpf_map_lookup_elem(&tls_inflight, &id);
	struct tls_session_key key = {};
	struct tls_tuple t = {};

	if (!c) {
		if (tuple__from_sock(sk, &t) == 0 && ports__match(t.lport, t.rport))
			owner__report(sk, &t, id >> 32);
		return 0;
	}
	if (c->has_tuple || tuple__from_sock(sk, &c->tuple) != 0)
		return 0;
	c->has_tuple = 1;
	ctr__add(bpf_get_smp_processor_id(), MAILTAP_TLS_CTR_SOCKET_SEEN, 1);
	key.tgid = id >> 32;
	key.session = c->session;
	bpf_map_update_elem(&tls_sessions, &key, &c->tuple, BPF_ANY);
	if (ports__match(c->tuple.lport, c->tuple.rport))
		owner__report(sk, &c->tuple, id >> 32);
	return 0;
}

/* Linux 6.3+: the tracepoints every socket send and receive passes (sock_sendmsg_nosec,
 * sock_recvmsg_nosec), also for read()/write() on a socket and also when the call would block.
 * BTF-typed raw tracepoints: no kprobes needed (some kernels are built without them). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tls__sock_send, struct sock *sk)
{
	return sock__io(sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tls__sock_recv, struct sock *sk)
{
	return sock__io(sk);
}

/* Before 6.3: kprobes on the TCP functions (userspace loads one pair or the other). */
SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(tls__tcp_sendmsg, struct sock *sk)
{
	return sock__io(sk);
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tls__tcp_recvmsg, struct sock *sk)
{
	return sock__io(sk);
}

/* ---- return probe: copy the plaintext out ---- */

/* Reserves a record with room for `room` bytes (a constant after inlining) and copies `len` <=
 * room bytes of the user buffer from `off` into it. Returns 0, EMIT_NO_ROOM (nothing submitted)
 * or EMIT_READ_FAILED (submitted as the call's last record, marked). */
static __always_inline int emit__record(struct tls_emit *e, __u32 off, __u32 len, __u32 room,
					__u8 flags)
{
	struct mailtap_tls_rec *r;
	int rc = 0;

	r = bpf_ringbuf_reserve(&tls_events, sizeof(*r) + room, 0);
	if (!r)
		return EMIT_NO_ROOM;
	__builtin_memcpy(r, &e->hdr, sizeof(*r));
	r->offset = off;
	r->chunk_len = 0;
	r->rec_flags |= flags | (off == 0 ? MAILTAP_TLS_REC_FIRST : 0);
	if (len > room)
		len = room;
	if (room != 0 && len != 0) {
		if (bpf_probe_read_user(r + 1, len, (void *)(e->buf + off)) == 0) {
			r->chunk_len = len;
		} else {
			r->rec_flags |= MAILTAP_TLS_REC_LAST | MAILTAP_TLS_REC_TRUNCATED |
					MAILTAP_TLS_REC_READ_FAILED;
			rc = EMIT_READ_FAILED;
		}
	}
	ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_RECORDS, 1);
	ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_RECORD_BYTES, r->chunk_len);
	bpf_ringbuf_submit(r, emit__wake_flag());
	return rc;
}

/* The last record of a call in the smallest size class that holds `len` bytes. */
static __always_inline int emit__tail(struct tls_emit *e, __u32 off, __u32 len)
{
	const __u8 f = MAILTAP_TLS_REC_LAST;

	if (len <= 256)
		return emit__record(e, off, len, 256, f);
	if (len <= 2048)
		return emit__record(e, off, len, 2048, f);
	return emit__record(e, off, len, MAILTAP_TLS_CHUNK_MAX, f);
}

static __always_inline void emit__lost(struct tls_emit *e, __u32 off, __u32 copy_len, int rc)
{
	if (rc == EMIT_READ_FAILED) {
		ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_READ_FAILED, 1);
		ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_READ_FAILED_BYTES, copy_len - off);
		return;
	}
	ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_RINGBUF_FULL, 1);
	ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_RINGBUF_FULL_BYTES, copy_len - off);
	if (emit__record(e, off, 0, 0,
			 MAILTAP_TLS_REC_LAST | MAILTAP_TLS_REC_LOST | MAILTAP_TLS_REC_TRUNCATED) != 0)
		ctr__add(e->hdr.cpu, MAILTAP_TLS_CTR_RINGBUF_LOST, 1);
}

/* Emits copy_len bytes as full 16 KiB chunks plus a tail record. */
static __always_inline void emit__call(struct tls_emit *e, __u32 copy_len)
{
	__u32 off = 0;
	int rc;

	for (__u32 i = 0; i < MAILTAP_TLS_MAX_CHUNKS - 1; i++) {
		if (copy_len - off <= MAILTAP_TLS_CHUNK_MAX)
			break;
		rc = emit__record(e, off, MAILTAP_TLS_CHUNK_MAX, MAILTAP_TLS_CHUNK_MAX, 0);
		if (rc != 0)
			goto failed;
		off += MAILTAP_TLS_CHUNK_MAX;
	}
	rc = emit__tail(e, off, copy_len - off);
	if (rc == 0)
		return;
failed:
	emit__lost(e, off, copy_len, rc);
}

/* Bytes the call moved, from its return value (and *count for the _ex forms); <= 0: none. */
static __always_inline __s64 call__result(const struct tls_call *c, long rc)
{
	__u64 count = 0;

	if (c->ret_kind == TLS_RET_INT)
		return (__s64)(int)rc;
	if (c->ret_kind == TLS_RET_SSIZE)
		return rc;
	if ((int)rc <= 0)
		return 0;
	if (bpf_probe_read_user(&count, sizeof(count), (void *)c->count_ptr) != 0)
		return 0;
	return (__s64)count;
}

/* The call's connection: its own socket operation, else the session's earlier one. */
static __always_inline int call__tuple(struct tls_call *c, __u32 tgid, __u32 cpu)
{
	struct tls_session_key key = {};
	struct tls_tuple *t;

	if (c->has_tuple)
		return 0;
	key.tgid = tgid;
	key.session = c->session;
	t = bpf_map_lookup_elem(&tls_sessions, &key);
	if (!t)
		return -1;
	c->tuple = *t;
	ctr__add(cpu, MAILTAP_TLS_CTR_CACHE_HITS, 1);
	return 0;
}

/* Copies the n bytes of a call tied to its connection into the ring, at most tls_max_copy. */
static __always_inline void call__emit(const struct tls_call *c, __u32 n, __u32 call_id, __u64 id,
				       __u32 cpu)
{
	struct tls_emit e = {};
	__u32 copy_len = n;

	emit__header(&e.hdr, &c->tuple, id, cpu);
	e.hdr.call_id = call_id;
	e.hdr.kind = MAILTAP_TLS_KIND_PLAINTEXT;
	e.hdr.op = c->op;
	e.hdr.library = c->library;
	e.hdr.len = n;
	e.buf = c->buf;
	if (copy_len > tls_max_copy) {
		copy_len = tls_max_copy;
		e.hdr.rec_flags = MAILTAP_TLS_REC_TRUNCATED;
		ctr__add(cpu, MAILTAP_TLS_CTR_TRUNCATED, 1);
		ctr__add(cpu, MAILTAP_TLS_CTR_TRUNCATED_BYTES, n - copy_len);
	}
	emit__call(&e, copy_len);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls__ret, long rc)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call c, *inflight;
	__u32 call_id;
	__s64 n;

	inflight = bpf_map_lookup_elem(&tls_inflight, &id);
	if (!inflight) {
		/* Mostly the returns of processes not watched (their entries were never made), and
		 * of the resends inside gnutls_record_uncork (skipped on entry, counted there). */
		if (comm__watched() && !bpf_map_lookup_elem(&tls_uncorking, &id))
			ctr__add(cpu, MAILTAP_TLS_CTR_NO_ENTRY, 1);
		return 0;
	}
	c = *inflight;
	bpf_map_delete_elem(&tls_inflight, &id);
	n = call__result(&c, rc);
	if (n <= 0) {
		ctr__add(cpu, MAILTAP_TLS_CTR_FAILED_CALLS, 1);
		return 0;
	}
	if (n > 0x7fffffff)
		n = 0x7fffffff;
	ctr__add(cpu, MAILTAP_TLS_CTR_DATA_BYTES, n);
	if (call__tuple(&c, id >> 32, cpu) != 0) {
		ctr__add(cpu, MAILTAP_TLS_CTR_CALLS_WITH_DATA, 1);
		ctr__add(cpu, MAILTAP_TLS_CTR_UNMATCHED, 1);
		ctr__add(cpu, MAILTAP_TLS_CTR_UNMATCHED_BYTES, n);
		return 0;
	}
	call_id = ctr__next(cpu, MAILTAP_TLS_CTR_CALLS_WITH_DATA);
	if (!ports__match(c.tuple.lport, c.tuple.rport)) {
		ctr__add(cpu, MAILTAP_TLS_CTR_NOT_SMTP, 1);
		return 0;
	}
	call__emit(&c, (__u32)n, call_id, id, cpu);
	return 0;
}
