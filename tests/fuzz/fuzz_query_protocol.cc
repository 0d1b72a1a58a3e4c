// One request line of any bytes: the parser accepts or refuses it with a known error code, never
// throws, and what it accepts survives formatting and parsing again unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "query/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  QueryRequest request;
  QueryError error;
  if (!ParseQueryRequest(line, &request, &error)) {
    if (error.code.empty()) std::abort();
    (void)ErrorMessage(error);
    return 0;
  }
  const std::string again = FormatQueryRequest(request);
  QueryRequest reparsed;
  if (!ParseQueryRequest(again, &reparsed, &error)) {
    std::fprintf(stderr, "formatted request refused: %s (%s)\n", again.c_str(),
                 error.message.c_str());
    std::abort();
  }
  if (FormatQueryRequest(reparsed) != again) std::abort();
  return 0;
}
