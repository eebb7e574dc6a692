/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aid-infer bench: how fast a model loads, prefills and decodes on this machine, how much
 * memory it takes beyond the mapped weights, and how close decode comes to the memory-bandwidth
 * roofline it is bound by.
 *
 * What is measured, in this order (one process, one context, sequence 0):
 *   load      wall time of aid_model_load() and gguf_prefault() (reading the weights into
 *             memory, as the daemon loads a model), twice: the second load finds the file in
 *             the page cache (so does the first when the file was read recently).
 *   prefill   P random token ids in chunks of n_batch = min(P, 512) entries, logits for the last
 *             one only, from an empty cache. GFLOP/s counts
 *                 2·W·P + 2·n_embd·n_vocab + Σ_layers Σ_{i<P} 4·n_head·head_dim·kv(i)
 *             with W the elements of every 2-D blk.* weight matrix (one multiply-add each per
 *             token), the logits of the last position, and attention's q·k and p·v products
 *             over kv(i) = i + 1 keys (capped at the window on sliding-window layers).
 *   decode    N random tokens one at a time (one aid_decode() of one entry each, logits every
 *             time), from an empty cache, as llama-bench's tg test; with -d D, from a cache that
 *             already holds D positions (a chat's earlier turns, llama-bench's depth), filled once
 *             by an untimed prefill and copied in before each pass.
 *   batched   with -s S > 1: N steps of S sequences decoded together (one aid_decode() of S
 *             entries per step, logits for each), what the daemon's continuous batching does
 *             with S running requests; aggregate tokens/s beside the one-sequence decode. With
 *             -d D each sequence starts from its own copy of the D positions.
 *   memory    peak RSS (getrusage ru_maxrss, VmHWM) and RssAnon / RssFile from
 *             /proc/self/status: RssAnon before the load, after it, after the context and after
 *             the runs. The weights are mmapped, so they are file pages; what anonymous memory
 *             grows by is the tokenizer, the KV cache, scratch and oneDNN's buffers.
 *   bandwidth aid_read_sum() over a buffer much larger than the last-level cache, with the
 *             same thread count, best of 10 passes: the decode roofline. The same probe over
 *             the model file's own mapping (the pages decode reads; best of 5) is reported
 *             beside it: page-cache pages may be mapped in other sizes than anonymous memory,
 *             and on a shared machine either can read faster from one run to the next.
 *             The same probe once more with the buffer on transparent huge pages: on this
 *             kind of VM page walks, not DRAM, bound reads of 4 KiB pages, and a mapping the
 *             page cache backs with large folios reads as fast as that.
 *             What each probe measures: all three stream bytes with the same loop and differ
 *             in address translation. The 4 KiB anonymous buffer pays a page walk (two-level
 *             under the VM's nested paging) every 4 KiB: the floor, at a given moment. The huge-
 *             page buffer pays almost none: what memory and the host deliver at that moment, the
 *             ceiling any layout of the weights could reach. The model's mapping pays what decode
 *             itself pays: the page cache holds the file partly in 2 MiB folios (PMD-mapped) and
 *             partly in small ones, a mix that changes with each load, so it lies between the
 *             two and is the ceiling for decode on the pages it actually has. (Llama-3.2-1B Q4_0,
 *             2 threads, probes milliseconds apart: 45-53 GB/s on huge pages, 38-48 over the
 *             mapping with 62 of its 663 MiB PMD-mapped, when the host is fast; 30-34 for both
 *             when it is slow.)
 *   roofline  decode tokens/s × weight bytes read per token / bandwidth, the larger of the two
 *             probes (the mapping is probed before and after the runs; it counts only for
 *             models of 256 MiB or more, which no last-level cache holds). Bytes per token:
 *             every blk.* tensor, output_norm, the output projection (all of token_embd when
 *             the embedding is tied) and one row of token_embd. The KV cache reads (f16, or
 *             f32 for an f32 model: aid_context_params.kv_type) are reported beside it.
 *   paired    the bandwidth a shared machine delivers swings by half from one second to the
 *             next, so each timed decode pass is also compared with probes taken right before
 *             and right after it (the mapping, where it counts, and 256 MiB on huge pages; best
 *             of 3 reads each): its fraction is its weight GB/s over the larger of those, and
 *             the median and best over the passes are reported, and the same against the
 *             mapping alone. The probes are not timed into the decode passes.
 *   gemm      oneDNN's plain matrix product (aid_onednn_matmul(), bf16 weights where the CPU
 *             has bf16, else f32) on each layer matrix shape with M = n_batch rows, weighted
 *             by how many layers use it: the ceiling prefill is compared with.
 * Repeated runs (-r) report the best and the mean; a first, untimed pass before them pays for
 * page faults and oneDNN primitive creation (its prefill time is reported as "first"). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aid-infer-bench.h"
#include "ggml-type.h"
#include "gguf.h"
#include "kernels/quant.h"
#include "model.h"
#include "onednn.h"

#define MAX_SHAPES 32
/* 8 times the largest last-level caches of desktop CPUs; sysconf(_SC_LEVEL3_CACHE_SIZE) cannot
 * be trusted in virtual machines (it reports 320 MiB for a 32 MiB L3 on the benchmark VM). */
#define MAPPED_PROBE_MIN_BYTES (256ull << 20)
/* The probes paired with each decode pass read at least 256 MiB per pass: the model's whole
 * mapping, and a 256 MiB buffer on huge pages (8 times the last-level cache as above; 5-9 ms at
 * 30-55 GB/s, far above the clock's resolution and OpenMP's fork-join cost). Best of 3: the
 * host moves the vCPUs on a scale of seconds, so reads milliseconds apart see the same machine,
 * and three ride out one read slowed by a tick or a late thread; more would only widen the gap
 * between a probe and its pass. */
#define PAIR_PROBE_PASSES     3
#define PAIR_HUGE_PROBE_BYTES (256ull << 20)

struct shape {
        uint64_t n, k;  /* rows (outputs), cols (inputs) */
        uint32_t count; /* matrices of this shape over all layers */
};

struct model_stats {
        uint64_t tensor_bytes;    /* all tensor data in the file */
        uint64_t bytes_per_token; /* weights read by one decoded token */
        uint64_t layer_bytes;     /* of which blk.* */
        uint64_t output_bytes;    /* of which output_norm + the output projection */
        uint64_t matrix_elements; /* elements of the 2-D blk.* matrices */
        bool tied;
        bool *sliding; /* [n_layer] */
        struct shape shapes[MAX_SHAPES];
        size_t n_shapes;
};

struct timing {
        double best, sum;
        unsigned n;
};

struct proc_mem {
        uint64_t hwm_kib, rss_kib, anon_kib, file_kib;
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void timing_add(struct timing *t, double seconds)
{
        if (t->n == 0 || seconds < t->best)
                t->best = seconds;
        t->sum += seconds;
        t->n++;
}

static double timing_mean(const struct timing *t)
{
        return t->n ? t->sum / t->n : 0;
}

static int parse_count(const char *s, const char *opt, uint32_t max, unsigned long *ret)
{
        uint32_t v;
        int r = aid_infer_parse_u32(s, opt, max, &v);

        if (r >= 0)
                *ret = v;
        return r;
}

static void read_proc_mem(struct proc_mem *ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];

