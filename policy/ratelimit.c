/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ratelimit.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* One key's counted requests: a ring of the last `limit` timestamps. The window holds at most
 * `limit` requests, so the oldest of the last `limit` decides whether one more fits. */
struct bucket {
        uint32_t limit;
        uint32_t n;    /* timestamps held, <= limit */
        uint32_t head; /* index of the oldest */
        uint64_t window_usec;
        uint64_t *stamps;
};

struct aid_ratelimit {
        GHashTable *buckets; /* key -> struct bucket */
};

static void bucket_free(gpointer p)
{
        struct bucket *b = p;

        if (b)
                free(b->stamps);
        free(b);
}

int aid_ratelimit_new(struct aid_ratelimit **ret)
{
        struct aid_ratelimit *rl = calloc(1, sizeof(*rl));

        if (!rl)
                return -ENOMEM;
        rl->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, bucket_free);
        *ret = rl;
        return 0;
}

struct aid_ratelimit *aid_ratelimit_free(struct aid_ratelimit *rl)
{
        if (!rl)
                return NULL;
        g_hash_table_unref(rl->buckets);
        free(rl);
        return NULL;
}

static struct bucket *bucket_new(uint32_t limit, uint64_t window_usec)
{
        struct bucket *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        b->stamps = calloc(limit, sizeof(uint64_t));
        if (!b->stamps) {
                free(b);
                return NULL;
        }
        b->limit = limit;
        b->window_usec = window_usec;
        return b;
}

int aid_ratelimit_check(struct aid_ratelimit *rl, const char *key, uint32_t limit, uint64_t window_usec,
                uint64_t now_usec, uint64_t *ret_retry_usec)
{
        struct bucket *b;

        if (limit == 0)
                return 1;

        b = g_hash_table_lookup(rl->buckets, key);
        if (b && (b->limit != limit || b->window_usec != window_usec)) {
                /* The policy changed this key's limit: start counting afresh. */
                g_hash_table_remove(rl->buckets, key);
                b = NULL;
        }
        if (!b) {
                b = bucket_new(limit, window_usec);
                if (!b)
                        return -ENOMEM;
                g_hash_table_insert(rl->buckets, g_strdup(key), b);
        }

        /* Drop what has left the window. */
        while (b->n > 0 && now_usec - b->stamps[b->head] >= window_usec) {
                b->head = (b->head + 1) % b->limit;
                b->n--;
        }
        if (b->n == b->limit) {
                if (ret_retry_usec)
                        *ret_retry_usec = b->stamps[b->head] + window_usec - now_usec;
                return 0;
        }
        b->stamps[(b->head + b->n) % b->limit] = now_usec;
        b->n++;
        return 1;
}

static gboolean expired(gpointer key, gpointer value, gpointer user_data)
{
        const struct bucket *b = value;
        uint64_t now = *(const uint64_t *)user_data;

        if (b->n == 0)
                return true;
        return now - b->stamps[(b->head + b->n - 1) % b->limit] >= b->window_usec;
}

void aid_ratelimit_gc(struct aid_ratelimit *rl, uint64_t now_usec)
{
        g_hash_table_foreach_remove(rl->buckets, expired, &now_usec);
}

void aid_ratelimit_reset(struct aid_ratelimit *rl)
{
        g_hash_table_remove_all(rl->buckets);
}
