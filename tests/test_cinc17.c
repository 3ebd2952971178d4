/* Checks for core/data/cinc17.c, the PhysioNet/CinC 2017 reader. Fixtures are
 * written byte by byte from the MATLAB v4 and WFDB format descriptions (no
 * real record is copied): every kind of bad file must be refused with a
 * message naming the file (and line, for CSV), and with skip_bad the rest
 * must still load. When ../shared holds the working copy of the training set,
 * it is unpacked once into a cache and loaded whole; counts are checked
 * against the label file read independently. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/cinc17.h"
#include "data/data.h"
#include "nn/rng.h"
#include "testutil.h"
#include "base/util.h"

static uint64_t g_seed;
static char g_dir[512]; /* made by the unchecked fixture, in the parent process */

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "cinc17"); }

static void dir_teardown(void) { testutil_rmtree(g_dir); }

/* ------------------------------------------------------ file builders */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32be(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[3 - i] = (uint8_t)(v >> (8 * i));
}

/* A MATLAB v4 matrix laid out per the format: type, mrows, ncols, imagf,
 * namlen (int32 little-endian), namlen bytes of name, then data. out must
 * hold 20 + namlen + dn bytes; returns that size. */
static size_t mat_build(uint8_t *out, uint32_t type, int32_t mrows, int32_t ncols, int32_t imagf,
                        const char *var, int namlen, const void *data, size_t dn)
{
    put32(out, type);
    put32(out + 4, (uint32_t)mrows);
    put32(out + 8, (uint32_t)ncols);
    put32(out + 12, (uint32_t)imagf);
    put32(out + 16, (uint32_t)namlen);
    memset(out + 20, 0, (size_t)namlen);
    memcpy(out + 20, var, strlen(var) < (size_t)namlen ? strlen(var) : (size_t)namlen);
    if (dn)
        memcpy(out + 20 + namlen, data, dn);
    return 20 + (size_t)namlen + dn;
}

/* int16 samples as little-endian bytes (len * 2). */
static void le16_bytes(uint8_t *out, const int16_t *x, int len)
{
    for (int i = 0; i < len; i++) {
        out[2 * i] = (uint8_t)((uint16_t)x[i] & 0xff);
        out[2 * i + 1] = (uint8_t)((uint16_t)x[i] >> 8);
    }
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n)
{
    char path[1024];
    ck_assert(util_path_join(path, sizeof path, dir, name) == 0);
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    if (n)
        ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    write_bytes(dir, name, text, strlen(text));
}

static void remove_file(const char *dir, const char *name)
{
    char path[1024];
    ck_assert(util_path_join(path, sizeof path, dir, name) == 0);
    ck_assert_int_eq(unlink(path), 0);
}

/* The int16 .mat PhysioNet ships: type 30, 1 x len, "val". */
static void write_mat16(const char *dir, const char *rec, const int16_t *x, int len)
{
    uint8_t *b = malloc(24 + 2 * (size_t)len);
    uint8_t *d = malloc(2 * (size_t)len + 1);
    le16_bytes(d, x, len);
    size_t n = mat_build(b, 30, 1, len, 0, "val", 4, d, 2 * (size_t)len);
    char name[64];
    snprintf(name, sizeof name, "%s.mat", rec);
    write_bytes(dir, name, b, n);
    free(b);
    free(d);
}

/* ------------------------------------------------------------- fixtures */

#define FX_MAX 16
#define LABELS "REFERENCE-v3.csv"

/* A directory of n good records R01..Rnn (class i % 4, random lengths and
 * values, headers in the CinC layout with CRLF) and the labels file naming
 * them in order. Cases then break one file. */
typedef struct fx {
    char dir[1024];
    int n;
    char name[FX_MAX][16];
    int16_t *x[FX_MAX];
    int len[FX_MAX];
    double gain[FX_MAX];
    int label[FX_MAX];
} fx;

static int g_fx_serial;

static void hea_write(const char *dir, const char *rec, int len, const char *gain_field)
{
    char text[512], name[64];
    /* Fields are positional: with no gain, nothing after it either. */
    if (*gain_field)
        snprintf(text, sizeof text,
                 "%s 1 300 %d 05:05:15 1/05/2000 \r\n%s.mat 16+24 %s 16 0 -127 0 0 ECG \r\n", rec,
                 len, rec, gain_field);
    else
        snprintf(text, sizeof text, "%s 1 300 %d\r\n%s.mat 16+24\r\n", rec, len, rec);
    snprintf(name, sizeof name, "%s.hea", rec);
    write_text(dir, name, text);
}

static void fx_labels(const fx *f)
{
    char text[FX_MAX * 16] = "";
    for (int i = 0; i < f->n; i++) {
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k, "%s,%c\n", f->name[i], "NAO~"[f->label[i]]);
    }
    write_text(f->dir, LABELS, text);
}

