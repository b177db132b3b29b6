/* A program that is not appkit's, for command entries (SPEC §10): it
 * records what it sees and speaks the sd_notify protocol by hand, as a
 * server linking libsystemd would. Options, in any order:
 *   --record FILE      append "started pid=P cwd=C var=V notify=yes|no" to FILE
 *                      (V is $APPKIT_TEST_VAR, "-" when unset), "sigterm pid=P"
 *                      when SIGTERM arrives (then exit 0)
 *   --crash-once FILE  first run (FILE missing): create FILE, exit 3
 *   --exit N           exit with N after recording
 *   --status TEXT      send STATUS=TEXT at start
 *   --ready-after-ms N send READY=1 N ms after start
 *   --watchdog-ms N    send WATCHDOG=1 every N ms, --beats K times (default:
 *                      forever), then stay silent
 *   --from-child       send the messages from a forked child (a descendant)
 *   --stopping         send STOPPING=1 and STATUS=stopping on SIGTERM
 * stdout gets "notify_program stdout", stderr "notify_program stderr". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* g_record = NULL;
static int g_stopping = 0;

static void Record(const char* line) {
  if (g_record == NULL) return;
  int fd = open(g_record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!write(fd, line, strlen(line));
  close(fd);
}

static void Notify(const char* state) {
  const char* address = getenv("NOTIFY_SOCKET");
  if (address == NULL || address[0] == '\0') return;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  size_t length = strlen(address);
  if (length >= sizeof(addr.sun_path)) return;
  memcpy(addr.sun_path, address, length);
  if (address[0] == '@') addr.sun_path[0] = '\0';
  socklen_t size = offsetof(struct sockaddr_un, sun_path) + length + (address[0] == '@' ? 0 : 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr*)&addr, size);
  close(fd);
}

static void OnTerm(int sig) {
  (void)sig;
  char line[64];
  snprintf(line, sizeof(line), "sigterm pid=%d\n", (int)getpid());
  Record(line);
  if (g_stopping) Notify("STOPPING=1\nSTATUS=stopping");
  _exit(0);
}

static void SleepMs(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

int main(int argc, char** argv) {
  const char* crash_once = NULL;
  const char* status = NULL;
  int exit_code = -1, from_child = 0;
  long ready_after = -1, watchdog = -1, beats = -1;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(a, "--record") == 0)
      g_record = v, ++i;
    else if (strcmp(a, "--crash-once") == 0)
      crash_once = v, ++i;
    else if (strcmp(a, "--exit") == 0)
      exit_code = atoi(v), ++i;
    else if (strcmp(a, "--status") == 0)
      status = v, ++i;
    else if (strcmp(a, "--ready-after-ms") == 0)
      ready_after = atol(v), ++i;
    else if (strcmp(a, "--watchdog-ms") == 0)
      watchdog = atol(v), ++i;
    else if (strcmp(a, "--beats") == 0)
      beats = atol(v), ++i;
    else if (strcmp(a, "--from-child") == 0)
      from_child = 1;
    else if (strcmp(a, "--stopping") == 0)
      g_stopping = 1;
  }
  signal(SIGTERM, OnTerm);
  printf("notify_program stdout\n");
  fflush(stdout);
  fprintf(stderr, "notify_program stderr\n");
  char cwd[1024] = "?";
  (void)!getcwd(cwd, sizeof(cwd));
  const char* var = getenv("APPKIT_TEST_VAR");
  const char* notify = getenv("NOTIFY_SOCKET");
  char line[1500];
  snprintf(line, sizeof(line), "started pid=%d cwd=%s var=%s notify=%s\n", (int)getpid(), cwd,
           var ? var : "-", notify && *notify ? "yes" : "no");
  Record(line);
  if (crash_once != NULL && access(crash_once, F_OK) != 0) {
    int fd = open(crash_once, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    return 3;
  }
  if (exit_code >= 0) return exit_code;
  pid_t child = 0;
  if (from_child) {
    child = fork();
    if (child > 0) { /* the parent only waits for SIGTERM */
      for (;;) pause();
    }
  }
  if (status != NULL) {
    char message[1100];
    snprintf(message, sizeof(message), "STATUS=%s", status);
    Notify(message);
  }
  long elapsed = 0;
  if (ready_after >= 0) {
    SleepMs(ready_after);
    elapsed = ready_after;
    Notify("READY=1");
  }
  (void)elapsed;
  if (watchdog > 0) {
    for (long n = 0; beats < 0 || n < beats; ++n) {
      Notify("WATCHDOG=1");
      SleepMs(watchdog);
    }
  }
  for (;;) pause();
}
