/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tokenizers on arbitrary text, and the streaming detokenizer on arbitrary token ids, with
 * the real vocabularies of the fixtures (every tokenizer model and pre-tokenizer aid has). They
 * must never crash, leak or read out of bounds; every id they make is in the vocabulary; where
 * the vocabulary can spell any text (has_every_byte()) the streamed text of tokenize(x) is x
 * again; and streaming loses nothing and never cuts a character in two.
 *
 * The vocabularies are read from $AID_FUZZ_VOCAB_DIR, else from the fixtures folder the build
 * was configured with. Input: byte 0 picks the vocabulary, byte 1 the flags, the rest is the
 * text (and, read as little-endian int32, the ids for the detokenizer). */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer/tokenizer.h"

#define MAX_VOCABS 16

struct vocab {
        struct gguf_file *file;
        struct aid_tokenizer *tok;
        bool lossless;
        char name[64];
};

static struct vocab vocabs[MAX_VOCABS];
static size_t n_vocabs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct vocab *)a)->name, ((const struct vocab *)b)->name);
}

/* Whether every byte has a token of its own, so that any text can be spelled: SentencePiece's
 * byte fallback (<0x00> ... <0xFF>) or byte-level BPE's 256 byte characters. Vocabularies
 * without (WordPiece, which also lowercases; falcon's, which lacks 28 of the byte characters)
 * lose some text, as with llama.cpp. */
static bool has_every_byte(const struct aid_tokenizer *t)
{
        bool fallback = true, byte_level = true;
        int next = 256;

        for (int b = 0; b < 256; b++) {
                char name[8], utf8[2];
                /* GPT-2's byte characters: printable Latin-1 bytes stand for themselves, the
                 * others for U+0100 onwards, in byte order. */
                bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
                                 (b >= 0xae && b <= 0xff);
                int cp = printable ? b : next++;

                snprintf(name, sizeof(name), "<0x%02X>", b);
                fallback = fallback && aid_tokenizer_find(t, name, strlen(name)) >= 0;
                utf8[0] = (char)(cp < 0x80 ? cp : 0xc0 | cp >> 6);
                utf8[1] = (char)(0x80 | (cp & 0x3f));
                byte_level = byte_level && aid_tokenizer_find(t, utf8, cp < 0x80 ? 1 : 2) >= 0;
        }
        return fallback || byte_level;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *dir = getenv("AID_FUZZ_VOCAB_DIR") ?: AID_FUZZ_VOCAB_DIR;
        struct dirent *e;
        DIR *d = opendir(dir);

        (void)argc, (void)argv;
        if (!d) {
                fprintf(stderr,
                                "fuzz-tokenizer: cannot open %s: set AID_FUZZ_VOCAB_DIR to the fixtures' "
                                "vocab folder\n",
                                dir);
                exit(1);
        }
        while ((e = readdir(d)) && n_vocabs < MAX_VOCABS) {
                struct vocab *v = &vocabs[n_vocabs];
                struct aid_error err = {};
                size_t len = strlen(e->d_name);
                char path[4096];

                if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (gguf_open(path, &v->file, &err) < 0 ||
                                aid_tokenizer_new_from_gguf(v->file, &v->tok, &err) < 0) {
                        fprintf(stderr, "fuzz-tokenizer: %s: %s\n", path, err.message);
                        exit(1);
                }
                snprintf(v->name, sizeof(v->name), "%s", e->d_name);
                v->lossless = has_every_byte(v->tok);
                n_vocabs++;
        }
        closedir(d);
        if (n_vocabs == 0) {
                fprintf(stderr, "fuzz-tokenizer: no .gguf vocabulary in %s\n", dir);
                exit(1);
        }
        qsort(vocabs, n_vocabs, sizeof(vocabs[0]), by_name);
        for (size_t i = 0; i < n_vocabs; i++)
                fprintf(stderr, "fuzz-tokenizer: %s%s\n", vocabs[i].name,
                                vocabs[i].lossless ? " (spells any text: round trip checked)" : "");
        return 0;
}

