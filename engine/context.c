/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/quant.h"
#include "model-private.h"
#include "onednn.h"

/* From this many batch rows on, products go to oneDNN (dequantised weight panels and a GEMM);
 * below it, the decode kernels take the few rows together (aid_matmul_rows()), which reads
 * the weights once. Types with multi-row integer kernels stay on aid_matmul_rows() up to
 * AID_MATMUL_ROWS_MAX rows, where it is faster (see aid_matmul_rows_has_multi()). */
#define ONEDNN_MIN_ROWS 16

static int thread_id(void)
{
#ifdef _OPENMP
        return omp_get_thread_num();
#else
        return 0;
#endif
}

static void dequant_row(const struct aid_weight *w, uint32_t r, float *dst)
{
        const void *src = (const uint8_t *)w->data + (size_t)r * w->row_bytes;

        if (w->type == GGML_TYPE_F32)
                memcpy(dst, src, (size_t)w->cols * sizeof(float));
        else
                (void)aid_dequantize_row(w->type, src, dst, w->cols);
}

typedef float v8f __attribute__((vector_size(32)));

/* Eight lanes and two accumulators: GCC turns this into SIMD at -O2 without -ffast-math,
 * since the order of the additions is written out. */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static float dot_f32(
                const float *a, const float *b, uint32_t n)
{
        v8f s0 = { 0 }, s1 = { 0 };
        uint32_t i = 0;
        float s;

        for (; i + 16 <= n; i += 16) {
                v8f a0, a1, b0, b1;
                memcpy(&a0, a + i, sizeof(a0));
                memcpy(&a1, a + i + 8, sizeof(a1));
                memcpy(&b0, b + i, sizeof(b0));
                memcpy(&b1, b + i + 8, sizeof(b1));
                s0 += a0 * b0;
                s1 += a1 * b1;
        }
        s0 += s1;
        s = ((s0[0] + s0[4]) + (s0[1] + s0[5])) + ((s0[2] + s0[6]) + (s0[3] + s0[7]));
        for (; i < n; i++)
                s += a[i] * b[i];
        return s;
}

/* y += a·x with the same eight lanes: the p·v sum of attention, which GCC leaves scalar at -O2
 * (it cannot rule out that y and x overlap). Each y[i] gets the same operations in the same
 * order as the plain loop. */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static void axpy_f32(
                float *y, float a, const float *x, uint32_t n)
{
        const v8f av = { a, a, a, a, a, a, a, a };
        uint32_t i = 0;

        for (; i + 8 <= n; i += 8) {
                v8f xv, yv;
                memcpy(&xv, x + i, sizeof(xv));
                memcpy(&yv, y + i, sizeof(yv));
                yv += av * xv;
                memcpy(y + i, &yv, sizeof(yv));
        }
        for (; i < n; i++)
                y[i] += a * x[i];
}

void aid_op_embed(const struct aid_context *c, const struct aid_batch_entry *e, size_t n, float *x)
{
        const struct aid_model *m = c->m;
        uint32_t dim = m->hp.n_embd;

        for (size_t i = 0; i < n; i++) {
                float *xi = x + i * dim;
                dequant_row(&m->token_embd, (uint32_t)e[i].token, xi);
                if (m->embd_scale != 1.0f)
                        for (uint32_t j = 0; j < dim; j++)
                                xi[j] *= m->embd_scale;
        }
}

void aid_op_rmsnorm(
                float *out, const float *x, const struct aid_weight *w, size_t n, uint32_t dim, float eps)
{
        const float *g = w->data;

        for (size_t i = 0; i < n; i++) {
                const float *xi = x + i * dim;
                float *oi = out + i * dim;
                double ss = 0;
                for (uint32_t j = 0; j < dim; j++)
                        ss += (double)xi[j] * xi[j];
                float scale = 1.0f / sqrtf((float)(ss / dim) + eps);
                for (uint32_t j = 0; j < dim; j++)
                        oi[j] = xi[j] * scale * g[j];
        }
}

