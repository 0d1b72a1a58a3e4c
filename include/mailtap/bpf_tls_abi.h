/* The record layout shared by the TLS probes (bpf/tls.bpf.c) and their only reader
 * (agent/capture/tls_ring_reader.cc). C, not C++: the BPF side compiles it with clang -target bpf
 * against vmlinux.h, which already defines the __u8.. __u64 types.
 *
 * Same rules as bpf_abi.h: fixed-width fields, natural alignment, explicit reserved bytes, and
 * sizes static_assert'ed for the C++ side.
 */
#ifndef MAILTAP_BPF_TLS_ABI_H_
#define MAILTAP_BPF_TLS_ABI_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* One record carries at most this many plaintext bytes. A TLS call that returned or wrote more
 * is split into consecutive records of one CPU (FIRST ... LAST), like the socket filter's chunks. */
#define MAILTAP_TLS_CHUNK_MAX 16384u
/* Chunks per call: 16 x 16 KiB. Userspace may lower the copy limit (tls_max_copy, load time);
 * bytes past it are counted as truncated and the record keeps the call's real length. */
#define MAILTAP_TLS_MAX_CHUNKS 16u
#define MAILTAP_TLS_MAX_COPY (MAILTAP_TLS_CHUNK_MAX * MAILTAP_TLS_MAX_CHUNKS)

/* mailtap_tls_rec.kind */
#define MAILTAP_TLS_KIND_PLAINTEXT 1u /* a TLS library call's plaintext */
#define MAILTAP_TLS_KIND_OWNER 2u     /* a socket on an SMTP port and the task that owns it */

/* mailtap_tls_rec.op */
#define MAILTAP_TLS_OP_READ 0u
#define MAILTAP_TLS_OP_WRITE 1u

/* mailtap_tls_rec.library */
#define MAILTAP_TLS_LIB_OPENSSL 0u
#define MAILTAP_TLS_LIB_GNUTLS 1u

/* mailtap_tls_rec.rec_flags: the same bits as the socket filter's MAILTAP_REC_*. */
#define MAILTAP_TLS_REC_FIRST 0x01u     /* first record of a call (offset == 0) */
#define MAILTAP_TLS_REC_LAST 0x02u      /* last record of a call */
#define MAILTAP_TLS_REC_TRUNCATED 0x04u /* the call's bytes are not copied in full */
#define MAILTAP_TLS_REC_LOST 0x08u      /* marker: the chunks from `offset` on could not be reserved */
#define MAILTAP_TLS_REC_READ_FAILED 0x10u /* the user buffer could not be read from `offset` on */

/* Header of every record of the TLS ring; chunk_len plaintext bytes follow it. Addresses and
 * ports are the socket's own view: local = this host's end. An AF_INET6 socket carrying IPv4
 * (v4-mapped ::ffff:a.b.c.d) is reported as family 6; userspace maps it to IPv4. */
struct mailtap_tls_rec {
	__u64 ts_ns;     /* bpf_ktime_get_boot_ns(), the socket filter's clock */
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() of the task */
	__u32 pid;       /* thread-group id of the task */
	__u32 tid;       /* thread id */
	__u32 len;       /* bytes the call returned or wrote in all (plaintext); 0 for owners */
	__u32 offset;    /* offset of this chunk's first byte within the call's bytes */
	__u32 chunk_len; /* plaintext bytes in this record */
	__u32 cpu;       /* CPU that produced the record: chunks of one call share it */
	__u32 call_id;   /* per-CPU call number: chunks of one call share it */
	__u16 lport;     /* host byte order */
	__u16 rport;     /* host byte order */
	__u8 laddr[16];  /* IPv4: first 4 bytes */
	__u8 raddr[16];
	__u8 family;     /* 4 or 6; 0 = no connection (cannot happen in a delivered record) */
	__u8 kind;       /* MAILTAP_TLS_KIND_* */
	__u8 op;         /* MAILTAP_TLS_OP_* */
	__u8 library;    /* MAILTAP_TLS_LIB_* */
	__u8 rec_flags;  /* MAILTAP_TLS_REC_* */
	__u8 reserved[3];
	char comm[16];   /* task name, NUL-padded */
};

