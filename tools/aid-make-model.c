/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-make-model: writes a GGUF file with random weights and the real hyper-parameters, tensor
 * names and shapes of a published model, for benchmarks (speed does not depend on the values).
 *
 *   aid-make-model --shape llama-3.2-1b|qwen2.5-0.5b|gemma-3-1b|phi-3-mini|tiny
 *                  --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q4_K|Q5_K|Q6_K|Q4_K_M|Q5_K_M
 *                  [--seed N] [--layers N] [--quiet] OUT.gguf
 *
 * Every 2-D weight gets --type, except where its row length is no multiple of the type's block
 * size: then it falls back as llama-quantize does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0).
 * Q4_K_M and Q5_K_M are llama-quantize's mixtures, the types most published GGUF files use: Q4_K
 * (Q5_K) for most weights, Q6_K for the output projection (token_embd where it is tied), for
 * attn_v and ffn_down in the layers that rule gives more bits (the first and last eighth, and
 * every third between), and Q5_K (Q6_K) for a fused attn_qkv.
 * 1-D tensors (norms, biases, rope factors) stay F32, as in published files. The vocabulary is
 * synthetic (tokenizer.ggml.model "llama": <unk> <s> </s>, 256 byte tokens, generated pieces
 * with descending scores) but has the real size, so the file is self-contained; general.name and
 * general.description say so. Weights are N(0, 1/fan_in)-like (a sum of uniforms), norm weights
 * near 1, each row seeded from (seed, tensor, row), so a file is reproducible and the same
 * whatever the thread count. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ggml-type.h"
#include "gguf-write.h"
#include "kernels/quant.h"

struct model_shape {
        const char *cli_name, *arch, *hf_name;
        uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
        float rope_base, eps;
        bool tied;     /* no output.weight: token_embd is the output projection */
        bool qkv_bias; /* qwen2 */
        bool fused;    /* phi3: attn_qkv and ffn_up holding gate and up */
        bool gemma3;   /* q/k norms, post norms, sliding window */
        uint32_t sliding_window;
        bool llama3_rope; /* rope_freqs.weight from the llama3 rope scaling */
};

/* From the models' published config.json files (Hugging Face). */
static const struct model_shape shapes[] = {
        /* meta-llama/Llama-3.2-1B: rope_scaling llama3, factor 32, low 1, high 4, original 8192. */
        { "llama-3.2-1b", "llama", "Llama-3.2-1B", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000.0f,
                        1e-5f, .tied = true, .llama3_rope = true },
        /* Qwen/Qwen2.5-0.5B */
        { "qwen2.5-0.5b", "qwen2", "Qwen2.5-0.5B", 896, 24, 14, 2, 64, 4864, 151936, 32768, 1000000.0f,
                        1e-6f, .tied = true, .qkv_bias = true },
        /* google/gemma-3-1b-pt: 5 sliding-window layers (window 512, rope base 10000) then one
         * global (rope base 1e6); llama.cpp's default period of 6 applies (no pattern key). */
        { "gemma-3-1b", "gemma3", "gemma-3-1b", 1152, 26, 4, 1, 256, 6912, 262144, 32768, 1000000.0f, 1e-6f,
                        .tied = true, .gemma3 = true, .sliding_window = 512 },
        /* microsoft/Phi-3-mini-4k-instruct */
        { "phi-3-mini", "phi3", "Phi-3-mini-4k", 3072, 32, 32, 32, 96, 8192, 32064, 4096, 10000.0f, 1e-5f,
                        .fused = true },
        /* No published model: the smallest llama that still exercises every path (GQA, several
         * layers), which tools/demo.sh writes in seconds (about 4M weights) when the user has
         * no text model yet. */
        { "tiny", "llama", "a tiny llama", 256, 4, 4, 2, 64, 768, 2048, 2048, 10000.0f, 1e-5f },
};

enum tensor_kind { T_WEIGHT, T_NORM, T_BIAS, T_ROPE_FREQS };