void aid_op_matmul(const struct aid_context *c, const struct aid_weight *w, const struct aid_weight *bias,
                const float *x, size_t n, float *y)
{
        const uint32_t rows = w->rows, cols = w->cols;

        if (n == 1) {
                /* Decode: the memory-bound matrix-vector product on the SIMD kernels. */
                aid_matvec(w->type, w->data, w->row_bytes, x, y, rows, cols);
        } else if (c->dnn && n >= ONEDNN_MIN_ROWS &&
                        !(n <= AID_MATMUL_ROWS_MAX && aid_matmul_rows_has_multi(w->type)) &&
                        aid_onednn_matmul_dequant(c->dnn, w->type, w->data, w->row_bytes, rows, x, n, cols,
                                        0, y, 0, NULL) == 0) {
                /* Prefill: a GEMM. (Should oneDNN fail, the loop below still computes it.) */
        } else {
                /* A few rows (continuous batching, short prompts), or oneDNN failed. */
                for (size_t j0 = 0; j0 < n; j0 += AID_MATMUL_ROWS_MAX)
                        aid_matmul_rows(w->type, w->data, w->row_bytes, x + j0 * cols,
                                        MIN((size_t)AID_MATMUL_ROWS_MAX, n - j0), y + j0 * rows, rows, cols);
        }
        if (bias && bias->data) {
                const float *b = bias->data;
                for (size_t j = 0; j < n; j++)
                        for (uint32_t r = 0; r < rows; r++)
                                y[j * rows + r] += b[r];
        }
}

void aid_op_rope(const struct aid_model *m, float *v, uint32_t n_heads, uint32_t hd, uint32_t pos,
                float base, float freq_scale)
{
        const uint32_t n_rot = m->hp.n_rot, half = n_rot / 2;
        const float *factors = m->rope_freqs.data;

        for (uint32_t i = 0; i < half; i++) {
                /* theta_i = pos · base^(−2i/n_rot), divided by Llama 3's per-frequency factor
                 * and scaled for linear RoPE scaling. */
                double freq = pow((double)base, -2.0 * i / n_rot);
                if (factors)
                        freq /= factors[i];
                double theta = (double)pos * freq_scale * freq;
                float cs = (float)cos(theta), sn = (float)sin(theta);

                for (uint32_t h = 0; h < n_heads; h++) {
                        float *vh = v + (size_t)h * hd;
                        /* "normal" rotates adjacent pairs; NeoX pairs i with i + n_rot/2. */
                        uint32_t a = m->rope_neox ? i : 2 * i, b = m->rope_neox ? i + half : 2 * i + 1;
                        float x0 = vh[a], x1 = vh[b];
                        vh[a] = x0 * cs - x1 * sn;
                        vh[b] = x0 * sn + x1 * cs;
                }
        }
}

void aid_op_attention(struct aid_context *c, uint32_t layer, const struct aid_batch_entry *e, size_t n,
                const float *q, const float *k, const float *v, float *out)
{
        const struct aid_hparams *hp = &c->m->hp;
        const uint32_t hd = hp->head_dim, n_head = hp->n_head, kv_dim = hp->n_head_kv * hd;
        const uint32_t group = hp->n_head / hp->n_head_kv;
        const uint32_t window = c->m->layers[layer].sliding ? hp->sliding_window : 0;
        const float scale = c->m->attn_scale;

        /* Positions beyond a sequence's length are invisible until aid_decode() succeeds, so
         * writing them now changes nothing a caller can see. */
        for (size_t i = 0; i < n; i++) {
                memcpy(aid_kv_k(&c->kv, layer, e[i].seq, e[i].pos), k + i * kv_dim, kv_dim * sizeof(float));
                memcpy(aid_kv_v(&c->kv, layer, e[i].seq, e[i].pos), v + i * kv_dim, kv_dim * sizeof(float));
        }

        /* Causal rows grow with the position: hand out (entry, head) pairs round-robin, so
         * that every thread gets early and late positions alike. */
        AID_OMP("omp parallel for collapse(2) schedule(static, 1) num_threads(c->n_threads)")
        for (size_t i = 0; i < n; i++)
                for (uint32_t h = 0; h < n_head; h++) {
                        float *scores = c->s.scores + (size_t)thread_id() * c->n_ctx;
                        const float *qh = q + i * n_head * hd + (size_t)h * hd;
                        float *oh = out + i * n_head * hd + (size_t)h * hd;
                        const uint32_t kvh = h / group, pos = e[i].pos, seq = e[i].seq;
                        /* Causal; a sliding-window layer sees the last `window` positions. */
                        const uint32_t start = window && pos + 1 > window ? pos + 1 - window : 0;
                        float max = -INFINITY, sum = 0;

                        for (uint32_t t = start; t <= pos; t++) {
                                const float *kt = aid_kv_k(&c->kv, layer, seq, t) + (size_t)kvh * hd;
                                float s = dot_f32(qh, kt, hd) * scale;
                                scores[t - start] = s;
                                max = fmaxf(max, s);
                        }
                        for (uint32_t t = start; t <= pos; t++) {
                                float p = expf(scores[t - start] - max);
                                scores[t - start] = p;
                                sum += p;
                        }
                        memset(oh, 0, hd * sizeof(float));
                        for (uint32_t t = start; t <= pos; t++) {
                                const float *vt = aid_kv_v(&c->kv, layer, seq, t) + (size_t)kvh * hd;
                                axpy_f32(oh, scores[t - start] / sum, vt, hd);
                        }
                }
}