        *ret = (struct proc_mem){ 0 };
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                uint64_t v;
                if (sscanf(line, "VmHWM: %" SCNu64, &v) == 1)
                        ret->hwm_kib = v;
                else if (sscanf(line, "VmRSS: %" SCNu64, &v) == 1)
                        ret->rss_kib = v;
                else if (sscanf(line, "RssAnon: %" SCNu64, &v) == 1)
                        ret->anon_kib = v;
                else if (sscanf(line, "RssFile: %" SCNu64, &v) == 1)
                        ret->file_kib = v;
        }
}

static void add_shape(struct model_stats *ms, uint64_t n, uint64_t k)
{
        for (size_t i = 0; i < ms->n_shapes; i++)
                if (ms->shapes[i].n == n && ms->shapes[i].k == k) {
                        ms->shapes[i].count++;
                        return;
                }
        if (ms->n_shapes < MAX_SHAPES)
                ms->shapes[ms->n_shapes++] = (struct shape){ .n = n, .k = k, .count = 1 };
}

/* Which layers attend through a sliding window, as engine/models/gemma3.c decides it. */
static void sliding_layers(const struct gguf_file *f, const struct aid_hparams *hp, bool *sliding)
{
        const struct gguf_kv *kv = gguf_find_kv(f, "gemma3.attention.sliding_window_pattern");
        uint64_t period = 6;

        for (uint32_t l = 0; l < hp->n_layer; l++)
                sliding[l] = false;
        if (hp->arch != AID_ARCH_GEMMA3 || hp->sliding_window == 0)
                return;
        if (kv && kv->value.type == GGUF_TYPE_ARRAY && kv->value.arr.n == hp->n_layer) {
                for (uint32_t l = 0; l < hp->n_layer; l++)
                        sliding[l] = gguf_arr_u64(&kv->value, l) != 0;
                return;
        }
        if (kv && kv->value.type == GGUF_TYPE_UINT32)
                period = kv->value.u64;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                sliding[l] = period == 0 || l % period < period - 1;
}

/* Sizes from the file's tensor table (the engine keeps its tensors private). */
static int model_stats_get(const char *path, const struct aid_hparams *hp, struct model_stats *ms,
                struct aid_error *err)
{
        struct gguf_file *f = NULL;
        const struct gguf_tensor *embd = NULL;
        int r;

        r = gguf_open(path, &f, err);
        if (r < 0)
                return r;
        ms->tied = !gguf_find_tensor(f, "output.weight");
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
                const struct gguf_tensor *t = gguf_tensor_at(f, i);

                ms->tensor_bytes += t->n_bytes;
                if (strncmp(t->name, "blk.", 4) == 0) {
                        ms->layer_bytes += t->n_bytes;
                        if (t->n_dims >= 2 && t->ne[1] > 1) {
                                ms->matrix_elements += gguf_tensor_n_elements(t);
                                add_shape(ms, t->ne[1], t->ne[0]);
                        }
                } else if (strcmp(t->name, "token_embd.weight") == 0) {
                        embd = t;
                        if (ms->tied)
                                ms->output_bytes += t->n_bytes;
                } else if (strcmp(t->name, "output.weight") == 0 ||
                                strcmp(t->name, "output_norm.weight") == 0)
                        ms->output_bytes += t->n_bytes;
                else /* rope_freqs and the like: read whole every token */
                        ms->layer_bytes += t->n_bytes;
        }
        ms->bytes_per_token = ms->layer_bytes + ms->output_bytes;
        if (embd) {
                uint64_t row;
                if (ggml_row_bytes(embd->type, embd->ne[0], &row) == 0)
                        ms->bytes_per_token += row;
        }
        ms->sliding = calloc(hp->n_layer, sizeof(bool));
        if (!ms->sliding) {
                gguf_close(f);
                return aid_error_set(err, -ENOMEM, "out of memory");
        }
        sliding_layers(f, hp, ms->sliding);
        gguf_close(f);
        return 0;
}

static double prefill_flops(const struct aid_hparams *hp, const struct model_stats *ms, uint32_t p)
{
        double flops = 2.0 * (double)ms->matrix_elements * p + 2.0 * hp->n_embd * (double)hp->n_vocab;

        for (uint32_t l = 0; l < hp->n_layer; l++)
                for (uint32_t i = 0; i < p; i++) {
                        uint32_t kv = i + 1;
                        if (ms->sliding[l] && kv > hp->sliding_window)
                                kv = hp->sliding_window;
                        flops += 4.0 * hp->n_head * hp->head_dim * kv;
                }
        return flops;
}

/* K and V of every layer (elem bytes each) for decode positions depth..depth + n - 1, averaged
 * per token. */
static double kv_bytes_per_token(const struct aid_hparams *hp, const struct model_stats *ms, uint32_t depth,
                uint32_t n, size_t elem)
{
        double total = 0;

        for (uint32_t l = 0; l < hp->n_layer; l++)
                for (uint32_t i = depth; i < depth + n; i++) {
                        uint32_t kv = i + 1;
                        if (ms->sliding[l] && kv > hp->sliding_window)
                                kv = hp->sliding_window;
                        total += 2.0 * kv * hp->n_head_kv * hp->head_dim * (double)elem;
                }
        return n ? total / n : 0;
}

static uint32_t next_token(uint64_t *state, uint32_t n_vocab)
{
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return (uint32_t)((*state >> 16) % n_vocab);
}

