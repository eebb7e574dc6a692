/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mdwe-probe: may the aid units set MemoryDenyWriteExecute=yes?
 *
 * MemoryDenyWriteExecute= forbids memory that becomes executable after it was writable. systemd
 * 252 enforces it with a seccomp filter (mprotect() adding PROT_EXEC fails with EPERM); newer
 * systemd uses the kernel's own prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) (Linux 6.3+) where
 * it exists. Both refuse the same step, the one every JIT takes: map RW, write code, mprotect RX.
 * oneDNN (xbyak) is such a JIT, so this program measures, each in a fresh child process:
 *   (a) that step by hand, without and with PR_SET_MDWE;
 *   (b) with oneDNN: an f32 matmul primitive, without and with PR_SET_MDWE, checked against a
 *       naive product, with the implementation oneDNN picked.
 *
 * Exit status: 0 when (a) behaves as described above (works without, refused with MDWE) and
 * oneDNN, where present, computes the right product without MDWE and under MDWE either computes
 * it or fails cleanly (an error status, no wrong numbers, no crash); 1 otherwise; 77 when this
 * kernel or architecture cannot answer (no PR_SET_MDWE, no code bytes for this CPU).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#if HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#endif

/* Linux 6.3 uapi; Debian 12's headers (6.1) predate it. */
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif

enum outcome {
        OUTCOME_WORKS = 0,
        OUTCOME_REFUSED = 10,  /* the kernel refused the RW -> RX step */
        OUTCOME_FAILED = 11,   /* no oneDNN implementation could run */
        OUTCOME_FALLBACK = 15, /* oneDNN's preferred implementation failed, a later one ran */
        OUTCOME_WRONG = 12,    /* oneDNN ran but the numbers are wrong */
        OUTCOME_NO_MDWE = 13,  /* prctl(PR_SET_MDWE) itself failed */
        OUTCOME_NO_ARCH = 14,  /* no code bytes for this CPU */
};

/* Returns 42 when called. */
#if defined(__x86_64__) || defined(__i386__)
static const uint8_t code_return_42[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, /* mov eax, 42 */
        0xc3 /* ret */ };
#elif defined(__aarch64__)
static const uint8_t code_return_42[] = { 0x40, 0x05, 0x80, 0x52, /* mov w0, #42 */
        0xc0, 0x03, 0x5f, 0xd6 /* ret */ };
#else
static const uint8_t code_return_42[] = { 0 };
#define NO_CODE_FOR_THIS_ARCH 1
#endif

static int set_mdwe(void)
{
        if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) < 0) {
                printf("    prctl(PR_SET_MDWE): %m\n");
                return OUTCOME_NO_MDWE;
        }
        return 0;
}

static int jit_pattern(void)
{
#ifdef NO_CODE_FOR_THIS_ARCH
        return OUTCOME_NO_ARCH;
#else
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        void *mem = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
                printf("    mmap(RW): %m\n");
                return OUTCOME_REFUSED;
        }
        memcpy(mem, code_return_42, sizeof(code_return_42));
        __builtin___clear_cache((char *)mem, (char *)mem + sizeof(code_return_42));
        if (mprotect(mem, page, PROT_READ | PROT_EXEC) < 0) {
                printf("    mprotect(RX): %m\n");
                return OUTCOME_REFUSED;
        }
        int (*fn)(void);
        /* ISO C has no object-to-function pointer cast; copying the bits is what dlsym users do. */
        memcpy(&fn, &mem, sizeof(fn));
        int v = fn();
        munmap(mem, page);
        return v == 42 ? OUTCOME_WORKS : OUTCOME_WRONG;
#endif
}

#if HAVE_DNNL
#define DIM 64

static float mat_a[DIM * DIM], mat_b[DIM * DIM], mat_c[DIM * DIM];

/* Small integers: every product and sum is exact in f32, so any difference is a bug. */
static bool product_is_right(void)
{
        for (int i = 0; i < DIM; i++)
                for (int j = 0; j < DIM; j++) {
                        float want = 0.0f;
                        for (int k = 0; k < DIM; k++)
                                want += mat_a[i * DIM + k] * mat_b[k * DIM + j];
                        if (mat_c[i * DIM + j] != want) {
                                printf("    c[%d][%d] = %g, expected %g\n", i, j, (double)mat_c[i * DIM + j],
                                                (double)want);
                                return false;
                        }
                }
        return true;
}

/*
 * Walks oneDNN's implementations in its order of preference (dnnl_primitive_desc_create() would
 * take the first) and runs the first one that can be created and executed, so that the output
 * shows both what oneDNN does on its own and whether any implementation survives MDWE.
 */
