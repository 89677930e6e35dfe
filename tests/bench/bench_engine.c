/* Engine benchmark: forward images/s and input-gradient cost on the MNIST
 * CNN and on AlexNet, VGG-16 and ResNet-18 shapes (random weights), and each
 * VGG-16 conv layer's GFLOP/s beside a plain cblas_sgemm of the same GEMM
 * shape. Prints "key<TAB>value" lines; tests/bench/run.sh puts them beside
 * PyTorch's (bench_torch.py prints the same keys). */
#define _GNU_SOURCE
#include <cblas.h>
#include <immintrin.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cli.h"
#include "nn/engine.h"
#include "nn/model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(getenv("BENCH_CPU_CLOCK") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static rng R;
/* OpenBLAS threads at start: the engine keeps OpenBLAS to one thread and
 * splits GEMMs itself, the plain sgemm references use OpenBLAS's own. */
static int blas_threads;

static tensor *randt(int nd, int64_t a, int64_t b, int64_t c, int64_t d, double scale)
{
    int64_t dims[4] = { a, b, c, d };
    tensor *t = tensor_new(nd, dims);
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)((rng_uniform(&R) * 2 - 1) * scale);
    return t;
}

/* Shapes are tracked here so weights can be sized before model_prepare. */
static int64_t C, H, W;

static void conv(model *m, const char *name, const char *in, int64_t cout, int k, int s, int p)
{
    node *n = model_add(m, name, "Conv", in);
    double st[2] = { s, s }, pd[1] = { p };
    node_set(n, "stride", 2, st);
    node_set(n, "pad", 1, pd);
    node_add_weight(n, "weight", randt(4, cout, C, k, k, 1.0 / (double)(C * k * k)));
    node_add_weight(n, "bias", randt(1, cout, 0, 0, 0, 0.01));
    C = cout;
    H = (H + 2 * p - k) / s + 1;
    W = (W + 2 * p - k) / s + 1;
}

/* A depthwise convolution (groups = channels), k x k, stride s, pad p. */
static void dwconv(model *m, const char *name, const char *in, int k, int s, int p)
{
    node *n = model_add(m, name, "Conv", in);
    double st[2] = { s, s }, pd[1] = { p }, g[1] = { (double)C };
    node_set(n, "stride", 2, st);
    node_set(n, "pad", 1, pd);
    node_set(n, "groups", 1, g);
    node_add_weight(n, "weight", randt(4, C, 1, k, k, 1.0 / (double)(k * k)));
    node_add_weight(n, "bias", randt(1, C, 0, 0, 0, 0.01));
    H = (H + 2 * p - k) / s + 1;
    W = (W + 2 * p - k) / s + 1;
}

static void bn(model *m, const char *name)
{
    node *n = model_add(m, name, "BatchNorm", NULL);
    tensor *g = randt(1, C, 0, 0, 0, 0.1), *v = randt(1, C, 0, 0, 0, 0.1);
    for (int64_t i = 0; i < C; i++)
        g->data[i] += 1, v->data[i] += 1;
    node_add_weight(n, "gamma", g);
    node_add_weight(n, "beta", randt(1, C, 0, 0, 0, 0.1));
    node_add_weight(n, "mean", randt(1, C, 0, 0, 0, 0.1));
    node_add_weight(n, "var", v);
}

static void relu(model *m, const char *name, const char *in) { model_add(m, name, "ReLU", in); }

static void maxpool(model *m, const char *name, int k, int s, int p)
{
    node *n = model_add(m, name, "MaxPool", NULL);
    double kk[1] = { k }, ss[1] = { s }, pp[1] = { p };
    node_set(n, "kernel", 1, kk);
    node_set(n, "stride", 1, ss);
    node_set(n, "pad", 1, pp);
    H = (H + 2 * p - k) / s + 1;
    W = (W + 2 * p - k) / s + 1;
}

static void dense(model *m, const char *name, int64_t out)
{
    int64_t in = C * H * W;
    node *n = model_add(m, name, "Dense", NULL);
    node_add_weight(n, "weight", randt(2, out, in, 0, 0, 1.0 / (double)in));
    node_add_weight(n, "bias", randt(1, out, 0, 0, 0, 0.01));
    C = out, H = W = 1;
}

static model *start(int64_t c, int64_t h, int64_t w)
{
    C = c, H = h, W = w;
    return model_new(c, h, w);
}

static model *mnist_cnn(void)
{
    model *m = start(1, 28, 28);
    conv(m, "conv1", "input", 32, 3, 1, 0);
    relu(m, "relu1", NULL);
    conv(m, "conv2", NULL, 64, 3, 1, 0);
    relu(m, "relu2", NULL);
    maxpool(m, "pool", 2, 2, 0);
    model_add(m, "flatten", "Flatten", NULL);
    dense(m, "fc1", 128);
    relu(m, "relu3", NULL);
    dense(m, "fc2", 10);
    return m;
}

static model *alexnet(void)
{
    model *m = start(3, 224, 224);
    conv(m, "conv1", "input", 64, 11, 4, 2);
    relu(m, "r1", NULL);
    maxpool(m, "p1", 3, 2, 0);
    conv(m, "conv2", NULL, 192, 5, 1, 2);
    relu(m, "r2", NULL);
    maxpool(m, "p2", 3, 2, 0);
    conv(m, "conv3", NULL, 384, 3, 1, 1);
    relu(m, "r3", NULL);
    conv(m, "conv4", NULL, 256, 3, 1, 1);
    relu(m, "r4", NULL);
    conv(m, "conv5", NULL, 256, 3, 1, 1);
    relu(m, "r5", NULL);
    maxpool(m, "p5", 3, 2, 0);
    model_add(m, "flatten", "Flatten", NULL);
    dense(m, "fc6", 4096);
    relu(m, "r6", NULL);
    dense(m, "fc7", 4096);
    relu(m, "r7", NULL);
    dense(m, "fc8", 1000);
    return m;
}

