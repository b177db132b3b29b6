// Entries: parsing "module:function", the module search path, resolving
// against real modules (the test module, a module that crashes when
// loaded, one that defines the runtime's marker, files that are no
// module), and running an entry function.
#include "common/host/entry.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/base/safe_file.h"
#include "common/base/unique_fd.h"
#include "gtest/gtest.h"
#include "testing/process_helpers.h"
#include "testing/temp_dir.h"

namespace appkit::internal {
namespace {

using appkit::testing::RunfilePath;
using appkit::testing::TempDir;

std::string TestModule() { return RunfilePath("testing/libtest_module.so"); }

std::string AbsolutePath(const std::string& path) {
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) ? resolved : path;
}

TEST(ParseEntryTest, SplitsAtTheLastColon) {
  auto spec = ParseEntry("demo:daemon_main");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->module, "demo");
  EXPECT_EQ(spec->function, "daemon_main");
  spec = ParseEntry("/a:b/libdemo.so:_main2");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->module, "/a:b/libdemo.so");
  EXPECT_EQ(spec->function, "_main2");
}

TEST(ParseEntryTest, RefusesMalformedEntriesSayingWhatIsExpected) {
  for (const char* bad : {"demo", ":main", "demo:", ""}) {
    auto spec = ParseEntry(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
    EXPECT_TRUE(absl::StrContains(spec.status().message(), "expected \"module:function\""))
        << spec.status();
  }
  for (const char* bad : {"demo:2main", "demo:main-2", "demo:ma in"}) {
    auto spec = ParseEntry(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(spec.status().message(), "is not a C++ identifier"))
        << spec.status();
  }
}

TEST(ModuleSearchDirsTest, FirstThenTheModulePathThenTheProgramsDirectory) {
  setenv("APPKIT_MODULE_PATH", "/one::/two:", 1);
  std::vector<std::string> dirs = ModuleSearchDirs({"/first"});
  unsetenv("APPKIT_MODULE_PATH");
  char exe[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/exe", exe, sizeof(exe) - 1), 0);
  EXPECT_EQ(dirs, (std::vector<std::string>{"/first", "/one", "/two", DirName(exe)}))
      << "empty items are skipped: the current directory is never searched implicitly";
}

TEST(ModuleSearchDirsTest, WithoutTheVariableOnlyTheProgramsDirectory) {
  unsetenv("APPKIT_MODULE_PATH");
  EXPECT_EQ(ModuleSearchDirs().size(), 1u);
}

TEST(ResolveEntryTest, APathIsUsedAsIsAndMadeAbsolute) {
  auto resolved = ResolveEntry(TestModule() + ":exit_ok", {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, AbsolutePath(TestModule()) + ":exit_ok");
  EXPECT_EQ(ModuleDirOf(*resolved), DirName(AbsolutePath(TestModule())));
}

TEST(ResolveEntryTest, ANameIsLookedUpAsLibNameThenNameInEachDirectory) {
  TempDir empty, plain;
  // "<name>.so" (no lib prefix) is found too.
  ASSERT_EQ(symlink(AbsolutePath(TestModule()).c_str(), plain.File("plain.so").c_str()), 0);
  const std::string module_dir = DirName(TestModule());
  auto resolved = ResolveEntry("test_module:exit_ok", {empty.path(), module_dir});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, AbsolutePath(TestModule()) + ":exit_ok");
  resolved = ResolveEntry("plain:exit_ok", {empty.path(), plain.path()});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, AbsolutePath(TestModule()) + ":exit_ok");
}

TEST(ResolveEntryTest, AMissingModuleNamesTheDirectoriesSearched) {
  TempDir a, b;
  auto resolved = ResolveEntry("nowhere:main", {a.path(), b.path()});
  ASSERT_FALSE(resolved.ok());
  EXPECT_TRUE(absl::IsNotFound(resolved.status()));
  const std::string message(resolved.status().message());
  EXPECT_TRUE(absl::StrContains(
      message, "libnowhere.so and nowhere.so in [" + a.path() + ", " + b.path() + "]"))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "APPKIT_MODULE_PATH")) << message;

  resolved = ResolveEntry("/nonexistent/libx.so:main", {});
  EXPECT_TRUE(absl::IsNotFound(resolved.status()));
  EXPECT_TRUE(absl::StrContains(resolved.status().message(), "does not exist"))
      << resolved.status();
}

