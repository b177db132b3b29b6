// Option checks (common/host/option_checks.h) and the args depth bound
// (common/runtime/args.h): what they refuse, what they let through, and that args
// at the bound survive every message they travel in.
#include "common/host/option_checks.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/runtime/args.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/launch.pb.h"

namespace appkit::internal {
namespace {

// {"a": {"a": ... 1 ...}} with `depth` objects in all (the outer one too).
std::string NestedObjects(int depth) {
  std::string json;
  for (int i = 0; i < depth - 1; ++i) json += "{\"a\": ";
  json += "{\"a\": 1}";
  json += std::string(depth - 1, '}');
  return json;
}

// {"a": [[...[1]...]]} with `depth` containers in all.
std::string NestedLists(int depth) {
  return "{\"a\": " + std::string(depth - 1, '[') + "1" + std::string(depth - 1, ']') + "}";
}

TEST(OptionChecksTest, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("/tmp/plain.log"));
  EXPECT_TRUE(IsValidUtf8("/tmp/d\xc3\xa9mon.log"));  // é
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));           // €
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));       // an emoji
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));   // NUL is UTF-8
  EXPECT_FALSE(IsValidUtf8("/tmp/\xff.log"));         // never in UTF-8
  EXPECT_FALSE(IsValidUtf8("\xc3"));                  // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));              // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));          // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));      // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));                  // a lone continuation byte
}

TEST(OptionChecksTest, EscapedBytesShowEveryByteAndWriteNoControlCharacter) {
  EXPECT_EQ(EscapeBytes("plain"), "plain");
  EXPECT_EQ(EscapeBytes("a\nb\tc\x1b[2J\xff\"\\"), "a\\nb\\tc\\x1b[2J\\xff\\\"\\\\");
  EXPECT_EQ(EscapeBytes(std::string("a\0b", 3)), "a\\x00b");
}

TEST(OptionChecksTest, DurationsFromZeroToAYear) {
  EXPECT_TRUE(CheckDurationOption("X.d", absl::ZeroDuration()).ok());
  EXPECT_TRUE(CheckDurationOption("X.d", kMaxOptionDuration).ok());
  EXPECT_TRUE(CheckDurationOption("X.d", absl::Milliseconds(1), false).ok());
  for (absl::Duration bad :
       {absl::Seconds(-1), kMaxOptionDuration + absl::Nanoseconds(1), absl::Seconds(1e300),
        absl::InfiniteDuration(), -absl::InfiniteDuration()}) {
    absl::Status status = CheckDurationOption("WorkersOptions.stop_timeout", bad);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << bad;
    EXPECT_TRUE(absl::StartsWith(status.message(), "WorkersOptions.stop_timeout ")) << status;
  }
  EXPECT_TRUE(absl::StrContains(CheckDurationOption("X.d", absl::InfiniteDuration()).message(),
                                "longer than the maximum of 8760h"));
  EXPECT_TRUE(absl::StrContains(CheckDurationOption("X.d", absl::ZeroDuration(), false).message(),
                                "not positive"));
}

TEST(OptionChecksTest, AStringThatIsNotUtf8IsNamedAndShownEscaped) {
  absl::Status status = CheckUtf8Option("DaemonOptions.pid_filename", "/tmp/\xff\n.pid");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_TRUE(absl::StrContains(status.message(), "DaemonOptions.pid_filename"));
  EXPECT_TRUE(absl::StrContains(status.message(), "\"/tmp/\\xff\\n.pid\"")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "not valid UTF-8"));
  EXPECT_TRUE(CheckUtf8Option("x", "/tmp/\xc3\xa9.pid").ok());
}