static const int vgg_cfg[] = { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0,
                               512, 512, 512, 0 };

static model *vgg16(void)
{
    model *m = start(3, 224, 224);
    char nm[32];
    int ci = 0, pi = 0;
    for (size_t i = 0; i < sizeof vgg_cfg / sizeof *vgg_cfg; i++) {
        if (vgg_cfg[i]) {
            snprintf(nm, sizeof nm, "conv%d", ++ci);
            conv(m, nm, i ? NULL : "input", vgg_cfg[i], 3, 1, 1);
            snprintf(nm, sizeof nm, "relu%d", ci);
            relu(m, nm, NULL);
        } else {
            snprintf(nm, sizeof nm, "pool%d", ++pi);
            maxpool(m, nm, 2, 2, 0);
        }
    }
    model_add(m, "flatten", "Flatten", NULL);
    dense(m, "fc6", 4096);
    relu(m, "fc6_relu", NULL);
    dense(m, "fc7", 4096);
    relu(m, "fc7_relu", NULL);
    dense(m, "fc8", 1000);
    return m;
}

static model *resnet18(void)
{
    model *m = start(3, 224, 224);
    conv(m, "conv1", "input", 64, 7, 2, 3);
    bn(m, "bn1");
    relu(m, "relu", NULL);
    maxpool(m, "maxpool", 3, 2, 1);
    char prev[64] = "maxpool", a[64], b[64], s[64], o[64];
    const int widths[4] = { 64, 128, 256, 512 };
    for (int l = 0; l < 4; l++)
        for (int k = 0; k < 2; k++) {
            int stride = (l > 0 && k == 0) ? 2 : 1;
            int64_t c0 = C, h0 = H, w0 = W;
            snprintf(a, sizeof a, "layer%d.%d.conv1", l + 1, k);
            conv(m, a, prev, widths[l], 3, stride, 1);
            snprintf(a, sizeof a, "layer%d.%d.bn1", l + 1, k);
            bn(m, a);
            snprintf(a, sizeof a, "layer%d.%d.relu1", l + 1, k);
            relu(m, a, NULL);
            snprintf(b, sizeof b, "layer%d.%d.conv2", l + 1, k);
            conv(m, b, NULL, widths[l], 3, 1, 1);
            snprintf(b, sizeof b, "layer%d.%d.bn2", l + 1, k);
            bn(m, b);
            if (stride != 1 || c0 != widths[l]) {
                int64_t c1 = C, h1 = H, w1 = W;
                C = c0, H = h0, W = w0;
                snprintf(s, sizeof s, "layer%d.%d.downsample", l + 1, k);
                conv(m, s, prev, widths[l], 1, stride, 0);
                snprintf(s, sizeof s, "layer%d.%d.downsample.bn", l + 1, k);
                bn(m, s);
                C = c1, H = h1, W = w1;
            } else {
                snprintf(s, sizeof s, "%s", prev);
            }
            char ins[160];
            snprintf(ins, sizeof ins, "%s,%s", b, s);
            snprintf(o, sizeof o, "layer%d.%d.add", l + 1, k);
            model_add(m, o, "Add", ins);
            snprintf(prev, sizeof prev, "layer%d.%d.relu2", l + 1, k);
            relu(m, prev, NULL);
        }
    model_add(m, "avgpool", "GlobalAvgPool", NULL);
    H = W = 1;
    model_add(m, "flatten", "Flatten", NULL);
    dense(m, "fc", 1000);
    return m;
}

static void prepare(model *m)
{
    char err[256];
    if (model_prepare(m, err, sizeof err))
        die("benchmark model: %s", err);
}

/* Process CPU seconds (all threads): steadier than the wall clock on a
 * machine shared with other work. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
/* CPU milliseconds per image of the last fwd_rate. */
static double last_cpu_ms;
/* The quickest pass of fwd_rate's last call, seconds per image. */
static double last_best_s;

/* "profile" mode: fwd_rate and grad_time keep each node's least seconds
 * over their passes here (the least, not the mean: on these shared
 * machines a pass's time swings by 15%, and a change of a few percent in
 * one layer shows only in the least), prof_nodes of them, each pass's
 * in prof_pass. */
static double *prof_fwd, *prof_bwd, *prof_pass;
/* Each forward node's seconds summed over all the passes, and the count
 * of passes: the nodes' means summed beside the whole pass's mean show what
 * the passes spend between nodes and how far the mean is above the least. */
static double *prof_fmean;
static int prof_fpasses;
/* The gradient's engine's forward (fused as the gradient tools' engines
 * are, engine_fuse; every node's gradient kept), its least seconds per
 * node in prof_gfwd, each pass's in prof_gpass. */
static double *prof_gfwd, *prof_gpass;
/* The gradient's passes, means in ms: forward whole and its nodes summed,
 * backward whole and its nodes summed (what the engine spends between
 * nodes: zeroing gradient buffers, say). */
static double prof_gwall[4];
static int prof_nodes;

/* Fold the pass just timed (each node's seconds in cur, zeroed for the
 * next) into the least times in best (pass: its index, 0 the first). */