TEST(ResolveEntryTest, AMissingFunctionSaysHowToDefineIt) {
  auto resolved = ResolveEntry(TestModule() + ":no_such_entry", {});
  ASSERT_FALSE(resolved.ok());
  EXPECT_TRUE(absl::IsNotFound(resolved.status()));
  EXPECT_TRUE(absl::StrContains(resolved.status().message(),
                                "function 'no_such_entry' not found in module"))
      << resolved.status();
  EXPECT_TRUE(absl::StrContains(resolved.status().message(), "APPKIT_ENTRY(no_such_entry)"));
}

TEST(ResolveEntryTest, AFileThatIsNoSharedLibraryIsRefused) {
  TempDir dir;
  const std::string junk = dir.File("libjunk.so");
  UniqueFd fd(open(junk.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_EQ(write(fd.get(), "not an ELF file\n", 16), 16);
  auto resolved = ResolveEntry("junk:main", {dir.path()});
  EXPECT_TRUE(absl::IsInvalidArgument(resolved.status())) << resolved.status();
  EXPECT_TRUE(absl::StrContains(resolved.status().message(), "is not an ELF shared library"))
      << resolved.status();
}

// Nothing of the module runs while it is resolved: one whose static
// constructors crash resolves, and this process lives on.
TEST(ResolveEntryTest, RunsNothingOfTheModule) {
  auto resolved = ResolveEntry(RunfilePath("testing/libcrash_on_load.so") + ":never_runs", {});
  EXPECT_TRUE(resolved.ok()) << resolved.status();
}

// Whether an entry may start a pool: its module imports StartWorkers.
TEST(ModuleCallsStartWorkersTest, SeesTheImportWithoutLoadingTheModule) {
  EXPECT_TRUE(ModuleCallsStartWorkers(TestModule() + ":run_workers"));
  EXPECT_FALSE(ModuleCallsStartWorkers(RunfilePath("testing/libcrash_on_load.so") + ":x"));
  EXPECT_FALSE(ModuleCallsStartWorkers("/nonexistent/libx.so:x"));
}

TEST(ResolveEntryTest, AModuleThatLinksTheRuntimeIsRefusedSayingWhatToChange) {
  auto resolved = ResolveEntry(
      RunfilePath("common/host/testdata/libdefines_runtime_marker.so") + ":daemon_main", {});
  ASSERT_FALSE(resolved.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(resolved.status())) << resolved.status();
  const std::string message(resolved.status().message());
  EXPECT_TRUE(absl::StrContains(message, "links its own copy of the appkit runtime")) << message;
  EXPECT_TRUE(absl::StrContains(message, kRuntimeMarker)) << message;
  EXPECT_TRUE(absl::StrContains(message, "appkit_module")) << message;
}

TEST(LoadEntryTest, AModuleThatCannotBeLoadedIsAnError) {
  auto entry = LoadEntry("/nonexistent/libx.so:main");
  EXPECT_TRUE(absl::IsFailedPrecondition(entry.status())) << entry.status();
  EXPECT_TRUE(
      absl::StrContains(entry.status().message(), "cannot load module /nonexistent/libx.so"))
      << entry.status();
}

TEST(RunEntryTest, OkIsExitCode0AndAnErrorOrAnExceptionIs1) {
  Args args;
  EXPECT_EQ(RunEntry([](const Args&) { return absl::OkStatus(); }, args, "m:ok"), 0);
  EXPECT_EQ(RunEntry([](const Args&) { return absl::InternalError("no"); }, args, "m:error"), 1);
  EXPECT_EQ(RunEntry([](const Args&) -> absl::Status { throw std::runtime_error("thrown"); }, args,
                     "m:throws"),
            1);
  EXPECT_EQ(RunEntry([](const Args&) -> absl::Status { throw 7; }, args, "m:throws_int"), 1);
}

}  // namespace
}  // namespace appkit::internal
