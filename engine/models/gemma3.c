/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Gemma 3 (text). Differences from llama, per layer, for a batch of n entries:
 *   x = embedding · sqrt(n_embd)                           [n][n_embd]
 *   xb = rmsnorm(x) · attn_norm
 *   q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ                        [n][n_head·hd], [n][n_head_kv·hd] x2
 *   q, k: each head RMS-normalised · attn_q_norm / attn_k_norm [hd], then NeoX RoPE with the
 *         layer's base (sliding-window layers: rope.freq_base_swa, default 10000; global layers:
 *         rope.freq_base, with linear scaling if the file asks for it)
 *   att = softmax(q·kᵀ / sqrt(hd), causal; sliding layers: only the last sliding_window keys)·v
 *   x += rmsnorm(att·Woᵀ) · post_attention_norm
 *   xb = rmsnorm(x) · ffn_norm
 *   x += rmsnorm((gelu_tanh(xb·Wgateᵀ) ⊙ xb·Wupᵀ)·Wdownᵀ) · post_ffw_norm
 * Layers alternate: period p (sliding_window_pattern, default 6) has p−1 sliding-window layers,
 * then one global layer.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "model-private.h"

static int load_swa_pattern(struct aid_model *m, struct aid_error *err)
{
        const struct aid_hparams *hp = &m->hp;
        const struct gguf_kv *kv = gguf_find_kv(m->gguf, "gemma3.attention.sliding_window_pattern");
        uint32_t period = 6;
        int r;

        if (kv && kv->value.type == GGUF_TYPE_ARRAY) {
                /* Newer converters write one boolean per layer. */
                if (kv->value.arr.n != hp->n_layer)
                        return aid_error_set(err, -EBADMSG,
                                        "key 'gemma3.attention.sliding_window_pattern' has %" PRIu64
                                        " entries for %" PRIu32 " layers",
                                        kv->value.arr.n, hp->n_layer);
                for (uint32_t l = 0; l < hp->n_layer; l++)
                        m->layers[l].sliding = gguf_arr_u64(&kv->value, l) != 0;
                return 0;
        }
        if (kv) {
                r = gguf_get_u32(m->gguf, "gemma3.attention.sliding_window_pattern", &period, err);
                if (r < 0)
                        return r;
        }
        /* As llama.cpp's set_swa_pattern(): period 0 makes every layer a sliding one. */
        for (uint32_t l = 0; l < hp->n_layer; l++)
                m->layers[l].sliding = period == 0 || l % period < period - 1;
        return 0;
}

int aid_gemma3_load(struct aid_model *m, struct aid_error *err)
{
        struct aid_hparams *hp = &m->hp;
        const uint32_t E = hp->n_embd, hd = hp->head_dim, q_dim = hp->n_head * hd,
                       kv_dim = hp->n_head_kv * hd;
        int r;

        r = gguf_get_u32(m->gguf, "gemma3.attention.sliding_window", &hp->sliding_window, err);
        if (r == -ENOKEY)
                return aid_error_set(err, -EBADMSG, "missing key 'gemma3.attention.sliding_window'");
        if (r < 0)
                return r;
        if (hp->sliding_window == 0)
                return aid_error_set(err, -EBADMSG, "key 'gemma3.attention.sliding_window' is 0");
        hp->rope_base_local = 10000.0f;
        if (gguf_find_kv(m->gguf, "gemma3.rope.freq_base_swa")) {
                r = gguf_get_f32(m->gguf, "gemma3.rope.freq_base_swa", &hp->rope_base_local, err);
                if (r < 0)
                        return r;
                if (!(hp->rope_base_local > 0 && isfinite(hp->rope_base_local)))
                        return aid_error_set(err, -EBADMSG,
                                        "key 'gemma3.rope.freq_base_swa' must be finite and > 0");
        }
        r = load_swa_pattern(m, err);
        if (r < 0)
                return r;

        m->rope_neox = true;
        m->embd_scale = sqrtf((float)E);
        /* Gemma's query_pre_attn_scalar is not in GGUF files: it is the head size except for
         * the 27B model (62 layers), where it is n_embd / n_head, as llama.cpp assumes too. */
        if (hp->n_layer == 62)
                m->attn_scale = 1.0f / sqrtf((float)E / (float)hp->n_head);

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                struct aid_layer *L = &m->layers[l];

                if (L->sliding) {
                        L->rope_base = hp->rope_base_local;
                        L->rope_freq_scale = 1.0f;
                }
#define W(field, cols, rows, suffix)                                                            \
        do {                                                                                    \
                r = aid_model_weight(m, &L->field, true, cols, rows, err, "blk.%u." suffix, l); \
                if (r < 0)                                                                      \
                        return r;                                                               \
        } while (0)

                W(attn_norm, E, 0, "attn_norm.weight");
                W(wq, E, q_dim, "attn_q.weight");
                W(wk, E, kv_dim, "attn_k.weight");
                W(wv, E, kv_dim, "attn_v.weight");
                W(q_norm, hd, 0, "attn_q_norm.weight");
                W(k_norm, hd, 0, "attn_k_norm.weight");
                W(wo, q_dim, E, "attn_output.weight");
                W(post_attn_norm, E, 0, "post_attention_norm.weight");
                W(ffn_norm, E, 0, "ffn_norm.weight");
                W(w_gate, E, hp->n_ff, "ffn_gate.weight");
                W(w_up, E, hp->n_ff, "ffn_up.weight");
                W(w_down, hp->n_ff, E, "ffn_down.weight");
                W(post_ffw_norm, E, 0, "post_ffw_norm.weight");
#undef W
        }
        return 0;
}

