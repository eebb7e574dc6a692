/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Tokenizers built from GGUF metadata alone (the tokenizer.* keys), matching llama.cpp's:
 *  - "llama": SentencePiece-style (scores, <0xXX> byte fallback, space prefix, U+2581 for
 *    spaces), as Llama 2, Phi-3 and Gemma files use;
 *  - "gpt2": byte-level BPE with tokenizer.ggml.merges and the pre-tokenizer named by
 *    tokenizer.ggml.pre (default, gpt-2 and aliases, llama3/llama-bpe, qwen2, deepseek-llm,
 *    falcon, starcoder and aliases);
 *  - "bert": WordPiece (lowercased, accents stripped, ## pieces stored without ## and
 *    word-initial pieces with a U+2581 prefix, as llama.cpp's converter writes them).
 * The tokenizer copies what it needs: the gguf_file may be closed afterwards. It is read-only
 * after creation, so several threads may tokenize with one tokenizer at once. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct gguf_file;
struct aid_tokenizer;

enum {
        /* Add BOS (and EOS / SEP) as the vocabulary's add_bos_token / add_eos_token say. */
        AID_TOKENIZE_ADD_SPECIAL = 1u << 0,
        /* Recognise the text of control tokens ("<s>", "<|im_end|>") in the input. The text of
         * user-defined tokens is always recognised, as llama.cpp does. */
        AID_TOKENIZE_PARSE_SPECIAL = 1u << 1,
};

/* -EOPNOTSUPP: tokenizer model or pre-tokenizer not supported (message names it); -EBADMSG:
 * inconsistent metadata (message names the key); -ENOKEY: tokenizer.ggml.model or
 * tokenizer.ggml.tokens absent; -ENOMEM. */
int aid_tokenizer_new_from_gguf(
                const struct gguf_file *f, struct aid_tokenizer **ret, struct aid_error *err);
struct aid_tokenizer *aid_tokenizer_free(struct aid_tokenizer *t);

/* On success *ret_tokens is malloc()ed (NULL when *ret_n is 0); the caller frees it.
 * -EINVAL: text NULL with len > 0; -ENOMEM. */
int aid_tokenize(const struct aid_tokenizer *t, const char *text, size_t len, unsigned flags,
                int32_t **ret_tokens, size_t *ret_n, struct aid_error *err);

size_t aid_tokenizer_n_vocab(const struct aid_tokenizer *t);
/* -1 when the vocabulary has none. */
int32_t aid_tokenizer_bos(const struct aid_tokenizer *t);
int32_t aid_tokenizer_eos(const struct aid_tokenizer *t);
int32_t aid_tokenizer_eot(const struct aid_tokenizer *t);
int32_t aid_tokenizer_unk(const struct aid_tokenizer *t);
bool aid_tokenizer_add_bos(const struct aid_tokenizer *t);
bool aid_tokenizer_add_space_prefix(const struct aid_tokenizer *t);
/* End of generation: EOS, EOT, EOM and the tokens llama.cpp treats so by their text
 * ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", ...). */
bool aid_tokenizer_is_eog(const struct aid_tokenizer *t, int32_t id);
/* Control and unknown tokens: rendered only when asked (special). */
bool aid_tokenizer_is_control(const struct aid_tokenizer *t, int32_t id);
/* User-defined tokens: taken whole wherever their text occurs, special-token parsing or not (as
 * in llama.cpp), and the text after one starts a new piece (with its space prefix). */
bool aid_tokenizer_is_user_defined(const struct aid_tokenizer *t, int32_t id);
/* Text of a token in the vocabulary as stored (U+2581, GPT-2 byte characters); NULL if out
 * of range. Not NUL-terminated: *ret_len holds the length. */
const char *aid_tokenizer_token_text(const struct aid_tokenizer *t, int32_t id, size_t *ret_len);
/* Token whose stored text is exactly s, or -1. */
int32_t aid_tokenizer_find(const struct aid_tokenizer *t, const char *s, size_t len);

/* The bytes a token stands for (llama_token_to_piece): U+2581 becomes a space, byte tokens
 * their byte, GPT-2 characters their bytes; control/unknown tokens give their text when
 * special is true, nothing otherwise. Writes at most size bytes (no NUL) and returns the
 * piece's full length (so a return > size means the buffer was too small), or -EINVAL for an
 * id outside the vocabulary. A piece may be part of a UTF-8 character. */
int aid_token_to_piece(const struct aid_tokenizer *t, int32_t id, bool special, char *buf, size_t size);

/* Streaming detokenizer: push tokens one by one, get text made only of whole UTF-8
 * characters; a character split over several tokens (byte fallback, BPE bytes) is held back
 * until complete. Bytes that can form no character (a random model's byte tokens) are passed
 * on as they are, as soon as that is certain: callers that promise valid UTF-8 replace them. */
struct aid_detokenizer;
enum {
        AID_DETOKENIZE_SPECIAL = 1u << 0, /* render control tokens' text */
        /* Strip one leading space of the first token's piece when the vocabulary adds a space
         * prefix (SentencePiece), as llama_detokenize does: decode(tokenize(x)) == x. */
        AID_DETOKENIZE_STRIP_LEADING_SPACE = 1u << 1,
};
int aid_detokenizer_new(const struct aid_tokenizer *t, unsigned flags, struct aid_detokenizer **ret);
struct aid_detokenizer *aid_detokenizer_free(struct aid_detokenizer *d);
/* *ret_text (NUL-terminated, owned by d, valid until the next call) holds the new complete
 * characters, possibly none (*ret_len 0). -EINVAL for an id outside the vocabulary; -ENOMEM. */
int aid_detokenizer_push(struct aid_detokenizer *d, int32_t token, const char **ret_text, size_t *ret_len);
/* At the end of a stream: the bytes still held back (an incomplete character), verbatim. */
int aid_detokenizer_flush(struct aid_detokenizer *d, const char **ret_text, size_t *ret_len);
