// Loading the socket filter: the kernel and privilege checks, the eBPF program and its maps
// (the skeleton), and the packet sockets it is attached to. Start-up only; every failure throws
// std::runtime_error with a message that says what failed and how to fix it. Part of
// mailtap_live, with ringbuf_source.cc: the only code that uses libbpf.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "mailtap.skel.h"
#include "mailtap/port_set.h"

namespace mailtap::ringbuf_loader {

[[noreturn]] void Fail(const std::string& message);
std::string ErrnoText(int err);

struct SkelDeleter {
  void operator()(mailtap_bpf* skel) const { mailtap_bpf__destroy(skel); }
};
using SkelPtr = std::unique_ptr<mailtap_bpf, SkelDeleter>;

// A power of two between the page size and 1 GiB, else Fail naming --ring-size.
void ValidateRingSize(size_t size);
// The index of each named interface, in order; Fail naming the first unknown one.
std::vector<unsigned> ResolveInterfaces(const std::vector<std::string>& names);
// Fail naming the missing capabilities, or a kernel without BPF ring buffers.
void CheckPrivilegesAndKernel();
// Opens, sizes and loads the program (Fail with the verifier's log on rejection).
SkelPtr LoadProgram(size_t ring_size, size_t ncpus);
// Writes the SMTP port set into the program's port map.
void FillPorts(const mailtap_bpf& skel, const PortSet& ports);
// Binds `fd` to every protocol on `ifindex` (0 = every interface). False with errno set.
bool BindToInterface(int fd, unsigned ifindex);
// A packet socket with the filter attached, bound to `ifindex` (0 = every interface).
UniqueFd OpenPacketSocket(int prog_fd, unsigned ifindex, const std::string& name, bool loopback);

}  // namespace mailtap::ringbuf_loader
