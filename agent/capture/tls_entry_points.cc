#include "capture/tls_entry_points.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace mailtap {
namespace {

// How far into an exported wrapper its first call is looked for.
constexpr uint64_t kWrapperScanBytes = 64;
constexpr uint8_t kCallRel32 = 0xe8;
constexpr uint8_t kEndbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};

// Bounds-checked views of a 64-bit little-endian x86-64 ELF image.
class ElfImage {
 public:
  explicit ElfImage(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  // Empty when the header is usable; else what is wrong.
  std::string Check() {
    if (!Read(0, &ehdr_)) return "not an ELF file";
    if (std::memcmp(ehdr_.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
    if (ehdr_.e_ident[EI_CLASS] != ELFCLASS64 || ehdr_.e_ident[EI_DATA] != ELFDATA2LSB ||
        ehdr_.e_machine != EM_X86_64) {
      return "not an x86-64 ELF file";
    }
    return "";
  }

  // The address of a defined function of the dynamic symbol table.
  std::optional<uint64_t> FunctionAddress(std::string_view name) const {
    for (uint16_t i = 0; i < ehdr_.e_shnum; ++i) {
      Elf64_Shdr dynsym;
      if (!Section(i, &dynsym) || dynsym.sh_type != SHT_DYNSYM) continue;
      Elf64_Shdr strtab;
      if (!Section(static_cast<uint16_t>(dynsym.sh_link), &strtab)) return std::nullopt;
      const uint64_t count = dynsym.sh_size / sizeof(Elf64_Sym);
      for (uint64_t s = 0; s < count; ++s) {
        Elf64_Sym sym;
        if (!Read(dynsym.sh_offset + s * sizeof sym, &sym)) return std::nullopt;
        if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
        if (StringAt(strtab, sym.st_name) == name) return sym.st_value;
      }
    }
    return std::nullopt;
  }

  // The file offset of an address inside an executable PT_LOAD segment's file bytes.
  std::optional<uint64_t> CodeOffset(uint64_t vaddr) const {
    for (uint16_t i = 0; i < ehdr_.e_phnum; ++i) {
      Elf64_Phdr ph;
      if (!Read(ehdr_.e_phoff + uint64_t{i} * sizeof ph, &ph)) return std::nullopt;
      if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
      if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
        const uint64_t offset = ph.p_offset + (vaddr - ph.p_vaddr);
        if (offset < bytes_.size()) return offset;
      }
    }
    return std::nullopt;
  }

  // Up to `n` code bytes from `vaddr` (fewer at the end of its segment's file bytes).
  std::span<const uint8_t> Code(uint64_t vaddr, uint64_t n) const {
    const auto offset = CodeOffset(vaddr);
    if (!offset) return {};
    uint64_t available = bytes_.size() - *offset;
    for (uint64_t k = 1; k < n && k < available; ++k) {
      if (!CodeOffset(vaddr + k)) return bytes_.subspan(*offset, k);
    }
    return bytes_.subspan(*offset, std::min(n, available));
  }

 private:
  template <typename T>
  bool Read(uint64_t offset, T* out) const {
    if (offset > bytes_.size() || bytes_.size() - offset < sizeof(T)) return false;
    std::memcpy(out, bytes_.data() + offset, sizeof(T));
    return true;
  }

  bool Section(uint16_t index, Elf64_Shdr* out) const {
    return index < ehdr_.e_shnum && Read(ehdr_.e_shoff + uint64_t{index} * sizeof *out, out);
  }

  std::string_view StringAt(const Elf64_Shdr& strtab, uint32_t at) const {
    if (at >= strtab.sh_size || strtab.sh_offset > bytes_.size() ||
        bytes_.size() - strtab.sh_offset < strtab.sh_size) {
      return {};
    }
    const auto* begin = reinterpret_cast<const char*>(bytes_.data() + strtab.sh_offset);
    const size_t limit = strtab.sh_size - at;
    return std::string_view(begin + at, strnlen(begin + at, limit));
  }

  std::span<const uint8_t> bytes_;
  Elf64_Ehdr ehdr_{};
};

// The target of the first `call rel32` in the first bytes of the function at `vaddr`.
std::optional<uint64_t> FirstCallTarget(const ElfImage& elf, uint64_t vaddr) {
  const std::span<const uint8_t> code = elf.Code(vaddr, kWrapperScanBytes);
  for (size_t i = 0; i + 5 <= code.size(); ++i) {
    if (code[i] != kCallRel32) continue;
    int32_t rel = 0;
    std::memcpy(&rel, code.data() + i + 1, sizeof rel);
    return vaddr + i + 5 + static_cast<int64_t>(rel);
  }
  return std::nullopt;
}

// The length of a `push %reg` at the start of `code` (1, or 2 with a REX.B prefix), or 0.
size_t PushLength(std::span<const uint8_t> code) {
  if (!code.empty() && code[0] >= 0x50 && code[0] <= 0x57) return 1;
  if (code.size() >= 2 && code[0] == 0x41 && code[1] >= 0x50 && code[1] <= 0x57) return 2;
  return 0;
}

}  // namespace

SharedCallee FindSharedCallee(std::span<const uint8_t> bytes, std::string_view first,
                              std::string_view second) {
  ElfImage elf(bytes);
  if (std::string bad = elf.Check(); !bad.empty()) return {std::nullopt, bad};
  const auto a = elf.FunctionAddress(first);
  const auto b = elf.FunctionAddress(second);
  if (!a || !b) return {std::nullopt, "no exported " + std::string(a ? second : first)};
  const auto target = FirstCallTarget(elf, *a);
  if (!target || FirstCallTarget(elf, *b) != target) {
    return {std::nullopt,
            std::string(first) + " and " + std::string(second) + " do not call one function first"};
  }
  if (*target == *a || *target == *b) return {std::nullopt, "the shared call is recursive"};
  uint64_t entry = *target;
  std::span<const uint8_t> code = elf.Code(entry, 8);
  if (code.size() >= sizeof kEndbr64 && std::memcmp(code.data(), kEndbr64, 4) == 0) {
    entry += sizeof kEndbr64;
    code = code.subspan(sizeof kEndbr64);
  }
  if (PushLength(code) == 0) {
    return {std::nullopt, "the shared function does not begin with a push"};
  }
  return {elf.CodeOffset(entry), ""};
}

SharedCallee FindSharedCalleeInFile(const std::string& path, std::string_view first,
                                    std::string_view second) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, "cannot open " + path};
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  return FindSharedCallee(bytes, first, second);
}

}  // namespace mailtap
