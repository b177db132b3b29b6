// TempDir: a short, private temporary directory for one test.
//
// Created as /tmp/appkit-XXXXXX (mode 0700) rather than under
// $TEST_TMPDIR, whose Bazel path is too long for Unix socket paths
// (107 bytes). Removed with everything inside when the TempDir goes away.
#ifndef APPKIT_TESTING_TEMP_DIR_H_
#define APPKIT_TESTING_TEMP_DIR_H_

#include <string>

namespace appkit::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const;

 private:
  std::string path_;
};

// The whole content of a file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);
bool FileExists(const std::string& path);

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_TEMP_DIR_H_
