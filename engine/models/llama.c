/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The llama family: llama (Llama 2/3, SmolLM, TinyLlama), qwen2 and phi3.
 *
 * Hyper-parameters (model.c reads them): n_embd, n_layer, n_head, n_head_kv (grouped-query
 * attention: query head h uses KV head h / (n_head / n_head_kv)), head_dim (hd), n_ff,
 * rms_eps, rope base, n_rot, linear RoPE scaling, and llama 3's rope_freqs divisors.
 *
 * Per layer, for a batch of n entries (q_dim = n_head·hd, kv_dim = n_head_kv·hd):
 *   xb = rmsnorm(x) · attn_norm                         [n][n_embd]
 *   q = xb·Wqᵀ (+bq), k = xb·Wkᵀ (+bk), v = xb·Wvᵀ (+bv) [n][q_dim], [n][kv_dim] x2
 *       (phi3: one fused attn_qkv, rows Q then K then V)
 *   q, k rotated by RoPE ("normal" adjacent pairs for llama, NeoX halves for qwen2/phi3)
 *   att = softmax(q·kᵀ / sqrt(hd), causal) · v           [n][q_dim]
 *   x += att·Woᵀ                                         [n][n_embd]
 *   xb = rmsnorm(x) · ffn_norm
 *   x += (silu(xb·Wgateᵀ) ⊙ xb·Wupᵀ)·Wdownᵀ               (phi3: gate and up fused in ffn_up)
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "model-private.h"

int aid_llama_load(struct aid_model *m, struct aid_error *err)
{
        const struct aid_hparams *hp = &m->hp;
        const uint32_t E = hp->n_embd, q_dim = hp->n_head * hp->head_dim,
                       kv_dim = hp->n_head_kv * hp->head_dim;
        const bool phi3 = hp->arch == AID_ARCH_PHI3, qwen2 = hp->arch == AID_ARCH_QWEN2;
        int r;

        m->rope_neox = hp->arch != AID_ARCH_LLAMA;
        /* phi3 files may carry attention.sliding_window, but llama.cpp ignores it (its
         * converters fill it inconsistently) and so does aid: every layer is global. */

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                struct aid_layer *L = &m->layers[l];

#define W(field, req, cols, rows, suffix)                                                      \
        do {                                                                                   \
                r = aid_model_weight(m, &L->field, req, cols, rows, err, "blk.%u." suffix, l); \
                if (r < 0)                                                                     \
                        return r;                                                              \
        } while (0)

                W(attn_norm, true, E, 0, "attn_norm.weight");
                if (phi3)
                        W(wqkv, false, E, q_dim + 2 * kv_dim, "attn_qkv.weight");
                if (!L->wqkv.data) {
                        W(wq, true, E, q_dim, "attn_q.weight");
                        W(wk, true, E, kv_dim, "attn_k.weight");
                        W(wv, true, E, kv_dim, "attn_v.weight");
                        W(bq, qwen2, q_dim, 0, "attn_q.bias");
                        W(bk, qwen2, kv_dim, 0, "attn_k.bias");
                        W(bv, qwen2, kv_dim, 0, "attn_v.bias");
                }
                W(wo, true, q_dim, E, "attn_output.weight");
                W(bo, false, E, 0, "attn_output.bias");
                W(ffn_norm, true, E, 0, "ffn_norm.weight");
                if (phi3)
                        W(w_up, true, E, 2 * hp->n_ff, "ffn_up.weight");
                else {
                        W(w_gate, true, E, hp->n_ff, "ffn_gate.weight");
                        W(w_up, true, E, hp->n_ff, "ffn_up.weight");
                }
                W(w_down, true, hp->n_ff, E, "ffn_down.weight");
#undef W
        }
        return 0;
}

