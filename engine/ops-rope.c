/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RoPE, with its angles kept between calls. A rotation's cos and sin depend only on the
 * position, the layer's base and its scaling, yet every layer rotated q and k with a fresh
 * pow(), cos() and sin() per frequency: Gemma-3-1B's 26 layers made 6656 of each per decoded
 * token, about 1% of decode on two threads. Layers share the few bases a model has, and q and
 * k share each position, so a handful of remembered angle sets serve nearly all calls. The
 * angles are computed exactly as before (double precision, then rounded to float): a hit
 * gives the same bits as a recomputation. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model-private.h"

int aid_rope_cache_init(struct aid_rope_cache *rc, uint32_t n_rot)
{
        const size_t half = n_rot / 2;

        *rc = (struct aid_rope_cache){ .half = (uint32_t)half };
        rc->freq_mem = calloc(AID_ROPE_FREQS * half + 1, sizeof(double));
        rc->angle_mem = calloc(AID_ROPE_ANGLES * 2 * half + 1, sizeof(float));
        if (!rc->freq_mem || !rc->angle_mem) {
                aid_rope_cache_done(rc);
                return -ENOMEM;
        }
        return 0;
}

void aid_rope_cache_done(struct aid_rope_cache *rc)
{
        free(rc->freq_mem);
        free(rc->angle_mem);
        *rc = (struct aid_rope_cache){ 0 };
}

/* theta_i / pos = base^(−2i/n_rot), divided by Llama 3's per-frequency factor, for one base. */
static const double *rope_freqs(const struct aid_model *m, struct aid_rope_cache *rc, float base)
{
        const uint32_t n_rot = m->hp.n_rot, half = rc->half;
        const float *factors = m->rope_freqs.data;
        unsigned slot;

        for (slot = 0; slot < AID_ROPE_FREQS; slot++)
                if (rc->freq_used[slot] && rc->freq_base[slot] == base)
                        return rc->freq_mem + (size_t)slot * half;

        slot = rc->next_freq++ % AID_ROPE_FREQS;
        double *freq = rc->freq_mem + (size_t)slot * half;
        for (uint32_t i = 0; i < half; i++) {
                freq[i] = pow((double)base, -2.0 * i / n_rot);
                if (factors)
                        freq[i] /= factors[i];
        }
        rc->freq_base[slot] = base;
        rc->freq_used[slot] = true;
        return freq;
}

/* cos (the first half floats) and sin (the next half) of pos · freq_scale · theta_i. */
static const float *rope_angles(const struct aid_model *m, struct aid_rope_cache *rc, uint32_t pos,
                float base, float freq_scale)
{
        const uint32_t half = rc->half;
        unsigned slot;

        for (slot = 0; slot < AID_ROPE_ANGLES; slot++) {
                const struct aid_rope_angle_key *k = &rc->angle_key[slot];
                if (k->used && k->pos == pos && k->base == base && k->freq_scale == freq_scale)
                        return rc->angle_mem + (size_t)slot * 2 * half;
        }

        const double *freq = rope_freqs(m, rc, base);
        slot = rc->next_angle++ % AID_ROPE_ANGLES;
        float *cs = rc->angle_mem + (size_t)slot * 2 * half;
        for (uint32_t i = 0; i < half; i++) {
                double theta = (double)pos * freq_scale * freq[i];
                cs[i] = (float)cos(theta);
                cs[half + i] = (float)sin(theta);
        }
        rc->angle_key[slot] = (struct aid_rope_angle_key){
                .pos = pos, .base = base, .freq_scale = freq_scale, .used = true
        };
        return cs;
}

void aid_op_rope(struct aid_context *c, float *v, uint32_t n_heads, uint32_t hd, uint32_t pos, float base,
                float freq_scale)
{
        const struct aid_model *m = c->m;
        const uint32_t half = c->rope.half;
        const float *cs = rope_angles(m, &c->rope, pos, base, freq_scale), *sn = cs + half;

        for (uint32_t h = 0; h < n_heads; h++) {
                float *vh = v + (size_t)h * hd;
                for (uint32_t i = 0; i < half; i++) {
                        /* "normal" rotates adjacent pairs; NeoX pairs i with i + n_rot/2. */
                        uint32_t a = m->rope_neox ? i : 2 * i, b = m->rope_neox ? i + half : 2 * i + 1;
                        float x0 = vh[a], x1 = vh[b];
                        vh[a] = x0 * cs[i] - x1 * sn[i];
                        vh[b] = x0 * sn[i] + x1 * cs[i];
                }
        }
}
