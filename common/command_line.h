// Text forms of a program's command line and environment, as users write
// them in daemons.yaml:
//
//   - SplitCommandLine: a string split into argv as a POSIX shell splits
//     words (blanks, '...', "...", backslashes, a backslash-newline joins
//     lines), without running a shell and without expanding anything: a
//     character the shell would act on (| & ; < > ( ) $ ` * ? [ ~ #) outside
//     quotes is an error saying to quote it or to run `sh -c` explicitly.
//   - ParseEnvironmentFile: systemd's EnvironmentFile= syntax: KEY=VALUE
//     lines, comments (#, ;) and blank lines; values unquoted (backslash
//     escapes, interior blanks kept), '...' (verbatim, may span lines) or
//     "..." (\" \\ \$ \` escapes, may span lines); a trailing backslash
//     continues a line. Stricter than systemd where systemd would silently
//     skip: a line without '=' or with a bad name is an error naming
//     file:line.
// Pure functions; errors are InvalidArgument and name what they read.
#ifndef APPKIT_COMMON_COMMAND_LINE_H_
#define APPKIT_COMMON_COMMAND_LINE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace appkit {

absl::StatusOr<std::vector<std::string>> SplitCommandLine(const std::string& text);

// `name` (a file name) is used in errors: "<name>:<line>: ...".
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseEnvironmentFile(
    const std::string& text, const std::string& name);

// [A-Za-z_][A-Za-z0-9_]*
bool IsEnvironmentName(const std::string& name);

}  // namespace appkit

#endif  // APPKIT_COMMON_COMMAND_LINE_H_