static void prof_fold(double *best, double *cur, int pass)
{
    for (int i = 0; best && i < prof_nodes; i++) {
        if (!pass || cur[i] < best[i])
            best[i] = cur[i];
        cur[i] = 0;
    }
}

/* A forward-only engine as cnn-forward's (buffers shared, ReLUs fused,
 * weights kept packed from the second forward on) for n images, *x n
 * random images in [0, 1), both forwards of its warm-up run: the engine
 * packs a node's weights into its cache on the node's second call
 * (engine.c, current()). */
static engine *fwd_engine(model *m, int n, tensor **x)
{
    engine *e = engine_new(m, n, 0, 1);
    engine_forward_only(e, NULL, 0);
    *x = randt(4, n, m->in_shape[0], m->in_shape[1], m->in_shape[2], 0.5);
    for (int64_t i = 0; i < tensor_numel(*x); i++)
        (*x)->data[i] += 0.5f;
    engine_forward(e, *x);
    engine_forward(e, *x);
    return e;
}

/* Forward images per second at batch n, repeated for about `secs`
 * (fwd_engine). */
static double fwd_rate(model *m, int n, double secs)
{
    tensor *x;
    engine *e = fwd_engine(m, n, &x);
    engine_set_profile(e, prof_fwd ? prof_pass : NULL, NULL);
    int reps = 0;
    double t0 = now(), c0 = cpu_now(), t, best = 1e30;
    do {
        double p0 = now();
        engine_forward(e, x);
        double dt = now() - p0;
        if (dt < best)
            best = dt;
        for (int i = 0; prof_fwd && i < prof_nodes; i++)
            prof_fmean[i] += prof_pass[i];
        prof_fold(prof_fwd, prof_pass, reps);
        reps++;
    } while ((t = now() - t0) < secs);
    last_cpu_ms = 1e3 * (cpu_now() - c0) / (reps * n);
    last_best_s = best / n;
    prof_fpasses = reps;
    tensor_free(x);
    engine_free(e);
    return reps * n / t;
}

/* Seconds for one forward + input gradient of the first logit of n images
 * under a ReLU rule: n = 1 is one saliency map (or one ascent step), n = 50
 * one SmoothGrad(50) map (the noise samples go through as one batch). The
 * engine fuses as cnn-saliency's and cnn-ascend's do (engine_fuse). */
static double grad_time(model *m, double secs, int n, relu_rule rule)
{
    engine *e = engine_new(m, n, 0, 1);
    if (!getenv("BENCH_NO_FUSE"))
        engine_fuse(e, NULL, 0);
    tensor *x = randt(4, n, m->in_shape[0], m->in_shape[1], m->in_shape[2], 0.5);
    const tensor *y;
    engine_forward(e, x);
    y = engine_output(e);
    tensor *g = tensor_new(y->ndim, y->dims);
    int64_t k = tensor_rowsize(y);
    for (int i = 0; i < n; i++)
        g->data[i * k] = 1;
    engine_backward(e, m->n - 1, g, rule, 0);
    engine_forward(e, x);   /* the second pass packs the weights (fwd_rate) */
    engine_backward(e, m->n - 1, g, rule, 0);
    engine_set_profile(e, prof_gfwd ? prof_gpass : NULL, prof_bwd ? prof_pass : NULL);
    int reps = 0;
    double t0 = now(), t;
    double tf_w = 0, tb_w = 0, tf_n = 0, tb_n = 0;
    do {
        double q0 = now();
        engine_forward(e, x);
        double q1 = now();
        engine_backward(e, m->n - 1, g, rule, 0);
        double q2 = now();
        tf_w += q1 - q0, tb_w += q2 - q1;
        for (int i = 0; prof_bwd && i < prof_nodes; i++)
            tf_n += prof_gpass[i], tb_n += prof_pass[i];
        prof_fold(prof_bwd, prof_pass, reps);
        prof_fold(prof_gfwd, prof_gpass, reps);
        reps++;
    } while ((t = now() - t0) < secs);
    if (prof_bwd) {
        prof_gwall[0] = 1e3 * tf_w / reps, prof_gwall[1] = 1e3 * tf_n / reps;
        prof_gwall[2] = 1e3 * tb_w / reps, prof_gwall[3] = 1e3 * tb_n / reps;
    }
    tensor_free(g);
    tensor_free(x);
    engine_free(e);
    return t / reps;
}

/* One VGG conv layer alone (batch 1) and a plain sgemm of its GEMM shape. */
static void conv_layer(int idx, int64_t cin, int64_t hw, int64_t cout, double secs)
{
    model *m = start(cin, hw, hw);
    conv(m, "conv", "input", cout, 3, 1, 1);
    prepare(m);
    double flops = 2.0 * (double)cout * (double)(hw * hw) * (double)(cin * 9);
    double rate = fwd_rate(m, 1, secs);
    model_free(m);
    int M = (int)cout, N = (int)(hw * hw), K = (int)(cin * 9);
    float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *Cm = falloc((size_t)M * N);
    openblas_set_num_threads(blas_threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, Cm, N);
    int reps = 0;
    double t0 = now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, Cm, N);
        reps++;
    } while ((t = now() - t0) < secs);
    free(A), free(B), free(Cm);
    printf("vgg16_conv%d_%lldx%lldx%lld_gflops\t%.1f\n", idx, (long long)cin, (long long)hw,
           (long long)cout, flops * rate / 1e9);
    printf("vgg16_conv%d_sgemm_M%d_N%d_K%d_gflops\t%.1f\n", idx, M, N, K,
           flops * reps / t / 1e9);
}