static int run_prefill(struct aid_context *ctx, const int32_t *toks, uint32_t p, uint32_t n_batch,
                uint32_t seq, struct aid_batch_entry *batch, struct aid_error *err)
{
        aid_kv_seq_clear(ctx, seq);
        for (uint32_t i0 = 0; i0 < p; i0 += n_batch) {
                uint32_t nb = MIN(n_batch, p - i0);
                int r;

                for (uint32_t i = 0; i < nb; i++)
                        batch[i] = (struct aid_batch_entry){ .token = toks[i0 + i],
                                .seq = seq,
                                .pos = i0 + i,
                                .want_logits = i0 + i + 1 == p };
                r = aid_decode(ctx, batch, nb, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Sequences 0..s-1 as decode starts: empty, or (depth > 0) copies of sequence depth_seq, which
 * holds the depth positions. */
static int start_sequences(struct aid_context *ctx, uint32_t s, uint32_t depth, uint32_t depth_seq)
{
        for (uint32_t q = 0; q < s; q++) {
                int r = depth ? aid_kv_seq_copy(ctx, depth_seq, q) : 0;
                if (r < 0)
                        return r;
                if (!depth)
                        aid_kv_seq_clear(ctx, q);
        }
        return 0;
}

/* n steps of s sequences together, at positions depth on (see start_sequences()). */
static int run_decode_batched(struct aid_context *ctx, const int32_t *toks, uint32_t n, uint32_t s,
                uint32_t depth, struct aid_batch_entry *batch, struct aid_error *err)
{
        for (uint32_t i = 0; i < n; i++) {
                for (uint32_t q = 0; q < s; q++)
                        batch[q] = (struct aid_batch_entry){ .token = toks[(i + 7 * q) % n],
                                .seq = q,
                                .pos = depth + i,
                                .want_logits = true };
                int r = aid_decode(ctx, batch, s, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* n tokens of sequence 0, at positions depth on (see start_sequences()). */
static int run_decode(struct aid_context *ctx, const int32_t *toks, uint32_t n, uint32_t depth,
                struct aid_error *err)
{
        for (uint32_t i = 0; i < n; i++) {
                struct aid_batch_entry e = {
                        .token = toks[i], .seq = 0, .pos = depth + i, .want_logits = true
                };
                int r = aid_decode(ctx, &e, 1, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Best of `passes` reads of buf, bytes/s; with `warm`, after one untimed read. */
static double best_read(const void *buf, size_t bytes, int passes, bool warm)
{
        volatile uint64_t sink;
        double best = 0;

        if (warm)
                sink = aid_read_sum(buf, bytes);
        for (int i = 0; i < passes; i++) {
                double t0 = now();
                sink = aid_read_sum(buf, bytes);
                double bps = (double)bytes / (now() - t0);
                if (bps > best)
                        best = bps;
        }
        (void)sink;
        return best;
}

/* A buffer of `bytes` with every page faulted in, on transparent huge pages where asked (and
 * the kernel allows them): with 4 KiB pages this VM's reads are bound by page walks, not by
 * DRAM. */
static uint8_t *probe_buffer(size_t bytes, bool huge)
{
        size_t align = huge ? 2u << 20 : 4096;
        uint8_t *buf = aligned_alloc(align, (bytes + align - 1) / align * align);

        if (!buf)
                return NULL;
        if (huge)
                (void)madvise(buf, (bytes + align - 1) / align * align, MADV_HUGEPAGE);
        memset(buf, 1, bytes);
        return buf;
}

/* Best read bandwidth in bytes/s over `bytes` with the OpenMP thread count in use. */
static int read_bandwidth(size_t bytes, bool huge, double *ret)
{
        uint8_t *buf = probe_buffer(bytes, huge);

        if (!buf)
                return -ENOMEM;
        *ret = best_read(buf, bytes, 10, true);
        free(buf);
        return 0;
}

/* The read bandwidth over the model's own mapping of its weights (the pages decode reads):
 * not a second mapping, which would count the file's pages twice in RSS. Read whole: the page
 * cache backs parts of the file with 2 MiB folios (PMD-mapped) and the rest with 4 KiB pages,
 * and a part of the file would read a different mix than decode does. */
static int mapped_file_bandwidth(const struct aid_model *m, int passes, bool warm, double *ret)
{
        const struct gguf_file *f = aid_model_gguf(m);
        size_t bytes = (size_t)(gguf_file_size(f) - gguf_data_offset(f)) & ~(size_t)63;

        if (bytes == 0)
                return -EINVAL;
        *ret = best_read(gguf_data(f), bytes, passes, warm);
        return 0;
}

/* The huge-page probe beside each decode pass runs in a child process, forked before any
 * OpenMP thread exists (libgomp's thread pool does not survive fork): its buffer then stays
 * out of the peak RSS and RssAnon the bench reports for the model. The child waits on a socket
 * for a command byte and answers each with a struct probe_reply. */
struct huge_prober {
        pid_t pid;
        int fd; /* -1: no child */
};

struct probe_reply {
        int error; /* positive errno, 0 on success */
        double bps;
};

static _noreturn_ void huge_prober_serve(int fd)
{
        uint8_t *buf = NULL;
        char cmd;

        while (recv(fd, &cmd, 1, 0) == 1) {
                struct probe_reply rep = { 0 };

                if (!buf)
                        buf = probe_buffer(PAIR_HUGE_PROBE_BYTES, true);
                if (!buf)
                        rep.error = ENOMEM;
                else if (cmd == 'p')
                        rep.bps = best_read(buf, PAIR_HUGE_PROBE_BYTES, PAIR_PROBE_PASSES, false);
                if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) != (ssize_t)sizeof(rep))
                        break;
        }
        _exit(EXIT_SUCCESS);
}

static int huge_prober_start(struct huge_prober *ret)
{
        int sv[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                close(sv[0]);
                huge_prober_serve(sv[1]);
        }
        close(sv[1]);
        *ret = (struct huge_prober){ .pid = pid, .fd = sv[0] };
        return 0;
}

/* cmd 'f' faults the child's buffer in (the first command does so anyway), 'p' probes it. */
static int huge_prober_run(const struct huge_prober *hp, char cmd, double *ret)
{
        struct probe_reply rep;

        if (send(hp->fd, &cmd, 1, MSG_NOSIGNAL) != 1)
                return -errno;
        if (recv(hp->fd, &rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep))
                return -EPIPE; /* the child is gone */
        if (rep.error)
                return -rep.error;
        *ret = rep.bps;
        return 0;
}

static void huge_prober_stop(struct huge_prober *hp)
{
        if (hp->fd < 0)
                return;
        close(hp->fd); /* the child reads EOF and exits */
        hp->fd = -1;
        (void)waitpid(hp->pid, NULL, 0);
}

/* Seconds oneDNN's plain product takes for one matrix of every layer shape (× its count). */
static int gemm_reference(const struct model_stats *ms, size_t m, double *ret_seconds, double *ret_flops,
                bool *ret_bf16, struct aid_error *err)
{
        struct aid_onednn *dnn = NULL;
        double seconds = 0, flops = 0;
        int r;

        r = aid_onednn_new(0, &dnn, err);
        if (r < 0)
                return r;
        const bool bf16 = aid_onednn_uses_bf16(dnn);
        const uint32_t b_type = bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32;
        for (size_t s = 0; s < ms->n_shapes && r >= 0; s++) {
                const size_t n = ms->shapes[s].n, k = ms->shapes[s].k;
                float *a = malloc(m * k * sizeof(float)), *c = malloc(m * n * sizeof(float));
                void *b = malloc(n * k * (bf16 ? sizeof(uint16_t) : sizeof(float)));
                double best = 0;

                if (!a || !b || !c)
                        r = aid_error_set(err, -ENOMEM, "out of memory for a %zu×%zu matrix", n, k);
                for (size_t i = 0; r >= 0 && i < m * k; i++)
                        a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
                for (size_t i = 0; r >= 0 && i < n * k; i++) {
                        float v = (float)((i * 40503u) % 1000) * 1e-4f - 0.05f;
                        if (bf16)
                                ((uint16_t *)b)[i] = aid_f32_to_bf16(v);
                        else
                                ((float *)b)[i] = v;
                }
                /* The first call creates the primitive; then the best of a few, ≥ 0.2 s. */
                for (int rep = 0, timed = 0; r >= 0; rep++) {
                        double t0 = now();
                        r = aid_onednn_matmul(dnn, a, m, k, 0, b_type, b, n, 0, c, 0, err);
                        double el = now() - t0;
                        if (rep == 0)
                                continue;
                        if (timed++ == 0 || el < best)
                                best = el;
                        if (timed >= 3 && best * timed >= 0.2)
                                break;
                        if (timed >= 50)
                                break;
                }
                seconds += best * ms->shapes[s].count;
                flops += 2.0 * (double)m * (double)n * (double)k * ms->shapes[s].count;
                free(a);
                free(b);
                free(c);
        }
        aid_onednn_free(dnn);
        if (r < 0)
                return r;
        *ret_seconds = seconds;
        *ret_flops = flops;
        *ret_bf16 = bf16;
        return 0;
}

/* The width of Q4_K's and Q6_K's vectors in the kernels that run: 512 only at the AVX-512 VNNI
 * levels. */
static int k_bits(void)
{
        if (aid_kernels_get_level() < AID_CPU_AVX512_VNNI)
                return 256;
        return aid_kernels_get_k_wide() ? 512 : 256;
}

/* The kernels in use, as the threads line and the JSON name them. */
static const char *kernels_name(void)
{
        enum aid_cpu_level level = aid_kernels_get_level();

        if (level == AID_CPU_AVX2 && aid_kernels_get_avx_vnni())
                return "avx2 with avx-vnni";
        return aid_cpu_level_name(level);
}

static void usage(FILE *f)
{
        fputs("Usage: aid-infer bench MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-r REPEATS] "
              "[-s SEQUENCES]\n"
              "                       [--json] [--bw-mib 1024] [--no-gemm] [--kv auto|f32|f16] "
              "[--prefetch BYTES]\n"
              "                       [--k-bits 256|512] [--level NAME] [--avx-vnni 0|1]\n"
              "  -p N         prompt tokens to prefill (0: skip prefill)\n"
              "  -n N         tokens to decode one at a time (0: skip decode)\n"
              "  -d D         decode after D positions already in the cache (a chat's earlier turns)\n"
              "  -s S         also decode S sequences together, N steps (continuous batching)\n"
              "  -t N         threads (0: all cores)\n"
              "  -r N         timed repetitions of prefill and decode (best and mean reported)\n"
              "  --json       one JSON object instead of the readable block\n"
              "  --bw-mib N   size of the read-bandwidth probe buffer, MiB\n"
              "  --no-gemm    skip oneDNN's plain-GEMM reference\n"
              "  --kv TYPE    the KV cache's type (auto: f32 for an f32 model, else f16)\n"
              "  --prefetch B how far ahead decode's single-row kernels prefetch the weights\n"
              "               into L2 (0: not at all, and no rows into L1 either; default: the\n"
              "               CPU's, as the threads line shows)\n"
              "  --k-bits W   the Q4_K, Q5_K and Q6_K kernels at the AVX-512 VNNI levels on 256- or\n"
              "               512-bit vectors (default: the CPU's, as the threads line shows)\n"
              "  --level NAME the kernels of a lower SIMD level than the CPU's best: scalar, avx2,\n"
              "               avx512, avx512-vnni or avx512-icl (as a CPU without the higher ones)\n"
              "  --avx-vnni B whether the avx2 level's integer kernels use AVX-VNNI (1, the\n"
              "               default where the CPU has it) or not (0)\n"
              "The paired roofline compares each decode pass with read-bandwidth probes (the model's\n"
              "mapping, huge pages) taken right before and after it: median and best over the passes.\n",
                        f);
}

struct bench {
        const char *path;
        unsigned long p, n, depth, threads, repeats, bw_mib, seqs;
        bool json, gemm;
        enum aid_kv_type kv_type;
        /* results */
        double load_first, load_cached;
        struct timing prefill, decode, batched;
        double prefill_first, prefill_flops;
        /* bytes/s: anonymous buffer; the model's mapping (best of before and after the
         * runs); the larger of the two, the roofline's denominator */
        double bandwidth, file_bandwidth, roof_bandwidth, kv_read_per_token;
        double huge_bandwidth; /* the anonymous probe on transparent huge pages: the strict roofline */
        double gemm_seconds, gemm_flops;
        bool gemm_bf16, gemm_done;
        /* each timed decode pass with the probes right before and after it ([repeats]); whether
         * the mapping probe counts (as for the roofline); seconds the two kinds of probe took
         * over pair_probes probe points; the fractions' summaries, against the larger adjacent
         * probe of either kind and against the mapping alone */
        struct aid_bench_pass *passes;
        bool pair_mapped;
        double pair_mapped_s, pair_huge_s;
        unsigned pair_probes;
        double pair_median, pair_best, pair_mapped_median, pair_mapped_best;
        uint32_t n_ctx, n_batch;
        uint64_t kv_cache_bytes;
        const char *kv_name; /* "f32" or "f16", as the context has it */
        long maxrss_kib;
        struct proc_mem mem_start, mem_loaded, mem_context, mem_end;
};

static void print_paired_text(const struct bench *b, const struct model_stats *ms)
{
        printf("paired       %.1f%% median, %.1f%% best of %lu passes, each against the larger probe "
               "right before or after it (%s)",
                        100.0 * b->pair_median, 100.0 * b->pair_best, b->repeats,
                        b->pair_mapped ? "mapping or huge pages" : "huge pages; the mapping fits in caches");
        if (b->pair_mapped)
                printf("; %.1f%% / %.1f%% of the mapping alone", 100.0 * b->pair_mapped_median,
                                100.0 * b->pair_mapped_best);
        printf("\n");
        for (unsigned long i = 0; i < b->repeats; i++) {
                const struct aid_bench_pass *p = &b->passes[i];

                printf("             pass %lu: %.2f / %.2f GB/s before (mapping / huge pages), %.2f decode, "
                       "%.2f / %.2f after: %.1f%%",
                                i + 1, p->before_mapped / 1e9, p->before_huge / 1e9, p->decode / 1e9,
                                p->after_mapped / 1e9, p->after_huge / 1e9,
                                100.0 * aid_bench_pass_fraction(p, b->pair_mapped, true));
                if (b->pair_mapped)
                        printf(" (mapping alone %.1f%%)", 100.0 * aid_bench_pass_fraction(p, true, false));
                printf("\n");
        }
        printf("             each probe best of %d reads: %.1f ms over the mapping (%.0f MiB), "
               "%.1f ms over %llu MiB of huge pages\n",
                        PAIR_PROBE_PASSES, 1e3 * b->pair_mapped_s / b->pair_probes,
                        (double)ms->tensor_bytes / (1024.0 * 1024.0), 1e3 * b->pair_huge_s / b->pair_probes,
                        PAIR_HUGE_PROBE_BYTES >> 20);
}

static void print_paired_json(const struct bench *b)
{
        printf("  \"paired_mapping_counts\": %s,\n", b->pair_mapped ? "true" : "false");
        printf("  \"paired_fraction_median\": %.4f,\n  \"paired_fraction_best\": %.4f,\n", b->pair_median,
                        b->pair_best);
        if (b->pair_mapped)
                printf("  \"paired_fraction_mapping_median\": %.4f,\n"
                       "  \"paired_fraction_mapping_best\": %.4f,\n",
                                b->pair_mapped_median, b->pair_mapped_best);
        printf("  \"paired_probe_reads\": %d,\n  \"paired_probe_huge_bytes\": %llu,\n", PAIR_PROBE_PASSES,
                        PAIR_HUGE_PROBE_BYTES);
        printf("  \"paired_probe_mapping_ms\": %.3f,\n  \"paired_probe_huge_ms\": %.3f,\n",
                        1e3 * b->pair_mapped_s / b->pair_probes, 1e3 * b->pair_huge_s / b->pair_probes);
        printf("  \"paired_passes\": [\n");
        for (unsigned long i = 0; i < b->repeats; i++) {
                const struct aid_bench_pass *p = &b->passes[i];

                printf("    { \"before_mapping_gb_s\": %.3f, \"before_huge_gb_s\": %.3f, "
                       "\"decode_weight_gb_s\": %.3f, \"after_mapping_gb_s\": %.3f, "
                       "\"after_huge_gb_s\": %.3f, \"fraction\": %.4f",
                                p->before_mapped / 1e9, p->before_huge / 1e9, p->decode / 1e9,
                                p->after_mapped / 1e9, p->after_huge / 1e9,
                                aid_bench_pass_fraction(p, b->pair_mapped, true));
                if (b->pair_mapped)
                        printf(", \"fraction_mapping\": %.4f", aid_bench_pass_fraction(p, true, false));
                printf(" }%s\n", i + 1 < b->repeats ? "," : "");
        }
        printf("  ],\n");
}

static void print_text(const struct bench *b, const struct aid_hparams *hp, const struct model_stats *ms)
{
        const double mib = 1024.0 * 1024.0;
        const double bpt = (double)ms->bytes_per_token;

        printf("model        %s\n", b->path);
        printf("             %s, %" PRIu32 " layers, n_embd %" PRIu32 ", n_vocab %" PRIu32
               ", %.1f MiB of tensors%s\n",
                        aid_arch_name(hp->arch), hp->n_layer, hp->n_embd, hp->n_vocab,
                        (double)ms->tensor_bytes / mib, ms->tied ? ", tied output" : "");
        printf("threads      %lu (kernels: %s, rows prefetched %zu bytes ahead, Q4_K, Q5_K and Q6_K on "
               "%d-bit "
               "vectors, "
               "oneDNN ISA: %s)\n",
                        b->threads, kernels_name(), aid_kernels_get_prefetch(), k_bits(),
                        aid_onednn_isa_name());
        printf("load         %.3f s first, %.3f s from the page cache\n", b->load_first, b->load_cached);
        if (b->prefill.n) {
                double tps = b->p / b->prefill.best;
                printf("prefill      %lu tokens (batches of %" PRIu32 "): %.1f tok/s best, %.1f mean, "
                       "%.1f first; %.1f GFLOP/s\n",
                                b->p, b->n_batch, tps, b->p / timing_mean(&b->prefill),
                                b->p / b->prefill_first, b->prefill_flops / b->prefill.best / 1e9);
                if (b->gemm_done) {
                        double ref = b->gemm_flops / b->gemm_seconds / 1e9;
                        printf("gemm ref     oneDNN plain matmul (%s) on the layer shapes, M = %" PRIu32
                               ": %.1f GFLOP/s; prefill reaches %.0f%%\n",
                                        b->gemm_bf16 ? "bf16" : "f32", b->n_batch, ref,
                                        100.0 * b->prefill_flops / b->prefill.best / 1e9 / ref);
                }
        }
        if (b->decode.n) {
                double tps = b->n / b->decode.best;
                printf("decode       %lu tokens", b->n);
                if (b->depth)
                        printf(" at depth %lu", b->depth);
                printf(": %.2f tok/s best, %.2f mean\n", tps, b->n / timing_mean(&b->decode));
                printf("bytes/token  %.1f MiB of weights (+ %.2f MiB of KV cache on average)\n", bpt / mib,
                                b->kv_read_per_token / mib);
                printf("bandwidth    %.2f GB/s read (aid_read_sum, %lu MiB anonymous, %lu threads); "
                       "%.2f GB/s over the model's mapping\n",
                                b->bandwidth / 1e9, b->bw_mib, b->threads, b->file_bandwidth / 1e9);
                printf("roofline     %.2f GB/s of weights = %.1f%% of %.2f GB/s, the better probe "
                       "(%.1f%% with KV reads)\n",
                                tps * bpt / 1e9, 100.0 * tps * bpt / b->roof_bandwidth,
                                b->roof_bandwidth / 1e9,
                                100.0 * tps * (bpt + b->kv_read_per_token) / b->roof_bandwidth);
                printf("strict       %.1f%% of %.2f GB/s, the best probe with the anonymous buffer on "
                       "transparent huge pages (%.2f GB/s)\n",
                                100.0 * tps * bpt / MAX(b->roof_bandwidth, b->huge_bandwidth),
                                MAX(b->roof_bandwidth, b->huge_bandwidth) / 1e9, b->huge_bandwidth / 1e9);
                print_paired_text(b, ms);
        } else
                printf("bandwidth    %.2f GB/s read (aid_read_sum, %lu MiB anonymous, %lu threads); "
                       "%.2f GB/s over the model's mapping\n",
                                b->bandwidth / 1e9, b->bw_mib, b->threads, b->file_bandwidth / 1e9);
        if (b->batched.n) {
                double tps = (double)(b->n * b->seqs) / b->batched.best;
                printf("batched      %lu sequences x %lu steps%s: %.2f tok/s aggregate best (%.2f mean), "
                       "%.1f ms per step",
                                b->seqs, b->n, b->depth ? " at the same depth" : "", tps,
                                (double)(b->n * b->seqs) / timing_mean(&b->batched),
                                1e3 * b->batched.best / (double)b->n);
                if (b->decode.n)
                        printf(" = %.2f x one sequence's tok/s", tps / ((double)b->n / b->decode.best));
                printf("\n");
        }
        printf("memory       peak RSS %.1f MiB (ru_maxrss; VmHWM %.1f MiB)\n", b->maxrss_kib / 1024.0,
                        b->mem_end.hwm_kib / 1024.0);
        printf("             RssAnon %.1f MiB before load, %.1f after, %.1f after context, %.1f at the "
               "end; RssFile %.1f MiB\n",
                        b->mem_start.anon_kib / 1024.0, b->mem_loaded.anon_kib / 1024.0,
                        b->mem_context.anon_kib / 1024.0, b->mem_end.anon_kib / 1024.0,
                        b->mem_end.file_kib / 1024.0);
        printf("             KV cache %.1f MiB allocated for n_ctx %" PRIu32 " (%s)\n",
                        (double)b->kv_cache_bytes / mib, b->n_ctx, b->kv_name);
}

static void print_json(const struct bench *b, const struct aid_hparams *hp, const struct model_stats *ms)
{
        const double bpt = (double)ms->bytes_per_token;

        printf("{\n  \"model\": \"");
        for (const char *s = b->path; *s; s++)
                if (*s == '"' || *s == '\\')
                        printf("\\%c", *s);
                else if ((unsigned char)*s < 0x20)
                        printf("\\u%04x", (unsigned)(unsigned char)*s);
                else
                        putchar(*s);
        printf("\",\n");
        printf("  \"arch\": \"%s\",\n  \"n_layer\": %" PRIu32 ",\n  \"tensor_bytes\": %" PRIu64 ",\n",
                        aid_arch_name(hp->arch), hp->n_layer, ms->tensor_bytes);
        printf("  \"threads\": %lu,\n  \"kernel_level\": \"%s\",\n  \"row_prefetch_bytes\": %zu,\n",
                        b->threads, kernels_name(), aid_kernels_get_prefetch());
        printf("  \"k_bits\": %d,\n", k_bits());
        printf("  \"load_s\": %.6f,\n  \"load_cached_s\": %.6f,\n", b->load_first, b->load_cached);
        printf("  \"prompt_tokens\": %lu,\n  \"n_batch\": %" PRIu32 ",\n", b->p, b->n_batch);
        if (b->prefill.n) {
                printf("  \"prefill_tok_s\": %.3f,\n  \"prefill_tok_s_mean\": %.3f,\n"
                       "  \"prefill_first_tok_s\": %.3f,\n",
                                b->p / b->prefill.best, b->p / timing_mean(&b->prefill),
                                b->p / b->prefill_first);
                printf("  \"prefill_flops\": %.0f,\n  \"prefill_gflop_s\": %.3f,\n", b->prefill_flops,
                                b->prefill_flops / b->prefill.best / 1e9);
        }
        if (b->gemm_done)
                printf("  \"gemm_ref_dtype\": \"%s\",\n  \"gemm_ref_gflop_s\": %.3f,\n"
                       "  \"prefill_of_gemm_ref\": %.4f,\n",
                                b->gemm_bf16 ? "bf16" : "f32", b->gemm_flops / b->gemm_seconds / 1e9,
                                (b->prefill_flops / b->prefill.best) / (b->gemm_flops / b->gemm_seconds));
        printf("  \"decode_tokens\": %lu,\n  \"decode_depth\": %lu,\n", b->n, b->depth);
        if (b->decode.n) {
                double tps = b->n / b->decode.best;
                printf("  \"decode_tok_s\": %.3f,\n  \"decode_tok_s_mean\": %.3f,\n", tps,
                                b->n / timing_mean(&b->decode));
                printf("  \"decode_weight_gb_s\": %.3f,\n  \"roofline_fraction\": %.4f,\n"
                       "  \"roofline_fraction_with_kv\": %.4f,\n  \"roofline_fraction_strict\": %.4f,\n",
                                tps * bpt / 1e9, tps * bpt / b->roof_bandwidth,
                                tps * (bpt + b->kv_read_per_token) / b->roof_bandwidth,
                                tps * bpt / MAX(b->roof_bandwidth, b->huge_bandwidth));
                print_paired_json(b);
        }
        if (b->batched.n) {
                double tps = (double)(b->n * b->seqs) / b->batched.best;
                printf("  \"batched_sequences\": %lu,\n  \"batched_tok_s\": %.3f,\n"
                       "  \"batched_tok_s_mean\": %.3f,\n",
                                b->seqs, tps, (double)(b->n * b->seqs) / timing_mean(&b->batched));
        }
        printf("  \"weight_bytes_per_token\": %" PRIu64 ",\n  \"kv_bytes_per_token\": %.0f,\n",
                        ms->bytes_per_token, b->kv_read_per_token);
        printf("  \"read_bandwidth_gb_s\": %.3f,\n  \"bandwidth_probe_mib\": %lu,\n", b->bandwidth / 1e9,
                        b->bw_mib);
        printf("  \"read_bandwidth_huge_pages_gb_s\": %.3f,\n", b->huge_bandwidth / 1e9);
        printf("  \"mapped_file_read_gb_s\": %.3f,\n  \"roofline_bandwidth_gb_s\": %.3f,\n",
                        b->file_bandwidth / 1e9, b->roof_bandwidth / 1e9);
        printf("  \"peak_rss_kib\": %ld,\n  \"vm_hwm_kib\": %" PRIu64 ",\n", b->maxrss_kib,
                        b->mem_end.hwm_kib);
        printf("  \"rss_anon_start_kib\": %" PRIu64 ",\n", b->mem_start.anon_kib);
        printf("  \"rss_anon_loaded_kib\": %" PRIu64 ",\n  \"rss_anon_context_kib\": %" PRIu64 ",\n",
                        b->mem_loaded.anon_kib, b->mem_context.anon_kib);
        printf("  \"rss_anon_kib\": %" PRIu64 ",\n  \"rss_file_kib\": %" PRIu64 ",\n", b->mem_end.anon_kib,
                        b->mem_end.file_kib);
        printf("  \"n_ctx\": %" PRIu32 ",\n  \"kv_cache_bytes\": %" PRIu64 ",\n  \"kv_type\": \"%s\"\n}\n",
                        b->n_ctx, b->kv_cache_bytes, b->kv_name);
}

/* One probe point beside a decode pass: the mapping, then the huge-page buffer, so that the
 * last-level cache holds none of the model when a pass starts. */
static int pair_probe(struct bench *b, const struct aid_model *m, const struct huge_prober *hp,
                double *ret_mapped, double *ret_huge)
{
        double t0 = now(), t1, mapped, huge;
        int r;

        r = mapped_file_bandwidth(m, PAIR_PROBE_PASSES, false, &mapped);
        if (r < 0)
                return r;
        t1 = now();
        r = huge_prober_run(hp, 'p', &huge);
        if (r < 0)
                return r;
        b->pair_mapped_s += t1 - t0;
        b->pair_huge_s += now() - t1;
        b->pair_probes++;
        *ret_mapped = mapped;
        *ret_huge = huge;
        return 0;
}

static int time_load(const char *path, struct aid_model **ret, double *ret_seconds)
{
        struct aid_error err = { 0 };
        double t0 = now();
        int r = aid_model_load(path, ret, &err);

        if (r >= 0)
                r = gguf_prefault(aid_model_gguf(*ret), NULL, NULL, &err);
        *ret_seconds = now() - t0;
        if (r < 0)
                fprintf(stderr, "aid-infer: loading the model: %s\n",
                                err.message[0] ? err.message : strerror(-r));
        return r;
}

int aid_infer_bench(int argc, char **argv)
{
        static const struct option options[] = {
                { "prompt", required_argument, NULL, 'p' },
                { "n-predict", required_argument, NULL, 'n' },
                { "depth", required_argument, NULL, 'd' },
                { "threads", required_argument, NULL, 't' },
                { "repeats", required_argument, NULL, 'r' },
                { "json", no_argument, NULL, 'j' },
                { "bw-mib", required_argument, NULL, 'B' },
                { "no-gemm", no_argument, NULL, 'G' },
                { "sequences", required_argument, NULL, 's' },
                { "kv", required_argument, NULL, 'K' },
                { "prefetch", required_argument, NULL, 'P' },
                { "k-bits", required_argument, NULL, 'W' },
                { "level", required_argument, NULL, 'L' },
                { "avx-vnni", required_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct bench b = { .p = 512, .n = 128, .repeats = 3, .bw_mib = 1024, .gemm = true, .seqs = 1 };
        struct model_stats ms = { 0 };
        struct aid_error err = { 0 };
        struct aid_model *m = NULL;
        struct aid_context *ctx = NULL;
        _cleanup_free_ int32_t *toks = NULL;
        _cleanup_free_ struct aid_batch_entry *batch = NULL;
        struct huge_prober prober = { .fd = -1 };
        const struct aid_hparams *hp;
        struct rusage ru;
        uint64_t rng = 0x9e3779b97f4a7c15ull;
        uint32_t n_seq;
        size_t n_toks;
        double bw;
        int c, r, ret = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "p:n:d:t:r:s:h", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        if (parse_count(optarg, "-p", 1u << 20, &b.p) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'n':
                        if (parse_count(optarg, "-n", 1u << 20, &b.n) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'd':
                        if (parse_count(optarg, "-d", 1u << 20, &b.depth) < 0)
                                return EXIT_FAILURE;
                        break;
                case 't':
                        if (parse_count(optarg, "-t", 1024, &b.threads) < 0)
                                return EXIT_FAILURE;
                        break;
                case 's':
                        if (parse_count(optarg, "-s", 256, &b.seqs) < 0)
                                return EXIT_FAILURE;
                        if (b.seqs == 0) {
                                fprintf(stderr, "aid-infer bench: -s must be at least 1\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case 'r':
                        if (parse_count(optarg, "-r", 1000, &b.repeats) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'j':
                        b.json = true;
                        break;
                case 'B':
                        if (parse_count(optarg, "--bw-mib", 1u << 20, &b.bw_mib) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'G':
                        b.gemm = false;
                        break;
                case 'K':
                        if (strcmp(optarg, "auto") == 0)
                                b.kv_type = AID_KV_AUTO;
                        else if (strcmp(optarg, "f32") == 0)
                                b.kv_type = AID_KV_F32;
                        else if (strcmp(optarg, "f16") == 0)
                                b.kv_type = AID_KV_F16;
                        else {
                                fprintf(stderr, "aid-infer bench: --kv takes auto, f32 or f16, not '%s'\n",
                                                optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'P': {
                        unsigned long bytes;
                        if (parse_count(optarg, "--prefetch", AID_KERNELS_PREFETCH_MAX, &bytes) < 0)
                                return EXIT_FAILURE;
                        aid_kernels_set_prefetch(bytes);
                        break;
                }
                case 'W':
                        if (strcmp(optarg, "256") != 0 && strcmp(optarg, "512") != 0) {
                                fprintf(stderr, "aid-infer bench: --k-bits takes 256 or 512, not '%s'\n",
                                                optarg);
                                return EXIT_FAILURE;
                        }
                        aid_kernels_set_k_wide(strcmp(optarg, "512") == 0);
                        break;
                case 'L': {
                        int level = -1;
                        for (int l = AID_CPU_SCALAR; l <= AID_CPU_AVX512_ICL; l++)
                                if (strcmp(optarg, aid_cpu_level_name((enum aid_cpu_level)l)) == 0)
                                        level = l;
                        if (level < 0 || level > (int)aid_cpu_detect()) {
                                fprintf(stderr,
                                                "aid-infer bench: --level '%s' is unknown or above this "
                                                "CPU's "
                                                "best, %s\n",
                                                optarg, aid_cpu_level_name(aid_cpu_detect()));
                                return EXIT_FAILURE;
                        }
                        aid_kernels_set_level((enum aid_cpu_level)level);
                        break;
                }
                case 'V':
                        if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0) {
                                fprintf(stderr, "aid-infer bench: --avx-vnni takes 0 or 1, not '%s'\n",
                                                optarg);
                                return EXIT_FAILURE;
                        }
                        if (aid_kernels_set_avx_vnni(optarg[0] == '1') != (optarg[0] == '1')) {
                                fprintf(stderr, "aid-infer bench: --avx-vnni 1: this CPU has no AVX-VNNI\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        return EXIT_FAILURE;
                }
        if (argc - optind != 1) {
                fprintf(stderr, "aid-infer bench: expected MODEL (see --help)\n");
                return EXIT_FAILURE;
        }
        if (b.repeats == 0 || b.bw_mib == 0 || (b.p == 0 && b.n == 0)) {
                fprintf(stderr, "aid-infer bench: -r, --bw-mib and one of -p / -n must be at least 1\n");
                return EXIT_FAILURE;
        }
        if (b.depth > 0 && b.n == 0) {
                fprintf(stderr, "aid-infer bench: -d is where decode starts; it needs -n of at least 1\n");
                return EXIT_FAILURE;
        }
        b.path = argv[optind];
        if (b.threads == 0)
                b.threads = (unsigned long)omp_get_num_procs();
        /* aid_read_sum() and the GEMM reference run on the caller's OpenMP thread count. */
        omp_set_num_threads((int)b.threads);
        if (b.n > 0) {
                r = huge_prober_start(&prober);
                if (r < 0) {
                        fprintf(stderr, "aid-infer: starting the huge-page probe: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        /* What the process holds before the model (the runtime's own, a sanitizer's shadow):
         * the weights' share of anonymous memory is what loading adds to it. */
        read_proc_mem(&b.mem_start);
        if (time_load(b.path, &m, &b.load_first) < 0)
                goto out;
        m = aid_model_free(m);
        if (time_load(b.path, &m, &b.load_cached) < 0)
                goto out;
        hp = aid_model_hparams(m);
        read_proc_mem(&b.mem_loaded);
        /* Memory bandwidth on a shared machine varies from second to second: probe the model's
         * mapping now and again after the runs, and keep the best. */
        r = mapped_file_bandwidth(m, 5, true, &b.file_bandwidth);
        if (r < 0) {
                fprintf(stderr, "aid-infer: %s: mapped-file bandwidth probe: %s\n", b.path, strerror(-r));
                goto out;
        }
        r = model_stats_get(b.path, hp, &ms, &err);
        if (r < 0) {
                fprintf(stderr, "aid-infer: %s: %s\n", b.path, err.message);
                goto out;
        }

        b.n_ctx = (uint32_t)MAX(b.p, b.depth + b.n);
        if (b.n_ctx > hp->n_ctx_train) {
                fprintf(stderr,
                                "aid-infer bench: %" PRIu32
                                " positions exceed the model's context of %" PRIu32 "\n",
                                b.n_ctx, hp->n_ctx_train);
                goto out;
        }
        b.n_batch = (uint32_t)MAX(MIN(MAX(b.p, b.depth), 512ul), b.seqs);
        /* With -d, one more sequence keeps the depth's positions for the passes to copy. */
        n_seq = (uint32_t)b.seqs + (b.depth > 0);
        {
                struct aid_context_params params = { .n_ctx = b.n_ctx,
                        .n_seq_max = n_seq,
                        .n_batch = b.n_batch,
                        .n_threads = (uint32_t)b.threads,
                        .kv_type = b.kv_type };
                r = aid_context_new(m, &params, &ctx, &err);
                if (r < 0) {
                        fprintf(stderr, "aid-infer: creating the context: %s\n", err.message);
                        goto out;
                }
        }
        b.kv_cache_bytes = (uint64_t)aid_context_kv_bytes_per_pos(ctx) * b.n_ctx * n_seq;
        b.kv_name = aid_context_kv_type(ctx) == AID_KV_F16 ? "f16" : "f32";
        read_proc_mem(&b.mem_context);

        n_toks = MAX(MAX(b.p, b.n), b.depth);
        toks = calloc(n_toks, sizeof(*toks));
        batch = calloc(b.n_batch, sizeof(*batch));
        b.passes = calloc(b.repeats, sizeof(*b.passes));
        if (!toks || !batch || !b.passes) {
                fprintf(stderr, "aid-infer: out of memory\n");
                goto out;
        }
        for (size_t i = 0; i < n_toks; i++)
                toks[i] = (int32_t)next_token(&rng, hp->n_vocab);
        if (b.depth > 0) {
                r = run_prefill(ctx, toks, (uint32_t)b.depth, b.n_batch, n_seq - 1, batch, &err);
                if (r < 0)
                        goto fail_eval;
        }

        /* An untimed first pass: page faults on the mapping, oneDNN primitive creation. */
        if (b.p > 0) {
                double t0 = now();
                r = run_prefill(ctx, toks, (uint32_t)b.p, b.n_batch, 0, batch, &err);
                b.prefill_first = now() - t0;
                if (r < 0)
                        goto fail_eval;
                b.prefill_flops = prefill_flops(hp, &ms, (uint32_t)b.p);
        }
        if (b.n > 0) {
                r = start_sequences(ctx, 1, (uint32_t)b.depth, n_seq - 1);
                if (r >= 0)
                        r = run_decode(ctx, toks, (uint32_t)MIN(b.n, 8ul), (uint32_t)b.depth, &err);
                if (r < 0)
                        goto fail_eval;
                b.kv_read_per_token = kv_bytes_per_token(hp, &ms, (uint32_t)b.depth, (uint32_t)b.n,
                                aid_context_kv_type(ctx) == AID_KV_F16 ? 2 : sizeof(float));
                r = huge_prober_run(&prober, 'f', &bw);
                if (r < 0)
                        goto fail_probe;
        }
        for (unsigned long rep = 0; rep < b.repeats; rep++) {
                double t0;

                if (b.p > 0) {
                        t0 = now();
                        r = run_prefill(ctx, toks, (uint32_t)b.p, b.n_batch, 0, batch, &err);
                        if (r < 0)
                                goto fail_eval;
                        timing_add(&b.prefill, now() - t0);
                }
                if (b.n > 0) {
                        struct aid_bench_pass *pass = &b.passes[rep];
                        double el;

                        r = start_sequences(ctx, 1, (uint32_t)b.depth, n_seq - 1);
                        if (r < 0)
                                goto fail_eval;
                        r = pair_probe(&b, m, &prober, &pass->before_mapped, &pass->before_huge);
                        if (r < 0)
                                goto fail_probe;
                        t0 = now();
                        r = run_decode(ctx, toks, (uint32_t)b.n, (uint32_t)b.depth, &err);
                        el = now() - t0;
                        if (r < 0)
                                goto fail_eval;
                        timing_add(&b.decode, el);
                        pass->decode = (double)b.n * (double)ms.bytes_per_token / el;
                        r = pair_probe(&b, m, &prober, &pass->after_mapped, &pass->after_huge);
                        if (r < 0)
                                goto fail_probe;
                }
                if (b.n > 0 && b.seqs > 1) {
                        r = start_sequences(ctx, (uint32_t)b.seqs, (uint32_t)b.depth, n_seq - 1);
                        if (r < 0)
                                goto fail_eval;
                        t0 = now();
                        r = run_decode_batched(ctx, toks, (uint32_t)b.n, (uint32_t)b.seqs, (uint32_t)b.depth,
                                        batch, &err);
                        if (r < 0)
                                goto fail_eval;
                        timing_add(&b.batched, now() - t0);
                }
        }

        /* Memory before the probes below allocate their own buffers. */
        read_proc_mem(&b.mem_end);
        if (getrusage(RUSAGE_SELF, &ru) == 0)
                b.maxrss_kib = ru.ru_maxrss;
        ctx = aid_context_free(ctx);

        r = read_bandwidth((size_t)b.bw_mib << 20, false, &b.bandwidth);
        if (r >= 0)
                r = read_bandwidth((size_t)b.bw_mib << 20, true, &b.huge_bandwidth);
        if (r < 0) {
                fprintf(stderr, "aid-infer: bandwidth probe: %s\n", strerror(-r));
                goto out;
        }
        r = mapped_file_bandwidth(m, 5, true, &bw);
        if (r < 0) {
                fprintf(stderr, "aid-infer: %s: mapped-file bandwidth probe: %s\n", b.path, strerror(-r));
                goto out;
        }
        b.file_bandwidth = MAX(b.file_bandwidth, bw);
        b.roof_bandwidth = b.bandwidth;
        /* A file that fits in the caches measures them, not memory. */
        b.pair_mapped = ms.tensor_bytes >= MAPPED_PROBE_MIN_BYTES;
        if (b.pair_mapped)
                b.roof_bandwidth = MAX(b.bandwidth, b.file_bandwidth);
        if (b.n > 0) {
                r = aid_bench_pair(b.passes, b.repeats, b.pair_mapped, true, &b.pair_median, &b.pair_best);
                if (r >= 0 && b.pair_mapped)
                        r = aid_bench_pair(b.passes, b.repeats, true, false, &b.pair_mapped_median,
                                        &b.pair_mapped_best);
                if (r < 0) {
                        fprintf(stderr, "aid-infer: paired roofline: %s\n", strerror(-r));
                        goto out;
                }
        }
        if (b.gemm && b.p > 0 && ms.n_shapes > 0) {
                r = gemm_reference(&ms, b.n_batch, &b.gemm_seconds, &b.gemm_flops, &b.gemm_bf16, &err);
                if (r < 0) {
                        fprintf(stderr, "aid-infer: oneDNN reference: %s\n", err.message);
                        goto out;
                }
                b.gemm_done = b.gemm_seconds > 0;
        }

        if (b.json)
                print_json(&b, hp, &ms);
        else
                print_text(&b, hp, &ms);
        ret = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        goto out;

fail_probe:
        fprintf(stderr, "aid-infer: bandwidth probe beside decode: %s\n", strerror(-r));
        goto out;
fail_eval:
        fprintf(stderr, "aid-infer: evaluating: %s\n", err.message[0] ? err.message : strerror(-r));
out:
        huge_prober_stop(&prober);
        free(b.passes);
        free(ms.sliding);
        aid_context_free(ctx);
        aid_model_free(m);
        return ret;
}
