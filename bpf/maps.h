/* All maps and load-time knobs of the mailtap socket filter. See README.md for sizes and limits. */
#ifndef MAILTAP_BPF_MAPS_H_
#define MAILTAP_BPF_MAPS_H_

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "mailtap/bpf_abi.h"

/* Records for userspace (struct mailtap_rec_hdr + payload). Userspace sets the size before load
 * (--ring-size: a power of two and a multiple of the page size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* The SMTP port set, one bitmap in element 0, filled by userspace before the filter is attached. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mailtap_port_bitmap);
} ports SEC(".maps");

/* The counters: MAILTAP_CTR_SLOTS u64 per possible CPU, CPU c's counter i at element
 * c * MAILTAP_CTR_SLOTS + i (userspace sets max_entries before load), so each CPU writes only its
 * own cache lines. An mmap-able array rather than a PERCPU_ARRAY: userspace reads it through a
 * read-only mapping made at start-up, which keeps working after privileges are dropped on every
 * kernel (the bpf() syscall needs CAP_BPF on kernels before 6.5 even for a lookup when
 * unprivileged BPF is off). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MAILTAP_CTR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Load-time knobs (.rodata, frozen at load). */
/* Ifindex of the loopback device (always 1 in every network namespace; userspace confirms). */
const volatile __u32 loopback_ifindex = 1;
/* Force a userspace wake-up once this many bytes wait in the ring; below it records are
 * submitted with BPF_RB_NO_WAKEUP and userspace picks them up on its poll timer. */
const volatile __u64 wakeup_bytes = 4 << 20;

#endif /* MAILTAP_BPF_MAPS_H_ */