/* ---- The FMA peak. Each accumulator a = a * b + c is one chain of
 * dependent FMAs; the independent chains per thread must cover the FMA
 * latency (4-5 cycles) times the FMA units (2) and, with b and c, still fit
 * in the vector registers: 24 of AVX-512's 32, 12 of AVX2's 16 (with 16
 * the compiler spills two chains to memory and the loop runs at half the
 * peak: 52 against 80 GFLOP/s of a 1x1 convolution on one AMD EPYC core). ---- */
#define PEAK_ACC512 24
#define PEAK_ACC256 12
#define PEAK_ITERS 4096

__attribute__((target("avx512f"), noinline)) static float peak512(long reps)
{
    __m512 a[PEAK_ACC512], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int i = 0; i < PEAK_ACC512; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < reps; r++)
        for (int k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 24
            for (int i = 0; i < PEAK_ACC512; i++)
                a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < PEAK_ACC512; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float peak256(long reps)
{
    __m256 a[PEAK_ACC256], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int i = 0; i < PEAK_ACC256; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < reps; r++)
        for (int k = 0; k < PEAK_ITERS; k++)
#pragma GCC unroll 12
            for (int i = 0; i < PEAK_ACC256; i++)
                a[i] = _mm256_fmadd_ps(a[i], b, c);
    __m256 s = a[0];
    for (int i = 1; i < PEAK_ACC256; i++)
        s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[7];
}

/* GFLOP/s of `threads` threads each running the loop for about secs. */
static double peak_rate(int wide, int threads, double secs)
{
    long reps = 1;
    volatile float sink = 0;
    double t;
    for (;;) {   /* grow reps until one run takes a tenth of secs */
        double t0 = now();
        sink += wide ? peak512(reps) : peak256(reps);
        if ((t = now() - t0) > secs / 10)
            break;
        reps *= 2;
    }
    double t0 = now(), rounds = 0;
    do {
#pragma omp parallel num_threads(threads)
        {
            float v = wide ? peak512(reps) : peak256(reps);
#pragma omp atomic
            sink += v;
        }
        rounds++;
    } while ((t = now() - t0) < secs);
    double flops = rounds * threads * (double)reps * PEAK_ITERS * 2 *
                   (wide ? PEAK_ACC512 * 16 : PEAK_ACC256 * 8);
    return flops / t / 1e9;
}

static void peak(double secs)
{
    __builtin_cpu_init();
    for (int wide = 1; wide >= 0; wide--) {
        if (wide ? !__builtin_cpu_supports("avx512f")
                 : !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
            continue;
        for (int t = 1; t <= 2; t++)
            printf("fma_peak_%s_%dt_gflops\t%.1f\n", wide ? "avx512" : "avx2", t,
                   peak_rate(wide, t, secs / 2));
    }
}

/* Each core of the process's affinity mask alone (the first `most`), the
 * calling thread pinned to it, one thread: the FMA peak, and the forward
 * of resnet's 56x56 3x3 64 -> 64 layer (Winograd, a working set of L2
 * and L3), least ms of a pass. On these virtual machines one core at
 * times runs that layer 15-50% slower than the other at the same FMA
 * peak (another guest on the cache the core shares; README): every
 * figure of a 2-thread run made then waits for the slower core.
 * zoo.sh prints the cores' spread beside its tables. */
static void cores(double secs, int most)
{
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all)) {
        perror("bench_engine: sched_getaffinity");
        exit(1);
    }
    /* the build's own vectors: an AVX2 build's layer beside the AVX2 peak */
#if defined(__AVX512F__)
    int wide = 1;
#else
    int wide = 0;
#endif
    model *m = start(64, 56, 56);
    conv(m, "conv", "input", 64, 3, 1, 1);
    prepare(m);
    int omp = omp_get_max_threads();
    omp_set_num_threads(1);
    for (int c = 0, k = 0; c < CPU_SETSIZE && k < most; c++) {
        if (!CPU_ISSET(c, &all))
            continue;
        k++;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (sched_setaffinity(0, sizeof one, &one)) {
            perror("bench_engine: sched_setaffinity");
            exit(1);
        }
        printf("core%d_fma_peak_gflops\t%.1f\n", c, peak_rate(wide, 1, secs / 2));
        fwd_rate(m, 1, secs);
        printf("core%d_wino_56x56_ms\t%.3f\n", c, 1e3 * last_best_s);
    }
    sched_setaffinity(0, sizeof all, &all);
    omp_set_num_threads(omp);
    model_free(m);
}

/* One Conv node of a prepared model alone, batch 1, its input's shape. */
static void model_layer(const model *src, const node *nd, const char *name, double secs)
{
    const int64_t *in = nd->in[0] < 0 ? src->in_shape : src->nodes[nd->in[0]].shape;
    model *m = model_new(in[0], in[1], in[2]);
    node *n = model_add(m, "conv", "Conv", "input");
    for (int a = 0; a < nd->nattr; a++)
        node_set(n, nd->attrs[a].name, nd->attrs[a].n, nd->attrs[a].v);
    for (int w = 0; w < nd->nw; w++)
        node_add_weight(n, nd->wnames[w], tensor_clone(nd->w[w]));
    prepare(m);
    const tensor *W = node_weight(n, "weight");
    int64_t g = (int64_t)node_get(n, "groups", 0, 1);
    double flops = 2.0 * (double)(nd->shape[0] * nd->shape[1] * nd->shape[2]) *
                   (double)(W->dims[1] * W->dims[2] * W->dims[3]);
    double rate = fwd_rate(m, 1, secs);
    /* The key: net, node, kernel/stride/groups, in -> out shape. */
    char key[256];
    snprintf(key, sizeof key, "%s_%s_k%lldx%lld_s%lld%s_%lldx%lldx%lld_%lld", name, nd->name,
             (long long)W->dims[2], (long long)W->dims[3],
             (long long)node_get(n, "stride", 0, 1), g > 1 ? (g == in[0] ? "_dw" : "_g") : "",
             (long long)in[0], (long long)in[1], (long long)in[2], (long long)nd->shape[0]);
    for (char *c = key; *c; c++)
        if (*c == '\t' || *c == ' ')
            *c = '_';
    /* Then its MFLOPs (zoo.sh weighs the layers by them) and its rate in
     * the quickest pass (on these shared machines a layer of tens of
     * microseconds loses a fifth of its mean rate to passes that other
     * work interrupts; the peak it is compared with is a best case too). */
    printf("%s_gflops\t%.2f\t%.3f\t%.2f\n", key, flops * rate / 1e9, flops / 1e6,
           flops / last_best_s / 1e9);
    model_free(m);
}

