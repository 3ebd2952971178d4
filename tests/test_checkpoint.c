/* Tests of the safetensors reader and writer (core/run/safetensors.c): bit-exact
 * round trips, agreement byte for byte with files laid out by hand from the
 * public format description, every corruption the reader must refuse, a
 * random-mutation loop under the sanitizers, and (when /usr/bin/python3 has
 * numpy) a read of our output by an independent struct+json+numpy reader. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/safetensors.h"
#include "nn/rng.h"
#include "testutil.h"
#include "base/util.h"

static uint64_t g_seed;
static char g_dir[512]; /* made by the unchecked fixture, in the parent process */

/* ------------------------------------------------------------- helpers */

static void dir_setup(void) { testutil_mkdtemp(g_dir, sizeof g_dir, "ckpt"); }

static void dir_teardown(void) { testutil_rmtree(g_dir); }

static void tpath(char *out, size_t sz, const char *name)
{
    ck_assert(util_path_join(out, sz, g_dir, name) == 0);
}

/* Number of entries in g_dir whose name contains needle (NULL: all). */
static int dir_count(const char *needle)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            (!needle || strstr(de->d_name, needle)))
            n++;
    closedir(d);
    return n;
}

/* Overwrites path in place and then trims it: truncating to zero first
 * (fopen "wb") costs a block discard per call on some file systems, which
 * made the mutation loop's 3000 rewrites take seconds. */
static void write_bytes(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert(n == 0 || pwrite(fd, data, n, 0) == (ssize_t)n);
    ck_assert(ftruncate(fd, (off_t)n) == 0);
    ck_assert(close(fd) == 0);
}

/* A safetensors file from a header text and ndata random data bytes. */
static void write_st(const char *path, const char *header, size_t ndata, rng *r)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + ndata + 1);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < ndata; i++)
        buf[8 + hl + i] = (unsigned char)rng_u64(r);
    write_bytes(path, buf, 8 + hl + ndata);
    free(buf);
}

/* st_read must fail, name the file, mention needle, and leave f empty. */
static void expect_reject(const char *path, const char *needle)
{
    st_file f;
    rerr e = {{0}};
    int rc = st_read(&f, path, &e);
    ck_assert_msg(rc == -1, "%s: accepted, expected an error mentioning \"%s\"", path, needle);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
    ck_assert_msg(!needle || strstr(e.msg, needle) != NULL, "expected \"%s\" in: %s", needle,
                  e.msg);
    ck_assert(f.buf == NULL && f.tensors == NULL && f.meta == NULL && f.n == 0);
    size_t dl = strlen(g_dir);
    printf("  rejected as expected: %s\n", strncmp(e.msg, g_dir, dl) == 0 ? e.msg + dl + 1 : e.msg);
}

