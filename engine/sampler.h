/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Token sampling from one row of logits.
 *
 * The chain, in the order llama.cpp's common sampler applies its default samplers
 * (common_params_sampling: penalties, dry, top_n_sigma, top_k, typ_p, top_p, min_p, xtc,
 * temperature, then dist), keeping the ones aid offers:
 *
 *   1. penalties   repeat (llama.cpp's rule: a positive logit is divided by the penalty, a
 *                  negative or zero one multiplied), then presence and frequency
 *                  (logit -= presence + count * frequency), counted over the last
 *                  penalty_last_n accepted tokens;
 *   2. top-k       keep the k largest logits;
 *   3. top-p       keep the smallest set of most likely tokens whose probability (softmax of
 *                  the logits as they are now, before temperature) reaches top_p;
 *   4. min-p       keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p);
 *   5. temperature divide the remaining logits by it;
 *   6. draw        one token from the softmax of what is left, with the sampler's own PRNG.
 *
 * As in llama.cpp, truncation happens before temperature, so top-p and min-p see the
 * temperature-1 distribution. temperature <= 0 means greedy: the first index of the largest
 * logit after the penalties (truncation cannot change the argmax, so it is skipped).
 *
 * Randomness: xoshiro256** (Blackman and Vigna, https://prng.di.unimi.it/), its state seeded
 * from the 64-bit seed with splitmix64 as its authors recommend. Both are defined on 64-bit
 * integers only, so the same seed gives the same sequence on every machine and build. */

#include <stdint.h>

#include "error.h"

/* seed value asking for a random seed (from getrandom()); aid_sampler_seed() tells which. */
#define AID_SAMPLER_SEED_RANDOM UINT64_MAX
/* The penalty window is allocated when the sampler is made; this bounds it. */
#define AID_SAMPLER_MAX_PENALTY_LAST_N 65536

struct aid_sampler_params {
        float temperature;       /* <= 0: greedy; otherwise finite */
        int32_t top_k;           /* 0: off; >= 0 */
        float top_p;             /* 1: off; in [0, 1] */
        float min_p;             /* 0: off; in [0, 1] */
        float repeat_penalty;    /* 1: off; finite, > 0 */
        int32_t penalty_last_n;  /* tokens the penalties look back on; 0: penalties off */
        float presence_penalty;  /* 0: off; finite (negative encourages repetition) */
        float frequency_penalty; /* 0: off; finite */
        uint64_t seed;           /* AID_SAMPLER_SEED_RANDOM: pick one */
};

/* llama.cpp's defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1
 * (off), penalty_last_n 64, presence and frequency 0, random seed. */
void aid_sampler_params_default(struct aid_sampler_params *ret);

/* 0, or -EINVAL with a message naming the parameter and the accepted range. */
int aid_sampler_params_validate(const struct aid_sampler_params *p, struct aid_error *err);

struct aid_sampler;

/* Validates p; -EINVAL (message names the parameter), -ENOMEM. */
int aid_sampler_new(const struct aid_sampler_params *p, struct aid_sampler **ret, struct aid_error *err);
struct aid_sampler *aid_sampler_free(struct aid_sampler *s); /* accepts NULL, returns NULL */

/* The seed actually in use (the drawn one for AID_SAMPLER_SEED_RANDOM), for reproducing a run. */
uint64_t aid_sampler_seed(const struct aid_sampler *s);

/* Picks a token id in [0, n_vocab). logits is read only; scratch space is allocated on the first
 * call and again only if a later call has a larger n_vocab. NaN logits count as -inf. Returns the
 * id, or -EINVAL (n_vocab 0 or logits NULL), -ENOMEM, -EDOM (no finite logit to sample from).
 * Does not record the token: call aid_sampler_accept() with the token actually used. */
int32_t aid_sampler_sample(struct aid_sampler *s, const float *logits, uint32_t n_vocab);

/* Records a token in the penalty window (prompt tokens too, if they should count). Negative ids
 * are ignored; ids >= n_vocab of a later call are kept but match nothing. */
void aid_sampler_accept(struct aid_sampler *s, int32_t token);

/* Forgets the history and restarts the PRNG from the seed in use, so that the same logits give
 * the same tokens again. */
void aid_sampler_reset(struct aid_sampler *s);

/* Inspection, for tests and for callers that report probabilities. */

/* Applies step 1 (the penalties, from the current history) to logits in place. -EINVAL, -ENOMEM. */
int aid_sampler_apply_penalties(struct aid_sampler *s, float *logits, uint32_t n_vocab);

struct aid_token_prob {
        int32_t id;
        float p;
};

/* Runs steps 1 to 5 and returns the tokens that may be drawn with their probabilities (summing
 * to 1): most likely first when top-k ran, otherwise in no particular order (top-p selects its
 * set by probability mass without sorting it). *ret points into the sampler's scratch: valid
 * until the next call on s. Greedy: one entry, p = 1. Errors as aid_sampler_sample(). */
int aid_sampler_candidates(struct aid_sampler *s, const float *logits, uint32_t n_vocab,
                const struct aid_token_prob **ret, uint32_t *ret_n);