/* Each node's share of a forward of n images (forward-only engine) and of
 * an input gradient's backward (batch 1), in place, wall ms per image, the
 * least over the passes: the nodes costing most first, then each op's
 * total. */
static int by_cost(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x < y) - (x > y);
}

static void profile(model *m, const char *name, int n, double secs)
{
    int N = m->n;
    prof_nodes = N;
    prof_pass = xcalloc((size_t)N, sizeof *prof_pass);
    prof_fwd = xcalloc((size_t)N, sizeof *prof_fwd);
    prof_fmean = xcalloc((size_t)N, sizeof *prof_fmean);
    prof_bwd = xcalloc((size_t)N, sizeof *prof_bwd);
    prof_gfwd = xcalloc((size_t)N, sizeof *prof_gfwd);
    prof_gpass = xcalloc((size_t)N, sizeof *prof_gpass);
    double rate = fwd_rate(m, n, secs);
    grad_time(m, secs, 1, RULE_STANDARD);
    double (*row)[3] = xcalloc((size_t)N, sizeof *row), tf = 0, tb = 0, tg = 0, tm = 0;
    for (int i = 0; i < N; i++) {
        tg += 1e3 * prof_gfwd[i];
        tm += 1e3 * prof_fmean[i] / (prof_fpasses * n);
        row[i][1] = 1e3 * prof_fwd[i] / n;
        row[i][2] = 1e3 * prof_bwd[i];
        row[i][0] = row[i][1] + row[i][2];
        tf += row[i][1], tb += row[i][2];
    }
    /* Sort indices by cost: stash the index in a parallel array. */
    double (*idx)[4] = xcalloc((size_t)N, sizeof *idx);
    for (int i = 0; i < N; i++)
        idx[i][0] = row[i][0], idx[i][1] = row[i][1], idx[i][2] = row[i][2], idx[i][3] = i;
    qsort(idx, (size_t)N, sizeof *idx, by_cost);
    printf("# %s: forward %.2f ms/img (batch %d), backward %.2f ms (batch 1; its engine's forward"
           " %.2f ms); each node's least over the passes\n", name, tf, n, tb, tg);
    printf("# forward passes: %.2f ms/img whole pass (mean), %.2f the nodes' means summed,"
           " %.2f their leasts summed\n", 1e3 / rate, tm, tf);
    printf("# gradient passes (means): forward %.2f ms whole, %.2f its nodes; backward %.2f ms"
           " whole, %.2f its nodes\n", prof_gwall[0], prof_gwall[1], prof_gwall[2], prof_gwall[3]);
    printf("# fwd_ms\tfwd_%%\tbwd_ms\tbwd_%%\top\tnode\tshape\tfwd_mean_ms\tgrad_fwd_ms\n");
    /* The 40 costliest, or BENCH_PROFILE_NODES of them. */
    const char *pn = getenv("BENCH_PROFILE_NODES");
    int shown = pn && atoi(pn) > 0 ? atoi(pn) : 40;
    for (int k = 0; k < N && k < shown; k++) {
        const node *nd = &m->nodes[(int)idx[k][3]];
        char sh[64];
        printf("%.3f\t%.1f\t%.3f\t%.1f\t%s\t%s\t%s\t%.3f\t%.3f\n", idx[k][1], 100 * idx[k][1] / tf,
               idx[k][2], 100 * idx[k][2] / tb, nd->op, nd->name,
               tensor_shape_str(3, nd->shape, sh, sizeof sh),
               1e3 * prof_fmean[(int)idx[k][3]] / (prof_fpasses * n),
               1e3 * prof_gfwd[(int)idx[k][3]]);
    }
    printf("# per op: fwd_ms\tbwd_ms\top\n");
    for (int i = 0; i < N; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(m->nodes[j].op, m->nodes[i].op) != 0;
        if (!first)
            continue;
        double f = 0, b = 0;
        for (int j = i; j < N; j++)
            if (!strcmp(m->nodes[j].op, m->nodes[i].op))
                f += row[j][1], b += row[j][2];
        printf("%.3f\t%.3f\t%s\n", f, b, m->nodes[i].op);
    }
    free(idx);
    free(row);
    free(prof_fwd);
    free(prof_fmean);
    free(prof_bwd);
    free(prof_pass);
    free(prof_gfwd);
    free(prof_gpass);
    prof_fwd = prof_fmean = prof_bwd = prof_pass = prof_gfwd = prof_gpass = NULL;
}

/* what: "layers" (each conv layer alone), "grad" (one input gradient
 * and one guided backprop map, batch 1, forward included) or "profile"
 * (each node in place, at the first batch size). */