static uint32_t f2u(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static st_tensor mk(const char *name, st_dtype dt, int ndim, const int64_t *shape, const void *data,
                    size_t nbytes)
{
    st_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

static st_meta mkmeta(const char *k, const char *v)
{
    st_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.key, sizeof m.key, "%s", k);
    snprintf(m.value, sizeof m.value, "%s", v);
    return m;
}

/* Compares what was written with what was read: names, dtypes, shapes and
 * data byte for byte; prints the first mismatching byte if any. */
static void check_same(const st_tensor *want, int n, const st_file *f)
{
    ck_assert_int_eq(f->n, n);
    for (int i = 0; i < n; i++) {
        const st_tensor *a = &want[i], *b = &f->tensors[i];
        ck_assert_str_eq(a->name, b->name);
        ck_assert_ptr_eq(st_find(f, a->name), b);
        ck_assert_int_eq(a->dtype, b->dtype);
        ck_assert_int_eq(a->ndim, b->ndim);
        for (int k = 0; k < a->ndim; k++)
            ck_assert_int_eq(a->shape[k], b->shape[k]);
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        ck_assert(b->data >= (const void *)f->buf &&
                  (const char *)b->data + b->nbytes <= f->buf + f->size);
        if (a->nbytes && memcmp(a->data, b->data, a->nbytes) != 0) {
            const unsigned char *x = a->data, *y = b->data;
            size_t k = 0;
            while (x[k] == y[k])
                k++;
            ck_abort_msg("tensor %s: byte %zu differs: wrote 0x%02x, read 0x%02x", a->name, k, x[k],
                         y[k]);
        }
    }
}

/* ----------------------------------------------------------- round trip */

#define META_UNICODE "h\xc3\xa9llo \xe2\x88\x91 \xf0\x9f\x98\x80" /* "héllo ∑ 😀" in UTF-8 */

START_TEST(test_round_trip)
{
    rng r;
    rng_seed(&r, g_seed);
    float w[4 * 3 * 5];
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        w[i] = rng_normal(&r) * 0.1f;
    /* Values whose bits a text round trip would lose: a NaN payload, -0,
     * infinities, the smallest denormal, the largest float. */
    float special[6] = {u2f(0x7fc12345u), -0.0f, INFINITY, -INFINITY, u2f(1u), 3.4028235e38f};
    int64_t step = (int64_t)(rng_u64(&r) >> 1) | (int64_t)1 << 40;
    int32_t idx[2 * 3 * 4];
    for (size_t i = 0; i < sizeof idx / sizeof *idx; i++)
        idx[i] = (int32_t)(uint32_t)rng_u64(&r);
    float deep[8];
    for (int i = 0; i < 8; i++)
        deep[i] = rng_uniform(&r) - 0.5f;

    const int64_t s_w[] = {4, 3, 5}, s_sp[] = {6}, s_idx[] = {2, 3, 4}, s_empty[] = {0, 3},
                  s_deep[] = {1, 2, 1, 2, 1, 1, 1, 2};
    st_tensor t[] = {
        mk("block.0.conv.weight", ST_F32, 3, s_w, w, sizeof w),
        mk("block.0.bn.num_batches_tracked", ST_I64, 0, NULL, &step, sizeof step),
        mk("special", ST_F32, 1, s_sp, special, sizeof special),
        mk("idx", ST_I32, 3, s_idx, idx, sizeof idx),
        mk("empty", ST_F32, 2, s_empty, NULL, 0),
        mk("deep \"quoted\" \\ name \xc3\xa9", ST_F32, 8, s_deep, deep, sizeof deep),
    };
    const int n = (int)(sizeof t / sizeof *t);
    char longv[1024];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    st_meta m[] = {
        mkmeta("quote", "say \"hi\""),
        mkmeta("back\\slash", "C:\\dir\\"),
        mkmeta("unicode", META_UNICODE),
        mkmeta("ctrl", "tab\there\nnewline\r\x01\x1f"),
        mkmeta("empty", ""),
        mkmeta("long", longv),
    };
    const int nm = (int)(sizeof m / sizeof *m);

    char path[1024];
    tpath(path, sizeof path, "round.safetensors");
    rerr e = {{0}};
    ck_assert_msg(st_write(path, t, n, m, nm, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dir_count(".tmp."), 0);

    st_file f;
    ck_assert_msg(st_read(&f, path, &e) == 0, "%s", e.msg);
    check_same(t, n, &f);
    ck_assert_int_eq(f.nmeta, nm);
    for (int i = 0; i < nm; i++) {
        ck_assert_str_eq(f.meta[i].key, m[i].key);
        ck_assert_str_eq(f.meta[i].value, m[i].value);
        ck_assert_str_eq(st_meta_get(&f, m[i].key), m[i].value);
    }
    ck_assert_ptr_null(st_meta_get(&f, "absent"));
    ck_assert_ptr_null(st_find(&f, "absent"));

    /* The reference writer's layout: header padded to 8, data 8-aligned. */
    uint64_t hl;
    memcpy(&hl, f.buf, 8);
    ck_assert_uint_eq(hl % 8, 0);
    ck_assert_uint_eq(f.size,
                      8 + hl + sizeof w + sizeof step + sizeof special + sizeof idx + sizeof deep);
    ck_assert_uint_eq((uintptr_t)f.tensors[0].data % 8, 0);

    int64_t step2;
    memcpy(&step2, st_find(&f, "block.0.bn.num_batches_tracked")->data, 8);
    ck_assert(step2 == step);
    const float *sp = st_find(&f, "special")->data;
    ck_assert(isnan(sp[0]) && f2u(sp[0]) == 0x7fc12345u && signbit(sp[1]) && sp[1] == 0.0f);
    st_free(&f);
    ck_assert_ptr_null(f.buf);
    st_free(&f); /* st_free leaves an empty struct, so a second call is harmless */

    /* Overwriting an existing file works and leaves no temp file. */
    ck_assert_msg(st_write(path, t, 2, NULL, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(st_read(&f, path, &e) == 0, "%s", e.msg);
    check_same(t, 2, &f);
    ck_assert_int_eq(f.nmeta, 0);
    st_free(&f);
    ck_assert_int_eq(dir_count(".tmp."), 0);
}
END_TEST

/* --------------------------------------------------- known bytes (spec) */

/* Reads bytes[0..n) as a file and compares with the writer's output for the
 * same content: the reader is checked against the format, not our writer,
 * and the writer against the reference implementation's exact layout. */
static void known_bytes(const char *name, const unsigned char *bytes, size_t n, st_file *f)
{
    char path[1024];
    tpath(path, sizeof path, name);
    write_bytes(path, bytes, n);
    rerr e = {{0}};
    ck_assert_msg(st_read(f, path, &e) == 0, "%s", e.msg);
}

static void writer_matches(const char *name, const st_tensor *t, int n, const st_meta *m, int nm,
                           const unsigned char *bytes, size_t len)
{
    char path[1024];
    tpath(path, sizeof path, name);
    rerr e = {{0}};
    ck_assert_msg(st_write(path, t, n, m, nm, &e) == 0, "%s", e.msg);
    char *got;
    size_t gl;
    ck_assert(util_read_file(path, &got, &gl, &e) == 0);
    ck_assert_uint_eq(gl, len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg((unsigned char)got[i] == bytes[i], "%s: byte %zu: wrote 0x%02x, spec 0x%02x",
                      name, i, (unsigned char)got[i], bytes[i]);
    free(got);
}

START_TEST(test_known_bytes)
{
    st_file f;

    /* 1. The format description's own example: header length 60 = 0x3c
     *    ('<'), one I32 2x2 tensor "test", 16 zero bytes of data. */
    static const char ex1[] =
        "<\0\0\0\0\0\0\0"
        "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    _Static_assert(sizeof ex1 - 1 == 8 + 60 + 16, "hand-counted length of example 1");
    known_bytes("ex1.safetensors", (const unsigned char *)ex1, sizeof ex1 - 1, &f);
    ck_assert_int_eq(f.n, 1);
    ck_assert_str_eq(f.tensors[0].name, "test");
    ck_assert_int_eq(f.tensors[0].dtype, ST_I32);
    ck_assert_int_eq(f.tensors[0].ndim, 2);
    ck_assert_int_eq(f.tensors[0].shape[0], 2);
    ck_assert_int_eq(f.tensors[0].shape[1], 2);
    ck_assert_uint_eq(f.tensors[0].nbytes, 16);
    ck_assert_ptr_eq(f.tensors[0].data, f.buf + 8 + 60);
    ck_assert_int_eq(f.nmeta, 0);
    st_free(&f);

    /* 2. F32 [1,1,2,3] "attn0" holding 0..5: the JSON is 65 bytes, padded
     *    with 7 spaces to 72 (0x48); 1.0f is 00 00 80 3f little-endian. */
    static const char ex2[] =
        "\x48\0\0\0\0\0\0\0"
        "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"
        "       "
        "\0\0\0\0"
        "\0\0\x80\x3f"
        "\0\0\0\x40"
        "\0\0\x40\x40"
        "\0\0\x80\x40"
        "\0\0\xa0\x40";
    _Static_assert(sizeof ex2 - 1 == 8 + 72 + 24, "hand-counted length of example 2");
    known_bytes("ex2.safetensors", (const unsigned char *)ex2, sizeof ex2 - 1, &f);
    ck_assert_int_eq(f.n, 1);
    ck_assert_int_eq(f.tensors[0].ndim, 4);
    const float *v = f.tensors[0].data;
    for (int i = 0; i < 6; i++)
        ck_assert(v[i] == (float)i);
    static const float vals[6] = {0, 1, 2, 3, 4, 5};
    static const int64_t s2[] = {1, 1, 2, 3};
    st_tensor t2 = mk("attn0", ST_F32, 4, s2, vals, sizeof vals);
    writer_matches("ex2w.safetensors", &t2, 1, NULL, 0, (const unsigned char *)ex2, sizeof ex2 - 1);
    st_free(&f);

    /* 3. No tensors, metadata {"framework": "pt"}: 35 bytes of JSON plus 5
     *    spaces = 40 (0x28); the data section is empty. And no tensors and
     *    no metadata at all: "{}" plus 6 spaces. */
    static const char ex3[] = "\x28\0\0\0\0\0\0\0"
                              "{\"__metadata__\":{\"framework\":\"pt\"}}     ";
    _Static_assert(sizeof ex3 - 1 == 8 + 40, "hand-counted length of example 3");
    known_bytes("ex3.safetensors", (const unsigned char *)ex3, sizeof ex3 - 1, &f);
    ck_assert_int_eq(f.n, 0);
    ck_assert_str_eq(st_meta_get(&f, "framework"), "pt");
    st_free(&f);
    st_meta m3 = mkmeta("framework", "pt");
    writer_matches("ex3w.safetensors", NULL, 0, &m3, 1, (const unsigned char *)ex3, sizeof ex3 - 1);
    static const char ex4[] = "\x08\0\0\0\0\0\0\0{}      ";
    writer_matches("ex4w.safetensors", NULL, 0, NULL, 0, (const unsigned char *)ex4,
                   sizeof ex4 - 1);
    known_bytes("ex4.safetensors", (const unsigned char *)ex4, sizeof ex4 - 1, &f);
    ck_assert_int_eq(f.n, 0);
    st_free(&f);

    /* 4. What other writers may produce and JSON allows: whitespace and
     *    newlines, keys in another order, entries not in offset order, \u
     *    escapes (é = U+00E9 -> c3 a9; 😀 = U+1F600 = surrogates d83d de00
     *    -> f0 9f 98 80), \/ and an I64 scalar (shape []). The JSON text is
     *    0xc0 = 192 bytes, not padded. Data: "n" = 7 at offset 0, then
     *    "wé" = [1.0, -2.5] = 00 00 80 3f, 00 00 20 c0 at offset 8. */
    static const char ex5[] =
        "\xc0\0\0\0\0\0\0\0"
        "{ \"w\\u00e9\" : { \"shape\" : [ 2 ], \"dtype\" : \"F32\",\n"
        "    \"data_offsets\" : [ 8, 16 ] },\n"
        "  \"__metadata__\": {\"note\": \"a\\\"b\\\\c\\/\\ud83d\\ude00\"},\r\n"
        "\t\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}\n}"
        "\x07\0\0\0\0\0\0\0"
        "\0\0\x80\x3f"
        "\0\0\x20\xc0";
    _Static_assert(sizeof ex5 - 1 == 8 + 192 + 16, "hand-counted length of example 5");
    known_bytes("ex5.safetensors", (const unsigned char *)ex5, sizeof ex5 - 1, &f);
    ck_assert_int_eq(f.n, 2);
    ck_assert_str_eq(f.tensors[0].name, "w\xc3\xa9"); /* header order is kept */
    ck_assert_str_eq(f.tensors[1].name, "n");
    ck_assert_str_eq(st_meta_get(&f, "note"), "a\"b\\c/\xf0\x9f\x98\x80");
    const st_tensor *tn = st_find(&f, "n"), *tw = st_find(&f, "w\xc3\xa9");
    ck_assert_ptr_nonnull(tn);
    ck_assert_ptr_nonnull(tw);
    ck_assert_int_eq(tn->ndim, 0);
    ck_assert_int_eq(tn->dtype, ST_I64);
    int64_t nv;
    memcpy(&nv, tn->data, 8);
    ck_assert(nv == 7);
    float wv[2];
    memcpy(wv, tw->data, 8);
    ck_assert(wv[0] == 1.0f && wv[1] == -2.5f);
    ck_assert_int_eq(tw->shape[0], 2);
    st_free(&f);
}
END_TEST

/* ----------------------------------------------------------- corruption */

/* A header and the data size that goes with it; needle is a word the
 * message must contain. */
typedef struct bad_case {
    const char *header;
    size_t ndata;
    const char *needle;
} bad_case;

#define T1 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"

static const bad_case bad_cases[] = {
    /* malformed JSON */
    {"", 4, "expected '{'"},
    {" {" T1 "}", 4, "expected '{'"},
    {"{" T1, 4, "expected ','"},
    {"{" T1 ",}", 4, "expected a string"},
    {"[1]", 4, "expected '{'"},
    {"{\"a\":true}", 4, "expected '{'"},
    {"{\"a\":null}", 4, "expected '{'"},
    {"{" T1 "}x", 4, "unexpected bytes"},
    {"{\"a\"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "expected ':'"},
    {"{'a':{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "expected a string"},
    {"{\"a", 4, "unterminated"},
    {"{\"a\\x\":{}}", 4, "bad escape"},
    {"{\"a\\ud800\":{}}", 4, "surrogate"},
    {"{\"a\\udc00\":{}}", 4, "surrogate"},
    {"{\"a\\u12\"}", 4, "hex digit"},
    {"{\"a\\u0000\":{}}", 4, "\\u0000"},
    {"{\"a\tb\":{}}", 4, "control character"},
    {"{\"a\xff\":{}}", 4, "UTF-8"},
    {"{\"a\xc0\xaf\":{}}", 4, "UTF-8"}, /* overlong '/' */
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "must be an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "must be an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}", 4,
     "expected an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4, "expected an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
     "too large"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "expected ']'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "expected ','"},
    {"{\"a\":{\"dtype\":F32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "expected a string"},
    /* schema */
    {"{\"a\":{}}", 4, "empty entry"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[]}}", 4, "unknown key"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "duplicate \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "more than 8"},
    {"{\"__metadata__\":{\"k\":1}," T1 "}", 4, "expected a string"},
    {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}," T1 "}", 4, "duplicate metadata key"},
    {"{\"__metadata__\":{},\"__metadata__\":{}," T1 "}", 4, "duplicate \"__metadata__\""},
    /* the brief's list: dtype, offsets, overlap, size, duplicates */
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "unsupported dtype \"F16\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "beyond"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[99999999999,100000000003]}}", 4,
     "beyond"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlaps"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
     8, "overlaps"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes"},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
     "overflows"},
    {"{" T1 "," T1 "}", 8, "duplicate tensor name \"a\""},
    /* data section not tiled exactly (the reference reader's rule) */
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "unused bytes"},
    {"{" T1 "}", 8, "cover 4 bytes of a 8-byte"},
};

START_TEST(test_bad_headers)
{
    rng r;
    rng_seed(&r, g_seed ^ 1);
    char path[1024];
    tpath(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        write_st(path, bad_cases[i].header, bad_cases[i].ndata, &r);
        expect_reject(path, bad_cases[i].needle);
    }

    /* Names and metadata longer than st_tensor and st_meta hold. */
    char hdr[4096], name[201];
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             name);
    write_st(path, hdr, 4, &r);
    expect_reject(path, "tensor name longer than 127 bytes");
    name[128] = '\0'; /* one byte too many for char name[128] with its NUL */
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             name);
    write_st(path, hdr, 4, &r);
    expect_reject(path, "tensor name longer than 127 bytes");
    name[127] = '\0'; /* 127 bytes is the longest that fits */
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             name);
    write_st(path, hdr, 4, &r);
    st_file f;
    rerr e = {{0}};
    ck_assert_msg(st_read(&f, path, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(strlen(f.tensors[0].name), 127);
    st_free(&f);
    char val[1101];
    memset(val, 'v', 1100);
    val[1100] = '\0';
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"k\":\"%s\"}," T1 "}", val);
    write_st(path, hdr, 4, &r);
    expect_reject(path, "metadata value longer than 1023 bytes");
    val[1024] = '\0'; /* one too many; the round trip stores exactly 1023 */
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"k\":\"%s\"}," T1 "}", val);
    write_st(path, hdr, 4, &r);
    expect_reject(path, "metadata value longer than 1023 bytes");
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"%.70s\":\"v\"}," T1 "}", val);
    write_st(path, hdr, 4, &r);
    expect_reject(path, "metadata key longer than 63 bytes");
}
END_TEST

