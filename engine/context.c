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

static void dequant_row(const struct aid_weight *w, uint32_t r, float *dst)
{
        const void *src = (const uint8_t *)w->data + (size_t)r * w->row_bytes;

        if (w->type == GGML_TYPE_F32)
                memcpy(dst, src, (size_t)w->cols * sizeof(float));
        else
                (void)aid_dequantize_row(w->type, src, dst, w->cols);
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

/* y (n rows of `rows`) += bias in every row; bias may be NULL or empty (no bias). */
static void add_bias(const struct aid_weight *bias, size_t n, uint32_t rows, float *y)
{
        if (!bias || !bias->data)
                return;
        const float *b = bias->data;
        for (size_t j = 0; j < n; j++)
                for (uint32_t r = 0; r < rows; r++)
                        y[j * rows + r] += b[r];
}

/* The interrupt function as oneDNN's stop function. */
static bool matmul_stop(void *userdata)
{
        return aid_context_interrupted(userdata);
}

static bool matmul(const struct aid_context *c, const struct aid_weight *w, const struct aid_weight *bias,
                const float *x, size_t n, float *y, bool may_stop)
{
        const uint32_t rows = w->rows, cols = w->cols;
        int r = -1;

        if (n == 1) {
                /* Decode: the memory-bound matrix-vector product on the SIMD kernels. */
                aid_matvec(w->type, w->data, w->row_bytes, x, y, rows, cols);
                r = 0;
        } else if (c->dnn && n >= ONEDNN_MIN_ROWS &&
                        !(n <= AID_MATMUL_ROWS_MAX && aid_matmul_rows_has_multi(w->type))) {
                /* Prefill: a GEMM. */
                r = aid_onednn_matmul_dequant(c->dnn, w->type, w->data, w->row_bytes, rows, x, n, cols, 0, y,
                                0, may_stop && c->interrupt ? matmul_stop : NULL, (void *)c, NULL);
                if (r == -ECANCELED)
                        return false;
        }
        if (r < 0) {
                /* A few rows (continuous batching, short prompts), or oneDNN failed. */
                for (size_t j0 = 0; j0 < n; j0 += AID_MATMUL_ROWS_MAX)
                        aid_matmul_rows(w->type, w->data, w->row_bytes, x + j0 * cols,
                                        MIN((size_t)AID_MATMUL_ROWS_MAX, n - j0), y + j0 * rows, rows, cols);
        }
        add_bias(bias, n, rows, y);
        return true;
}

bool aid_op_matmul(const struct aid_context *c, const struct aid_weight *w, const struct aid_weight *bias,
                const float *x, size_t n, float *y)
{
        return matmul(c, w, bias, x, n, y, true);
}

bool aid_op_matmul_parts(const struct aid_context *c, const struct aid_weight *const *w,
                const struct aid_weight *const *bias, size_t n_parts, const float *x, size_t n,
                float *const *y)
{
        struct aid_matvec_part parts[AID_MATVEC_PARTS_MAX];
        bool same = n_parts <= AID_MATVEC_PARTS_MAX &&
                    (n == 1 || (n <= AID_MATMUL_ROWS_MAX && aid_matmul_rows_has_multi(w[0]->type)));

        for (size_t p = 0; same && p < n_parts; p++) {
                same = w[p]->type == w[0]->type && w[p]->cols == w[0]->cols;
                parts[p] = (struct aid_matvec_part){
                        .w = w[p]->data, .row_bytes = w[p]->row_bytes, .y = y[p], .rows = w[p]->rows
                };
        }
        if (!same) {
                /* Mixed types (a Q4_K file's Q6_K V, say), or a prefill for oneDNN: one by one. */
                for (size_t p = 0; p < n_parts; p++)
                        if (!aid_op_matmul(c, w[p], bias ? bias[p] : NULL, x, n, y[p]))
                                return false;
                return true;
        }
        if (n == 1)
                aid_matvec_parts(w[0]->type, parts, n_parts, x, w[0]->cols);
        else
                aid_matmul_rows_parts(w[0]->type, parts, n_parts, x, n, w[0]->cols);
        for (size_t p = 0; bias && p < n_parts; p++)
                add_bias(bias[p], n, w[p]->rows, y[p]);
        return true;
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
        free(s->out_x);
        free(s->logits);
        free(s->att_kv);
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
        if (c->kv.f16)
                s->att_kv = alloc_f32((size_t)c->n_threads_max * 2 * AID_ATT_KEYS, hp->head_dim, &failed);
        s->hb = alloc_f32(nb, 2 * (size_t)hp->n_ff, &failed);
        s->hb2 = alloc_f32(nb, hp->n_ff, &failed);
        s->out_x = alloc_f32(nb, hp->n_embd, &failed);
        s->logits = alloc_f32(nb, hp->n_vocab, &failed);
        if (failed) {
                scratch_free(s);
                return -ENOMEM;
        }
        return 0;
}

/* AID_KV_AUTO's choice: fp16 unless the attention weights (as the first layer has them) are
 * f32. */
static bool kv_f16(const struct aid_model *m, enum aid_kv_type type)
{
        if (type != AID_KV_AUTO)
                return type == AID_KV_F16;
        const struct aid_layer *l = &m->layers[0];
        return (l->wqkv.data ? l->wqkv.type : l->wq.type) != GGML_TYPE_F32;
}

enum aid_kv_type aid_context_kv_type(const struct aid_context *c)
{
        return c->kv.f16 ? AID_KV_F16 : AID_KV_F32;
}

size_t aid_context_kv_bytes_per_pos(const struct aid_context *c)
{
        return 2 * (size_t)c->kv.n_layer * c->kv.n_head_kv * c->kv.head_dim * c->kv.elem;
}

int aid_context_new(struct aid_model *m, const struct aid_context_params *params,
                struct aid_context **ret_ctx, struct aid_error *err)
{
        const struct aid_hparams *hp = &m->hp;
        struct aid_context *c;
        int r;

        if (!params || params->n_seq_max == 0 || params->n_batch == 0)
                return aid_error_set(err, -EINVAL, "context: n_seq_max and n_batch must be at least 1");
        if ((unsigned)params->kv_type > AID_KV_F16)
                return aid_error_set(err, -EINVAL, "context: unknown KV cache type %u",
                                (unsigned)params->kv_type);
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
        c->n_threads_max = c->n_threads;

        r = aid_kv_cache_init(&c->kv, hp->n_layer, c->n_seq_max, c->n_ctx, hp->n_head_kv, hp->head_dim,
                        kv_f16(m, params->kv_type));
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
        if (r >= 0) {
                r = aid_rope_cache_init(&c->rope, hp->n_rot);
                if (r < 0)
                        scratch_free(&c->s);
        }
        if (r < 0) {
                aid_onednn_free(c->dnn);
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
        aid_rope_cache_done(&c->rope);
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
                /* The batch is evaluated by now: its logits are not given up. */
                (void)matmul(c, &m->output, NULL, c->s.out_x, n_out, c->s.logits, false);
        }
        c->s.n_logits = n_out;
#ifdef _OPENMP
        omp_set_num_threads(caller_threads);
#endif

        memcpy(c->kv.len, pending, c->n_seq_max * sizeof(*pending));
        return 0;
}

uint32_t aid_context_set_threads(struct aid_context *c, uint32_t n)
{
        c->n_threads = MAX(MIN(n, c->n_threads_max), 1u);
        return c->n_threads;
}

size_t aid_context_batch_best_rows(const struct aid_context *c, size_t n)
{
        /* The feed-forward matrices hold most of the weights, so their kernels set the cost. */
        if (c->m->hp.n_layer == 0)
                return n;
        return aid_matmul_rows_best_count(c->m->layers[0].w_up.type, n);
}

size_t aid_context_batch_rows_max(const struct aid_context *c)
{
        if (c->m->hp.n_layer > 0 && aid_matmul_rows_has_multi(c->m->layers[0].w_up.type))
                return AID_MATMUL_ROWS_MAX;
        return ONEDNN_MIN_ROWS - 1;
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
