/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by engine, policy and daemon: cleanup attributes in the style of
 * systemd's macro.h, written for aid. GLib code (client-lib, cli) uses g_autoptr instead. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)

/* A function built for three x86-64 levels (AVX-512; AVX2 and FMA; the baseline), the best one
 * chosen as the program loads (an ifunc), for code written with vector extensions rather than
 * intrinsics. clang (14) names the dispatcher of a function that is not static so that calls
 * from other files miss it and the link fails: there, and off x86-64, one baseline version. */
#if defined(__x86_64__) && !defined(__clang__)
#define _clones_ __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define _clones_
#endif

#define ELEMENTSOF(x)  (sizeof(x) / sizeof((x)[0]))
/* GLib defines the same two; daemon files include both. */
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/* Hand a pointer or fd out of a _cleanup_ scope: the variable is reset so the cleanup
 * handler does nothing. */
#define TAKE_PTR(p)                      \
        ({                               \
                __typeof__(p) _p_ = (p); \
                (p) = NULL;              \
                _p_;                     \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -1;       \
                _fd_;            \
        })

/* Defines func##p(type *p) that calls func(*p) when *p is not NULL, for _cleanup_(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)     \
        {                                       \
                if (*p)                         \
                        *p = func(*p);          \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* errno-style return from a value that may be positive or negative. */
#define ERRNO_NEG(e) (-abs(e))
