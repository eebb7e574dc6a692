/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A streamed request's Token signals, sent by the text worker's thread itself. Were they events
 * for the loop, the loop would wake once per token only to copy the piece into a signal: on a
 * two-core machine whose cores both run inference, that wakeup preempts an inference thread and
 * cost 62-93 µs of CPU per token (BENCHMARKS.md).
 *
 * The worker sends under the daemon's bus lock, which the loop holds while it dispatches. It
 * never waits for it: while the loop is busy, the text waits in the stream and goes out with
 * the next piece, or is flushed by the loop before the request's Finished or Failed. So the
 * pieces arrive in order, all before the end, and inference never waits for the loop.
 *
 * Made, flushed and closed on the loop's thread (in its callbacks, which hold the bus lock);
 * the engine's sink runs on the worker's. Reference counted: the request object and the
 * engine's job both hold it. */

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "text-engine.h"

struct bus_stream;

/* A new signal for the unique name owner alone, from object path. */
int bus_new_unicast_signal(sd_bus *bus, const char *path, const char *owner, const char *interface,
                const char *member, sd_bus_message **ret);

/* Signals from object path to the unique name owner only. */
int bus_stream_new(struct daemon *d, const char *path, const char *owner, struct bus_stream **ret);
struct bus_stream *bus_stream_ref(struct bus_stream *s);
struct bus_stream *bus_stream_unref(struct bus_stream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bus_stream *, bus_stream_unref);

/* A new reference to s as the engine's sink for one job. */
struct text_token_sink bus_stream_sink(struct bus_stream *s);

/* Loop: sends the text the worker had to leave behind; before Finished or Failed. */
void bus_stream_flush(struct bus_stream *s);

/* Loop: nothing more is sent after this returns (text left behind is dropped), so a cancelled
 * request, or one whose client left, gets no further Token. */
void bus_stream_close(struct bus_stream *s);

/* Loop, once the job's last event arrived: Token signals sent, and the CPU time of the worker's
 * thread that sending took (copying the text, building the message, writing it to the socket;
 * waiting is not CPU time). */
void bus_stream_get_cost(struct bus_stream *s, uint64_t *ret_signals, uint64_t *ret_usec);
