/*
 * echo_uring_mt: hand-written liburing echo server with one ring per
 * thread: --procs N threads, each with its own ring and its own
 * SO_REUSEPORT listener. The design is in echo_uring_impl.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "echo_uring_impl.h"

int main(int argc, char **argv) { return echo_uring_main(argc, argv, 0); }
