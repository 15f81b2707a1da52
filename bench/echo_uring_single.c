/*
 * echo_uring_single: hand-written single-threaded liburing echo server,
 * the baseline for goring's echo server (issue 3). One ring, one thread;
 * --procs is accepted and ignored. The design is in echo_uring_impl.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "echo_uring_impl.h"

int main(int argc, char **argv) { return echo_uring_main(argc, argv, 1); }