struct tdesc {
        char name[64];
        enum tensor_kind kind;
        uint32_t type, n_dims;
        uint64_t ne[2];
};

struct maker {
        const struct model_shape *s;
        uint64_t seed;
        struct tdesc *t;
        size_t n_t, cap_t;
        bool quiet;
        double t0;
        uint64_t bytes_done, bytes_total;
        float *rope_factors;
};

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* Approximately N(0, 1): four 16-bit uniforms summed (variance 4/12), centred and scaled. */
static float gauss(uint64_t *st)
{
        uint64_t r = splitmix64(st);
        float s = 0;

        for (int i = 0; i < 4; i++)
                s += (float)((r >> (16 * i)) & 0xffff) * (1.0f / 65536.0f);
        return (s - 2.0f) * 1.7320508f;
}

static int add_t(struct maker *mk, enum tensor_kind kind, uint32_t type, uint64_t ne0, uint64_t ne1,
                const char *fmt, ...) _printf_(6, 7);
static int add_t(struct maker *mk, enum tensor_kind kind, uint32_t type, uint64_t ne0, uint64_t ne1,
                const char *fmt, ...)
{
        struct tdesc *t;
        va_list ap;

        if (mk->n_t == mk->cap_t) {
                mk->cap_t = mk->cap_t ? mk->cap_t * 2 : 64;
                t = realloc(mk->t, mk->cap_t * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                mk->t = t;
        }
        t = &mk->t[mk->n_t++];
        memset(t, 0, sizeof(*t));
        va_start(ap, fmt);
        vsnprintf(t->name, sizeof(t->name), fmt, ap);
        va_end(ap);
        t->kind = kind;
        t->n_dims = ne1 > 0 ? 2 : 1;
        t->ne[0] = ne0;
        t->ne[1] = ne1 > 0 ? ne1 : 1;
        t->type = type;
        return 0;
}

/* The type a 2-D weight gets: the requested one, or llama-quantize's fallback when the row
 * length is no multiple of the block size. */
static uint32_t weight_type(uint32_t type, uint64_t ne0)
{
        uint64_t b;

        if (ggml_row_bytes(type, ne0, &b) == 0)
                return type;
        switch (type) {
        case GGML_TYPE_Q4_K:
                return GGML_TYPE_Q5_0;
        case GGML_TYPE_Q5_K:
                return GGML_TYPE_Q5_1;
        default:
                return GGML_TYPE_Q8_0;
        }
}

/* A --type: one tensor type for every weight, or one of llama-quantize's _M mixtures. */
struct quant_mix {
        const char *name;
        uint32_t base;      /* most weights */
        uint32_t more_bits; /* the mixture's wider type (UINT32_MAX: a uniform --type) */
        uint32_t fused_qkv; /* a fused attn_qkv's type in the mixture */
        uint32_t file_type; /* general.file_type */
};

static const struct quant_mix mixtures[] = {
        { "Q4_K_M", GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_K, 15 },
        { "Q5_K_M", GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, 17 },
};

/* The layers that llama-quantize's _M mixtures give more bits in attn_v and ffn_down. */
static bool layer_gets_more_bits(uint32_t l, uint32_t n)
{
        return l < n / 8 || l >= 7 * n / 8 || (l >= n / 8 && (l - n / 8) % 3 == 2);
}

enum weight_role { R_OTHER, R_OUTPUT, R_MORE_BITS, R_FUSED_QKV };

static uint32_t role_type(const struct quant_mix *mix, enum weight_role role)
{
        if (mix->more_bits == UINT32_MAX)
                return mix->base;
        switch (role) {
        case R_OUTPUT:
        case R_MORE_BITS:
                return mix->more_bits;
        case R_FUSED_QKV:
                return mix->fused_qkv;
        default:
                return mix->base;
        }
}

static int plan_tensors(struct maker *mk, const struct quant_mix *mix)
{
        const struct model_shape *s = mk->s;
        uint64_t e = s->n_embd, q = (uint64_t)s->n_head * s->head_dim,
                 kv = (uint64_t)s->n_head_kv * s->head_dim;
        int r = 0;

#define WR(role, ne0, ne1, ...) \
        (r < 0 ? r              \
               : (r = add_t(mk, T_WEIGHT, weight_type(role_type(mix, role), ne0), ne0, ne1, __VA_ARGS__)))
#define W(ne0, ne1, ...) WR(R_OTHER, ne0, ne1, __VA_ARGS__)
#define N(ne0, ...) (r < 0 ? r : (r = add_t(mk, T_NORM, GGML_TYPE_F32, ne0, 0, __VA_ARGS__)))
#define B(ne0, ...) (r < 0 ? r : (r = add_t(mk, T_BIAS, GGML_TYPE_F32, ne0, 0, __VA_ARGS__)))
        WR(s->tied ? R_OUTPUT : R_OTHER, e, s->n_vocab, "token_embd.weight");
        if (s->llama3_rope)
                r = r < 0 ? r
                          : add_t(mk, T_ROPE_FREQS, GGML_TYPE_F32, s->head_dim / 2, 0, "rope_freqs.weight");
        for (uint32_t l = 0; l < s->n_layer; l++) {
                enum weight_role more = layer_gets_more_bits(l, s->n_layer) ? R_MORE_BITS : R_OTHER;

                N(e, "blk.%u.attn_norm.weight", l);
                if (s->fused) {
                        WR(R_FUSED_QKV, e, q + 2 * kv, "blk.%u.attn_qkv.weight", l);
                } else {
                        W(e, q, "blk.%u.attn_q.weight", l);
                        W(e, kv, "blk.%u.attn_k.weight", l);
                        WR(more, e, kv, "blk.%u.attn_v.weight", l);
                }
                if (s->qkv_bias) {
                        B(q, "blk.%u.attn_q.bias", l);
                        B(kv, "blk.%u.attn_k.bias", l);
                        B(kv, "blk.%u.attn_v.bias", l);
                }
                if (s->gemma3) {
                        N(s->head_dim, "blk.%u.attn_q_norm.weight", l);
                        N(s->head_dim, "blk.%u.attn_k_norm.weight", l);
                }
                W(q, e, "blk.%u.attn_output.weight", l);
                if (s->gemma3)
                        N(e, "blk.%u.post_attention_norm.weight", l);
                N(e, "blk.%u.ffn_norm.weight", l);
                if (s->fused) {
                        W(e, 2 * (uint64_t)s->n_ff, "blk.%u.ffn_up.weight", l);
                } else {
                        W(e, s->n_ff, "blk.%u.ffn_gate.weight", l);
                        W(e, s->n_ff, "blk.%u.ffn_up.weight", l);
                }
                WR(more, s->n_ff, e, "blk.%u.ffn_down.weight", l);
                if (s->gemma3)
                        N(e, "blk.%u.post_ffw_norm.weight", l);
        }
        N(e, "output_norm.weight");
        if (!s->tied)
                WR(R_OUTPUT, e, s->n_vocab, "output.weight");
#undef WR
#undef W
#undef N
#undef B
        return r;
}

/* Llama 3's rope scaling as llama.cpp's converter bakes it into rope_freqs.weight: per
 * frequency, 1 for short wavelengths, `factor` for long ones, a smooth blend between. */
static void llama3_rope_factors(float *out, uint32_t head_dim, float base)
{
        const double factor = 32, low = 1, high = 4, old_ctx = 8192;
        const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;

        for (uint32_t i = 0; i < head_dim / 2; i++) {
                double freq = 1.0 / pow(base, (double)(2 * i) / head_dim);
                double wavelen = 2 * M_PI / freq;

                if (wavelen < high_wavelen)
                        out[i] = 1.0f;
                else if (wavelen > low_wavelen)
                        out[i] = (float)factor;
                else {
                        double smooth = (old_ctx / wavelen - low) / (high - low);
                        out[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
                }
        }
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fill(void *userdata, uint64_t index, uint64_t row0, uint64_t n_rows, void *buf)
{
        struct maker *mk = userdata;
        const struct tdesc *t = &mk->t[index];
        uint64_t row_bytes;
        int failed = 0;

        if (ggml_row_bytes(t->type, t->ne[0], &row_bytes) < 0)
                return -EINVAL;
        if (row0 == 0 && !mk->quiet) {
                fprintf(stderr,
                                "[%3" PRIu64 "/%zu] %-32s %-5s %6" PRIu64 " x %-6" PRIu64
                                " %5.1f%% %6.1fs\n",
                                index + 1, mk->n_t, t->name, ggml_type_name(t->type), t->ne[0], t->ne[1],
                                100.0 * (double)mk->bytes_done / (double)mk->bytes_total, now() - mk->t0);
                fflush(stderr);
        }
        if (t->kind == T_ROPE_FREQS) {
                memcpy(buf, mk->rope_factors, t->ne[0] * sizeof(float));
                mk->bytes_done += row_bytes * n_rows;
                return 0;
        }

#pragma omp parallel reduction(| : failed)
        {
                float *row = malloc(t->ne[0] * sizeof(float));

                if (!row)
                        failed |= 1;
#pragma omp for schedule(dynamic, 16)
                for (uint64_t i = 0; i < n_rows; i++) {
                        uint64_t st = mk->seed * 0x100000001b3ull ^ (index << 40) ^ (row0 + i);
                        uint8_t *dst = (uint8_t *)buf + i * row_bytes;
                        float scale = 1.0f / sqrtf((float)t->ne[0]);

                        if (!row)
                                continue;
                        splitmix64(&st);
                        for (uint64_t j = 0; j < t->ne[0]; j++) {
                                float g = gauss(&st);

                                row[j] = t->kind == T_NORM   ? 1.0f + 0.02f * g
                                         : t->kind == T_BIAS ? 0.02f * g
                                                             : g * scale;
                        }
                        if (aid_quantize_row(t->type, row, dst, t->ne[0]) < 0)
                                failed |= 2;
                }
                free(row);
        }
        mk->bytes_done += row_bytes * n_rows;
        return failed & 1 ? -ENOMEM : failed ? -EINVAL : 0;
}

/* A synthetic SentencePiece-style vocabulary of exactly n tokens. */
static int add_tokenizer(struct gguf_writer *w, uint32_t n)
{
        static const char letters[] = "etaoinshrdlucmfwypvbgkjqxz";
        char **tok = calloc(n, sizeof(*tok));
        float *scores = malloc(n * sizeof(float));
        int32_t *types = malloc(n * sizeof(int32_t));
        int r = -ENOMEM;

        if (!tok || !scores || !types)
                goto out;
        for (uint32_t i = 0; i < n; i++) {
                char piece[32];

                if (i < 3) {
                        static const char *const special[] = { "<unk>", "<s>", "</s>" };
                        snprintf(piece, sizeof(piece), "%s", special[i]);
                        types[i] = i == 0 ? 2 : 3; /* UNKNOWN, CONTROL */
                        scores[i] = 0;
                } else if (i < 3 + 256) {
                        snprintf(piece, sizeof(piece), "<0x%02X>", i - 3);
                        types[i] = 6; /* BYTE */
                        scores[i] = 0;
                } else {
                        /* Even ids start a word ("▁" prefix), odd ones continue one; the letters
                         * spell j in base 26, so every piece is distinct. */
                        uint32_t j = (i - 259) / 2;
                        size_t len = 0;

                        if ((i - 259) % 2 == 0)
                                len += (size_t)snprintf(piece, sizeof(piece), "\xe2\x96\x81");
                        do {
                                piece[len++] = letters[j % 26];
                                j /= 26;
                        } while (j > 0);
                        piece[len] = '\0';
                        types[i] = 1; /* NORMAL */
                        scores[i] = -(float)(i - 259);
                }
                tok[i] = strdup(piece);
                if (!tok[i])
                        goto out;
        }
        gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, n);
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, n);
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n);
        gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
        r = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
out:
        if (tok)
                for (uint32_t i = 0; i < n; i++)
                        free(tok[i]);
        free(tok);
        free(scores);
        free(types);
        return r;
}

