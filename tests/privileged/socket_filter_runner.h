// Test helper: the real socket filter (bpf/mailtap.bpf.c) loaded into the running kernel, run on
// single frames with BPF_PROG_TEST_RUN (the kernel builds an skb of the frame as received on lo
// and runs the program once), its verdicts read from its own counters. Apart from the tests so
// that they need no libbpf header, whose `struct bpf_insn` clashes with libpcap's.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "mailtap/bpf_abi.h"
#include "mailtap/port_set.h"

namespace mailtap::live_test {

class SocketFilterRunner {
 public:
  // Loads the program with `ports` as the SMTP port set. Throws std::runtime_error (from the
  // loader) when it cannot. REQUIRES: live capture is available (LiveCaptureUnavailableReason).
  explicit SocketFilterRunner(const PortSet& ports);
  ~SocketFilterRunner();
  SocketFilterRunner(const SocketFilterRunner&) = delete;
  SocketFilterRunner& operator=(const SocketFilterRunner&) = delete;

  // Runs the filter once on an Ethernet frame; returns its return value (-1 when the kernel
  // refused to run it, errno set).
  int64_t Run(std::span<const uint8_t> frame);

  // Counter `c` summed over the CPUs.
  uint64_t Count(mailtap_counter c) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailtap::live_test
