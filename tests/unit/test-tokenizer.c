/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "tokenizer/tokenizer.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

static const char *fixtures_vocab(void)
{
        static char path[4096];
        const char *dir = getenv("AID_FIXTURES");
        struct stat st;
        if (!dir || !*dir)
                cr_skip_test("AID_FIXTURES is not set: no vocabulary fixtures to test against");
        snprintf(path, sizeof(path), "%s/vocab", dir);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                cr_skip_test("fixtures folder %s absent: vocabulary tests skipped", path);
        return path;
}

static char *read_all(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "cannot open %s", path);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *s = malloc((size_t)n + 1);
        cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
        s[n] = 0;
        fclose(f);
        *ret_len = (size_t)n;
        return s;
}

struct vocab {
        struct gguf_file *file;
        struct aid_tokenizer *tok;
};

static struct vocab open_vocab(const char *name)
{
        char path[4096];
        struct aid_error err = {};
        struct vocab v = {};
        snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf", fixtures_vocab(), name);
        cr_assert_eq(gguf_open(path, &v.file, &err), 0, "%s", err.message);
        cr_assert_eq(aid_tokenizer_new_from_gguf(v.file, &v.tok, &err), 0, "%s: %s", name, err.message);
        return v;
}

static void close_vocab(struct vocab *v)
{
        v->tok = aid_tokenizer_free(v->tok);
        v->file = gguf_close(v->file);
}

static char *detokenize(
                const struct aid_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, size_t *ret_len)
{
        struct aid_detokenizer *d;
        cr_assert_eq(aid_detokenizer_new(t, flags, &d), 0);
        size_t cap = 64, len = 0;
        char *out = malloc(cap);
        for (size_t i = 0; i <= n; i++) {
                const char *s;
                size_t l;
                if (i < n)
                        cr_assert_eq(aid_detokenizer_push(d, ids[i], &s, &l), 0);
                else
                        cr_assert_eq(aid_detokenizer_flush(d, &s, &l), 0);
                cr_assert_eq(strlen(s), l);
                while (len + l + 1 > cap)
                        out = realloc(out, cap *= 2);
                memcpy(out + len, s, l);
                len += l;
        }
        out[len] = 0;
        aid_detokenizer_free(d);
        *ret_len = len;
        return out;
}

/* Every input of X.gguf.inp against the ids of X.gguf.out; with round_trip, decoding the ids
 * must give the input back. */
static void check_vocab(const char *name, bool round_trip)
{
        char path[4096];
        size_t inp_len, out_len;
        struct vocab v = open_vocab(name);
        snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.inp", fixtures_vocab(), name);
        char *inp = read_all(path, &inp_len);
        snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.out", fixtures_vocab(), name);
        char *out = read_all(path, &out_len);

        size_t n_inputs = 0, exact = 0, round_trips = 0;
        char *in = inp, *line = out;
        for (char *sep; (sep = strstr(in, SEPARATOR)); in = sep + strlen(SEPARATOR), n_inputs++) {
                char *eol = strchr(line, '\n');
                cr_assert_not_null(eol, "%s: .out has fewer lines than .inp has inputs", name);
                *eol = 0;

                int32_t *ids;
                size_t n;
                struct aid_error err = {};
                cr_assert_eq(aid_tokenize(v.tok, in, (size_t)(sep - in), 0, &ids, &n, &err), 0, "%s",
                                err.message);

                size_t n_expected = 0;
                bool same = true;
                for (char *p = line, *end; *p; p = end) {
                        long id = strtol(p, &end, 10);
                        if (end == p)
                                break;
                        same = same && n_expected < n && ids[n_expected] == id;
                        n_expected++;
                }
                same = same && n_expected == n;
                if (same)
                        exact++;
                else {
                        fprintf(stderr, "%s input %zu '%.*s': expected%s, got", name, n_inputs,
                                        (int)(sep - in), in, line);
                        for (size_t i = 0; i < n; i++)
                                fprintf(stderr, " %d", ids[i]);
                        fprintf(stderr, "\n");
                }

                if (round_trip) {
                        size_t len;
                        char *text = detokenize(v.tok, ids, n, AID_DETOKENIZE_STRIP_LEADING_SPACE, &len);
                        if (len == (size_t)(sep - in) && memcmp(text, in, len) == 0)
                                round_trips++;
                        else
                                fprintf(stderr, "%s input %zu: round trip gave '%s'\n", name, n_inputs,
                                                text);
                        free(text);
                }
                free(ids);
                line = eol + 1;
        }
        fprintf(stderr, "%s: %zu/%zu exact", name, exact, n_inputs);
        if (round_trip)
                fprintf(stderr, ", %zu/%zu round trips", round_trips, n_inputs);
        fprintf(stderr, "\n");
        cr_expect_eq(n_inputs, 46);
        cr_expect_eq(exact, n_inputs, "%s: %zu of %zu inputs tokenized exactly", name, exact, n_inputs);
        if (round_trip)
                cr_expect_eq(round_trips, n_inputs, "%s: %zu of %zu round trips", name, round_trips,
                                n_inputs);
        free(inp);
        free(out);
        close_vocab(&v);
}