START_TEST(test_bad_lengths)
{
    rng r;
    rng_seed(&r, g_seed ^ 2);
    char good[1024], path[1024];
    tpath(good, sizeof good, "good.safetensors");
    tpath(path, sizeof path, "cut.safetensors");
    float w[10];
    for (int i = 0; i < 10; i++)
        w[i] = rng_normal(&r);
    int64_t step = 12345;
    const int64_t s[] = {2, 5};
    st_tensor t[] = {mk("w", ST_F32, 2, s, w, sizeof w), mk("step", ST_I64, 0, NULL, &step, 8)};
    rerr e = {{0}};
    ck_assert_msg(st_write(good, t, 2, NULL, 0, &e) == 0, "%s", e.msg);
    char *buf;
    size_t size;
    ck_assert(util_read_file(good, &buf, &size, &e) == 0);
    uint64_t hl;
    memcpy(&hl, buf, 8);

    /* Truncations: inside the length, at the header, inside the header,
     * inside and at the end of the data. */
    const size_t cuts[] = {0, 1, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 3, size - 1};
    const char *needles[] = {"too short",
                             "too short",
                             "too short",
                             "only 0 bytes follow",
                             "only 1 bytes follow",
                             "follow",
                             "follow",
                             "beyond",
                             "beyond",
                             "beyond"};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_bytes(path, buf, cuts[i]);
        expect_reject(path, needles[i]);
    }
    /* One byte too many is refused too: the data must end the file. */
    char *longer = malloc(size + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, buf, size);
    longer[size] = 0;
    write_bytes(path, longer, size + 1);
    expect_reject(path, "cover");
    free(longer);

    /* Header lengths: 2^64 - 1, just over the 100 MB limit, one past the
     * file, and 0. */
    const uint64_t lens[] = {UINT64_MAX, 100000001ull, size - 7, 0};
    const char *lneedles[] = {"exceeds the 100000000-byte limit",
                              "exceeds the 100000000-byte limit", "follow", "expected '{'"};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        for (int k = 0; k < 8; k++)
            buf[k] = (char)(lens[i] >> (8 * k));
        write_bytes(path, buf, size);
        expect_reject(path, lneedles[i]);
    }
    free(buf);

    /* A file that does not exist. */
    tpath(path, sizeof path, "missing.safetensors");
    expect_reject(path, "cannot open");
}
END_TEST