void aid_op_add(float *x, const float *y, size_t len)
{
        for (size_t i = 0; i < len; i++)
                x[i] += y[i];
}

static void scratch_free(struct aid_scratch *s)
{
        free(s->x);
        free(s->xb);
        free(s->xb2);
        free(s->q);
        free(s->k);
        free(s->v);
        free(s->qkv);
        free(s->att);
        free(s->hb);
        free(s->hb2);
        free(s->scores);
        free(s->out_x);
        free(s->logits);
        *s = (struct aid_scratch){ 0 };
}

static float *alloc_f32(size_t a, size_t b, bool *failed)
{
        size_t bytes;
        float *p;

        if (__builtin_mul_overflow(a, b, &bytes) || __builtin_mul_overflow(bytes, sizeof(float), &bytes)) {
                *failed = true;
                return NULL;
        }
        p = malloc(bytes ? bytes : 1);
        if (!p)
                *failed = true;
        return p;
}

static int scratch_init(struct aid_context *c)
{
        const struct aid_hparams *hp = &c->m->hp;
        struct aid_scratch *s = &c->s;
        const size_t nb = c->n_batch, q_dim = (size_t)hp->n_head * hp->head_dim,
                     kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
        bool failed = false;

        s->x = alloc_f32(nb, hp->n_embd, &failed);
        s->xb = alloc_f32(nb, hp->n_embd, &failed);
        s->xb2 = alloc_f32(nb, hp->n_embd, &failed);
        s->q = alloc_f32(nb, q_dim, &failed);
        s->k = alloc_f32(nb, kv_dim, &failed);
        s->v = alloc_f32(nb, kv_dim, &failed);
        s->qkv = alloc_f32(nb, q_dim + 2 * kv_dim, &failed);
        s->att = alloc_f32(nb, q_dim, &failed);
        s->hb = alloc_f32(nb, 2 * (size_t)hp->n_ff, &failed);
        s->hb2 = alloc_f32(nb, hp->n_ff, &failed);
        s->scores = alloc_f32(c->n_threads, c->n_ctx, &failed);
        s->out_x = alloc_f32(nb, hp->n_embd, &failed);
        s->logits = alloc_f32(nb, hp->n_vocab, &failed);
        if (failed) {
                scratch_free(s);
                return -ENOMEM;
        }
        return 0;
}

int aid_context_new(struct aid_model *m, const struct aid_context_params *params,
                struct aid_context **ret_ctx, struct aid_error *err)
{
        const struct aid_hparams *hp = &m->hp;
        struct aid_context *c;
        int r;

        if (!params || params->n_seq_max == 0 || params->n_batch == 0)
                return aid_error_set(err, -EINVAL, "context: n_seq_max and n_batch must be at least 1");
        if (params->n_seq_max > 4096 || params->n_batch > 1u << 20)
                return aid_error_set(err, -EINVAL,
                                "context: n_seq_max %" PRIu32 " or n_batch %" PRIu32 " is too large",
                                params->n_seq_max, params->n_batch);

        c = calloc(1, sizeof(*c));
        if (!c)
                return aid_error_set(err, -ENOMEM, "out of memory");
        c->m = m;
        c->n_ctx = params->n_ctx ? params->n_ctx : hp->n_ctx_train;
        c->n_seq_max = params->n_seq_max;
        c->n_batch = params->n_batch;
        c->n_threads = params->n_threads;
        if (c->n_threads == 0) {
#ifdef _OPENMP
                c->n_threads = (uint32_t)omp_get_num_procs();
#else
                c->n_threads = 1;
#endif
        }

        r = aid_kv_cache_init(&c->kv, hp->n_layer, c->n_seq_max, c->n_ctx, hp->n_head_kv * hp->head_dim);
        if (r < 0) {
                aid_error_set(err, r,
                                "context: cannot allocate the KV cache for %" PRIu32 " sequences of %" PRIu32
                                " positions",
                                c->n_seq_max, c->n_ctx);
                free(c);
                return r;
        }
        /* Without oneDNN (it failed to start), batches use the plain loops. */
        if (aid_onednn_new(0, &c->dnn, NULL) < 0)
                c->dnn = NULL;
        r = scratch_init(c);
        if (r < 0) {
                aid_kv_cache_done(&c->kv);
                free(c);
                return aid_error_set(err, r,
                                "context: cannot allocate scratch buffers for a batch of %" PRIu32,
                                params->n_batch);
        }
        *ret_ctx = c;
        return 0;
}

