// Where the TLS probes go inside a library file, chosen for what a probe costs the probed process.
//
// A uprobe replaces the first byte of an instruction with a breakpoint. When the kernel can
// emulate that instruction (push, call, jmp, nop), the hit costs one trap; otherwise the kernel
// executes it out of line under single-step, a second trap. Measured on the 2-vCPU test VM
// (Linux 6.18): 1.4 us per hit on a `push`, 11 us on a `sub $imm,%rsp` (docs/benchmarks.md).
// OpenSSL's SSL_read and SSL_write (Debian's build) begin with `sub $0x18,%rsp`; each is a
// thin wrapper that calls an internal function shared with its _ex form (ssl_read_internal /
// ssl_write_internal(SSL *s, void *buf, size_t num, size_t *count), OpenSSL 1.1.1 and 3.x),
// which begins by saving registers (push). Probing that function instead of the two exported
// ones costs a trap, not two, per call, and one probe covers both forms.
//
// FindSharedCallee finds such a function from the exported names alone, by reading the ELF file:
// no symbol of the internal function is needed (distributions strip them), no offset is
// hard-coded. It only accepts an answer that several independent facts agree on; anything else
// falls back to the exported functions. Pure file parsing: no privilege, testable on any ELF.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mailtap {

struct SharedCallee {
  std::optional<uint64_t> file_offset;  // the uprobe offset (a file offset), when found
  std::string reason;                   // why not, when not found
};

// The function that both exported functions `first` and `second` of the ELF shared object
// `elf` call first (the first `call rel32` within their first 64 bytes), when: both are defined
// functions of the dynamic symbol table, both first calls lead to the same address, that address
// lies in an executable segment and is neither of the two, and its first instruction is one the
// kernel emulates (push of a register, optionally after endbr64: the offset then points past the
// endbr64, which changes no register). Linear in the file size; never throws.
SharedCallee FindSharedCallee(std::span<const uint8_t> elf, std::string_view first,
                              std::string_view second);

// The same, reading the file at `path`.
SharedCallee FindSharedCalleeInFile(const std::string& path, std::string_view first,
                                    std::string_view second);

}  // namespace mailtap