START_TEST(test_writer_rejects)
{
    char path[1024];
    tpath(path, sizeof path, "w.safetensors");
    int before = dir_count(NULL);
    float w[4] = {1, 2, 3, 4};
    const int64_t s4[] = {4}, s3[] = {3}, sneg[] = {-4}, s9[] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    st_tensor dup[] = {mk("a", ST_F32, 1, s4, w, 16), mk("a", ST_F32, 1, s4, w, 16)};
    st_tensor size[] = {mk("a", ST_F32, 1, s3, w, 16)};
    st_tensor reserved[] = {mk("__metadata__", ST_F32, 1, s4, w, 16)};
    st_tensor neg[] = {mk("a", ST_F32, 1, sneg, w, 16)};
    st_tensor nul[] = {mk("a", ST_F32, 1, s4, NULL, 16)};
    st_tensor deep[] = {mk("a", ST_F32, 8, s9, w, 16)};
    deep[0].ndim = 9;
    st_tensor badutf[] = {mk("a\xff", ST_F32, 1, s4, w, 16)};
    st_tensor dtype[] = {mk("a", ST_F32, 1, s4, w, 16)};
    dtype[0].dtype = (st_dtype)7;
    st_meta mdup[] = {mkmeta("k", "1"), mkmeta("k", "2")};
    struct {
        const st_tensor *t;
        int n;
        const st_meta *m;
        int nm;
        const char *needle;
    } cases[] = {
        {dup, 2, NULL, 0, "duplicate tensor name"},
        {size, 1, NULL, 0, "needs 12 bytes"},
        {reserved, 1, NULL, 0, "reserved"},
        {neg, 1, NULL, 0, "negative"},
        {nul, 1, NULL, 0, "NULL data"},
        {deep, 1, NULL, 0, "ndim 9"},
        {badutf, 1, NULL, 0, "UTF-8"},
        {dtype, 1, NULL, 0, "unknown dtype"},
        {dtype, -1, NULL, 0, "count"},
        {size, 0, mdup, 2, "duplicate metadata key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rerr e = {{0}};
        int rc = st_write(path, cases[i].t, cases[i].n, cases[i].m, cases[i].nm, &e);
        ck_assert_msg(rc == -1, "case %zu accepted", i);
        ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, cases[i].needle), "case %zu: %s", i,
                      e.msg);
        ck_assert_int_eq(dir_count(NULL), before); /* neither the file nor a temp file */
    }
    /* An unwritable destination is an error naming the file, not a crash. */
    rerr e = {{0}};
    ck_assert(st_write("/nonexistent-dir/x.safetensors", dup, 1, NULL, 0, &e) == -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir/x.safetensors"));
}
END_TEST

