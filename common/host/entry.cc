#include "common/host/entry.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"
#include "common/base/log.h"
#include "common/base/safe_file.h"
#include "common/base/unique_fd.h"
#include "spdlog/spdlog.h"

namespace appkit::internal {
namespace {

bool IsIdentifier(std::string_view name) {
  if (name.empty() || !(isalpha(name[0]) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string AbsolutePath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

// OK when `module_path` is an ELF shared object whose dynamic symbol table
// defines `symbol` and not the appkit runtime's marker (kRuntimeMarker).
absl::Status CheckExportsSymbol(const std::string& module_path, const std::string& symbol,
                                const std::string& function) {
  UniqueFd fd(open(module_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "cannot open module " + module_path);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    if (elf) elf_end(elf);
    return absl::InvalidArgumentError(
        absl::StrCat("module ", module_path, " is not an ELF shared library"));
  }
  bool found = false;
  bool runtime = false;
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (gelf_getshdr(section, &header) == nullptr || header.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    size_t count = header.sh_entsize ? header.sh_size / header.sh_entsize : 0;
    for (size_t i = 0; data && i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
      if (sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, header.sh_link, sym.st_name);
      if (name == nullptr) continue;
      if (symbol == name) found = true;
      if (strcmp(name, kRuntimeMarker) == 0) runtime = true;
    }
  }
  elf_end(elf);
  if (runtime) {
    return absl::FailedPreconditionError(absl::StrCat(
        "module ", module_path, " links its own copy of the appkit runtime (it defines ",
        kRuntimeMarker,
        ", as //client:appkit does): a module must get the runtime from the "
        "executor or worker that loads it, or it runs with two quit flags and two copies of "
        "every generated message. Build it with appkit_module (from //client:defs.bzl), and take "
        "//client:appkit, and any library that depends on it, out of its deps (use "
        "//client:module_api for a library shared with a module)"));
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat("function '", function, "' not found in module ",
                                            module_path, " (define it with APPKIT_ENTRY(", function,
                                            "))"));
  }
  return absl::OkStatus();
}

}  // namespace

// The marker itself: defined here, in the runtime the host binaries link
// and export (-rdynamic), never by a module built with appkit_module.
extern "C" __attribute__((visibility("default"), used)) const char appkit_runtime_marker[] =
    "appkit runtime";

absl::StatusOr<EntrySpec> ParseEntry(std::string_view entry) {
  size_t colon = entry.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed entry '", std::string(entry),
                     "': expected \"module:function\", e.g. \"demo:daemon_main\""));
  }
  EntrySpec spec{std::string(entry.substr(0, colon)), std::string(entry.substr(colon + 1))};
  if (!IsIdentifier(spec.function)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed entry '", std::string(entry),
                                                   "': function '", spec.function,
                                                   "' is not a C++ identifier"));
  }
  return spec;
}

std::vector<std::string> ModuleSearchDirs(const std::vector<std::string>& first) {
  std::vector<std::string> dirs = first;
  if (const char* path = getenv("APPKIT_MODULE_PATH")) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      dirs.emplace_back(dir);
    }
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    dirs.push_back(DirName(exe));
  }
  return dirs;
}

absl::StatusOr<std::string> ResolveEntry(std::string_view entry,
                                         const std::vector<std::string>& search_dirs) {
  auto spec = ParseEntry(entry);
  if (!spec.ok()) return spec.status();
  std::string module_path;
  if (spec->module.find('/') != std::string::npos) {
    if (!IsRegularFile(spec->module)) {
      return absl::NotFoundError(absl::StrCat("module ", spec->module, " of entry '",
                                              std::string(entry), "' does not exist"));
    }
    module_path = spec->module;
  } else {
    for (const std::string& dir : search_dirs) {
      for (const std::string& name : {"lib" + spec->module + ".so", spec->module + ".so"}) {
        std::string candidate = dir + "/" + name;
        if (IsRegularFile(candidate)) {
          module_path = candidate;
          break;
        }
      }
      if (!module_path.empty()) break;
    }
    if (module_path.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "module '", spec->module, "' of entry '", std::string(entry),
          "' not found: looked for lib", spec->module, ".so and ", spec->module, ".so in [",
          absl::StrJoin(search_dirs, ", "), "] (set APPKIT_MODULE_PATH, or give a path with '/')"));
    }
  }
  module_path = AbsolutePath(module_path);
  absl::Status exported =
      CheckExportsSymbol(module_path, kEntrySymbolPrefix + spec->function, spec->function);
  if (!exported.ok()) {
    return absl::Status(exported.code(),
                        absl::StrCat("entry '", std::string(entry), "': ", exported.message()));
  }
  return module_path + ":" + spec->function;
}

bool ModuleCallsStartWorkers(const std::string& resolved) {
  const std::string module_path = resolved.substr(0, resolved.rfind(':'));
  UniqueFd fd(open(module_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return false;
  // appkit::StartWorkers(...), whatever its parameters.
  static constexpr std::string_view kStartWorkers = "_ZN6appkit12StartWorkers";
  bool imports = false;
  Elf_Scn* section = nullptr;
  while (!imports && (section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (gelf_getshdr(section, &header) == nullptr || header.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    size_t count = header.sh_entsize ? header.sh_size / header.sh_entsize : 0;
    for (size_t i = 0; data && i < count && !imports; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
      if (sym.st_shndx != SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, header.sh_link, sym.st_name);
      imports = name != nullptr &&
                std::string_view(name).substr(0, kStartWorkers.size()) == kStartWorkers;
    }
  }
  elf_end(elf);
  return imports;
}

std::string ModuleDirOf(const std::string& resolved) {
  return DirName(resolved.substr(0, resolved.rfind(':')));
}

absl::StatusOr<EntryFunction> LoadEntry(const std::string& resolved) {
  auto spec = ParseEntry(resolved);
  if (!spec.ok()) return spec.status();
  void* handle = dlopen(spec->module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load module ", spec->module, ": ", dlerror()));
  }
  std::string symbol = kEntrySymbolPrefix + spec->function;
  auto* descriptor = static_cast<const EntryDescriptor*>(dlsym(handle, symbol.c_str()));
  if (descriptor == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("function '", spec->function, "' not found in module ", spec->module));
  }
  if (descriptor->abi_version != kEntryAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "entry '", resolved, "' was built for appkit entry ABI ", descriptor->abi_version,
        ", this host speaks ", kEntryAbiVersion, ": rebuild the module"));
  }
  return descriptor->function;
}

int RunEntry(EntryFunction function, const Args& args, const std::string& entry,
             std::string* error) {
  std::string why;
  try {
    absl::Status status = function(args);
    if (status.ok()) return 0;
    why = status.ToString();
    Log().error("entry {} failed: {}", entry, why);
  } catch (const std::exception& e) {
    why = absl::StrCat("exception: ", e.what());
    Log().error("entry {} threw an exception: {}", entry, e.what());
  } catch (...) {
    why = "exception that is not a std::exception";
    Log().error("entry {} threw an exception that is not a std::exception", entry);
  }
  if (error) *error = std::move(why);
  return 1;
}

}  // namespace appkit::internal
