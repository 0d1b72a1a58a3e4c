// A capture file (pcap or pcapng, any bytes) replayed through the whole pipeline: file reader,
// packet decoder, flow table, reassembler, SMTP analyzer, smtp.log and the JSON writers, whose
// every output line must parse.
#include <cstdint>
#include <fstream>

#include "capture/pcap_source.h"
#include "common/log.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  fuzz::QuietLogs();
  const std::string path =
      (fuzz::ScratchDir().parent_path() / (fuzz::ScratchDir().filename().string() + ".pcap"))
          .string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::unique_ptr<PcapSource> source;
  try {
    source = PcapSource::Open(path, PortSet::Default());
  } catch (const std::exception&) {
    return 0;  // not a capture file: refused at start-up, as mailtapd -r does
  }
  fuzz::RunPipeline(*source, path);
  return 0;
}