/* --------------------------------------------------------- random mutation */

START_TEST(test_mutations)
{
    rng r;
    rng_seed(&r, g_seed ^ 3);
    float w[3 * 7];
    for (int i = 0; i < 21; i++)
        w[i] = rng_normal(&r);
    int64_t step = 99;
    int32_t lab[5] = {0, 1, 2, 3, 1};
    const int64_t sw[] = {3, 7}, sl[] = {5};
    st_tensor t[] = {mk("w", ST_F32, 2, sw, w, sizeof w),
                     mk("bn.num_batches_tracked", ST_I64, 0, NULL, &step, 8),
                     mk("labels", ST_I32, 1, sl, lab, sizeof lab)};
    st_meta m[] = {mkmeta("format", "pt"), mkmeta("note", "q\"b\\u " META_UNICODE)};
    char good[1024], path[1024];
    tpath(good, sizeof good, "base.safetensors");
    tpath(path, sizeof path, "mut.safetensors");
    rerr e = {{0}};
    ck_assert_msg(st_write(good, t, 3, m, 2, &e) == 0, "%s", e.msg);
    char *base;
    size_t size;
    ck_assert(util_read_file(good, &base, &size, &e) == 0);
    uint64_t hl;
    memcpy(&hl, base, 8);
    unsigned char *buf = malloc(size + 16);
    ck_assert_ptr_nonnull(buf);
    static const char punct[] = "{}[]\":,\\u0123456789- \t\n";

    int accepted = 0, rejected = 0;
    const int iters = 3000;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, base, size);
        size_t len = size;
        unsigned kind = rng_below(&r, 10);
        if (kind < 4) { /* 1-4 bytes of the header replaced */
            int k = 1 + (int)rng_below(&r, 4);
            for (int j = 0; j < k; j++) {
                size_t at = 8 + rng_below(&r, (uint32_t)hl);
                buf[at] = rng_below(&r, 2) ? (unsigned char)punct[rng_below(&r, sizeof punct - 1)]
                                           : (unsigned char)rng_u64(&r);
            }
        } else if (kind < 6) { /* a bit flipped anywhere */
            size_t at = rng_below(&r, (uint32_t)size);
            buf[at] ^= (unsigned char)(1u << rng_below(&r, 8));
        } else if (kind < 8) { /* truncated */
            len = rng_below(&r, (uint32_t)size);
        } else if (kind < 9) { /* header length nudged */
            uint64_t nl = hl + rng_below(&r, 33) - 16;
            for (int k = 0; k < 8; k++)
                buf[k] = (unsigned char)(nl >> (8 * k));
        } else { /* a header byte deleted, shifting everything after it */
            size_t at = 8 + rng_below(&r, (uint32_t)hl);
            memmove(buf + at, buf + at + 1, size - at - 1);
            len = size - 1;
        }
        write_bytes(path, buf, len);
        st_file f;
        if (st_read(&f, path, &e) == 0) {
            accepted++;
            /* Whatever was accepted must be self-consistent: every tensor's
             * bytes inside the buffer; touching them all lets ASan check. */
            unsigned sum = 0;
            for (int i = 0; i < f.n; i++) {
                const st_tensor *x = &f.tensors[i];
                ck_assert(x->data >= (const void *)(f.buf + 8) &&
                          (const char *)x->data + x->nbytes <= f.buf + f.size);
                ck_assert_ptr_eq(st_find(&f, x->name), x);
                for (size_t b = 0; b < x->nbytes; b++)
                    sum += ((const unsigned char *)x->data)[b];
            }
            for (int i = 0; i < f.nmeta; i++)
                ck_assert_ptr_nonnull(st_meta_get(&f, f.meta[i].key));
            (void)sum;
            st_free(&f);
        } else {
            rejected++;
            ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
            ck_assert_ptr_null(f.buf);
        }
    }
    printf("  mutations: %d accepted, %d rejected (seed %llu)\n", accepted, rejected,
           (unsigned long long)g_seed);
    ck_assert_int_eq(accepted + rejected, iters);
    ck_assert_int_gt(rejected, iters / 3);
    ck_assert_int_gt(accepted, 0); /* data-only flips stay valid */
    free(buf);
    free(base);
}
END_TEST

