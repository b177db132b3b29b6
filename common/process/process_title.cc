#include "common/process/process_title.h"

#include <string.h>
#include <sys/prctl.h>

#include "absl/strings/ascii.h"

namespace appkit {
namespace {

char* g_area = nullptr;
size_t g_size = 0;

}  // namespace

std::string ExecTitle(std::string_view title) {
  std::string padded(title);
  if (padded.size() < kTitleRoom) padded.resize(kTitleRoom, ' ');
  return padded;
}

void InitProcessTitle(int argc, char** argv) {
  if (argc < 1 || argv == nullptr || argv[0] == nullptr) return;
  char* end = argv[0] + strlen(argv[0]) + 1;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] != end) break;  // not contiguous: only what is
    end = argv[i] + strlen(argv[i]) + 1;
  }
  g_area = argv[0];
  g_size = static_cast<size_t>(end - argv[0]);
}

void SetProcessTitle(std::string_view title, std::string_view comm) {
  if (g_area != nullptr && g_size > 1) {
    const size_t n = std::min(title.size(), g_size - 1);
    memcpy(g_area, title.data(), n);
    memset(g_area + n, 0, g_size - n);
  }
  char name[16] = {};
  std::string_view short_name = comm.empty() ? title : comm;
  memcpy(name, short_name.data(), std::min(short_name.size(), sizeof(name) - 1));
  prctl(PR_SET_NAME, name, 0, 0, 0);
}

std::string ExecTitleOf(const char* argv0) {
  return std::string(absl::StripTrailingAsciiWhitespace(argv0 == nullptr ? "" : argv0));
}

}  // namespace appkit