bool aid_llama_forward(struct aid_context *c, const struct aid_batch_entry *e, size_t n)
{
        const struct aid_model *m = c->m;
        const struct aid_hparams *hp = &m->hp;
        struct aid_scratch *s = &c->s;
        const uint32_t E = hp->n_embd, hd = hp->head_dim, n_ff = hp->n_ff;
        const uint32_t q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;

        aid_op_embed(c, e, n, s->x);

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                const struct aid_layer *L = &m->layers[l];

                if (l > 0 && aid_context_interrupted(c))
                        return false;

                aid_op_rmsnorm(s->xb, s->x, &L->attn_norm, n, E, hp->rms_eps);
                if (L->wqkv.data) {
                        const uint32_t qkv_dim = q_dim + 2 * kv_dim;
                        if (!aid_op_matmul(c, &L->wqkv, NULL, s->xb, n, s->qkv))
                                return false;
                        for (size_t i = 0; i < n; i++) {
                                const float *row = s->qkv + i * qkv_dim;
                                memcpy(s->q + i * q_dim, row, q_dim * sizeof(float));
                                memcpy(s->k + i * kv_dim, row + q_dim, kv_dim * sizeof(float));
                                memcpy(s->v + i * kv_dim, row + q_dim + kv_dim, kv_dim * sizeof(float));
                        }
                } else {
                        const struct aid_weight *w[] = { &L->wq, &L->wk, &L->wv };
                        const struct aid_weight *b[] = { &L->bq, &L->bk, &L->bv };
                        float *y[] = { s->q, s->k, s->v };
                        if (!aid_op_matmul_parts(c, w, b, 3, s->xb, n, y))
                                return false;
                }
                for (size_t i = 0; i < n; i++) {
                        aid_op_rope(c, s->q + i * q_dim, hp->n_head, hd, e[i].pos, L->rope_base,
                                        L->rope_freq_scale);
                        aid_op_rope(c, s->k + i * kv_dim, hp->n_head_kv, hd, e[i].pos, L->rope_base,
                                        L->rope_freq_scale);
                }
                if (aid_context_interrupted(c) || !aid_op_attention(c, l, e, n, s->q, s->k, s->v, s->att))
                        return false;
                if (!aid_op_matmul(c, &L->wo, &L->bo, s->att, n, s->xb2))
                        return false;
                aid_op_add(s->x, s->xb2, n * E);

                /* And before the feed-forward half, and before its down projection (and a
                 * prompt's products between their panels, aid_op_matmul()): a new request behind
                 * a long prompt waits for a panel of a product at most. */
                if (aid_context_interrupted(c))
                        return false;
                aid_op_rmsnorm(s->xb, s->x, &L->ffn_norm, n, E, hp->rms_eps);
                if (L->w_gate.data) {
                        const struct aid_weight *w[] = { &L->w_gate, &L->w_up };
                        float *y[] = { s->hb, s->hb2 };
                        if (!aid_op_matmul_parts(c, w, NULL, 2, s->xb, n, y))
                                return false;
                        /* e^x over n_ff values per entry: worth the threads (a few % of a
                         * decoded token on one). */
                        const size_t n_act = n * n_ff;
                        AID_OMP("omp parallel for num_threads(c->n_threads) if (n_act >= 4 * AID_ACT_CHUNK)")
                        for (size_t j = 0; j < n_act; j += AID_ACT_CHUNK)
                                aid_op_silu_mul(s->hb2 + j, s->hb + j, s->hb2 + j, MIN(AID_ACT_CHUNK, n_act - j));
                } else {
                        /* phi3: ffn_up yields [gate | up] per entry. */
                        if (!aid_op_matmul(c, &L->w_up, NULL, s->xb, n, s->hb))
                                return false;
                        AID_OMP("omp parallel for num_threads(c->n_threads) if (n * n_ff >= 4 * AID_ACT_CHUNK)")
                        for (size_t i = 0; i < n; i++) {
                                const float *gu = s->hb + i * 2 * n_ff;
                                aid_op_silu_mul(s->hb2 + i * n_ff, gu, gu + n_ff, n_ff);
                        }
                }
                if (aid_context_interrupted(c))
                        return false;
                if (!aid_op_matmul(c, &L->w_down, NULL, s->hb2, n, s->xb2))
                        return false;
                aid_op_add(s->x, s->xb2, n * E);
        }
        return true;
}