Test(tokenizer, vocab_llama_spm)
{
        check_vocab("llama-spm", true);
}
Test(tokenizer, vocab_phi_3)
{
        check_vocab("phi-3", true);
}
Test(tokenizer, vocab_v512_spm)
{
        check_vocab("v512-spm", true);
}
Test(tokenizer, vocab_gpt_2)
{
        check_vocab("gpt-2", true);
}
Test(tokenizer, vocab_deepseek_llm)
{
        check_vocab("deepseek-llm", true);
}
Test(tokenizer, vocab_falcon)
{
        check_vocab("falcon", true);
}
/* WordPiece lowercases and drops accents and whitespace: no round trip. */
Test(tokenizer, vocab_bert_bge)
{
        check_vocab("bert-bge", false);
}

static void expect_ids(const struct aid_tokenizer *t, const char *text, unsigned flags, const int32_t *want,
                size_t n_want)
{
        int32_t *ids;
        size_t n;
        struct aid_error err = {};
        cr_assert_eq(aid_tokenize(t, text, strlen(text), flags, &ids, &n, &err), 0, "%s", err.message);
        cr_assert_eq(n, n_want, "'%s': %zu tokens, expected %zu", text, n, n_want);
        for (size_t i = 0; i < n; i++)
                cr_expect_eq(ids[i], want[i], "'%s': token %zu is %d, expected %d", text, i, ids[i],
                                want[i]);
        free(ids);
}

Test(tokenizer, v512_model_prompt)
{
        /* The prompt tokens llama.cpp fed the tiny v512 models (fixtures README). */
        static const int32_t want[] = { 1, 281, 417, 452, 431, 424, 434, 440, 276, 425, 305, 423, 274, 421,
                449, 417, 451, 431, 433, 436, 426, 263, 332, 261, 286, 422, 469, 432, 368, 437, 483, 298,
                423, 340, 404, 421, 423, 262, 259, 416 };
        struct vocab v = open_vocab("v512-spm");
        expect_ids(v.tok, "The quick brown fox jumps over the lazy dog. Once upon a time",
                        AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL, want, ELEMENTSOF(want));
        static const int32_t hello[] = { 363, 418, 300, 421 };
        expect_ids(v.tok, "Hello", 0, hello, ELEMENTSOF(hello));
        close_vocab(&v);
}

Test(tokenizer, phi3_model_prompt)
{
        static const int32_t want[] = { 1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203,
                29889, 9038, 2501, 263, 931 };
        struct vocab v = open_vocab("phi-3");
        expect_ids(v.tok, "The quick brown fox jumps over the lazy dog. Once upon a time",
                        AID_TOKENIZE_ADD_SPECIAL | AID_TOKENIZE_PARSE_SPECIAL, want, ELEMENTSOF(want));
        close_vocab(&v);
}