/* --------------------------------------------- an independent reader */

static const char *python_bin(void)
{
    const char *p = getenv("RESECG_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* Runs argv[0] with argv; returns its exit status, or -1 if it did not exit
 * normally. quiet sends its output to /dev/null. */
static int run_prog(char *const argv[], int quiet)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (quiet) {
            FILE *nul = freopen("/dev/null", "w", stdout);
            (void)nul;
            dup2(STDOUT_FILENO, STDERR_FILENO);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The reader a PyTorch user would write: struct, json, numpy.frombuffer.
 * It checks what the reference reader checks and compares values: "weight"
 * against the raw bytes the test dumps, the others against formulas. */
static const char py_reader[] =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "path, raw_path = sys.argv[1], sys.argv[2]\n"
    "buf = open(path, 'rb').read()\n"
    "(n,) = struct.unpack('<Q', buf[:8])\n"
    "assert n % 8 == 0 and buf[8:9] == b'{', n\n"
    "hdr = json.loads(buf[8:8 + n].decode('utf-8'))\n"
    "data = buf[8 + n:]\n"
    "meta = hdr.pop('__metadata__')\n"
    "want = {'quote': 'say \"hi\"', 'back\\\\slash': 'C:\\\\dir\\\\',\n"
    "        'unicode': 'h\\u00e9llo \\u2211 \\U0001F600', 'ctrl': 'a\\tb\\nc\\x01'}\n"
    "assert meta == want, meta\n"
    "assert list(hdr) == ['weight', 'step', 'ramp', 'idx'], list(hdr)\n"
    "dt = {'F32': '<f4', 'I64': '<i8', 'I32': '<i4'}\n"
    "arr, end = {}, 0\n"
    "for name, info in sorted(hdr.items(), key=lambda kv: kv[1]['data_offsets']):\n"
    "    b, e = info['data_offsets']\n"
    "    assert b == end, (name, b, end)\n"
    "    end = e\n"
    "    arr[name] = np.frombuffer(data[b:e], dtype=dt[info['dtype']]).reshape(info['shape'])\n"
    "assert end == len(data)\n"
    "raw = open(raw_path, 'rb').read()\n"
    "assert arr['weight'].shape == (4, 3, 5) and arr['weight'].tobytes() == raw\n"
    "assert arr['step'].shape == () and int(arr['step']) == 2**40 + 3\n"
    "ramp = (np.arange(60, dtype=np.float32) * np.float32(0.25) - np.float32(7)).reshape(3, 4, 5)\n"
    "assert arr['ramp'].dtype == np.float32 and np.array_equal(arr['ramp'], ramp)\n"
    "assert np.array_equal(arr['idx'], (-1000 * np.arange(6, dtype=np.int32)).reshape(2, 3))\n"
    "print('  python reader agrees: weight[1,2,3] = %r' % float(arr['weight'][1, 2, 3]))\n";

START_TEST(test_python_reader)
{
    rng r;
    rng_seed(&r, g_seed ^ 4);
    float w[60], ramp[60];
    for (int i = 0; i < 60; i++) {
        w[i] = rng_normal(&r);
        ramp[i] = (float)i * 0.25f - 7.0f;
    }
    int64_t step = ((int64_t)1 << 40) + 3;
    int32_t idx[6];
    for (int i = 0; i < 6; i++)
        idx[i] = -1000 * i;
    const int64_t sw[] = {4, 3, 5}, sr[] = {3, 4, 5}, si[] = {2, 3};
    st_tensor t[] = {
        mk("weight", ST_F32, 3, sw, w, sizeof w), mk("step", ST_I64, 0, NULL, &step, 8),
        mk("ramp", ST_F32, 3, sr, ramp, sizeof ramp), mk("idx", ST_I32, 2, si, idx, sizeof idx)};
    st_meta m[] = {mkmeta("quote", "say \"hi\""), mkmeta("back\\slash", "C:\\dir\\"),
                   mkmeta("unicode", META_UNICODE), mkmeta("ctrl", "a\tb\nc\x01")};
    char file[1024], raw[1024], script[1024];
    tpath(file, sizeof file, "py.safetensors");
    tpath(raw, sizeof raw, "py_weight.bin");
    tpath(script, sizeof script, "reader.py");
    rerr e = {{0}};
    ck_assert_msg(st_write(file, t, 4, m, 4, &e) == 0, "%s", e.msg);
    write_bytes(raw, w, sizeof w);
    write_bytes(script, py_reader, sizeof py_reader - 1);
    char *argv[] = {(char *)python_bin(), script, file, raw, NULL};
    ck_assert_int_eq(run_prog(argv, 0), 0);
}
END_TEST

/* Whether the interoperability case can run; says why not when it cannot. */
static int python_available(void)
{
    const char *py = python_bin();
    if (access(py, X_OK) != 0) {
        printf("SKIP python interop: %s not found\n", py);
        return 0;
    }
    char *argv[] = {(char *)py, "-c", "import numpy", NULL};
    if (run_prog(argv, 1) != 0) {
        printf("SKIP python interop: %s has no numpy\n", py);
        return 0;
    }
    return 1;
}

int main(void)
{
    const char *s = getenv("RESECG_SEED");
    g_seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_checkpoint: seed %llu (set RESECG_SEED to repeat)\n", (unsigned long long)g_seed);

    Suite *suite = suite_create("checkpoint");
    TCase *tc = tcase_create("safetensors");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 300); /* the mutation loop under ASan takes seconds */
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_known_bytes);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_bad_lengths);
    tcase_add_test(tc, test_writer_rejects);
    tcase_add_test(tc, test_mutations);
    if (python_available())
        tcase_add_test(tc, test_python_reader);
    suite_add_tcase(suite, tc);

    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