static void fx_init(fx *f, int n, rng *r)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_le(n, FX_MAX);
    snprintf(f->dir, sizeof f->dir, "%s/fx%d-%d", g_dir, (int)getpid(), g_fx_serial++);
    rerr e;
    ck_assert_msg(util_mkdir_p(f->dir, &e) == 0, "%s", e.msg);
    f->n = n;
    /* Three gain spellings: "1000/mV" as CinC, a baseline in parentheses,
     * and none at all (WFDB's default of 200). */
    static const char *const gains[] = {"1000/mV", "37.5(0)/mV", ""};
    static const double gain_val[] = {1000.0, 37.5, 200.0};
    for (int i = 0; i < n; i++) {
        snprintf(f->name[i], sizeof f->name[i], "R%02d", i + 1);
        f->len[i] = 40 + (int)rng_below(r, 300);
        f->x[i] = malloc(sizeof *f->x[i] * (size_t)f->len[i]);
        for (int j = 0; j < f->len[i]; j++)
            f->x[i][j] = (int16_t)((int)rng_below(r, 65536) - 32768);
        f->label[i] = i % 4;
        f->gain[i] = gain_val[i % 3];
        write_mat16(f->dir, f->name[i], f->x[i], f->len[i]);
        hea_write(f->dir, f->name[i], f->len[i], gains[i % 3]);
    }
    fx_labels(f);
}

static void fx_free(fx *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->x[i]);
}

static void fx_path(const fx *f, const char *name, char *out, size_t n)
{
    ck_assert(util_path_join(out, n, f->dir, name) == 0);
}

static int fx_load(const fx *f, int skip, int threads, dataset *ds, cinc17_report *rep, rerr *e)
{
    cinc17_opts o = {.labels = NULL, .skip_bad = skip, .threads = threads};
    dataset_init(ds, 4);
    memset(e, 0, sizeof *e);
    return cinc17_load(ds, f->dir, &o, rep, e);
}

/* Record rc must be fixture record i: name, length, label, and samples
 * val / gain (to float rounding; the worst relative error is printed). */
static void check_record(const record *rc, const fx *f, int i)
{
    ck_assert_str_eq(rc->name, f->name[i]);
    ck_assert_int_eq(rc->len, f->len[i]);
    ck_assert_int_eq(rc->label, f->label[i]);
    double worst = 0;
    int at = -1;
    for (int j = 0; j < rc->len; j++) {
        double want = f->x[i][j] / f->gain[i];
        double d = fabs(rc->x[j] - want) / (1e-30 + fabs(want));
        if (d > worst) {
            worst = d;
            at = j;
        }
    }
    ck_assert_msg(worst <= 1e-7, "%s: sample %d is %.9g, want %d / %g (relative error %.3g)",
                  rc->name, at, at >= 0 ? rc->x[at] : 0.0, at >= 0 ? f->x[i][at] : 0, f->gain[i],
                  worst);
}

/* The fixture with record `bad` (its files or its labels line) broken must
 * fail without skip_bad, with a message holding both needles and ds left
 * empty, and with skip_bad load every other record, values checked, counting
 * one problem of kind p. */
static void expect_problem(const fx *f, int bad, cinc17_problem p, const char *needle1,
                           const char *needle2)
{
    dataset ds;
    cinc17_report rep;
    rerr e;
    int rc = fx_load(f, 0, 2, &ds, &rep, &e);
    ck_assert_msg(rc == -1, "loaded a fixture with a bad %s", needle1);
    ck_assert_msg(strstr(e.msg, needle1) != NULL, "message does not name '%s': %s", needle1, e.msg);
    ck_assert_msg(strstr(e.msg, needle2) != NULL, "message does not say '%s': %s", needle2, e.msg);
    ck_assert_int_eq(ds.n, 0);
    dataset_free(&ds);

    rc = fx_load(f, 1, 2, &ds, &rep, &e);
    ck_assert_msg(rc == 0, "skip_bad load failed: %s", e.msg);
    ck_assert_int_eq(rep.skipped, 1);
    ck_assert_int_eq(rep.loaded, f->n - 1);
    for (int k = 0; k < CINC17_NPROBLEMS; k++)
        ck_assert_int_eq(rep.by_problem[k], k == (int)p ? 1 : 0);
    ck_assert_int_eq(rep.nexamples, 1);
    ck_assert_msg(strstr(rep.examples[0], needle1) && strstr(rep.examples[0], needle2),
                  "report example: %s", rep.examples[0]);
    ck_assert_int_eq(ds.n, f->n - 1);
    for (int i = 0, k = 0; i < f->n; i++)
        if (i != bad)
            check_record(&ds.recs[k++], f, i);
    dataset_free(&ds);
}

/* ---------------------------------------------------------------- cases */