static int onednn_matmul(void)
{
        dnnl_engine_t engine = NULL;
        dnnl_stream_t stream = NULL;
        dnnl_primitive_desc_iterator_t it = NULL;
        dnnl_primitive_t prim = NULL;
        dnnl_memory_t m_a = NULL, m_b = NULL, m_c = NULL;
        dnnl_memory_desc_t d_a, d_b, d_c;
        dnnl_matmul_desc_t desc;
        const dnnl_dims_t dims = { DIM, DIM };
        dnnl_status_t s;
        int result = OUTCOME_FAILED;
        int n_tried = 0;

        for (int i = 0; i < DIM * DIM; i++) {
                mat_a[i] = (float)(i % 7) - 3.0f;
                mat_b[i] = (float)(i % 5) - 2.0f;
        }

#define TRY(call)                                                          \
        do {                                                               \
                s = (call);                                                \
                if (s != dnnl_success) {                                   \
                        printf("    %s: %s\n", #call, dnnl_status2str(s)); \
                        goto finish;                                       \
                }                                                          \
        } while (0)

        TRY(dnnl_engine_create(&engine, dnnl_cpu, 0));
        TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
        TRY(dnnl_memory_desc_init_by_tag(&d_a, 2, dims, dnnl_f32, dnnl_ab));
        TRY(dnnl_memory_desc_init_by_tag(&d_b, 2, dims, dnnl_f32, dnnl_ab));
        TRY(dnnl_memory_desc_init_by_tag(&d_c, 2, dims, dnnl_f32, dnnl_ab));
        TRY(dnnl_matmul_desc_init(&desc, &d_a, &d_b, NULL, &d_c));
        TRY(dnnl_memory_create(&m_a, &d_a, engine, mat_a));
        TRY(dnnl_memory_create(&m_b, &d_b, engine, mat_b));
        TRY(dnnl_memory_create(&m_c, &d_c, engine, mat_c));
        TRY(dnnl_primitive_desc_iterator_create(&it, &desc, NULL, engine, NULL));

        dnnl_exec_arg_t args[] = {
                { DNNL_ARG_SRC, m_a },
                { DNNL_ARG_WEIGHTS, m_b },
                { DNNL_ARG_DST, m_c },
        };
        bool ran = false;
        do {
                dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
                const char *impl = NULL;
                if (!pd)
                        break;
                dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
                printf("    %-22s", impl ? impl : "?");
                n_tried++;
                /* JIT kernels are generated in create() or, for some, on first execute(). */
                s = dnnl_primitive_create(&prim, pd);
                dnnl_primitive_desc_destroy(pd);
                if (s != dnnl_success) {
                        printf(" create: %s\n", dnnl_status2str(s));
                        continue;
                }
                s = dnnl_primitive_execute(prim, stream, 3, args);
                if (s == dnnl_success)
                        s = dnnl_stream_wait(stream);
                printf(" execute: %s\n", dnnl_status2str(s));
                ran = s == dnnl_success;
                if (!ran)
                        prim = (dnnl_primitive_destroy(prim), NULL);
        } while (!ran && dnnl_primitive_desc_iterator_next(it) == dnnl_success);
        if (!ran)
                goto finish;
#undef TRY

        if (!product_is_right())
                result = OUTCOME_WRONG;
        else
                result = n_tried == 1 ? OUTCOME_WORKS : OUTCOME_FALLBACK;

finish:
        dnnl_memory_destroy(m_c);
        dnnl_memory_destroy(m_b);
        dnnl_memory_destroy(m_a);
        dnnl_primitive_destroy(prim);
        dnnl_primitive_desc_iterator_destroy(it);
        dnnl_stream_destroy(stream);
        dnnl_engine_destroy(engine);
        fflush(stdout);
        return result;
}
#endif

/* Runs fn in a fresh child, because PR_SET_MDWE cannot be undone and oneDNN caches kernels. */
static int run_in_child(const char *what, bool mdwe, int (*fn)(void))
{
        static const char *const words[] = {
                [OUTCOME_WORKS] = "works",
                [OUTCOME_REFUSED] = "refused by the kernel",
                [OUTCOME_FAILED] = "fails: no implementation could run",
                [OUTCOME_WRONG] = "runs but computes WRONG results",
                [OUTCOME_NO_MDWE] = "cannot tell: prctl(PR_SET_MDWE) unsupported",
                [OUTCOME_NO_ARCH] = "cannot tell: no code bytes for this CPU",
                [OUTCOME_FALLBACK] = "works only on a later, non-preferred implementation",
        };
        int status, r;

        printf("%s %s:\n", what, mdwe ? "with PR_SET_MDWE" : "without MDWE");
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                perror("fork");
                exit(EXIT_FAILURE);
        }
        if (pid == 0) {
                r = mdwe ? set_mdwe() : 0;
                if (r == 0)
                        r = fn();
                fflush(stdout);
                _exit(r);
        }

        if (waitpid(pid, &status, 0) < 0) {
                perror("waitpid");
                exit(EXIT_FAILURE);
        }
        if (WIFSIGNALED(status)) {
                printf("  -> crashed (signal %d, %s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
                return -WTERMSIG(status);
        }
        r = WEXITSTATUS(status);
        printf("  -> %s\n", r < (int)(sizeof(words) / sizeof(words[0])) && words[r] ? words[r]
                                                                                    : "unexpected exit");
        return r;
}

int main(void)
{
        int plain = run_in_child("jit-pattern", false, jit_pattern);
        int mdwe = run_in_child("jit-pattern", true, jit_pattern);
        if (plain == OUTCOME_NO_ARCH || mdwe == OUTCOME_NO_MDWE)
                return 77;
        bool ok = plain == OUTCOME_WORKS && mdwe == OUTCOME_REFUSED;

#if HAVE_DNNL
        int dnnl_plain = run_in_child("onednn f32 matmul", false, onednn_matmul);
        int dnnl_mdwe = run_in_child("onednn f32 matmul", true, onednn_matmul);
        ok = ok && dnnl_plain == OUTCOME_WORKS &&
             (dnnl_mdwe == OUTCOME_WORKS || dnnl_mdwe == OUTCOME_FALLBACK || dnnl_mdwe == OUTCOME_FAILED);
#else
        printf("onednn: not built (libdnnl not found)\n");
#endif
        return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