Test(tokenizer, special_ids_and_bos)
{
        struct vocab v = open_vocab("v512-spm");
        cr_expect_eq(aid_tokenizer_n_vocab(v.tok), 512);
        cr_expect_eq(aid_tokenizer_bos(v.tok), 1);
        cr_expect_eq(aid_tokenizer_eos(v.tok), 2);
        cr_expect_eq(aid_tokenizer_eot(v.tok), -1);
        cr_expect(aid_tokenizer_is_eog(v.tok, 2));
        cr_expect(!aid_tokenizer_is_eog(v.tok, 1));
        /* add_special on empty text gives BOS alone, as SentencePiece does */
        static const int32_t bos[] = { 1 };
        expect_ids(v.tok, "", AID_TOKENIZE_ADD_SPECIAL, bos, 1);
        expect_ids(v.tok, "", 0, NULL, 0);
        close_vocab(&v);

        /* GPT-2 adds no BOS; DeepSeek says add_bos_token */
        v = open_vocab("gpt-2");
        static const int32_t hello_gpt2[] = { 15496 };
        expect_ids(v.tok, "Hello", AID_TOKENIZE_ADD_SPECIAL, hello_gpt2, 1);
        cr_expect(aid_tokenizer_is_eog(v.tok, 50256));
        close_vocab(&v);

        v = open_vocab("deepseek-llm");
        cr_expect_eq(aid_tokenizer_bos(v.tok), 100000);
        int32_t *ids;
        size_t n;
        cr_assert_eq(aid_tokenize(v.tok, "Hello", 5, AID_TOKENIZE_ADD_SPECIAL, &ids, &n, NULL), 0);
        cr_assert_gt(n, 1);
        cr_expect_eq(ids[0], 100000);
        free(ids);
        close_vocab(&v);

        /* BERT: [CLS] ... [SEP] */
        v = open_vocab("bert-bge");
        cr_assert_eq(aid_tokenize(v.tok, "hello", 5, AID_TOKENIZE_ADD_SPECIAL, &ids, &n, NULL), 0);
        cr_assert_eq(n, 3);
        cr_expect_eq(ids[0], 101);
        cr_expect_eq(ids[2], 102);
        free(ids);
        close_vocab(&v);

        /* Phi-3: <|end|> is end of generation besides EOS <|endoftext|> */
        v = open_vocab("phi-3");
        cr_expect_eq(aid_tokenizer_eos(v.tok), 32000);
        cr_expect(aid_tokenizer_is_eog(v.tok, 32007));
        cr_expect(aid_tokenizer_is_eog(v.tok, 32000));
        close_vocab(&v);
}