static void model_mode(double secs, const char *file, const char *name, const char *batches,
                       const char *what)
{
    model *m = model_load(file);
    int layers = !strcmp(what, "layers");
    if (!strcmp(what, "profile")) {
        profile(m, name, atoi(batches) > 0 ? atoi(batches) : 1, secs);
        model_free(m);
        return;
    }
    for (const char *b = batches; *b;) {
        int n = atoi(b);
        if (n > 0) {
            printf("%s_b%d_img_per_s\t%.2f\n", name, n, fwd_rate(m, n, secs));
            printf("%s_b%d_cpu_ms\t%.1f\n", name, n, last_cpu_ms);
        }
        b += strcspn(b, ",");
        b += *b == ',';
    }
    if (!strcmp(what, "grad")) {
        printf("%s_input_grad_ms\t%.2f\n", name, 1e3 * grad_time(m, secs, 1, RULE_STANDARD));
        printf("%s_guided_ms\t%.2f\n", name, 1e3 * grad_time(m, secs, 1, RULE_GUIDED));
    }
    for (int i = 0; layers && i < m->n; i++)
        if (!strcmp(m->nodes[i].op, "Conv"))
            model_layer(m, &m->nodes[i], name, secs / 4);
    model_free(m);
}

/* "lockstep": our forward passes and ONNX Runtime's (zoo_ort.js in its
 * lockstep mode) taken in turns through two named pipes, so that both are
 * timed in the same moments of the machine. Its speed moves by 5-30%
 * within seconds (the cores probe above); figures a few seconds apart,
 * even alternated round by round, carry that into their ratio. Turns are
 * blocks: one pass untimed (the other side's block has just evicted the
 * caches; taken one for one, passes ran cold: our mobilenet_v2 input
 * gradient 9.0 -> 15.4 ms), then timed passes for LOCKSTEP_BLOCK seconds
 * (at least one); we write a byte to GO after our block, the peer runs
 * its block and writes a byte to DONE. Each side prints the median of its
 * own timed passes (BENCH_LOCKSTEP_SPREAD: ours also gives its quartiles
 * on stderr). Open order: GO for writing, then DONE for reading (the
 * peer: GO for reading, then DONE for writing), so that neither open
 * waits forever. The peer's first byte says its warm-up is over; closing
 * GO tells it to stop, and its closing DONE that it has. */
#define LOCKSTEP_BLOCK 0.2
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int ls_open(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) {
        fprintf(stderr, "bench_engine: lockstep: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

/* fd must be a named pipe: a plain file given for one would get our bytes
 * written into it. */
static void ls_fifo(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) || !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "bench_engine: lockstep: %s: not a named pipe (mkfifo)\n", path);
        exit(1);
    }
}

/* One byte from the peer: 0 when it closed its end. */
static int ls_wait(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        fprintf(stderr, "bench_engine: lockstep: read: %s\n", strerror(errno));
        exit(1);
    }
    return r == 1;
}

/* fwd_engine's forward, n images a pass. Prints
 * NAME_bN_lockstep_ms, the median timed pass's milliseconds per image,
 * and NAME_bN_lockstep_passes. (Forward only: PyTorch, the backward's
 * peer, ran its passes up to twice as slow for a while after each pause
 * of 0.2 s, on mobilenet_v2's input gradient, where ONNX Runtime's
 * forward took the same time in turns as in a loop of its own; so the
 * backward is compared in rounds.) */
static void lockstep(model *m, const char *name, int n, double secs, const char *go_path,
                     const char *done_path)
{
    signal(SIGPIPE, SIG_IGN);
    /* GO without waiting, retried for up to 2 minutes: a peer that failed
     * before it opened the pipe (an ONNX file its runtime refuses) would
     * leave a blocking open waiting forever. */
    int go = -1;
    for (int tries = 0; go < 0; tries++) {
        go = open(go_path, O_WRONLY | O_NONBLOCK);
        if (go < 0 && (errno != ENXIO || tries == 12000)) {
            fprintf(stderr, "bench_engine: lockstep: %s: %s\n", go_path,
                    errno == ENXIO ? "no peer opened it in 2 minutes" : strerror(errno));
            exit(1);
        }
        if (go < 0)
            usleep(10000);
    }
    fcntl(go, F_SETFL, fcntl(go, F_GETFL) & ~O_NONBLOCK);
    ls_fifo(go, go_path);
    int done = ls_open(done_path, O_RDONLY);
    ls_fifo(done, done_path);
    tensor *x;
    engine *e = fwd_engine(m, n, &x);
    if (!ls_wait(done)) {
        fprintf(stderr, "bench_engine: lockstep: the peer closed its pipe before its first pass\n");
        exit(1);
    }
    size_t cap = 1024, k = 0;
    double *t = xmalloc(cap * sizeof *t), t0 = now();
    do {
        /* A block: one pass untimed, then timed ones for LOCKSTEP_BLOCK s. */
        double b0 = 0;
        for (int first = 1;; first = 0) {
            double p0 = now();
            engine_forward(e, x);
            if (first) {
                b0 = now();
                continue;
            }
            if (k == cap)
                t = xrealloc(t, (cap *= 2) * sizeof *t);
            t[k++] = (now() - p0) / n;
            if (now() - b0 >= LOCKSTEP_BLOCK)
                break;
        }
        if (write(go, "g", 1) != 1) {
            fprintf(stderr, "bench_engine: lockstep: write: %s\n", strerror(errno));
            exit(1);
        }
        if (!ls_wait(done)) {
            fprintf(stderr, "bench_engine: lockstep: the peer stopped after %zu of our passes\n", k);
            exit(1);
        }
    } while (now() - t0 < secs || k < 5);
    close(go);
    while (ls_wait(done))   /* the peer prints its figures and closes */
        ;
    close(done);
    qsort(t, k, sizeof *t, cmp_dbl);
    double med = k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
    printf("%s_b%d_lockstep_ms\t%.3f\n%s_b%d_lockstep_passes\t%zu\n", name, n, 1e3 * med, name, n,
           k);
    if (getenv("BENCH_LOCKSTEP_SPREAD"))
        fprintf(stderr, "lockstep: %zu passes, ms/img least %.3f p25 %.3f median %.3f p75 %.3f most %.3f\n",
                k, 1e3 * t[0], 1e3 * t[k / 4], 1e3 * med, 1e3 * t[3 * k / 4], 1e3 * t[k - 1]);
    free(t);
    tensor_free(x);
    engine_free(e);
}