struct aid_context *aid_context_free(struct aid_context *c)
{
        if (!c)
                return NULL;
        scratch_free(&c->s);
        aid_kv_cache_done(&c->kv);
        aid_onednn_free(c->dnn);
        free(c);
        return NULL;
}

static int validate(const struct aid_context *c, const struct aid_batch_entry *e, size_t n,
                uint32_t *pending, struct aid_error *err)
{
        const uint32_t n_vocab = c->m->hp.n_vocab;

        if (n == 0)
                return aid_error_set(err, -EINVAL, "empty batch");
        if (n > c->n_batch)
                return aid_error_set(err, -EINVAL,
                                "batch of %zu entries exceeds the context's n_batch %" PRIu32, n,
                                c->n_batch);

        /* pending[seq] = the next position of seq, counting this batch's earlier entries. */
        for (uint32_t s = 0; s < c->n_seq_max; s++)
                pending[s] = c->kv.len[s];
        for (size_t i = 0; i < n; i++) {
                if (e[i].token < 0 || (uint32_t)e[i].token >= n_vocab)
                        return aid_error_set(err, -EINVAL,
                                        "entry %zu: token id %" PRId32
                                        " is outside the vocabulary [0, %" PRIu32 ")",
                                        i, e[i].token, n_vocab);
                if (e[i].seq >= c->n_seq_max)
                        return aid_error_set(err, -EINVAL,
                                        "entry %zu: sequence %" PRIu32 " does not exist (n_seq_max %" PRIu32
                                        ")",
                                        i, e[i].seq, c->n_seq_max);
                if (e[i].pos != pending[e[i].seq])
                        return aid_error_set(err, -EINVAL,
                                        "entry %zu: position %" PRIu32 " of sequence %" PRIu32
                                        ", expected %" PRIu32 " (positions are appended in order)",
                                        i, e[i].pos, e[i].seq, pending[e[i].seq]);
                if (e[i].pos >= c->n_ctx)
                        return aid_error_set(err, -ENOSPC,
                                        "entry %zu: sequence %" PRIu32
                                        " would outgrow the context of %" PRIu32 " positions",
                                        i, e[i].seq, c->n_ctx);
                pending[e[i].seq]++;
        }
        return 0;
}

int aid_decode(struct aid_context *c, const struct aid_batch_entry *e, size_t n, struct aid_error *err)
{
        const struct aid_model *m = c->m;
        const uint32_t dim = m->hp.n_embd;
        _cleanup_free_ uint32_t *pending = NULL;
        size_t n_out = 0;
        int r;

        if (!e && n > 0)
                return aid_error_set(err, -EINVAL, "no batch");
        pending = calloc(c->n_seq_max, sizeof(*pending));
        if (!pending)
                return aid_error_set(err, -ENOMEM, "out of memory");
        r = validate(c, e, n, pending, err);
        if (r < 0)
                return r;

#ifdef _OPENMP
        /* aid_matvec(), the dequantizers and oneDNN split their work over the calling thread's
         * OpenMP thread count, not the context's: make it n_threads for this call, and give
         * the caller its own back afterwards. */
        const int caller_threads = omp_get_max_threads();
        omp_set_num_threads((int)c->n_threads);
#endif
        bool done = m->hp.arch == AID_ARCH_GEMMA3 ? aid_gemma3_forward(c, e, n) : aid_llama_forward(c, e, n);
        if (!done) {
#ifdef _OPENMP
                omp_set_num_threads(caller_threads);
#endif
                c->s.n_logits = 0;
                return aid_error_set(err, -ECANCELED, "the evaluation of the batch was interrupted");
        }

        for (size_t i = 0; i < n; i++)
                if (e[i].want_logits)
                        memcpy(c->s.out_x + n_out++ * dim, c->s.x + i * dim, dim * sizeof(float));
        if (n_out > 0) {
                aid_op_rmsnorm(c->s.out_x, c->s.out_x, &m->output_norm, n_out, dim, m->hp.rms_eps);
                aid_op_matmul(c, &m->output, NULL, c->s.out_x, n_out, c->s.logits);
        }
        c->s.n_logits = n_out;
#ifdef _OPENMP
        omp_set_num_threads(caller_threads);
#endif

        memcpy(c->kv.len, pending, c->n_seq_max * sizeof(*pending));
        return 0;
}

void aid_context_set_interrupt(struct aid_context *c, aid_interrupt_fn fn, void *userdata)
{
        c->interrupt = fn;
        c->interrupt_userdata = fn ? userdata : NULL;
}

const float *aid_get_logits(const struct aid_context *c, size_t i)
{
        if (i >= c->s.n_logits)
                return NULL;
        return c->s.logits + i * c->m->hp.n_vocab;
}
