#include "socket_filter_runner.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <stdexcept>

#include "capture/kernel_counters.h"
#include "capture/ringbuf_loader.h"

namespace mailtap::live_test {

struct SocketFilterRunner::Impl {
  ringbuf_loader::SkelPtr skel;
  KernelCounters counters;
};

SocketFilterRunner::SocketFilterRunner(const PortSet& ports) : impl_(std::make_unique<Impl>()) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) throw std::runtime_error("cannot count the possible CPUs");
  // 1 MiB of ring: nobody reads it, a few test frames fit.
  impl_->skel = ringbuf_loader::LoadProgram(size_t{1} << 20, static_cast<size_t>(ncpus));
  ringbuf_loader::FillPorts(*impl_->skel, ports);
  impl_->counters.Map(bpf_map__fd(impl_->skel->maps.counters), static_cast<size_t>(ncpus),
                      sizeof(mailtap_counters), "counters map");
}

SocketFilterRunner::~SocketFilterRunner() = default;

int64_t SocketFilterRunner::Run(std::span<const uint8_t> frame) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
  if (bpf_prog_test_run_opts(bpf_program__fd(impl_->skel->progs.mailtap__filter), &opts) != 0) {
    return -1;
  }
  return opts.retval;
}

uint64_t SocketFilterRunner::Count(mailtap_counter c) const { return impl_->counters.Sum(c); }

}  // namespace mailtap::live_test
