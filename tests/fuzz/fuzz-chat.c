/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Chat templates come from model files, the turns from clients: recognising a template and
 * formatting a conversation with it must never crash, leak or read out of bounds, whatever the
 * bytes. Input, in pieces separated by 0xff bytes: a byte of options, the template text, the BOS
 * and EOS texts, then the messages, each a role byte and the content. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "fuzz-pieces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct aid_chat_message msgs[MAX_MESSAGES];
        char *contents[MAX_MESSAGES] = { NULL };
        char *bos = NULL, *eos = NULL, *text = NULL;
        struct aid_chat_template *t = NULL;
        struct aid_error err = {};
        size_t pos = 1, n_msgs = 0, n;
        const uint8_t *tmpl, *piece;
        bool bos_in_text = false;

        if (size == 0)
                return 0;
        const struct aid_chat_options opts = {
                .add_generation_prompt = data[0] & 1,
                .strip_bos = data[0] & 2,
                .date = data[0] & 4 ? "26 Jul 2024" : NULL,
        };
        size_t tmpl_len = fuzz_next_piece(data, size, &pos, &tmpl);
        n = fuzz_next_piece(data, size, &pos, &piece);
        bos = data[0] & 8 ? strndup((const char *)piece, n) : NULL;
        n = fuzz_next_piece(data, size, &pos, &piece);
        eos = data[0] & 16 ? strndup((const char *)piece, n) : NULL;
        while (pos < size && n_msgs < MAX_MESSAGES) {
                n = fuzz_next_piece(data, size, &pos, &piece);
                if (n == 0)
                        continue;
                contents[n_msgs] = strndup((const char *)piece + 1, n - 1);
                if (!contents[n_msgs])
                        abort();
                msgs[n_msgs] = (struct aid_chat_message){ .role = (enum aid_chat_role)(piece[0] % 3),
                        .content = contents[n_msgs] };
                n_msgs++;
        }

        if (aid_chat_template_new((const char *)tmpl, tmpl_len, bos, eos, &t, &err) < 0)
                goto done;
        (void)aid_chat_family_name(aid_chat_template_family(t));
        (void)aid_chat_template_keeps_system(t);
        if (!aid_chat_template_end_of_turn(t))
                abort();
        if (aid_chat_format(t, msgs, n_msgs, &opts, &text, &bos_in_text, &err) >= 0 && !text)
                abort();
done:
        free(text);
        aid_chat_template_free(t);
        for (size_t i = 0; i < n_msgs; i++)
                free(contents[i]);
        free(bos);
        free(eos);
        return 0;
}