/* Length of the valid UTF-8 character at s[0..n), 0 if none starts there. */
static size_t valid_char_len(const uint8_t *s, size_t n)
{
        uint8_t c = s[0];
        size_t k = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        uint32_t cp;

        if (k == 0 || k > n)
                return 0;
        cp = k == 1 ? c : c & (0x7f >> k);
        for (size_t j = 1; j < k; j++) {
                if ((s[j] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[j] & 0x3f);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
                        (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return k;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
        for (size_t i = 0, k; i < n; i += k)
                if ((k = valid_char_len(s + i, n - i)) == 0)
                        return false;
        return true;
}

/* Streams ids through a detokenizer into out (malloc()ed); false when an id was refused. The
 * stream may hold bytes that form no character (random tokens), but no valid character of it
 * may be cut between two pushes. */
static bool detokenize(const struct aid_tokenizer *t, unsigned flags, const int32_t *ids, size_t n,
                char **out, size_t *out_len)
{
        struct aid_detokenizer *d = NULL;
        size_t len = 0, cap = 64, *cuts = calloc(n + 1, sizeof(size_t)), n_cuts = 0;
        char *buf = malloc(cap);
        bool ok = true;

        if (!buf || !cuts || aid_detokenizer_new(t, flags, &d) < 0)
                abort();
        for (size_t i = 0; i <= n; i++) {
                const char *text;
                size_t l;
                int r = i < n ? aid_detokenizer_push(d, ids[i], &text, &l)
                              : aid_detokenizer_flush(d, &text, &l);

                if (r == -EINVAL) {
                        ok = false;
                        continue;
                }
                if (r < 0)
                        abort();
                while (len + l + 1 > cap)
                        if (!(buf = realloc(buf, cap *= 2)))
                                abort();
                memcpy(buf + len, text, l);
                len += l;
                cuts[n_cuts++] = len;
        }
        aid_detokenizer_free(d);
        for (size_t i = 0, c = 0, k; i < len; i += k ? k : 1) {
                k = valid_char_len((const uint8_t *)buf + i, len - i);
                while (c < n_cuts && cuts[c] <= i)
                        c++;
                if (k > 1 && c < n_cuts && cuts[c] < i + k) {
                        fprintf(stderr, "fuzz-tokenizer: a %zu-byte character at %zu was cut at %zu\n", k, i,
                                        cuts[c]);
                        abort();
                }
        }
        free(cuts);
        *out = buf;
        *out_len = len;
        return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct vocab *v;
        unsigned flags;
        const char *text;
        size_t len, n = 0;
        int32_t *ids = NULL;
        struct aid_error err = {};

        if (size < 2)
                return 0;
        v = &vocabs[data[0] % n_vocabs];
        flags = data[1] & (AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL);
        text = (const char *)data + 2;
        len = size - 2;

        if (aid_tokenize(v->tok, text, len, flags, &ids, &n, &err) < 0)
                abort(); /* only -ENOMEM is possible for real text */
        for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (size_t)ids[i] >= aid_tokenizer_n_vocab(v->tok))
                        abort();

        /* U+2581 is SentencePiece's space: in the input it comes back as a space, as with
         * llama.cpp. A user-defined token (Phi-3's "</s>") is taken whole wherever its text
         * occurs, and the text after it gets the space prefix again, as llama.cpp does: such
         * inputs, and any that came out with a control token, skip the round trip. */
        bool special = false;
        for (size_t i = 0; i < n; i++)
                special |= aid_tokenizer_is_control(v->tok, ids[i]) ||
                           aid_tokenizer_is_user_defined(v->tok, ids[i]);
        if (v->lossless && flags == 0 && !special && valid_utf8((const uint8_t *)text, len) &&
                        !memmem(text, len, "\xe2\x96\x81", 3)) {
                char *back;
                size_t back_len;
                unsigned dflags = aid_tokenizer_add_space_prefix(v->tok) ? AID_DETOKENIZE_STRIP_LEADING_SPACE
                                                                         : 0;

                if (!detokenize(v->tok, dflags, ids, n, &back, &back_len))
                        abort();
                if (back_len != len || memcmp(back, text, len) != 0) {
                        fprintf(stderr, "fuzz-tokenizer: %s: %zu bytes came back as %zu different ones\n",
                                        v->name, len, back_len);
                        abort();
                }
                free(back);
        }
        free(ids);

        /* The same bytes as token ids, in or out of the vocabulary. */
        if (len >= 4) {
                size_t n_raw = len / 4, at = 0;
                int32_t *raw = malloc(n_raw * sizeof(*raw));
                bool special = data[1] & 4;
                char *out;
                size_t out_len;

                if (!raw)
                        return 0;
                for (size_t i = 0; i < n_raw; i++) {
                        uint32_t u;
                        memcpy(&u, text + 4 * i, 4);
                        /* Mostly ids of the vocabulary, sometimes anything. */
                        raw[i] = (u & 0x80000000u) ? (int32_t)u
                                                   : (int32_t)(u % (uint32_t)aid_tokenizer_n_vocab(v->tok));
                }
                detokenize(v->tok, special ? AID_DETOKENIZE_SPECIAL : 0, raw, n_raw, &out, &out_len);
                /* Streaming loses nothing: the text is the pieces of the ids, end to end. */
                for (size_t i = 0; i < n_raw; i++) {
                        char piece[512];
                        int l = aid_token_to_piece(v->tok, raw[i], special, piece, sizeof(piece));

                        if (l == -EINVAL)
                                continue;
                        if (l < 0 || (size_t)l > sizeof(piece) || at + (size_t)l > out_len ||
                                        memcmp(out + at, piece, (size_t)l) != 0)
                                abort();
                        at += (size_t)l;
                }
                if (at != out_len)
                        abort();
                free(out);
                free(raw);
        }
        return 0;
}
