/* Loading the CUDA module (core/nn/cuda_module.c) on any machine, GPU or not:
 * the stand-in modules of tests/fixtures/fake_cuda_module.c (built beside
 * this program, in RESECG_FAKE_CUDA_DIR) make every way loading can fail
 * happen, and each must give one line naming the module path and the cause
 * (for a missing library: that library and where it was looked for); and
 * `resecg bench --device cuda` must then exit 1 with that line. Each test
 * runs in its own process (Check's fork mode), since a process loads the
 * module once. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "nn/backend.h"
#include "nn/device.h"
#include "nn/cuda_module.h"

static char g_fake[4096];

static const char *fake(const char *name)
{
    static char path[4096 + 64];
    snprintf(path, sizeof path, "%s/lib%s.so", g_fake, name);
    return path;
}

/* Loads with RESECG_CUDA_MODULE=module and returns the error (the module
 * must fail to load). */
static const char *load_fails(const char *module)
{
    static rerr e;
    setenv("RESECG_CUDA_MODULE", module, 1);
    const cuda_module_api *api = cuda_module_load(&e);
    ck_assert_msg(api == NULL, "%s loaded", module);
    printf("%s\n  -> %s\n", module, e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "device cuda: "));
    // the same answer again, without loading twice
    rerr e2 = {{0}};
    ck_assert_ptr_null(cuda_module_load(&e2));
    ck_assert_str_eq(e.msg, e2.msg);
    return e.msg;
}

START_TEST(test_no_such_module)
{
    const char *msg = load_fails("/nonexistent/libresecg_cuda.so");
    ck_assert_ptr_nonnull(strstr(msg, "RESECG_CUDA_MODULE=/nonexistent/libresecg_cuda.so"));
}
END_TEST

START_TEST(test_missing_library)
{
    const char *mod = fake("fake_cuda_needs_dep");
    const char *msg = load_fails(mod);
    ck_assert_ptr_nonnull(strstr(msg, mod));                   // the module
    ck_assert_ptr_nonnull(strstr(msg, "libfake_cuda_dep.so")); // the missing library
    ck_assert_ptr_nonnull(strstr(msg, "LD_LIBRARY_PATH"));     // where it was looked for
    ck_assert_ptr_nonnull(strstr(msg, "RUNPATH"));
}
END_TEST

START_TEST(test_other_abi)
{
    const char *msg = load_fails(fake("fake_cuda_abi"));
    ck_assert_ptr_nonnull(strstr(msg, "built for another resecg"));
    ck_assert_ptr_nonnull(strstr(msg, "ABI 999"));
}
END_TEST

START_TEST(test_no_entry)
{
    const char *msg = load_fails(fake("fake_cuda_no_entry"));
    ck_assert_ptr_nonnull(strstr(msg, "has no " RESECG_CUDA_MODULE_ENTRY));
}
END_TEST

START_TEST(test_loaded_module_is_called)
{
    // a module that loads: backend_create("cuda") goes through its table
    const char *mod = fake("fake_cuda_ok");
    setenv("RESECG_CUDA_MODULE", mod, 1);
    rerr e = {{0}};
    backend *be = backend_create("cuda", 0, PRECISION_FP32, &e);
    ck_assert_ptr_null(be);
    ck_assert_str_eq(e.msg, "fake module: no backend");
    ck_assert_str_eq(cuda_module_path(), mod);
}
END_TEST

START_TEST(test_default_places)
{
    // without RESECG_CUDA_MODULE: beside the program or one folder up (the
    // build tree's libresecg_cuda.so, where CUDA was found at configure)
    unsetenv("RESECG_CUDA_MODULE");
    rerr e = {{0}};
    const cuda_module_api *api = cuda_module_load(&e);
    if (api) {
        printf("loaded %s\n", cuda_module_path());
        const char *p = cuda_module_path();
        size_t n = strlen(p), k = strlen("/" RESECG_CUDA_MODULE_NAME);
        ck_assert(n > k && strcmp(p + n - k, "/" RESECG_CUDA_MODULE_NAME) == 0);
        ck_assert_int_eq(api->abi, RESECG_CUDA_MODULE_ABI);
    } else {
        printf("not loaded: %s\n", e.msg);
        ck_assert_msg(strstr(e.msg, "is not installed (looked for ") || strstr(e.msg, "cannot load "),
                      "%s", e.msg);
        ck_assert_ptr_nonnull(strstr(e.msg, RESECG_CUDA_MODULE_NAME));
    }
}
END_TEST

START_TEST(test_cli_exit_status)
{
    // the command line: one line on stderr naming the missing library, exit 1
    const char *bin = getenv("RESECG_BIN"), *src = getenv("RESECG_SOURCE_DIR");
    ck_assert_msg(bin && src, "RESECG_BIN and RESECG_SOURCE_DIR are set by CTest");
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "RESECG_CUDA_MODULE='%s' '%s' bench --config '%s/cfgs/small.yaml' --device cuda "
             "--batch 2 --length 256 --steps 1 2>&1 >/dev/null",
             fake("fake_cuda_needs_dep"), bin, src);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    printf("resecg bench --device cuda: exit %d: %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    ck_assert_ptr_nonnull(strstr(out, "libfake_cuda_dep.so"));
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "one line expected, got: %s", out);
}
END_TEST

int main(void)
{
    const char *dir = getenv("RESECG_FAKE_CUDA_DIR");
    if (!dir) {
        printf("FAIL: RESECG_FAKE_CUDA_DIR is not set (CTest sets it)\n");
        return 1;
    }
    snprintf(g_fake, sizeof g_fake, "%s", dir);
    Suite *s = suite_create("cuda_module");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_no_such_module);
    tcase_add_test(tc, test_missing_library);
    tcase_add_test(tc, test_other_abi);
    tcase_add_test(tc, test_no_entry);
    tcase_add_test(tc, test_loaded_module_is_called);
    tcase_add_test(tc, test_default_places);
    tcase_add_test(tc, test_cli_exit_status);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