START_TEST(test_valid_values)
{
    rng r;
    rng_seed(&r, g_seed);
    fx f;
    fx_init(&f, 7, &r);
    for (int threads = 1; threads <= 3; threads++) {
        dataset ds;
        cinc17_report rep;
        rerr e;
        ck_assert_msg(fx_load(&f, 0, threads, &ds, &rep, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(ds.n, f.n);
        ck_assert_int_eq(rep.loaded, f.n);
        ck_assert_int_eq(rep.skipped, 0);
        ck_assert_int_eq(rep.nexamples, 0);
        ck_assert(rep.seconds >= 0);
        for (int i = 0; i < f.n; i++)
            check_record(&ds.recs[i], &f, i);
        dataset_free(&ds);
    }
    /* Appends to what the dataset already holds. */
    dataset ds;
    rerr e;
    dataset_init(&ds, 4);
    float one = 1.0f;
    ck_assert(dataset_add(&ds, "first", &one, 1, 2, &e) == 0);
    ck_assert_msg(cinc17_load(&ds, f.dir, NULL, NULL, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n, f.n + 1);
    ck_assert_str_eq(ds.recs[0].name, "first");
    check_record(&ds.recs[f.n], &f, f.n - 1);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

/* The loader's values against the parsers', and the parsers on buffers of
 * exactly n bytes (no NUL after them: ASan catches an over-read). */
START_TEST(test_parsers_direct)
{
    const char hea_txt[] = "A00001 1 300 9000 05:05:15 1/05/2000 \r\n"
                           "A00001.mat 16+24 1000/mV 16 0 -127 0 0 ECG \r\n";
    size_t hn = sizeof hea_txt - 1;
    char *hb = malloc(hn);
    memcpy(hb, hea_txt, hn);
    cinc17_header h;
    rerr e = {{0}};
    ck_assert_msg(cinc17_parse_hea(hb, hn, "A00001.hea", &h, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(h.record, "A00001");
    ck_assert_int_eq(h.nsignals, 1);
    ck_assert(h.fs == 300.0);
    ck_assert_int_eq(h.nsamples, 9000);
    ck_assert(h.gain == 1000.0);
    ck_assert_str_eq(h.file, "A00001.mat");
    free(hb);

    /* WFDB defaults for absent fields, comments, LF line ends. */
    const char *minimal = "# made by hand\nB7 1\n# a comment\nB7.mat 16\n\n";
    ck_assert_msg(cinc17_parse_hea(minimal, strlen(minimal), "B7.hea", &h, &e) == 0, "%s", e.msg);
    ck_assert(h.fs == 250.0 && h.gain == 200.0 && h.nsamples == 0);
    ck_assert_str_eq(h.file, "B7.mat");

    rng r;
    rng_seed(&r, g_seed ^ 1);
    int16_t x[33];
    for (int i = 0; i < 33; i++)
        x[i] = (int16_t)((int)rng_below(&r, 65536) - 32768);
    x[0] = -32768;
    x[1] = 32767;
    uint8_t d[66], m[24 + 66];
    le16_bytes(d, x, 33);
    size_t mn = mat_build(m, 30, 1, 33, 0, "val", 4, d, sizeof d);
    uint8_t *mb = malloc(mn);
    memcpy(mb, m, mn);
    int16_t *got;
    int len;
    ck_assert_msg(cinc17_parse_mat(mb, mn, "x.mat", &got, &len, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(len, 33);
    ck_assert_mem_eq(got, x, sizeof x);
    free(got);
    /* A column vector and 4 bytes of zero padding are accepted too. */
    uint8_t m2[24 + 66 + 4] = {0};
    mn = mat_build(m2, 30, 33, 1, 0, "val", 4, d, sizeof d);
    ck_assert_msg(cinc17_parse_mat(m2, mn + 4, "x.mat", &got, &len, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(len, 33);
    ck_assert_mem_eq(got, x, sizeof x);
    free(got);
    /* Double (type 0) with integral values. */
    uint8_t dd[33 * 8], m3[24 + 33 * 8];
    for (int i = 0; i < 33; i++) {
        double v = x[i];
        uint64_t u;
        memcpy(&u, &v, 8);
        for (int b = 0; b < 8; b++)
            dd[8 * i + b] = (uint8_t)(u >> (8 * b));
    }
    mn = mat_build(m3, 0, 1, 33, 0, "val", 4, dd, sizeof dd);
    ck_assert_msg(cinc17_parse_mat(m3, mn, "x.mat", &got, &len, &e) == 0, "%s", e.msg);
    ck_assert_mem_eq(got, x, sizeof x);
    free(got);
    free(mb);

    const char lab_txt[] = "\xef\xbb\xbf"
                           "A1,N\r\nA2,A\r\n\r\nA3 , O\r\nA4,~";
    char *lb = malloc(sizeof lab_txt - 1);
    memcpy(lb, lab_txt, sizeof lab_txt - 1);
    cinc17_label *lab;
    int nlab;
    ck_assert_msg(cinc17_parse_labels(lb, sizeof lab_txt - 1, "L.csv", &lab, &nlab, NULL, &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(nlab, 4);
    const int want_line[] = {1, 2, 4, 5};
    for (int i = 0; i < 4; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "A%d", i + 1);
        ck_assert_str_eq(lab[i].record, nm);
        ck_assert_int_eq(lab[i].label, i);
        ck_assert_int_eq(lab[i].line, want_line[i]);
    }
    free(lab);
    free(lb);
}
END_TEST

/* CRLF line ends everywhere (the labels too), a blank last line and a
 * byte-order mark: all accepted. */
START_TEST(test_crlf_accepted)
{
    rng r;
    rng_seed(&r, g_seed ^ 2);
    fx f;
    fx_init(&f, 5, &r);
    char text[512] = "\xef\xbb\xbf";
    for (int i = 0; i < f.n; i++) {
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k, "%s,%c\r\n", f.name[i], "NAO~"[f.label[i]]);
    }
    strcat(text, "\r\n");
    write_text(f.dir, LABELS, text);
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_msg(fx_load(&f, 0, 2, &ds, &rep, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n, f.n);
    for (int i = 0; i < f.n; i++)
        check_record(&ds.recs[i], &f, i);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

START_TEST(test_truncated_mat)
{
    rng r;
    rng_seed(&r, g_seed ^ 3);
    fx f;
    fx_init(&f, 5, &r);
    const int bad = 2;
    char path[1200];
    fx_path(&f, "R03.mat", path, sizeof path);
    size_t full = 24 + 2 * (size_t)f.len[bad];
    uint8_t *b = malloc(full);
    uint8_t *d = malloc(full);
    le16_bytes(d, f.x[bad], f.len[bad]);
    mat_build(b, 30, 1, f.len[bad], 0, "val", 4, d, 2 * (size_t)f.len[bad]);
    size_t cuts[] = {0, 7, 19, 20, 22, 24, 25, (size_t)f.len[bad] + 24, full - 2, full - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_bytes(f.dir, "R03.mat", b, cuts[c]);
        expect_problem(&f, bad, CINC17_BAD_MAT, path, "truncated");
    }
    free(b);
    free(d);
    fx_free(&f);
}
END_TEST

/* One malformed .mat per case, built by hand. */
START_TEST(test_bad_mat)
{
    rng r;
    rng_seed(&r, g_seed ^ 4);
    fx f;
    fx_init(&f, 5, &r);
    const int bad = 3;
    char path[1200];
    fx_path(&f, "R04.mat", path, sizeof path);
    int len = f.len[bad];
    size_t dn = 2 * (size_t)len;
    uint8_t *d = malloc(8 * (size_t)len + 64);
    uint8_t *b = malloc(8 * (size_t)len + 128);
    le16_bytes(d, f.x[bad], len);
    size_t n;

    n = mat_build(b, 30, 1, len, 0, "xyz", 4, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "variable is named 'xyz', expected 'val'");

    n = mat_build(b, 30, 1, len, 0, "value", 6, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "named 'value'");

    n = mat_build(b, 20, 1, len / 2, 0, "val", 4, d, 2 * (size_t)(len / 2) * 2);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "element type int32 (type code 20)");

    n = mat_build(b, 31, 1, len, 0, "val", 4, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "text matrix");

    n = mat_build(b, 12345678, 1, len, 0, "val", 4, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "not a MATLAB v4 file");

    /* A big-endian writer stores every header int big-endian: type 1030. */
    n = mat_build(b, 0, 0, 0, 0, "val", 4, d, dn);
    put32be(b, 1030);
    put32be(b + 4, 1);
    put32be(b + 8, (uint32_t)len);
    put32be(b + 16, 4);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "big-endian");

    n = mat_build(b, 1030, 1, len, 0, "val", 4, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "machine format 1");

    /* Two rows: the same bytes read as a 2 x len/2 matrix. */
    n = mat_build(b, 30, 2, len / 2, 0, "val", 4, d, 2 * (size_t)(len / 2) * 2);
    write_bytes(f.dir, "R04.mat", b, n);
    char what[64];
    snprintf(what, sizeof what, "val is 2 x %d", len / 2);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, what);

    n = mat_build(b, 30, 1, len, 1, "val", 4, d, dn);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "complex");

    n = mat_build(b, 30, 1, 0, 0, "val", 4, d, 0);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "empty");

    n = mat_build(b, 30, 1, len, 0, "val", 4, d, dn);
    memset(b + n, 0, 20); /* a second (empty) matrix header after val */
    put32(b + n, 30);
    write_bytes(f.dir, "R04.mat", b, n + 20);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "20 bytes follow val");

    b[n] = 1;
    write_bytes(f.dir, "R04.mat", b, n + 3); /* short, but not zero padding */
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "3 bytes follow val");

    /* Double with a fractional value. */
    for (int i = 0; i < len; i++) {
        double v = f.x[bad][i] + (i == 5 ? 0.5 : 0.0);
        uint64_t u;
        memcpy(&u, &v, 8);
        for (int k = 0; k < 8; k++)
            d[8 * i + k] = (uint8_t)(u >> (8 * k));
    }
    n = mat_build(b, 0, 1, len, 0, "val", 4, d, 8 * (size_t)len);
    write_bytes(f.dir, "R04.mat", b, n);
    expect_problem(&f, bad, CINC17_BAD_MAT, path, "sample 5 of val");
    free(b);
    free(d);
    fx_free(&f);
}
END_TEST

START_TEST(test_bad_header)
{
    rng r;
    rng_seed(&r, g_seed ^ 5);
    fx f;
    fx_init(&f, 5, &r);
    const int bad = 1;
    char path[1200], txt[512];
    fx_path(&f, "R02.hea", path, sizeof path);
    int len = f.len[bad];
    char p1[1300];
    snprintf(p1, sizeof p1, "%s:1", path);
    char p2[1300];
    snprintf(p2, sizeof p2, "%s:2", path);

    hea_write(f.dir, "R02", len + 1, "37.5(0)/mV");
    char what[128];
    snprintf(what, sizeof what, "header gives %d samples but", len + 1);
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, what);

    snprintf(txt, sizeof txt, "R02 one 300 %d\r\nR02.mat 16+24 1000/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p1, "signal count 'one'");

    snprintf(txt, sizeof txt, "R02 1 0 %d\r\nR02.mat 16+24 1000/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p1, "sampling frequency '0'");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR02.mat 16+24 -5/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p2, "ADC gain '-5/mV'");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR02.mat 16+24 1000/uV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p2, "units 'uV'");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR02.mat 16+24 1000(5)/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p2, "baseline 5 is not supported");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR02.mat 16+24 1000/mV 12 -3 0\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p2, "baseline -3 is not supported");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR09.mat 16+24 1000/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, "signal file is 'R09.mat', expected 'R02.mat'");

    snprintf(txt, sizeof txt, "R99 1 300 %d\r\nR02.mat 16+24 1000/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, "names 'R99', expected 'R02'");

    snprintf(txt, sizeof txt, "R02 2 300 %d\r\nR02.mat 16+24 1000/mV\r\nR02.mat 16+24 1000/mV\r\n",
             len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, "2 signals, expected a single lead");

    snprintf(txt, sizeof txt, "R02 2 300 %d\r\nR02.mat 16+24 1000/mV\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, "announces 2 signals but 1 signal lines");

    snprintf(txt, sizeof txt, "R02 1 300 %d\r\nR02.mat\r\n", len);
    write_text(f.dir, "R02.hea", txt);
    expect_problem(&f, bad, CINC17_BAD_HEADER, p2, "needs a file name and a format");

    write_text(f.dir, "R02.hea", "");
    expect_problem(&f, bad, CINC17_BAD_HEADER, path, "no record line");
    fx_free(&f);
}
END_TEST

START_TEST(test_bad_labels)
{
    rng r;
    rng_seed(&r, g_seed ^ 6);
    fx f;
    fx_init(&f, 6, &r);
    char lpath[1200], want[1400];
    fx_path(&f, LABELS, lpath, sizeof lpath);
    char text[512];
    const char *bad_lines[] = {"R03,X", "R03,n", "R03,AF", "R03", "R03,N,extra", "\"R03,N",
                               "../R03,N", "R03,"};
    const char *needles[] = {"class 'X' is not one of N, A, O, ~",
                             "class 'n' is not one of N, A, O, ~",
                             "class 'AF' is not one of N, A, O, ~",
                             "expected 'record,class', got 'R03'",
                             "expected 'record,class', got 'R03,N,extra'",
                             "expected 'record,class'",
                             "'../R03' is not a record name",
                             "class '' is not one of"};
    for (size_t c = 0; c < sizeof bad_lines / sizeof bad_lines[0]; c++) {
        snprintf(text, sizeof text, "R01,N\r\nR02,A\r\n%s\r\nR04,~\r\nR05,N\r\nR06,A\r\n",
                 bad_lines[c]);
        write_text(f.dir, LABELS, text);
        snprintf(want, sizeof want, "%s:3: %s", lpath, needles[c]);
        expect_problem(&f, 2, CINC17_BAD_LABEL, want, needles[c]);
    }
    /* The exact message for an unknown class. */
    write_text(f.dir, LABELS, "R01,N\nR02,A\nR03,X\n");
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 0, 1, &ds, &rep, &e), -1);
    snprintf(want, sizeof want, "%s:3: class 'X' is not one of N, A, O, ~", lpath);
    ck_assert_str_eq(e.msg, want);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

START_TEST(test_missing_files)
{
    rng r;
    rng_seed(&r, g_seed ^ 7);
    fx f;
    fx_init(&f, 5, &r);
    char path[1200], where[1400], lpath[1200];
    fx_path(&f, LABELS, lpath, sizeof lpath);
    snprintf(where, sizeof where, "listed on %s:2", lpath);
    remove_file(f.dir, "R02.mat");
    fx_path(&f, "R02.mat", path, sizeof path);
    expect_problem(&f, 1, CINC17_MISSING, path, where);
    write_mat16(f.dir, "R02", f.x[1], f.len[1]);

    remove_file(f.dir, "R05.hea");
    fx_path(&f, "R05.hea", path, sizeof path);
    snprintf(where, sizeof where, "listed on %s:5", lpath);
    expect_problem(&f, 4, CINC17_MISSING, path, where);
    hea_write(f.dir, "R05", f.len[4], "37.5(0)/mV");

    /* A directory where the .mat should be is not a record either. */
    fx_path(&f, "R03.mat", path, sizeof path);
    remove_file(f.dir, "R03.mat");
    ck_assert_int_eq(mkdir(path, 0777), 0);
    expect_problem(&f, 2, CINC17_MISSING, path, "not a regular file");
    rmdir(path);

    /* The labels file itself. */
    remove_file(f.dir, LABELS);
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 1, 2, &ds, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, lpath) != NULL, "%s", e.msg);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

/* Special and oversized files (issue 18): a FIFO never blocks the loader, a
 * sparse 250 MB .mat (16 KB on disk, a header to match) is refused by size
 * before anything is allocated, and so is a sparse 65 MB labels file. */
START_TEST(test_special_and_huge_files)
{
    rng r;
    rng_seed(&r, 18);
    fx f;
    fx_init(&f, 4, &r);
    char path[1200], lpath[1200];
    fx_path(&f, "R02.mat", path, sizeof path);
    remove_file(f.dir, "R02.mat");
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    expect_problem(&f, 1, CINC17_MISSING, path, "is a FIFO");
    remove_file(f.dir, "R02.mat");
    write_mat16(f.dir, "R02", f.x[1], f.len[1]);

    fx_path(&f, "R03.mat", path, sizeof path);
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 250L << 20), 0);
    close(fd);
    hea_write(f.dir, "R03", (int)((250L << 20) / 2 - 64), "37.5(0)/mV");
    expect_problem(&f, 2, CINC17_MISSING, path, "over the 4 MiB");
    write_mat16(f.dir, "R03", f.x[2], f.len[2]);
    hea_write(f.dir, "R03", f.len[2], "37.5(0)/mV");

    fx_path(&f, LABELS, lpath, sizeof lpath);
    remove_file(f.dir, LABELS);
    ck_assert_int_eq(mkfifo(lpath, 0644), 0);
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 1, 2, &ds, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, lpath) && strstr(e.msg, "is a FIFO"), "%s", e.msg);
    dataset_free(&ds);
    remove_file(f.dir, LABELS);
    fd = open(lpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (64L << 20) + 1), 0);
    close(fd);
    ck_assert_int_eq(fx_load(&f, 1, 2, &ds, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, lpath) && strstr(e.msg, "over the 64 MiB"), "%s", e.msg);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

START_TEST(test_duplicate)
{
    rng r;
    rng_seed(&r, g_seed ^ 8);
    fx f;
    fx_init(&f, 4, &r);
    char lpath[1200], want[1400];
    fx_path(&f, LABELS, lpath, sizeof lpath);
    /* R01 again, with another class: the first listing wins under skip_bad. */
    write_text(f.dir, LABELS, "R01,N\nR02,A\nR03,O\nR01,O\nR04,~\n");
    snprintf(want, sizeof want, "%s:4: record R01 is listed again (first on line 1)", lpath);
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 0, 2, &ds, &rep, &e), -1);
    ck_assert_str_eq(e.msg, want);
    dataset_free(&ds);
    ck_assert_msg(fx_load(&f, 1, 2, &ds, &rep, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n, 4);
    ck_assert_int_eq(rep.by_problem[CINC17_DUPLICATE], 1);
    ck_assert_int_eq(rep.skipped, 1);
    ck_assert_str_eq(rep.examples[0], want);
    for (int i = 0; i < 4; i++)
        check_record(&ds.recs[i], &f, i);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

START_TEST(test_empty_labels)
{
    rng r;
    rng_seed(&r, g_seed ^ 9);
    fx f;
    fx_init(&f, 2, &r);
    char lpath[1200];
    fx_path(&f, LABELS, lpath, sizeof lpath);
    const char *texts[] = {"", "\n", "\r\n  \r\n\t\n"};
    for (int t = 0; t < 3; t++) {
        write_text(f.dir, LABELS, texts[t]);
        for (int skip = 0; skip <= 1; skip++) {
            dataset ds;
            cinc17_report rep;
            rerr e;
            ck_assert_int_eq(fx_load(&f, skip, 2, &ds, &rep, &e), -1);
            ck_assert_msg(strstr(e.msg, lpath) && strstr(e.msg, "no records listed"), "%s", e.msg);
            ck_assert_int_eq(ds.n, 0);
            dataset_free(&ds);
        }
    }
    /* Every line bad: skip_bad still fails, since nothing loaded. */
    write_text(f.dir, LABELS, "R01,Q\nR02,Z\n");
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 1, 2, &ds, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, "no record could be loaded (2 skipped"), "%s", e.msg);
    ck_assert_int_eq(rep.by_problem[CINC17_BAD_LABEL], 2);
    dataset_free(&ds);
    fx_free(&f);
}
END_TEST

