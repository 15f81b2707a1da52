/*
 * goring.h: Go's concurrency model for C on Linux, with io_uring.
 *
 * The umbrella header: include this one. Each layer has its own header
 * under goring/ (core, chan, sync, io, bufio, signal). Link with -lgoring, or use
 * `pkg-config --cflags --libs goring`.
 */
#ifndef GORING_H
#define GORING_H

#include <goring/core.h>
#include <goring/chan.h>
#include <goring/sync.h>
#include <goring/io.h>
#include <goring/bufio.h>
#include <goring/signal.h>

#endif
