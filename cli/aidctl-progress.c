/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "aidctl-progress.h"

#include "aidctl-format.h"

#include <stdio.h>
#include <unistd.h>

struct aidctl_load_progress {
        AidClient *client;
        char *model_id; /* as printed */
        char *query_id; /* as the daemon knows it */
        gulong handler;
        /* The state queries in flight; cancelled by stop(), whose memory they must not touch
         * after: each holds a reference to this cancellable, not to the struct's owner. */
        GCancellable *cancellable;
        gboolean shown;
};

static void erase_line(struct aidctl_load_progress *p)
{
        if (!p->shown)
                return;
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->shown = FALSE;
}

static void show(struct aidctl_load_progress *p, const char *line)
{
        fprintf(stderr, "\r\033[Kaidctl: %s", line);
        fflush(stderr);
        p->shown = TRUE;
}

static void on_info(GObject *source, GAsyncResult *result, gpointer user_data)
{
        struct aidctl_load_progress *p = user_data;
        g_autoptr(AidModelInfo) info = aid_client_get_model_info_finish(AID_CLIENT(source), result, NULL);
        g_autofree char *line = NULL;
        const char *state;

        /* Cancelled (p is gone) or the model vanished: nothing to show. */
        if (!info)
                return;
        state = aid_model_info_get_state(info);
        /* Not in memory while our request is on its way or queued: it loads for us once the
         * requests for another model in memory are done. */
        if (g_strcmp0(state, "unloaded") == 0)
                line = g_strdup_printf("waiting for %s to load", p->model_id);
        else if (g_strcmp0(state, "loading") == 0)
                line = g_strdup_printf("loading %s, %.0f%% read", p->model_id,
                                100 * aid_model_info_get_load_progress(info));
        if (line)
                show(p, line);
        else
                erase_line(p);
}

static void query(struct aidctl_load_progress *p)
{
        aid_client_get_model_info(p->client, p->query_id, p->cancellable, on_info, p);
}

static void on_states_changed(AidClient *client, gpointer user_data)
{
        query(user_data);
}

struct aidctl_load_progress *aidctl_load_progress_start(AidClient *client, const char *model_id)
{
        struct aidctl_load_progress *p;
        char *id = model_id ? g_strdup(model_id) : aid_client_get_default_model(client, "text");

        if (!id || !isatty(STDERR_FILENO)) {
                g_free(id);
                return NULL;
        }
        p = g_new0(struct aidctl_load_progress, 1);
        p->client = g_object_ref(client);
        /* Shown on the terminal: a file name may hold anything. */
        p->model_id = aidctl_printable(id);
        p->query_id = id;
        p->cancellable = g_cancellable_new();
        p->handler = g_signal_connect(client, "model-states-changed", G_CALLBACK(on_states_changed), p);
        /* Asked before the request is sent, so answered before its first token comes. */
        query(p);
        return p;
}

struct aidctl_load_progress *aidctl_load_progress_stop(struct aidctl_load_progress *p)
{
        if (!p)
                return NULL;
        g_cancellable_cancel(p->cancellable);
        g_signal_handler_disconnect(p->client, p->handler);
        erase_line(p);
        g_object_unref(p->cancellable);
        g_object_unref(p->client);
        g_free(p->model_id);
        g_free(p->query_id);
        g_free(p);
        return NULL;
}
