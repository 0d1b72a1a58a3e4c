// Shared by the fuzz targets: a whole pipeline writing its outputs (JSON lines) into a private
// directory, and the check that every line it wrote parses.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/log.h"
#include "config.h"
#include "mailtap/capture_source.h"
#include "pipeline.h"

namespace mailtap::fuzz {

// Only errors on stderr: the agent's warnings about hostile input would drown the fuzzer's output.
// Call at the top of LLVMFuzzerTestOneInput; it acts once.
inline void QuietLogs() {
  static const bool quiet = [] {
    SetLogThreshold(Severity::kError);
    return true;
  }();
  (void)quiet;
}

// A directory of this process's own under /dev/shm (or TMPDIR), emptied per input.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::filesystem::path p =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : (base ? base : "/tmp");
    p /= "mailtap-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(p);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return p;
  }();
  return dir;
}

// Every line of `path` must be one JSON object: a writer never leaves a broken line.
inline void CheckJsonLines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) {
      std::fprintf(stderr, "not a JSON object in %s: %.200s\n", path.c_str(), line.c_str());
      std::abort();
    }
  }
}

// Runs `source` through a pipeline with --events and --log-dir (JSON) and checks the outputs.
// `tiny_budgets`: the reassembly, line and pending-record shares of a few KiB each, so that
// inputs of a few KiB reach the code that cuts the largest holders.
inline void RunPipeline(CaptureSource& source, std::optional<std::string> read_file = {},
                        bool tiny_budgets = false) {
  const std::filesystem::path dir = ScratchDir();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::filesystem::remove(entry.path());
  }
  Config config;
  config.read_file = read_file ? read_file : std::optional<std::string>("fuzz");
  config.events_path = (dir / "events.jsonl").string();
  config.log_dir = dir.string();
  config.redact = RedactMode::kNone;
  if (tiny_budgets) {
    for (Budget b : {Budget::kReassembly, Budget::kLines, Budget::kPendingRecords}) {
      config.memory.bytes[static_cast<size_t>(b)] = 2048;
    }
  }
  {
    Pipeline pipeline(config);
    pipeline.Run(source);
  }
  CheckJsonLines(dir / "events.jsonl");
  CheckJsonLines(dir / "smtp.log");
  CheckJsonLines(dir / "weird.log");
}

}  // namespace mailtap::fuzz
