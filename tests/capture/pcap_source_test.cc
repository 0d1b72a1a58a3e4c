#include "capture/pcap_source.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "capture/stats_map.h"
#include "support/packet_builder.h"

namespace mailtap {
namespace {

using testing::BuildEthernet;
using testing::EthernetTcpFrame;
using testing::Frame;
using testing::Ip;
using testing::PcapRecord;
using testing::StatsByName;
using testing::TcpPacket;
using testing::WritePcap;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "mailtap_pcap_source_" + std::to_string(getpid()) + "_" + name;
}

TcpPacket Smtp(uint16_t client_port, std::string payload) {
  return {.src = "10.1.1.1",
          .src_port = client_port,
          .dst = "10.2.2.2",
          .dst_port = 25,
          .seq = 100,
          .flags = kTcpPsh | kTcpAck,
          .payload = std::move(payload)};
}

std::string PayloadText(const TcpSegment& s) {
  return std::string(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
}

// Reads every segment; returns their payloads.
std::vector<std::string> ReadAll(PcapSource& source) {
  std::vector<std::string> out;
  TcpSegment s;
  while (source.Next(&s) == CaptureStatus::kSegment) out.push_back(PayloadText(s));
  return out;
}

std::string OpenError(const std::string& path) {
  try {
    PcapSource::Open(path, PortSet::Default());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no exception)";
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(PcapSourceTest, DeliversOnlySegmentsOnSmtpPorts) {
  std::string path = TempPath("ports.pcap");
  TcpPacket https = Smtp(40000, "not mail");
  https.dst_port = 443;
  TcpPacket submission = Smtp(40001, "EHLO b\r\n");
  submission.dst_port = 587;
  TcpPacket reply = {.src = "10.2.2.2",
                     .src_port = 25,
                     .dst = "10.1.1.1",
                     .dst_port = 40002,
                     .payload = "220 hi\r\n"};
  WritePcap(path, dlt::kEthernet,
            {{Timestamp{1}, EthernetTcpFrame(Smtp(40000, "EHLO a\r\n"))},
             {Timestamp{2}, EthernetTcpFrame(https)},
             {Timestamp{3}, BuildEthernet(testing::kEtherTypeArp, Frame(28, 0))},
             {Timestamp{4}, EthernetTcpFrame(submission)},
             {Timestamp{5}, EthernetTcpFrame(reply)}});
  auto source = PcapSource::Open(path, PortSet::Default());
  EXPECT_EQ(ReadAll(*source), (std::vector<std::string>{"EHLO a\r\n", "EHLO b\r\n", "220 hi\r\n"}));
  auto stats = StatsByName(*source);
  EXPECT_EQ(stats["packets_total"], 5u);
  EXPECT_EQ(stats["tcp_segments"], 4u);
  EXPECT_EQ(stats["not_smtp_port"], 1u);
  EXPECT_EQ(stats["not_ip"], 1u);
  EXPECT_EQ(stats["pcap_read_errors"], 0u);
  std::remove(path.c_str());
}

TEST(PcapSourceTest, SegmentCarriesPacketTimeAndDecodedFields) {
  std::string path = TempPath("fields.pcap");
  TcpPacket p = {.src = "2001:db8::1",
                 .src_port = 51000,
                 .dst = "2001:db8::25",
                 .dst_port = 25,
                 .seq = 7,
                 .ack = 9,
                 .flags = kTcpAck,
                 .window = 512,
                 .payload = "DATA\r\n"};
  WritePcap(path, dlt::kEthernet, {{Timestamp{1700000000123456}, EthernetTcpFrame(p)}});
  auto source = PcapSource::Open(path, PortSet::Default());
  EXPECT_EQ(source->link_type(), dlt::kEthernet);
  TcpSegment s;
  ASSERT_EQ(source->Next(&s), CaptureStatus::kSegment);
  EXPECT_EQ(s.ts, Timestamp{1700000000123456});
  EXPECT_EQ(s.src, Ip("2001:db8::1"));
  EXPECT_EQ(s.dst_port, 25);
  EXPECT_EQ(s.window, 512);
  EXPECT_EQ(PayloadText(s), "DATA\r\n");
  EXPECT_EQ(source->Next(&s), CaptureStatus::kEndOfInput);
  std::remove(path.c_str());
}

TEST(PcapSourceTest, SnaplenCutRecordReportsWireLength) {
  std::string path = TempPath("snaplen.pcap");
  Frame full = EthernetTcpFrame(Smtp(40000, "MAIL FROM:<a@example.com>\r\n"));
  WritePcap(path, dlt::kEthernet,
            {{Timestamp{1}, testing::Truncated(full, 64), static_cast<uint32_t>(full.size())}}, 64);
  auto source = PcapSource::Open(path, PortSet::Default());
  TcpSegment s;
  ASSERT_EQ(source->Next(&s), CaptureStatus::kSegment);
  EXPECT_EQ(s.payload.size(), 64u - 14 - 20 - 20);
  EXPECT_EQ(s.payload_wire_len, 27u);
  EXPECT_EQ(StatsByName(*source)["snaplen_truncated_payload"], 1u);
  std::remove(path.c_str());
}

// A nanosecond pcap written byte by byte (magic a1b23c4d), independent of libpcap's writer.
TEST(PcapSourceTest, NanosecondTimestampsAreTruncatedToMicroseconds) {
  Frame frame = EthernetTcpFrame(Smtp(40000, "QUIT\r\n"));
  Frame file;
  testing::PutLe32(file, 0xa1b23c4d);
  testing::PutLe32(file, 0x00040002);  // version 2.4 (little-endian halves: major 2, minor 4)
  testing::PutLe32(file, 0);           // thiszone
  testing::PutLe32(file, 0);           // sigfigs
  testing::PutLe32(file, 65535);       // snaplen
  testing::PutLe32(file, 1);           // LINKTYPE_ETHERNET
  testing::PutLe32(file, 1600000000);  // ts seconds
  testing::PutLe32(file, 123456789);   // ts nanoseconds
  testing::PutLe32(file, static_cast<uint32_t>(frame.size()));
  testing::PutLe32(file, static_cast<uint32_t>(frame.size()));
  testing::Append(file, frame);
  std::string path = TempPath("nano.pcap");
  WriteBytes(path, std::string(file.begin(), file.end()));
  auto source = PcapSource::Open(path, PortSet::Default());
  TcpSegment s;
  ASSERT_EQ(source->Next(&s), CaptureStatus::kSegment);
  EXPECT_EQ(s.ts, Timestamp{1600000000123456});  // .123456789 truncated, not rounded
  std::remove(path.c_str());
}

TEST(PcapSourceTest, MissingFileErrorNamesFileAndCause) {
  std::string path = TempPath("does-not-exist.pcap");
  EXPECT_EQ(OpenError(path), "cannot read capture file '" + path + "': No such file or directory");
}

TEST(PcapSourceTest, GarbageFileIsNotACaptureFile) {
  std::string path = TempPath("garbage.pcap");
  WriteBytes(path, "From: someone\r\nSubject: this is a mail, not a pcap\r\n");
  EXPECT_EQ(OpenError(path), "cannot read capture file '" + path +
                                 "': unknown file format (not a pcap or pcapng file)");
  std::remove(path.c_str());
}

TEST(PcapSourceTest, EmptyFileIsRejected) {
  std::string path = TempPath("empty.pcap");
  WriteBytes(path, "");
  std::string error = OpenError(path);
  EXPECT_EQ(error.rfind("cannot read capture file '" + path + "': ", 0), 0u) << error;
  std::remove(path.c_str());
}

TEST(PcapSourceTest, DirectoryIsRejected) {
  std::string path = TempPath("dir");
  std::filesystem::create_directory(path);
  EXPECT_EQ(OpenError(path), "cannot read capture file '" + path + "': Is a directory");
  std::filesystem::remove(path);
}

TEST(PcapSourceTest, UnreadableFileReportsPermissionDenied) {
  std::string path = TempPath("secret.pcap");
  WritePcap(path, dlt::kEthernet, {});
  chmod(path.c_str(), 0);
  const std::string expected = "cannot read capture file '" + path + "': Permission denied";
  if (geteuid() != 0) {
    EXPECT_EQ(OpenError(path), expected);
  } else {
    // Root reads files whatever their mode: check from a child that became nobody.
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      bool dropped = setgid(65534) == 0 && setuid(65534) == 0;
      _exit(dropped && OpenError(path) == expected ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "as nobody, opening a mode-0 file did not fail with: " << expected;
  }
  std::remove(path.c_str());
}

TEST(PcapSourceTest, UnsupportedLinkTypeIsRejectedAtStartup) {
  std::string path = TempPath("wifi.pcap");
  WritePcap(path, 105, {});  // DLT_IEEE802_11
  EXPECT_EQ(OpenError(path),
            "cannot read capture file '" + path + "': unsupported link type IEEE802_11 (105)");
  std::remove(path.c_str());
}

TEST(PcapSourceTest, TruncatedFileEndsInputAndCountsReadError) {
  std::string path = TempPath("truncated.pcap");
  WritePcap(path, dlt::kEthernet,
            {{Timestamp{1}, EthernetTcpFrame(Smtp(40000, "first\r\n"))},
             {Timestamp{2}, EthernetTcpFrame(Smtp(40000, "second, cut by the end of file\r\n"))}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  auto source = PcapSource::Open(path, PortSet::Default());
  ::testing::internal::CaptureStderr();
  std::vector<std::string> payloads = ReadAll(*source);
  std::string stderr_text = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(payloads, std::vector<std::string>{"first\r\n"});
  EXPECT_EQ(StatsByName(*source)["pcap_read_errors"], 1u);
  EXPECT_NE(stderr_text.find("'" + path + "'"), std::string::npos) << stderr_text;
  EXPECT_NE(stderr_text.find("truncated dump file"), std::string::npos) << stderr_text;
  EXPECT_EQ(std::count(stderr_text.begin(), stderr_text.end(), '\n'), 1) << stderr_text;
  TcpSegment s;
  EXPECT_EQ(source->Next(&s), CaptureStatus::kEndOfInput);  // stays ended
  EXPECT_EQ(StatsByName(*source)["pcap_read_errors"], 1u);
  std::remove(path.c_str());
}

TEST(PcapSourceTest, StopEndsInputBeforeTheNextPacket) {
  std::string path = TempPath("stop.pcap");
  WritePcap(path, dlt::kEthernet,
            {{Timestamp{1}, EthernetTcpFrame(Smtp(40000, "a"))},
             {Timestamp{2}, EthernetTcpFrame(Smtp(40000, "b"))}});
  auto source = PcapSource::Open(path, PortSet::Default());
  TcpSegment s;
  ASSERT_EQ(source->Next(&s), CaptureStatus::kSegment);
  source->Stop();
  EXPECT_EQ(source->Next(&s), CaptureStatus::kEndOfInput);
  std::remove(path.c_str());
}

TEST(PcapSourceTest, DescribeNamesTheFile) {
  std::string path = TempPath("describe.pcap");
  WritePcap(path, dlt::kLinuxSll2, {});
  EXPECT_EQ(PcapSource::Open(path, PortSet::Default())->Describe(), "pcap file " + path);
  std::remove(path.c_str());
}

TEST(PcapSourceTest, ReadsStandardInputForDash) {
  std::string path = TempPath("stdin.pcap");
  Frame ip = testing::TcpIpPacket(Smtp(40000, "from stdin\r\n"));
  WritePcap(path, dlt::kRaw, {{Timestamp{5}, ip}});
  ASSERT_NE(std::freopen(path.c_str(), "rb", stdin), nullptr);
  auto source = PcapSource::Open("-", PortSet::Default());
  EXPECT_EQ(ReadAll(*source), std::vector<std::string>{"from stdin\r\n"});
  EXPECT_EQ(source->Describe(), "pcap file -");
  std::remove(path.c_str());
}

TEST(PcapSourceTest, GarbageOnStandardInputNamesStandardInput) {
  std::string path = TempPath("stdin-garbage");
  WriteBytes(path, "garbage garbage garbage");
  ASSERT_NE(std::freopen(path.c_str(), "rb", stdin), nullptr);
  EXPECT_EQ(OpenError("-"),
            "cannot read capture file '-' (standard input): unknown file format (not a pcap or "
            "pcapng file)");
  std::remove(path.c_str());
}

// --- Zeek's traces: expected figures come from tshark/capinfos, not from this code ------------

std::string CorpusFile(const std::string& relative) {
  const char* root = std::getenv("MAILTAP_ZEEK_CORPUS");
  if (root == nullptr) return {};
  std::string path = std::string(root) + "/traces/" + relative;
  return std::filesystem::exists(path) ? path : std::string();
}

struct TraceFigures {
  uint64_t segments = 0;
  uint64_t payload_bytes = 0;
  TcpSegment first;
};

TraceFigures ReadTrace(PcapSource& source) {
  TraceFigures f;
  TcpSegment s;
  while (source.Next(&s) == CaptureStatus::kSegment) {
    if (f.segments++ == 0) f.first = s;
    f.payload_bytes += s.payload.size();
    EXPECT_EQ(s.payload.size(), s.payload_wire_len);
  }
  return f;
}

TEST(PcapSourceCorpusTest, SmtpPcapMatchesTshark) {
  std::string path = CorpusFile("smtp.pcap");
  if (path.empty()) GTEST_SKIP() << "Zeek corpus not found: set MAILTAP_ZEEK_CORPUS";
  auto source = PcapSource::Open(path, PortSet{25});
  TraceFigures f = ReadTrace(*source);
  // tshark -r smtp.pcap -Y 'tcp.port==25 && !icmp' | wc -l  -> 80. (Plain 'tcp.port==25' gives
  // 84: tshark also matches the TCP headers quoted inside 4 ICMP "fragmentation needed" errors,
  // frames 26, 28-30, which are not segments.)
  EXPECT_EQ(f.segments, 80u);
  // tshark -r smtp.pcap -Y 'tcp.port==25 && !icmp' -T fields -e tcp.len | sum  -> 22214 (the
  // 60-byte frames of bare ACKs carry 6 bytes of Ethernet padding that must not count)
  EXPECT_EQ(f.payload_bytes, 22214u);
  auto stats = StatsByName(*source);
  // capinfos: 125 packets, data size 38919 bytes. tshark -Y 'tcp && !icmp': 118; the other 7 are
  // 2 DNS + 1 NetBIOS (UDP) and the 4 ICMP errors.
  EXPECT_EQ(stats["packets_total"], 125u);
  EXPECT_EQ(stats["bytes_total"], 38919u);
  EXPECT_EQ(stats["tcp_segments"], 118u);
  EXPECT_EQ(stats["not_tcp"], 7u);
  EXPECT_EQ(stats["not_smtp_port"], 118u - 80u);
  // tshark -o tcp.relative_sequence_numbers:FALSE, frame 3: the client's SYN.
  EXPECT_EQ(f.first.ts, Timestamp{1254722767529046});
  EXPECT_EQ(f.first.src, Ip("10.10.1.4"));
  EXPECT_EQ(f.first.src_port, 1470);
  EXPECT_EQ(f.first.dst, Ip("74.53.140.153"));
  EXPECT_EQ(f.first.dst_port, 25);
  EXPECT_EQ(f.first.seq, 2126795696u);
  EXPECT_EQ(f.first.ack, 0u);
  EXPECT_EQ(f.first.flags, kTcpSyn);
  EXPECT_EQ(f.first.window, 65535);
}

TEST(PcapSourceCorpusTest, PcapngBdatTraceMatchesTshark) {
  std::string path = CorpusFile("smtp/smtp-bdat-cmd-invalid.pcapng");
  if (path.empty()) GTEST_SKIP() << "Zeek corpus not found: set MAILTAP_ZEEK_CORPUS";
  auto source = PcapSource::Open(path, PortSet{25});
  TraceFigures f = ReadTrace(*source);
  // tshark -Y 'tcp.port==25': 66 frames, tcp.len sum 1052, 3 SYNs; first frame below.
  EXPECT_EQ(f.segments, 66u);
  EXPECT_EQ(f.payload_bytes, 1052u);
  EXPECT_EQ(f.first.ts, Timestamp{1705333298367948});
  EXPECT_EQ(f.first.src, Ip("127.0.0.1"));
  EXPECT_EQ(f.first.src_port, 33472);
  EXPECT_EQ(f.first.seq, 3686707182u);
  EXPECT_EQ(f.first.flags, kTcpSyn);
  EXPECT_EQ(f.first.window, 64240);
  EXPECT_EQ(StatsByName(*source)["bytes_total"], 5456u);  // capinfos data size
}

TEST(PcapSourceCorpusTest, Ipv6AttachmentTraceMatchesTshark) {
  std::string path = CorpusFile("smtp-attachment-msg.pcap");
  if (path.empty()) GTEST_SKIP() << "Zeek corpus not found: set MAILTAP_ZEEK_CORPUS";
  auto source = PcapSource::Open(path, PortSet{25});
  TraceFigures f = ReadTrace(*source);
  // tshark -Y 'tcp.port==25': 17 frames (all IPv6), tcp.len sum 688; first frame below.
  EXPECT_EQ(f.segments, 17u);
  EXPECT_EQ(f.payload_bytes, 688u);
  EXPECT_EQ(f.first.ts, Timestamp{1610557925999672});
  EXPECT_EQ(f.first.src, Ip("::1"));
  EXPECT_EQ(f.first.src_port, 56660);
  EXPECT_EQ(f.first.dst_port, 25);
  EXPECT_EQ(f.first.seq, 839859356u);
  EXPECT_EQ(f.first.window, 65476);
  EXPECT_EQ(StatsByName(*source)["bytes_total"], 2158u);  // capinfos data size
}

}  // namespace
}  // namespace mailtap