TEST(OptionChecksTest, MessageFieldsAreWalkedWithTheirPath) {
  v1::LoggingConfig config;
  config.set_level("INFO");
  config.add_handlers()->mutable_stderr();
  config.add_handlers()->mutable_file()->set_filename("/tmp/\xfe.log");
  absl::Status status = CheckUtf8Fields("DaemonOptions.logging_config", config);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_TRUE(
      absl::StrContains(status.message(), "DaemonOptions.logging_config.handlers[1].file.filename"))
      << status;
  config.mutable_handlers(1)->mutable_file()->set_filename("/tmp/ok.log");
  EXPECT_TRUE(CheckUtf8Fields("DaemonOptions.logging_config", config).ok());

  // Map keys and values (a Struct inside a launch message) name their key.
  v1::DaemonLaunch launch;
  (*launch.mutable_daemon_args()->mutable_fields())["k"].set_string_value("\xff");
  status = CheckUtf8Fields("DaemonLaunch", launch);
  EXPECT_TRUE(absl::StrContains(status.message(), "DaemonLaunch.daemon_args.fields[\"k\"]"))
      << status;
}

TEST(OptionChecksTest, ArgsAreCheckedForDepthAndUtf8WithTheirPath) {
  auto at_limit = Args::FromJson(NestedLists(kMaxArgsDepth));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_TRUE(CheckArgsStruct("DaemonOptions.daemon_args", at_limit->proto()).ok());

  // A Struct built by hand may be deeper than FromJson allows.
  google::protobuf::Struct deep;
  google::protobuf::Struct* inner = &deep;
  for (int i = 0; i < kMaxArgsDepth; ++i) {
    inner = (*inner->mutable_fields())["a"].mutable_struct_value();
  }
  absl::Status status = CheckArgsStruct("DaemonOptions.daemon_args", deep);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_TRUE(absl::StrContains(status.message(), "DaemonOptions.daemon_args[\"a\"]")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "deeper than 32")) << status;

  Args bad;
  bad.Set("name", "caf\xe9");  // Latin-1, not UTF-8
  status = CheckArgsStruct("WorkerStartInfo.args", bad.proto());
  EXPECT_TRUE(absl::StrContains(status.message(), "WorkerStartInfo.args[\"name\"]")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "\"caf\\xe9\"")) << status;
  Args bad_key;
  bad_key.Set("k\xff", 1);
  EXPECT_TRUE(absl::StrContains(CheckArgsStruct("A", bad_key.proto()).message(), "a key in A"));
}

TEST(ArgsDepthTest, FromJsonRefusesDeepNestingAtOnce) {
  for (const std::string& json : {NestedLists(kMaxArgsDepth + 1), NestedObjects(kMaxArgsDepth + 1),
                                  NestedLists(100000), NestedObjects(100000)}) {
    absl::Time start = absl::Now();
    auto args = Args::FromJson(json);
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));  // protobuf alone: minutes for 100,000
    ASSERT_FALSE(args.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(args.status()));
    EXPECT_TRUE(absl::StrContains(args.status().message(), "nest deeper than 32")) << args.status();
  }
  EXPECT_TRUE(Args::FromJson(NestedObjects(kMaxArgsDepth)).ok());
  // Still strict JSON.
  EXPECT_TRUE(absl::StrContains(Args::FromJson("{'a': 1}").status().message(), "not valid JSON"));
}

// Args at the bound go through every message that carries them, and
// print as JSON (protobuf's printer stops at 32 nested Values).
TEST(ArgsDepthTest, ArgsAtTheBoundSurviveEveryMessage) {
  for (const std::string& json : {NestedLists(kMaxArgsDepth), NestedObjects(kMaxArgsDepth)}) {
    auto args = Args::FromJson(json);
    ASSERT_TRUE(args.ok()) << args.status();
    EXPECT_FALSE(args->ToJson().empty());

    v1::DaemonLaunch daemon;
    *daemon.mutable_daemon_args() = args->proto();
    v1::DaemonLaunch daemon_back;
    EXPECT_TRUE(daemon_back.ParseFromString(daemon.SerializeAsString()));
    EXPECT_EQ(Args(daemon_back.daemon_args()).ToJson(), args->ToJson());

    v1::ExecutorLaunch executor;
    *executor.mutable_daemon_args() = args->proto();
    v1::ExecutorLaunch executor_back;
    EXPECT_TRUE(executor_back.ParseFromString(executor.SerializeAsString()));

    v1::WorkerLaunch worker;
    *worker.mutable_args() = args->proto();
    v1::WorkerLaunch worker_back;
    EXPECT_TRUE(worker_back.ParseFromString(worker.SerializeAsString()));
  }
}

}  // namespace
}  // namespace appkit::internal
