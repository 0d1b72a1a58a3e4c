/* All maps and load-time knobs of the TLS probes (tls.bpf.c). See README.md, "TLS probes". */
#ifndef MAILTAP_BPF_TLS_MAPS_H_
#define MAILTAP_BPF_TLS_MAPS_H_

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "mailtap/bpf_tls_abi.h"

/* A connection as its local socket sees it. */
struct tls_tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport; /* host byte order */
	__u16 rport; /* host byte order */
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

/* How a TLS function reports the number of bytes it moved. */
#define TLS_RET_INT 0   /* SSL_read/SSL_write: int return value > 0 */
#define TLS_RET_EX 1    /* SSL_read_ex/SSL_write_ex: returns 1, the count is in *arg4 */
#define TLS_RET_SSIZE 2 /* gnutls_record_recv/send: ssize_t return value > 0 */

/* A TLS call in flight on one thread, from its entry probe to its return probe. */
struct tls_call {
	__u64 session;   /* SSL* or gnutls_session_t: names the connection within the process */
	__u64 buf;       /* user buffer */
	__u64 count_ptr; /* TLS_RET_EX: where the library stores the byte count */
	__u8 op;         /* MAILTAP_TLS_OP_* */
	__u8 library;    /* MAILTAP_TLS_LIB_* */
	__u8 ret_kind;   /* TLS_RET_* */
	__u8 has_tuple;  /* the call reached the TCP layer: `tuple` is its socket */
	__u32 pad;
	struct tls_tuple tuple;
};

/* Key of the session -> connection cache. */
struct tls_session_key {
	__u32 tgid;
	__u32 pad;
	__u64 session;
};

/* Records for userspace (struct mailtap_tls_rec + plaintext); sized by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} tls_events SEC(".maps");

/* The SMTP port set, one bitmap in element 0 (bit p = port p), filled before attach. */
struct tls_port_bitmap {
	__u8 bits[65536 / 8];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_port_bitmap);
} tls_ports SEC(".maps");

/* Task names whose TLS calls are captured (--tls-processes), filled before attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mailtap_tls_comm);
	__type(value, __u8);
} tls_comms SEC(".maps");

/* The call in flight per thread (key: bpf_get_current_pid_tgid()). LRU: a thread that dies inside
 * a TLS call leaves an entry that nothing deletes; LRU eviction reclaims it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_inflight SEC(".maps");

/* Threads inside gnutls_record_uncork() (tls.bpf.c): their sends are resends. LRU for the same
 * reason as tls_inflight. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} tls_uncorking SEC(".maps");

/* Session -> connection, per process: SSL_read can return plaintext it buffered earlier without
 * touching the socket, so the connection seen by an earlier call of the same session is kept. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_session_key);
	__type(value, struct tls_tuple);
} tls_sessions SEC(".maps");

/* Sockets whose owner was reported, so that each (socket, process) is reported once. The
 * connection is part of the key: a freed socket's memory reused for another connection is a
 * new key. */
struct tls_owner_key {
	__u64 sk;
	__u32 tgid;
	__u16 lport;
	__u16 rport;
	__u8 raddr[16];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_owner_key);
	__type(value, __u8);
} tls_owners_seen SEC(".maps");

/* Counters: MAILTAP_TLS_CTR_SLOTS u64 per possible CPU, mmap-able (see maps.h for why). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MAILTAP_TLS_CTR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} tls_counters SEC(".maps");

/* Load-time knobs (.rodata). */
/* Plaintext bytes copied per call at most (<= MAILTAP_TLS_MAX_COPY); the rest is truncated. */
const volatile __u32 tls_max_copy = MAILTAP_TLS_MAX_COPY;
/* Wake userspace only once this many bytes wait in the ring (it polls on a timer otherwise). */
const volatile __u64 tls_wakeup_bytes = 2 << 20;

#endif /* MAILTAP_BPF_TLS_MAPS_H_ */