/* A mode's model alone: prepared, profiled at batch n, freed. */
static int profile_alone(model *m, const char *name, int n, double secs)
{
    prepare(m);
    profile(m, name, n, secs);
    model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    cli_init(argc, argv);
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (argc > 2 && !strcmp(argv[2], "peak")) {
        peak(secs);
        return 0;
    }
    if (argc > 2 && !strcmp(argv[2], "cores")) {
        int most = argc > 3 ? atoi(argv[3]) : CPU_SETSIZE;
        if (most < 1) {
            fprintf(stderr, "usage: bench_engine SECS cores [N]: N, the cores to time, must be 1 or more\n");
            return 2;
        }
        cores(secs, most);
        return 0;
    }
    /* One convolution alone, its forward and its input gradient's
     * backward (profile's table): conv CIN HW COUT K STRIDE [REPS [BATCH]]; REPS
     * convolutions in a chain, each with weights of their own (odd ones
     * back from COUT to CIN channels at stride 1), show it with its
     * weights out of cache as in a whole net. */
    if (argc > 7 && !strcmp(argv[2], "conv")) {
        rng_seed(&R, 1);
        int k = atoi(argv[6]);
        int reps = argc > 8 ? atoi(argv[8]) : 1;
        model *m = start(atoll(argv[3]), atoll(argv[4]), atoll(argv[4]));
        int64_t cin = atoll(argv[3]), cout = atoll(argv[5]);
        for (int r = 0; r < reps; r++) {
            char nm[32], prev[32];
            snprintf(nm, sizeof nm, r ? "conv_%d" : "conv", r);
            snprintf(prev, sizeof prev, r > 1 ? "conv_%d" : r ? "conv" : "input", r - 1);
            conv(m, nm, prev, r % 2 ? cin : cout, k, r % 2 ? 1 : atoi(argv[7]), k / 2);
        }
        return profile_alone(m, "conv", argc > 9 ? atoi(argv[9]) : 1, secs);
    }
    /* resnet50's bottleneck blocks alone: bottleneck CIN HW MID BLOCKS
     * [BATCH]: 1x1 CIN -> MID, ReLU, 3x3 MID -> MID, ReLU, 1x1 MID ->
     * CIN, + the block's input, ReLU; each node's time (profile's table). */
    if (argc > 6 && !strcmp(argv[2], "bottleneck")) {
        rng_seed(&R, 1);
        int64_t cin = atoll(argv[3]), mid = atoll(argv[5]);
        int blocks = atoi(argv[6]);
        model *m = start(cin, atoll(argv[4]), atoll(argv[4]));
        char prev[64] = "input", a[64], ins[160];
        for (int k = 0; k < blocks; k++) {
            snprintf(a, sizeof a, "b%d.conv1", k);
            conv(m, a, prev, mid, 1, 1, 0);
            snprintf(a, sizeof a, "b%d.relu1", k);
            relu(m, a, NULL);
            snprintf(a, sizeof a, "b%d.conv2", k);
            conv(m, a, NULL, mid, 3, 1, 1);
            snprintf(a, sizeof a, "b%d.relu2", k);
            relu(m, a, NULL);
            snprintf(a, sizeof a, "b%d.conv3", k);
            conv(m, a, NULL, cin, 1, 1, 0);
            snprintf(ins, sizeof ins, "%s,%s", a, prev);
            snprintf(a, sizeof a, "b%d.add", k);
            model_add(m, a, "Add", ins);
            snprintf(prev, sizeof prev, "b%d.relu3", k);
            relu(m, prev, NULL);
        }
        return profile_alone(m, "bottleneck", argc > 7 ? atoi(argv[7]) : 1, secs);
    }
    /* One depthwise convolution alone: depthwise C HW K STRIDE [BATCH]
     * (pad K / 2; profile's table). */
    if (argc > 6 && !strcmp(argv[2], "depthwise")) {
        rng_seed(&R, 1);
        model *m = start(atoll(argv[3]), atoll(argv[4]), atoll(argv[4]));
        int k = atoi(argv[5]);
        dwconv(m, "depthwise", "input", k, atoi(argv[6]), k / 2);
        return profile_alone(m, "depthwise", argc > 7 ? atoi(argv[7]) : 1, secs);
    }
    /* One max-pool alone: maxpool C HW K STRIDE PAD [BATCH] (profile's
     * table; resnet's stem pool: 64 112 3 2 1). */
    if (argc > 7 && !strcmp(argv[2], "maxpool")) {
        model *m = start(atoll(argv[3]), atoll(argv[4]), atoll(argv[4]));
        maxpool(m, "maxpool", atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
        return profile_alone(m, "maxpool", argc > 8 ? atoi(argv[8]) : 1, secs);
    }
    /* resnet's stem alone: 7x7 stride-2 conv 3 -> 64, ReLU, 3x3 stride-2
     * max-pool, at 224x224: stem [BATCH] (profile's table). */
    if (argc > 2 && !strcmp(argv[2], "stem")) {
        rng_seed(&R, 1);
        model *m = start(3, 224, 224);
        conv(m, "conv1", "input", 64, 7, 2, 3);
        relu(m, "relu", NULL);
        maxpool(m, "maxpool", 3, 2, 1);
        return profile_alone(m, "stem", argc > 3 ? atoi(argv[3]) : 1, secs);
    }
    /* lockstep GO DONE FILE.h5 NAME BATCH (above). */
    if (argc > 7 && !strcmp(argv[2], "lockstep")) {
        int n = atoi(argv[7]);
        if (n < 1) {
            fprintf(stderr, "usage: bench_engine SECS lockstep GO DONE FILE.h5 NAME BATCH: BATCH must be 1 or more\n");
            return 2;
        }
        rng_seed(&R, 1);
        model *m = model_load(argv[5]);
        lockstep(m, argv[6], n, secs, argv[3], argv[4]);
        model_free(m);
        return 0;
    }
    if (argc > 5 && !strcmp(argv[2], "model")) {
        rng_seed(&R, 1);
        model_mode(secs, argv[3], argv[4], argv[5], argc > 6 ? argv[6] : "");
        return 0;
    }
    /* A mode word with too few arguments: say what it takes. */
    static const char *const modes[][2] = {
        { "conv", "conv CIN HW COUT K STRIDE [REPS [BATCH]]" },
        { "bottleneck", "bottleneck CIN HW MID BLOCKS [BATCH]" },
        { "depthwise", "depthwise C HW K STRIDE [BATCH]" },
        { "maxpool", "maxpool C HW K STRIDE PAD [BATCH]" },
        { "model", "model FILE.h5 NAME BATCHES [layers|grad|profile]" },
        { "lockstep", "lockstep GO DONE FILE.h5 NAME BATCH" },
    };
    for (size_t i = 0; argc > 2 && i < sizeof modes / sizeof *modes; i++)
        if (!strcmp(argv[2], modes[i][0])) {
            fprintf(stderr, "usage: bench_engine SECS %s\n", modes[i][1]);
            return 2;
        }
    /* Optional second argument: run only the groups named in it
     * ("mnist,alexnet,resnet,vgg,layers"), for profiling one of them. */
    const char *only = argc > 2 ? argv[2] : NULL;
#define WANT(g) (!only || strstr(only, g))
    rng_seed(&R, 1);
    blas_threads = openblas_get_num_threads();
    model *m;
    if (WANT("mnist")) {
    m = mnist_cnn();
    prepare(m);
    printf("mnist_cnn_b1_img_per_s\t%.0f\n", fwd_rate(m, 1, secs));
    printf("mnist_cnn_b64_img_per_s\t%.0f\n", fwd_rate(m, 64, secs));
    /* One input gradient = one saliency map = one ascent step (forward +
     * backward to the pixels, batch 1). */
    double gm = grad_time(m, secs, 1, RULE_STANDARD);
    printf("mnist_cnn_input_grad_ms\t%.3f\n", 1e3 * gm);
    printf("mnist_cnn_ascent_steps_per_s\t%.1f\n", 1 / gm);
    printf("mnist_cnn_guided_ms\t%.3f\n", 1e3 * grad_time(m, secs, 1, RULE_GUIDED));
    printf("mnist_cnn_smoothgrad50_ms\t%.2f\n", 1e3 * grad_time(m, secs, 50, RULE_STANDARD));
    model_free(m);
    }
    if (WANT("alexnet")) {
    m = alexnet();
    prepare(m);
    printf("alexnet_b8_img_per_s\t%.2f\n", fwd_rate(m, 8, secs));
    model_free(m);
    }
    if (WANT("resnet")) {
    m = resnet18();
    prepare(m);
    printf("resnet18_b8_img_per_s\t%.2f\n", fwd_rate(m, 8, secs));
    model_free(m);
    }
    if (WANT("vgg")) {
    m = vgg16();
    prepare(m);
    printf("vgg16_b4_img_per_s\t%.2f\n", fwd_rate(m, 4, secs));
    double gv = grad_time(m, secs, 1, RULE_STANDARD);
    printf("vgg16_input_grad_ms\t%.1f\n", 1e3 * gv);
    printf("vgg16_ascent_steps_per_s\t%.2f\n", 1 / gv);
    printf("vgg16_guided_ms\t%.1f\n", 1e3 * grad_time(m, secs, 1, RULE_GUIDED));
    /* SmoothGrad(50) of one photo as cnn-saliency runs it on VGG-16: noise
     * samples packed into passes (within its 2 GiB: about 17 rows), here 5
     * passes of 10. */
    printf("vgg16_smoothgrad50_s\t%.2f\n", 5 * grad_time(m, secs, 10, RULE_STANDARD));
    model_free(m);
    }
    if (!WANT("layers"))
        return 0;
    int64_t cin = 3, hw = 224;
    int idx = 0;
    for (size_t i = 0; i < sizeof vgg_cfg / sizeof *vgg_cfg; i++) {
        if (!vgg_cfg[i]) {
            hw /= 2;
            continue;
        }
        conv_layer(++idx, cin, hw, vgg_cfg[i], secs / 2);
        cin = vgg_cfg[i];
    }
    return 0;
}