/* llama.cpp's general.file_type for a uniform --type (the _S variants for K-quants). */
static uint32_t file_type(uint32_t type)
{
        switch (type) {
        case GGML_TYPE_F32:
                return 0;
        case GGML_TYPE_F16:
                return 1;
        case GGML_TYPE_Q4_0:
                return 2;
        case GGML_TYPE_Q4_1:
                return 3;
        case GGML_TYPE_Q8_0:
                return 7;
        case GGML_TYPE_Q5_0:
                return 8;
        case GGML_TYPE_Q5_1:
                return 9;
        case GGML_TYPE_Q4_K:
                return 14;
        case GGML_TYPE_Q5_K:
                return 16;
        case GGML_TYPE_Q6_K:
                return 18;
        case GGML_TYPE_BF16:
                return 32;
        default:
                return 0;
        }
}

static void add_hparams(struct gguf_writer *w, const struct model_shape *s, uint32_t n_layer,
                const struct quant_mix *mix)
{
        char key[128], name[128], desc[512];

#define K(suffix) (snprintf(key, sizeof(key), "%s." suffix, s->arch), key)
        snprintf(name, sizeof(name), "aid synthetic %s (random weights)", s->hf_name);
        snprintf(desc, sizeof(desc),
                        "Random weights and a synthetic %u-token vocabulary with the tensor shapes and "
                        "hyper-parameters of %s%s, written by aid-make-model for benchmarks: the numbers "
                        "and the text it produces mean nothing.",
                        s->n_vocab, s->hf_name, n_layer != s->n_layer ? " (fewer layers)" : "");
        gguf_writer_add_str(w, "general.architecture", s->arch);
        gguf_writer_add_str(w, "general.name", name);
        gguf_writer_add_str(w, "general.description", desc);
        gguf_writer_add_u32(w, "general.file_type", mix->file_type);
        if (ggml_type_traits_get(mix->base)->quantized)
                gguf_writer_add_u32(w, "general.quantization_version", 2);
        gguf_writer_add_u32(w, K("vocab_size"), s->n_vocab);
        gguf_writer_add_u32(w, K("context_length"), s->n_ctx);
        gguf_writer_add_u32(w, K("embedding_length"), s->n_embd);
        gguf_writer_add_u32(w, K("block_count"), n_layer);
        gguf_writer_add_u32(w, K("feed_forward_length"), s->n_ff);
        gguf_writer_add_u32(w, K("attention.head_count"), s->n_head);
        gguf_writer_add_u32(w, K("attention.head_count_kv"), s->n_head_kv);
        gguf_writer_add_f32(w, K("attention.layer_norm_rms_epsilon"), s->eps);
        gguf_writer_add_f32(w, K("rope.freq_base"), s->rope_base);
        if (s->gemma3) {
                gguf_writer_add_u32(w, K("attention.key_length"), s->head_dim);
                gguf_writer_add_u32(w, K("attention.value_length"), s->head_dim);
                gguf_writer_add_u32(w, K("attention.sliding_window"), s->sliding_window);
        } else {
                gguf_writer_add_u32(w, K("rope.dimension_count"), s->head_dim);
        }
#undef K
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: aid-make-model --shape SHAPE --type TYPE [--seed N] [--layers N] [--quiet] "
                   "OUT.gguf\n"
                   "Writes a GGUF file with random weights and the shapes of a published model.\n"
                   "  SHAPE: ");
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
                fprintf(f, "%s%s", i ? ", " : "", shapes[i].cli_name);
        fprintf(f, "\n  TYPE: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K,\n"
                   "        or llama-quantize's mixtures Q4_K_M, Q5_K_M\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "shape", required_argument, NULL, 's' },
                { "type", required_argument, NULL, 't' },
                { "seed", required_argument, NULL, 'S' },
                { "layers", required_argument, NULL, 'l' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct maker mk = { .seed = 1 };
        struct aid_error err = { 0 };
        struct gguf_writer *w = NULL;
        const char *shape_name = NULL, *type_name = NULL;
        struct quant_mix mix = { .base = UINT32_MAX, .more_bits = UINT32_MAX };
        uint32_t n_layer;
        long layers = 0;
        float rope_factors[256];
        size_t shape_index = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        shape_name = optarg;
                        break;
                case 't':
                        type_name = optarg;
                        break;
                case 'S':
                        mk.seed = strtoull(optarg, NULL, 0);
                        break;
                case 'l':
                        layers = strtol(optarg, NULL, 10);
                        if (layers <= 0 || layers > 1000) {
                                fprintf(stderr, "aid-make-model: --layers must be 1..1000\n");
                                return 2;
                        }
                        break;
                case 'q':
                        mk.quiet = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!shape_name || !type_name || optind != argc - 1) {
                usage(stderr);
                return 2;
        }
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
                if (strcmp(shapes[i].cli_name, shape_name) == 0) {
                        mk.s = &shapes[i];
                        shape_index = i;
                }
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++)
                if (ggml_type_is_supported(t) && strcasecmp(ggml_type_name(t), type_name) == 0)
                        mix = (struct quant_mix){ ggml_type_name(t), t, UINT32_MAX, t, file_type(t) };
        for (size_t i = 0; i < sizeof(mixtures) / sizeof(mixtures[0]); i++)
                if (strcasecmp(mixtures[i].name, type_name) == 0)
                        mix = mixtures[i];
        if (!mk.s || mix.base == UINT32_MAX) {
                fprintf(stderr, "aid-make-model: unknown %s '%s'\n", mk.s ? "type" : "shape",
                                mk.s ? type_name : shape_name);
                usage(stderr);
                return 2;
        }

        n_layer = layers > 0 ? (uint32_t)layers : mk.s->n_layer;
        struct model_shape s = *mk.s;
        s.n_layer = n_layer;
        mk.s = &s;
        llama3_rope_factors(rope_factors, s.head_dim, s.rope_base);
        mk.rope_factors = rope_factors;

        w = gguf_writer_new();
        if (!w || plan_tensors(&mk, &mix) < 0) {
                fprintf(stderr, "aid-make-model: out of memory\n");
                return 1;
        }
        add_hparams(w, &shapes[shape_index], n_layer, &mix);
        r = add_tokenizer(w, s.n_vocab);
        for (size_t i = 0; r >= 0 && i < mk.n_t; i++) {
                uint64_t rb;

                r = gguf_writer_add_tensor(w, mk.t[i].name, mk.t[i].type, mk.t[i].n_dims, mk.t[i].ne, NULL);
                if (r >= 0 && ggml_row_bytes(mk.t[i].type, mk.t[i].ne[0], &rb) == 0)
                        mk.bytes_total += rb * mk.t[i].ne[1];
        }
        if (!mk.quiet)
                fprintf(stderr,
                                "aid-make-model: %s, %s, %u layers, %zu tensors, %.2f GiB of weights, %d "
                                "threads\n",
                                s.hf_name, mix.name, n_layer, mk.n_t, (double)mk.bytes_total / (1u << 30),
                                omp_get_max_threads());
        mk.t0 = now();
        r = gguf_writer_write(w, argv[optind], fill, &mk, &err);
        gguf_writer_free(w);
        free(mk.t);
        if (r < 0) {
                fprintf(stderr, "aid-make-model: %s\n", err.message);
                return 1;
        }
        if (!mk.quiet)
                fprintf(stderr, "aid-make-model: wrote %s in %.1f s\n", argv[optind], now() - mk.t0);
        return 0;
}