/* Several problems at once: without skip_bad the same one is reported
 * whatever the thread count (labels-file problems first, then records in
 * label order); with skip_bad the report is the same for every thread
 * count, and examples stop at 8. */
START_TEST(test_deterministic_first_problem)
{
    rng r;
    rng_seed(&r, g_seed ^ 10);
    fx f;
    fx_init(&f, 16, &r);
    remove_file(f.dir, "R04.mat");
    write_text(f.dir, "R07.mat", "garbage");
    char txt[256];
    snprintf(txt, sizeof txt, "R11 1 300 %d\nR11.mat 16+24 1000/mV\n", f.len[10] - 1);
    write_text(f.dir, "R11.hea", txt);
    char first[1024] = "";
    cinc17_report ref;
    for (int threads = 1; threads <= 4; threads++) {
        dataset ds;
        cinc17_report rep;
        rerr e;
        ck_assert_int_eq(fx_load(&f, 0, threads, &ds, &rep, &e), -1);
        ck_assert_msg(strstr(e.msg, "R04.mat: cannot open"), "threads %d: %s", threads, e.msg);
        if (threads == 1)
            strcpy(first, e.msg);
        ck_assert_str_eq(e.msg, first);
        dataset_free(&ds);

        ck_assert_msg(fx_load(&f, 1, threads, &ds, &rep, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(ds.n, 13);
        ck_assert_int_eq(rep.by_problem[CINC17_MISSING], 1);
        ck_assert_int_eq(rep.by_problem[CINC17_BAD_MAT], 1);
        ck_assert_int_eq(rep.by_problem[CINC17_BAD_HEADER], 1);
        ck_assert_int_eq(rep.nexamples, 3);
        ck_assert(strstr(rep.examples[1], "R07.mat") && strstr(rep.examples[2], "R11.hea"));
        if (threads == 1)
            ref = rep;
        for (int k = 0; k < rep.nexamples; k++)
            ck_assert_str_eq(rep.examples[k], ref.examples[k]);
        dataset_free(&ds);
    }
    /* Add a bad class on line 14: now the labels file is reported first. */
    char text[1024] = "";
    for (int i = 0; i < f.n; i++) {
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k, "%s,%s\n", f.name[i], i == 13 ? "B" : "N");
    }
    write_text(f.dir, LABELS, text);
    dataset ds;
    cinc17_report rep;
    rerr e;
    ck_assert_int_eq(fx_load(&f, 0, 2, &ds, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, ":14: class 'B'"), "%s", e.msg);
    dataset_free(&ds);

    /* Ten bad classes: all counted, eight examples kept, in line order. */
    text[0] = '\0';
    for (int i = 0; i < f.n; i++) {
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k, "%s,%s\n", f.name[i], i < 10 ? "?" : "N");
    }
    write_text(f.dir, LABELS, text);
    ck_assert_msg(fx_load(&f, 1, 2, &ds, &rep, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(rep.by_problem[CINC17_BAD_LABEL], 10);
    ck_assert_int_eq(rep.by_problem[CINC17_BAD_HEADER], 1);
    ck_assert_int_eq(rep.skipped, 11);
    ck_assert_int_eq(rep.loaded, 5);
    ck_assert_int_eq(rep.nexamples, 8);
    for (int k = 0; k < 8; k++) {
        char ln[16];
        snprintf(ln, sizeof ln, ":%d: ", k + 1);
        ck_assert_msg(strstr(rep.examples[k], ln), "example %d: %s", k, rep.examples[k]);
    }
    dataset_free(&ds);

    /* Another label file by name, and a dataset of the wrong shape. */
    write_text(f.dir, "other.csv", "R01,A\n");
    cinc17_opts o = {.labels = "other.csv"};
    dataset_init(&ds, 4);
    ck_assert_msg(cinc17_load(&ds, f.dir, &o, &rep, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(ds.n, 1);
    ck_assert_int_eq(ds.recs[0].label, 1);
    dataset_free(&ds);
    dataset_init(&ds, 3);
    ck_assert_int_eq(cinc17_load(&ds, f.dir, &o, &rep, &e), -1);
    ck_assert_msg(strstr(e.msg, "3 classes"), "%s", e.msg);
    fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------ real data */

/* Set in main (the parent process) before the runner forks. */
static char g_real_dir[2048];

/* Labels counted from the CSV text with nothing but string handling, to
 * check the loader against. */
static int count_labels(const char *path, long counts[4])
{
    char *text;
    size_t n;
    rerr e;
    ck_assert_msg(util_read_file(path, &text, &n, &e) == 0, "%s", e.msg);
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t k = strlen(l);
        while (k && (l[k - 1] == '\r' || l[k - 1] == ' '))
            l[--k] = '\0';
        if (!k)
            continue;
        char *comma = strrchr(l, ',');
        ck_assert_msg(comma && comma[1] && !comma[2], "%s: odd line '%s'", path, l);
        const char *c = strchr("NAO~", comma[1]);
        ck_assert_msg(c != NULL, "%s: odd class in '%s'", path, l);
        counts[c - "NAO~"]++;
        lines++;
    }
    free(text);
    return lines;
}

START_TEST(test_real_data)
{
    const char *label_files[] = {"REFERENCE-v3.csv", "REFERENCE.csv", "REFERENCE-original.csv"};
    for (int lf = 0; lf < 3; lf++) {
        char lpath[1200];
        ck_assert(util_path_join(lpath, sizeof lpath, g_real_dir, label_files[lf]) == 0);
        if (lf > 0 && !util_file_exists(lpath))
            continue;
        long want[4] = {0};
        int lines = count_labels(lpath, want);
        cinc17_opts o = {.labels = label_files[lf], .skip_bad = 0, .threads = 2};
        dataset ds;
        dataset_init(&ds, 4);
        cinc17_report rep;
        rerr e;
        ck_assert_msg(cinc17_load(&ds, g_real_dir, &o, &rep, &e) == 0, "%s", e.msg);
        printf("  %s: %d records in %.3f s (2 threads)\n", label_files[lf], ds.n, rep.seconds);
        ck_assert_int_eq(ds.n, lines);
        ck_assert_int_eq(rep.skipped, 0);
        long got[4];
        dataset_class_counts(&ds, NULL, 0, got);
        for (int k = 0; k < 4; k++) {
            ck_assert_int_eq(got[k], want[k]);
            ck_assert_int_gt(got[k], 0);
        }
        int minlen = INT32_MAX, maxlen = 0;
        for (int i = 0; i < ds.n; i++) {
            minlen = ds.recs[i].len < minlen ? ds.recs[i].len : minlen;
            maxlen = ds.recs[i].len > maxlen ? ds.recs[i].len : maxlen;
        }
        ck_assert_int_ge(minlen, 2714);
        ck_assert_int_le(maxlen, 18286);
        if (lf == 0) {
            printf("  classes N %ld, A %ld, O %ld, ~ %ld; lengths %d..%d\n", got[0], got[1], got[2],
                   got[3], minlen, maxlen);
            /* The first record against its .mat read by offset: 24 header
             * bytes, then int16 little-endian, over the gain the header states
             * (read here with sscanf). */
            const record *rc = &ds.recs[0];
            char p[1200], name[64];
            snprintf(name, sizeof name, "%s.hea", rc->name);
            ck_assert(util_path_join(p, sizeof p, g_real_dir, name) == 0);
            char *hea;
            ck_assert_msg(util_read_file(p, &hea, NULL, &e) == 0, "%s", e.msg);
            double gain = 0;
            const char *sig = strchr(hea, '\n');
            ck_assert(sig && sscanf(sig + 1, "%*s %*s %lf", &gain) == 1 && gain > 0);
            free(hea);
            snprintf(name, sizeof name, "%s.mat", rc->name);
            ck_assert(util_path_join(p, sizeof p, g_real_dir, name) == 0);
            char *mat;
            size_t mn;
            ck_assert_msg(util_read_file(p, &mat, &mn, &e) == 0, "%s", e.msg);
            ck_assert_uint_eq(mn, 24 + 2 * (size_t)rc->len);
            const uint8_t *u = (const uint8_t *)mat + 24;
            for (int j = 0; j < rc->len; j++) {
                int16_t v = (int16_t)(uint16_t)(u[2 * j] | u[2 * j + 1] << 8);
                ck_assert_msg(fabs(rc->x[j] - v / gain) <= 1e-6 * (1 + fabs(v / gain)),
                              "%s sample %d: %g vs %g", rc->name, j, rc->x[j], v / gain);
            }
            free(mat);
        }
        dataset_free(&ds);
    }
}
END_TEST

/* The working copy, unpacked once into a cache shared with the other
 * real-data tests (testutil_cinc17_dir: stamp file + lock). Returns 1 with
 * g_real_dir set, 0 when absent (skip), -1 when present but unusable (fail). */
static int real_data_prepare(char *why, size_t whysz)
{
    return testutil_cinc17_dir(g_real_dir, sizeof g_real_dir, why, whysz);
}

static char g_real_why[4096];

START_TEST(test_real_data_unusable)
{
    ck_abort_msg("the CinC working copy is present but could not be unpacked: %s", g_real_why);
}
END_TEST

int main(void)
{
    const char *s = getenv("RESECG_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_cinc17: seed %llu (set RESECG_SEED to repeat)\n", (unsigned long long)g_seed);

    Suite *suite = suite_create("cinc17");
    TCase *tc = tcase_create("fixtures");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_valid_values);
    tcase_add_test(tc, test_parsers_direct);
    tcase_add_test(tc, test_crlf_accepted);
    tcase_add_test(tc, test_truncated_mat);
    tcase_add_test(tc, test_bad_mat);
    tcase_add_test(tc, test_bad_header);
    tcase_add_test(tc, test_bad_labels);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_special_and_huge_files);
    tcase_add_test(tc, test_duplicate);
    tcase_add_test(tc, test_empty_labels);
    tcase_add_test(tc, test_deterministic_first_problem);
    suite_add_tcase(suite, tc);

    int real = real_data_prepare(g_real_why, sizeof g_real_why);
    if (real != 0) {
        TCase *rt = tcase_create("real data");
        tcase_set_timeout(rt, 300);
        tcase_add_test(rt, real > 0 ? test_real_data : test_real_data_unusable);
        suite_add_tcase(suite, rt);
    } else {
        printf("SKIP real-data tests: %s\n", g_real_why);
    }

    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
