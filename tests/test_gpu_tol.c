/* Calibration of test_cuda's training-curve and end-to-end tolerances
 * (tests/gpu_checks.h) on the CPU pair, on every machine: the same checks
 * with "cpu" against "cpu-ref". In fp32 the pair must stay within a
 * third of the curve bound and a quarter of the end-to-end ones (two correct
 * fp32 implementations that sum in other orders: what a bound has to
 * allow, with headroom for cuDNN's FFT and Winograd algorithms); in bf16
 * (8 significant bits, coarser than TF32's 11) within the curve bound. Each prints its worst
 * difference, which is where the figures in gpu_checks.h come from. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/device.h"
#include "gpu_checks.h"
#include "run/train.h"
#include "base/util.h"

static backend *make(const char *name, precision_kind prec)
{
    rerr e = {{0}};
    backend *be = backend_create(name, 2, prec, &e);
    ck_assert_msg(be != NULL, "backend_create(%s): %s", name, e.msg);
    return be;
}

/* Steps of the curve run here: all of them, but a third under the
 * sanitizers (RESECG_SANITIZED), where cpu-ref is 10x slower and the run is
 * there for memory errors, not figures. */
static int curve_steps(void)
{
    const char *san = getenv("RESECG_SANITIZED");
    return san && *san == '1' ? CURVE_STEPS / 3 : CURVE_STEPS;
}

static void curve(const char *name, precision_kind prec, float *losses)
{
    resecg_config cfg;
    gpu_checks_curve_config(&cfg);
    backend *be = make(name, prec);
    rerr e = {{0}};
    ck_assert_msg(gpu_checks_curve(be, &cfg, CURVE_B, CURVE_L, curve_steps(), losses, NULL, NULL,
                                   &e) == 0,
                  "%s", e.msg);
    backend_destroy(be);
}

START_TEST(test_curve_pair)
{
    float ref[CURVE_STEPS], f32[CURVE_STEPS], b16[CURVE_STEPS];
    curve("cpu-ref", PRECISION_FP32, ref);
    curve("cpu", PRECISION_FP32, f32);
    rerr e = {{0}};
    int have_bf16 = backend_check("cpu", PRECISION_BF16, &e) == 0;
    if (have_bf16)
        curve("cpu", PRECISION_BF16, b16);
    const int steps = curve_steps();
    printf("step   cpu-ref    cpu fp32   cpu bf16%s\n",
           steps < CURVE_STEPS ? "   (sanitizer build: the first third)" : "");
    for (int s = 0; s < steps; s++)
        printf("%4d  %9.5f  %9.5f  %9.5f\n", s, (double)ref[s], (double)f32[s],
               have_bf16 ? (double)b16[s] : NAN);
    double wa, wr;
    int ok = gpu_checks_curve_within("fp32 curve", f32, ref, steps, CURVE_ATOL / 3,
                                     CURVE_RTOL / 3, &wa, &wr);
    printf("fp32 pair: worst %.2e absolute, %.2e relative; inside a third of the GPU bound "
           "(%.2f + %.2f x): %s\n",
           wa, wr, CURVE_ATOL, CURVE_RTOL, ok ? "yes" : "NO");
    ck_assert(ok);
    // the pair must also be a pair that learns: else agreeing proves little
    double first = ref[0], last = 0;
    for (int s = steps - 5; s < steps; s++)
        last += ref[s] / 5;
    printf("cpu-ref loss %.4f -> %.4f (mean of the last 5 steps)\n", first, last);
    ck_assert(last < 0.6 * first);
    if (!have_bf16) {
        printf("bf16 pair: SKIPPED, not on this CPU (%s)\n", e.msg);
        return;
    }
    ok = gpu_checks_curve_within("bf16 curve", b16, ref, steps, CURVE_ATOL, CURVE_RTOL, &wa,
                                 &wr);
    printf("bf16 pair: worst %.2e absolute, %.2e relative; inside the GPU bound (for tf32) "
           "(%.2f + %.2f x): %s\n",
           wa, wr, CURVE_ATOL, CURVE_RTOL, ok ? "yes" : "NO");
    ck_assert(ok);
}
END_TEST

static char g_dir[512];

START_TEST(test_e2e_pair)
{
    resecg_config c;
    gpu_checks_e2e_config(&c);
    static const char *devices[] = {"cpu-ref", "cpu"};
    train_result res[2];
    char dirs[2][600];
    for (int i = 0; i < 2; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s", g_dir, devices[i]);
        train_opts o = {.out_dir = dirs[i], .device = devices[i], .quiet = 1};
        rerr e = {{0}};
        ck_assert_msg(train_run(&c, &o, &res[i], &e) == 0, "train_run %s: %s", devices[i], e.msg);
        printf("%-8s first train loss %.6f, last %.6f, best dev loss %.6f (epoch %d)\n",
               devices[i], res[i].first_train_loss, res[i].last_train_loss, res[i].best_dev_loss,
               res[i].best_epoch);
    }
    double dfirst = fabs(res[1].first_train_loss - res[0].first_train_loss) /
                    res[0].first_train_loss;
    double dlast = fabs(res[1].last_train_loss - res[0].last_train_loss);
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", dirs[1]);
    metrics m0, m1;
    rerr e = {{0}};
    ck_assert_msg(evaluate_checkpoint(&c, ckpt, "cpu-ref", NULL, &m0, &e) == 0, "%s", e.msg);
    ck_assert_msg(evaluate_checkpoint(&c, ckpt, "cpu", NULL, &m1, &e) == 0, "%s", e.msg);
    long moved = gpu_checks_moved(&m0, &m1);
    printf("fp32 pair: first train loss %.2e relative (GPU bound %.0e), last %.2e absolute "
           "(GPU bound %.2f + %.2f x), %ld of %ld dev records classified differently "
           "(GPU bound %d)\n",
           dfirst, E2E_FIRST_RTOL, dlast, E2E_LAST_ATOL, E2E_LAST_RTOL, moved, m0.total,
           E2E_MAX_MOVED);
    ck_assert(dfirst <= E2E_FIRST_RTOL / 4);
    ck_assert(dlast <= (E2E_LAST_ATOL + E2E_LAST_RTOL * res[0].last_train_loss) / 4);
    ck_assert_int_eq(moved, 0);
    ck_assert_int_eq(m0.total, m1.total);
}
END_TEST

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "gputol"); }
static void dir_teardown(void) { testutil_rmtree(g_dir); }

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); // a failing check exits the child: keep its lines
    Suite *s = suite_create("gpu_tol");
    TCase *tc = tcase_create("cpu_pair");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_curve_pair);
    tcase_add_test(tc, test_e2e_pair);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