/* Kernel-side counters of the TLS probes, one row of MAILTAP_TLS_CTR_SLOTS per CPU. Keep in step
 * with kTlsCounterInfo in agent/capture/tls_probes.cc. */
enum mailtap_tls_counter {
	MAILTAP_TLS_CTR_CALLS = 0,         /* TLS calls entered by a watched process */
	MAILTAP_TLS_CTR_OTHER_PROCESS,     /* TLS calls of processes not watched (ignored) */
	MAILTAP_TLS_CTR_FAILED_CALLS,      /* calls that returned no data (WANT_READ, errors) */
	MAILTAP_TLS_CTR_CALLS_WITH_DATA,   /* calls that returned or wrote bytes */
	MAILTAP_TLS_CTR_DATA_BYTES,        /* their bytes */
	MAILTAP_TLS_CTR_SOCKET_SEEN,       /* calls that reached tcp_sendmsg/tcp_recvmsg */
	MAILTAP_TLS_CTR_CACHE_HITS,        /* calls with data tied through the SSL*->socket cache */
	MAILTAP_TLS_CTR_NOT_SMTP,          /* calls with data on a connection on no SMTP port */
	MAILTAP_TLS_CTR_UNMATCHED,         /* calls with data tied to no connection (lost) */
	MAILTAP_TLS_CTR_UNMATCHED_BYTES,
	MAILTAP_TLS_CTR_RECORDS,           /* plaintext records submitted */
	MAILTAP_TLS_CTR_RECORD_BYTES,      /* plaintext bytes copied into records */
	MAILTAP_TLS_CTR_RINGBUF_FULL,      /* calls whose bytes (or part) could not be reserved */
	MAILTAP_TLS_CTR_RINGBUF_FULL_BYTES,
	MAILTAP_TLS_CTR_RINGBUF_LOST,      /* calls lost without even a loss marker */
	MAILTAP_TLS_CTR_TRUNCATED,         /* calls longer than the copy limit */
	MAILTAP_TLS_CTR_TRUNCATED_BYTES,
	MAILTAP_TLS_CTR_READ_FAILED,       /* calls whose user buffer could not be read */
	MAILTAP_TLS_CTR_READ_FAILED_BYTES,
	MAILTAP_TLS_CTR_NO_ENTRY,          /* returns without a recorded entry (probe attached mid-call) */
	MAILTAP_TLS_CTR_INFLIGHT_FULL,     /* entries not recorded: the in-flight map was full (lost) */
	MAILTAP_TLS_CTR_OWNERS,            /* socket-owner records submitted */
	MAILTAP_TLS_CTR_OWNERS_LOST,       /* socket-owner records the ring had no room for */
	MAILTAP_TLS_CTR_UNCORK_RESENDS,    /* gnutls_record_send calls made by uncork (not reported) */
	MAILTAP_TLS_CTR__COUNT,
};

#define MAILTAP_TLS_CTR_SLOTS 24

/* Key of the watched-process map: the task name, NUL-padded to 16 bytes. */
struct mailtap_tls_comm {
	char name[16];
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct mailtap_tls_rec) == 104, "mailtap_tls_rec layout changed");
static_assert(offsetof(struct mailtap_tls_rec, cgroup_id) == 8);
static_assert(offsetof(struct mailtap_tls_rec, pid) == 16);
static_assert(offsetof(struct mailtap_tls_rec, len) == 24);
static_assert(offsetof(struct mailtap_tls_rec, call_id) == 40);
static_assert(offsetof(struct mailtap_tls_rec, lport) == 44);
static_assert(offsetof(struct mailtap_tls_rec, laddr) == 48);
static_assert(offsetof(struct mailtap_tls_rec, raddr) == 64);
static_assert(offsetof(struct mailtap_tls_rec, family) == 80);
static_assert(offsetof(struct mailtap_tls_rec, rec_flags) == 84);
static_assert(offsetof(struct mailtap_tls_rec, comm) == 88);
static_assert(MAILTAP_TLS_CTR__COUNT <= MAILTAP_TLS_CTR_SLOTS);
#endif

#endif /* MAILTAP_BPF_TLS_ABI_H_ */