Test(tokenizer, parse_special)
{
        struct vocab v = open_vocab("v512-spm");
        /* "<s>" parsed: BOS, then the text with a fresh space prefix */
        static const int32_t parsed[] = { 1, 363, 418, 300, 421 };
        expect_ids(v.tok, "<s>Hello", AID_TOKENIZE_PARSE_SPECIAL, parsed, ELEMENTSOF(parsed));
        int32_t *ids;
        size_t n;
        cr_assert_eq(aid_tokenize(v.tok, "<s>Hello", 8, 0, &ids, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
                cr_expect_neq(ids[i], 1, "control token text must stay text without parse_special");
        free(ids);
        close_vocab(&v);

        v = open_vocab("phi-3");
        cr_assert_eq(aid_tokenize(v.tok, "<|user|>\nHi<|end|>", 18, AID_TOKENIZE_PARSE_SPECIAL, &ids, &n,
                                     NULL),
                        0);
        cr_assert_gt(n, 2);
        cr_expect_eq(ids[0], 32010);
        cr_expect_eq(ids[n - 1], 32007);
        /* the newline after <|user|> is eaten (rstrip), so no <0x0A> byte token follows it */
        cr_expect_neq(ids[1], 16);
        free(ids);

        /* Phi-3's "</s>" is user-defined: taken whole without parse_special too, and the text
         * after it starts a new piece with its space prefix, as llama.cpp does ("▁a", "</s>",
         * "▁b"); detokenized, it comes back with that space. */
        static const int32_t user_defined[] = { 263, 2, 289 };
        expect_ids(v.tok, "a</s>b", 0, user_defined, ELEMENTSOF(user_defined));
        cr_expect(aid_tokenizer_is_user_defined(v.tok, 2));
        cr_expect_not(aid_tokenizer_is_control(v.tok, 2));
        cr_expect_not(aid_tokenizer_is_user_defined(v.tok, 263));
        cr_expect_not(aid_tokenizer_is_user_defined(v.tok, -1));
        close_vocab(&v);
}

Test(tokenizer, pieces)
{
        struct vocab v = open_vocab("v512-spm");
        char buf[16];
        cr_expect_eq(aid_token_to_piece(v.tok, 1, false, buf, sizeof(buf)), 0);
        cr_expect_eq(aid_token_to_piece(v.tok, 1, true, buf, sizeof(buf)), 3);
        cr_expect(memcmp(buf, "<s>", 3) == 0);
        cr_expect_eq(aid_token_to_piece(v.tok, 13, false, buf, sizeof(buf)), 1);
        cr_expect_eq(buf[0], '\n');
        cr_expect_eq(aid_token_to_piece(v.tok, 281, false, buf, sizeof(buf)), 4);
        cr_expect(memcmp(buf, " The", 4) == 0);
        /* too small: the needed length */
        cr_expect_eq(aid_token_to_piece(v.tok, 281, false, buf, 2), 4);
        cr_expect_eq(aid_token_to_piece(v.tok, 512, false, buf, sizeof(buf)), -EINVAL);
        cr_expect_eq(aid_token_to_piece(v.tok, -1, false, buf, sizeof(buf)), -EINVAL);
        close_vocab(&v);
}

static void expect_stream(const struct aid_tokenizer *t, const char *text, size_t min_held)
{
        int32_t *ids;
        size_t n;
        cr_assert_eq(aid_tokenize(t, text, strlen(text), 0, &ids, &n, NULL), 0);
        struct aid_detokenizer *d;
        cr_assert_eq(aid_detokenizer_new(t, AID_DETOKENIZE_STRIP_LEADING_SPACE, &d), 0);
        char out[256] = "";
        size_t empty = 0;
        for (size_t i = 0; i < n; i++) {
                const char *s;
                size_t l;
                cr_assert_eq(aid_detokenizer_push(d, ids[i], &s, &l), 0);
                /* every fragment is whole characters: valid UTF-8 on its own */
                for (size_t j = 0; j < l;) {
                        unsigned char c = (unsigned char)s[j];
                        size_t cl = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
                        cr_assert_leq(j + cl, l, "fragment '%s' ends inside a character", s);
                        for (size_t k = 1; k < cl; k++)
                                cr_assert_eq((unsigned char)s[j + k] & 0xC0, 0x80);
                        j += cl;
                }
                empty += l == 0;
                strncat(out, s, sizeof(out) - strlen(out) - 1);
        }
        cr_expect_str_eq(out, text);
        cr_expect_geq(empty, min_held, "'%s': expected bytes held back over %zu tokens", text, min_held);
        aid_detokenizer_free(d);
        free(ids);
}

Test(tokenizer, streaming_detokenizer)
{
        struct vocab v = open_vocab("v512-spm");
        /* é = <0xC3><0xA9>, 🦙 = four byte tokens: the reader sees each character whole */
        expect_stream(v.tok, "caf\xc3\xa9", 1);
        expect_stream(v.tok, "a \xf0\x9f\xa6\x99 b", 3);
        /* only the first token's leading space goes */
        expect_stream(v.tok, " Hello world", 0);
        close_vocab(&v);

        v = open_vocab("gpt-2");
        expect_stream(v.tok, "llama \xf0\x9f\xa6\x99 and caf\xc3\xa9", 0);
        close_vocab(&v);

        /* an unfinished character is handed out by flush */
        v = open_vocab("v512-spm");
        struct aid_detokenizer *d;
        const char *s;
        size_t l;
        cr_assert_eq(aid_detokenizer_new(v.tok, 0, &d), 0);
        cr_assert_eq(aid_detokenizer_push(d, 0xC3 + 3, &s, &l), 0);
        cr_expect_eq(l, 0);
        cr_assert_eq(aid_detokenizer_flush(d, &s, &l), 0);
        cr_expect_eq(l, 1);
        cr_expect_eq((unsigned char)s[0], 0xC3);
        cr_expect_eq(aid_detokenizer_push(d, 9999, &s, &l), -EINVAL);
        aid_detokenizer_free(d);
        close_vocab(&v);
}

/* A minimal GGUF v3 writer for metadata-only files. */
struct buf {
        unsigned char *data;
        size_t len, cap;
        uint64_t n_kv;
};

static void put(struct buf *b, const void *p, size_t n)
{
        while (b->len + n > b->cap) {
                b->cap = b->cap ? 2 * b->cap : 256;
                b->data = realloc(b->data, b->cap);
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
        put(b, &v, 4);
}
static void put_u64(struct buf *b, uint64_t v)
{
        put(b, &v, 8);
}

static void put_str(struct buf *b, const char *s)
{
        put_u64(b, strlen(s));
        put(b, s, strlen(s));
}

static void kv_str(struct buf *b, const char *key, const char *v)
{
        put_str(b, key);
        put_u32(b, GGUF_TYPE_STRING);
        put_str(b, v);
        b->n_kv++;
}

static void kv_strs(struct buf *b, const char *key, const char *const *v, size_t n)
{
        put_str(b, key);
        put_u32(b, GGUF_TYPE_ARRAY);
        put_u32(b, GGUF_TYPE_STRING);
        put_u64(b, n);
        for (size_t i = 0; i < n; i++)
                put_str(b, v[i]);
        b->n_kv++;
}

static void kv_f32s(struct buf *b, const char *key, size_t n)
{
        put_str(b, key);
        put_u32(b, GGUF_TYPE_ARRAY);
        put_u32(b, GGUF_TYPE_FLOAT32);
        put_u64(b, n);
        for (size_t i = 0; i < n; i++) {
                float f = -(float)i;
                put(b, &f, 4);
        }
        b->n_kv++;
}

static void kv_i32s(struct buf *b, const char *key, const int32_t *v, size_t n)
{
        put_str(b, key);
        put_u32(b, GGUF_TYPE_ARRAY);
        put_u32(b, GGUF_TYPE_INT32);
        put_u64(b, n);
        put(b, v, 4 * n);
        b->n_kv++;
}

static int try_load(const struct buf *kvs, struct aid_error *err)
{
        struct buf file = {};
        put_u32(&file, GGUF_MAGIC);
        put_u32(&file, 3);
        put_u64(&file, 0);
        put_u64(&file, kvs->n_kv);
        put(&file, kvs->data, kvs->len);
        struct gguf_file *f;
        int r = gguf_open_memory(file.data, file.len, &f, err);
        cr_assert_eq(r, 0, "%s", err->message);
        struct aid_tokenizer *t = NULL;
        r = aid_tokenizer_new_from_gguf(f, &t, err);
        if (r == 0) {
                /* the tokenizer copied what it needs */
                gguf_close(f);
                f = NULL;
                int32_t *ids;
                size_t n;
                cr_assert_eq(aid_tokenize(t, "ab ab", 5, 0, &ids, &n, NULL), 0);
                free(ids);
        }
        aid_tokenizer_free(t);
        gguf_close(f);
        free(file.data);
        return r;
}

static const char *const small_tokens[] = { "<unk>", "a", "b", "ab", "\xe2\x96\x81", "\xc4\xa0" };

static void expect_refused(struct buf *kvs, int code, const char *fragment)
{
        struct aid_error err = {};
        int r = try_load(kvs, &err);
        cr_expect_eq(r, code, "expected %d, got %d (%s)", code, r, err.message);
        cr_expect(strstr(err.message, fragment), "message '%s' does not name '%s'", err.message, fragment);
        free(kvs->data);
}

Test(tokenizer, errors)
{
        struct buf b = {};
        kv_str(&b, "tokenizer.ggml.model", "rwkv");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        expect_refused(&b, -EOPNOTSUPP, "rwkv");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "t5");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        expect_refused(&b, -EOPNOTSUPP, "t5");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "llama");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_f32s(&b, "tokenizer.ggml.scores", 5);
        expect_refused(&b, -EBADMSG, "tokenizer.ggml.scores");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "llama");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_i32s(&b, "tokenizer.ggml.token_type", (const int32_t[]){ 2, 1, 1, 1, 1, 1, 1 }, 7);
        expect_refused(&b, -EBADMSG, "tokenizer.ggml.token_type");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "llama");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_i32s(&b, "tokenizer.ggml.token_type", (const int32_t[]){ 2, 1, 1, 1, 1, 9 }, 6);
        expect_refused(&b, -EBADMSG, "tokenizer.ggml.token_type[5]");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "gpt2");
        kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_strs(&b, "tokenizer.ggml.merges", (const char *const[]){ "a b", "a c" }, 2);
        expect_refused(&b, -EBADMSG, "tokenizer.ggml.merges[1]");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "gpt2");
        kv_str(&b, "tokenizer.ggml.pre", "no-such-pre");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_strs(&b, "tokenizer.ggml.merges", (const char *const[]){ "a b" }, 1);
        expect_refused(&b, -EOPNOTSUPP, "no-such-pre");

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "llama");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        put_str(&b, "tokenizer.ggml.bos_token_id");
        put_u32(&b, GGUF_TYPE_UINT32);
        put_u32(&b, 6);
        b.n_kv++;
        expect_refused(&b, -EBADMSG, "tokenizer.ggml.bos_token_id");

        b = (struct buf){};
        kv_str(&b, "general.name", "no tokenizer");
        expect_refused(&b, -ENOKEY, "tokenizer.ggml.model");
}

