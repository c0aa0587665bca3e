/*
 * Copyright 2026 The ws-daemon Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The sandbox ("pause") process of the test pods: it holds the pod's namespaces open, reaps the
 * zombies a shared pid namespace leaves to it, and exits on SIGINT/SIGTERM. Built statically by
 * scripts/cri/ensure-containerd.sh, because no registry can give us one.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  if (getpid() != 1) {
    /* Only meaningful as a pid namespace's init; run elsewhere it would just hang a shell. */
    return 1;
  }
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    return 2;
  }
  for (;;) pause();
}
