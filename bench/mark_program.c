/* The C program both supervisors run in command_bench: appends
 * "started <pid> <CLOCK_REALTIME ns>" to ./marks (its working directory),
 * then waits for a signal. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char line[96];
  int n = snprintf(line, sizeof(line), "started %d %lld\n", (int)getpid(),
                   (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  int fd = open("marks", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    (void)!write(fd, line, (size_t)n);
    close(fd);
  }
  for (;;) pause();
}
