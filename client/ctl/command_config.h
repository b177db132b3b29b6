// The command settings of daemons.yaml (SPEC §10), pure parsers:
//
// SplitCommandLine: a `command` given as one string, split into argv as a
// POSIX shell splits words, without running a shell: blanks separate
// words; '...' keeps everything literally; "..." keeps everything but
// backslash escapes of $ ` " \ and newline; a backslash outside quotes
// escapes the next character. What only a shell could do (unquoted
// $ ` | ; & < > ( ) or a # starting a word) is an error naming the
// character: write a list, or quote it. Unterminated quotes are errors.
//
// ParseEnvFile: systemd's EnvironmentFile syntax: one KEY=VALUE a line;
// blank lines and lines starting with # or ; are comments; blanks around
// the key and before the value are dropped; a value is '...' (literal),
// "..." (backslash escapes), or bare (trailing blanks dropped; a trailing
// backslash continues it on the next line). KEY is [A-Za-z_][A-Za-z0-9_]*.
// Errors name the file and line ("env.conf:3: ..."). Files are at most
// 1 MiB.
#ifndef APPKIT_CLIENT_CTL_COMMAND_CONFIG_H_
#define APPKIT_CLIENT_CTL_COMMAND_CONFIG_H_

#include <map>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace appkit::ctl {

absl::StatusOr<std::vector<std::string>> SplitCommandLine(absl::string_view text);

// `text` is the file's content, `path` names it in errors.
absl::StatusOr<std::map<std::string, std::string>> ParseEnvText(const std::string& path,
                                                                absl::string_view text);
absl::StatusOr<std::map<std::string, std::string>> ParseEnvFile(const std::string& path);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_COMMAND_CONFIG_H_