Test(tokenizer, small_valid_vocabularies)
{
        /* a consistent BPE vocabulary loads, tokenizes and outlives its file */
        struct buf b = {};
        struct aid_error err = {};
        kv_str(&b, "tokenizer.ggml.model", "gpt2");
        kv_str(&b, "tokenizer.ggml.pre", "qwen2");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_strs(&b, "tokenizer.ggml.merges", (const char *const[]){ "a b" }, 1);
        cr_expect_eq(try_load(&b, &err), 0, "%s", err.message);
        free(b.data);

        b = (struct buf){};
        kv_str(&b, "tokenizer.ggml.model", "llama");
        kv_strs(&b, "tokenizer.ggml.tokens", small_tokens, 6);
        kv_f32s(&b, "tokenizer.ggml.scores", 6);
        cr_expect_eq(try_load(&b, &err), 0, "%s", err.message);
        free(b.data);
}

/* The llama3 and qwen2 pre-tokenizers have no fixture vocabulary: check their splits against
 * GPT-2's on a small byte-level vocabulary whose merges tell the splits apart. */
static void expect_pre_split(const char *pre, const char *text, const char *const *want, size_t n_want)
{
        static const char *const tokens[] = { "1", "2", "3", "4", "5", "12", "34", "45", "'", "S", "'S" };
        struct buf b = {};
        kv_str(&b, "tokenizer.ggml.model", "gpt2");
        kv_str(&b, "tokenizer.ggml.pre", pre);
        kv_strs(&b, "tokenizer.ggml.tokens", tokens, ELEMENTSOF(tokens));
        kv_strs(&b, "tokenizer.ggml.merges", (const char *const[]){ "3 4", "1 2", "4 5", "' S" }, 4);

        struct buf file = {};
        put_u32(&file, GGUF_MAGIC);
        put_u32(&file, 3);
        put_u64(&file, 0);
        put_u64(&file, b.n_kv);
        put(&file, b.data, b.len);
        struct gguf_file *f;
        struct aid_tokenizer *t;
        struct aid_error err = {};
        cr_assert_eq(gguf_open_memory(file.data, file.len, &f, &err), 0, "%s", err.message);
        cr_assert_eq(aid_tokenizer_new_from_gguf(f, &t, &err), 0, "%s", err.message);
        int32_t *ids;
        size_t n;
        cr_assert_eq(aid_tokenize(t, text, strlen(text), 0, &ids, &n, &err), 0, "%s", err.message);
        cr_expect_eq(n, n_want, "%s '%s': %zu tokens, expected %zu", pre, text, n, n_want);
        for (size_t i = 0; i < MIN(n, n_want); i++) {
                size_t len;
                const char *s = aid_tokenizer_token_text(t, ids[i], &len);
                cr_expect(len == strlen(want[i]) && memcmp(s, want[i], len) == 0,
                                "%s '%s': token %zu is '%.*s', expected '%s'", pre, text, i, (int)len, s,
                                want[i]);
        }
        free(ids);
        aid_tokenizer_free(t);
        gguf_close(f);
        free(file.data);
        free(b.data);
}

Test(tokenizer, pretokenizers_split_numbers_and_contractions)
{
        /* GPT-2 keeps a run of digits in one word, llama3 cuts it in threes, qwen2 in ones. */
        expect_pre_split("gpt-2", "12345", (const char *const[]){ "12", "34", "5" }, 3);
        expect_pre_split("llama-bpe", "12345", (const char *const[]){ "12", "3", "45" }, 3);
        expect_pre_split("qwen2", "12345", (const char *const[]){ "1", "2", "3", "4", "5" }, 5);
        /* Contractions are case-insensitive for llama3 and qwen2 only. */
        expect_pre_split("gpt-2", "'S", (const char *const[]){ "'", "S" }, 2);
        expect_pre_split("llama3", "'S", (const char *const[]){ "'S" }, 1);
        expect_pre_split("qwen2", "'S", (const char *const[]){ "'S" }, 1);
}