bool aid_gemma3_forward(struct aid_context *c, const struct aid_batch_entry *e, size_t n)
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
                {
                        const struct aid_weight *w[] = { &L->wq, &L->wk, &L->wv };
                        float *y[] = { s->q, s->k, s->v };
                        if (!aid_op_matmul_parts(c, w, NULL, 3, s->xb, n, y))
                                return false;
                }
                /* Per-head norms: the heads are consecutive rows of hd floats. */
                aid_op_rmsnorm(s->q, s->q, &L->q_norm, n * hp->n_head, hd, hp->rms_eps);
                aid_op_rmsnorm(s->k, s->k, &L->k_norm, n * hp->n_head_kv, hd, hp->rms_eps);
                for (size_t i = 0; i < n; i++) {
                        aid_op_rope(c, s->q + i * q_dim, hp->n_head, hd, e[i].pos, L->rope_base,
                                        L->rope_freq_scale);
                        aid_op_rope(c, s->k + i * kv_dim, hp->n_head_kv, hd, e[i].pos, L->rope_base,
                                        L->rope_freq_scale);
                }
                if (aid_context_interrupted(c) || !aid_op_attention(c, l, e, n, s->q, s->k, s->v, s->att))
                        return false;
                if (!aid_op_matmul(c, &L->wo, NULL, s->att, n, s->xb2))
                        return false;
                aid_op_rmsnorm(s->xb2, s->xb2, &L->post_attn_norm, n, E, hp->rms_eps);
                aid_op_add(s->x, s->xb2, n * E);

                /* And before the feed-forward half, and before its down projection (and a
                 * prompt's products between their panels, aid_op_matmul()): a new request behind
                 * a long prompt waits for a panel of a product at most. */
                if (aid_context_interrupted(c))
                        return false;
                aid_op_rmsnorm(s->xb, s->x, &L->ffn_norm, n, E, hp->rms_eps);
                {
                        const struct aid_weight *w[] = { &L->w_gate, &L->w_up };
                        float *y[] = { s->hb, s->hb2 };
                        if (!aid_op_matmul_parts(c, w, NULL, 2, s->xb, n, y))
                                return false;
                }
                const size_t n_act = n * n_ff;
                AID_OMP("omp parallel for num_threads(c->n_threads) if (n_act >= 4 * AID_ACT_CHUNK)")
                for (size_t j = 0; j < n_act; j += AID_ACT_CHUNK)
                        aid_op_gelu_tanh_mul(s->hb2 + j, s->hb + j, s->hb2 + j, MIN(AID_ACT_CHUNK, n_act - j));
                if (aid_context_interrupted(c))
                        return false;
                if (!aid_op_matmul(c, &L->w_down, NULL, s->hb2, n, s->xb2))
                        return false;
                aid_op_rmsnorm(s->xb2, s->xb2, &L->post_ffw_norm, n, E, hp->rms_eps);
                aid_op_add(s->x, s->xb2, n * E);
        }
        return true;
}
