/* Tests of the bounded JSON reader (core/base/json.c): values read back exactly
 * (numbers, escapes, surrogate pairs, nesting), the limits hold at their
 * edge (max_depth levels parse, one more is refused; max_bytes likewise),
 * and every form RFC 8259 refuses is refused with the byte offset. Then
 * random documents, written here and parsed, agree value for value. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "nn/rng.h"
#include "base/util.h"

static const json_limits lim = {.max_bytes = 1 << 20, .max_depth = 8};

static void parse_ok(json_doc *d, const char *text)
{
    rerr e = {{0}};
    ck_assert_msg(json_parse(d, text, strlen(text), &lim, "t.json", &e) == 0, "%s: %s", text,
                  e.msg);
}

/* text must be refused with a message holding needle. */
static void parse_bad(const char *text, size_t n, const char *needle)
{
    json_doc d;
    rerr e = {{0}};
    ck_assert_msg(json_parse(&d, text, n, &lim, "t.json", &e) == -1, "accepted: %.80s", text);
    ck_assert_msg(strncmp(e.msg, "t.json: ", 8) == 0 && strstr(e.msg, needle),
                  "%.80s: expected '%s' in: %s", text, needle, e.msg);
    ck_assert_ptr_null(d.arena);
    json_free(&d);
}

START_TEST(test_values)
{
    json_doc d;
    parse_ok(&d, " {\"a\": [1, -0.5, 2.5E3, 1e999, 0], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\","
                 " \"t\": true, \"f\": false, \"z\": null, \"o\": {}, \"e\": []} ");
    const json_value *a = json_get(&d.root, "a");
    ck_assert(a && a->type == JSON_ARRAY && a->n == 5);
    ck_assert(a->u.items[0].u.num == 1 && a->u.items[1].u.num == -0.5);
    ck_assert(a->u.items[2].u.num == 2500 && isinf(a->u.items[3].u.num));
    const json_value *s = json_get(&d.root, "s");
    ck_assert(s && s->type == JSON_STRING);
    ck_assert_str_eq(s->u.str, "x\xc3\xa9\xf0\x9f\x98\x80\n\"");
    ck_assert_uint_eq(s->n, strlen(s->u.str));
    ck_assert_int_eq(json_get(&d.root, "t")->type, JSON_TRUE);
    ck_assert_int_eq(json_get(&d.root, "f")->type, JSON_FALSE);
    ck_assert_int_eq(json_get(&d.root, "z")->type, JSON_NULL);
    ck_assert(json_get(&d.root, "o")->n == 0 && json_get(&d.root, "e")->n == 0);
    ck_assert_ptr_null(json_get(&d.root, "absent"));
    ck_assert_ptr_null(json_get(a, "a")); /* not an object */
    json_free(&d);
}
END_TEST

START_TEST(test_limits)
{
    char text[64] = "";
    for (int i = 0; i < lim.max_depth; i++)
        strcat(text, "[");
    for (int i = 0; i < lim.max_depth; i++)
        strcat(text, "]");
    json_doc d;
    parse_ok(&d, text); /* exactly max_depth levels */
    json_free(&d);
    char deeper[sizeof text + 2];
    snprintf(deeper, sizeof deeper, "[%s]", text);
    parse_bad(deeper, strlen(deeper), "nested deeper than 8 levels");
    size_t big = lim.max_bytes + 1;
    char *blank = malloc(big);
    ck_assert_ptr_nonnull(blank);
    memset(blank, ' ', big);
    blank[0] = '0';
    parse_bad(blank, big, "over the 1048576-byte limit");
    free(blank);
}
END_TEST

START_TEST(test_refusals)
{
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"", "found the end"},
        {"[1,]", "expected a value"},
        {"{\"a\":1,}", "expected a key"},
        {"[01]", "leading zero"},
        {"[1.]", "digit after '.'"},
        {"[1e]", "exponent"},
        {"[-]", "digit after '-'"},
        {"[NaN]", "expected a value"},
        {"[Infinity]", "expected a value"},
        {"[tru]", "expected a value"},
        {"\"abc", "unterminated string"},
        {"\"a\\x\"", "bad escape"},
        {"\"\\u00zz\"", "bad hex digit"},
        {"\"\\u0000\"", "\\u0000"},
        {"\"\\udc00\"", "unpaired low surrogate"},
        {"\"\\ud800x\"", "without its low half"},
        {"\"\xc3\x28\"", "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8"}, /* an encoded surrogate */
        {"\"a\tb\"", "raw control character"},
        {"{\"k\":1,\"k\":2}", "duplicate key \"k\""},
        {"{\"k\" 1}", "expected ':'"},
        {"[1 2]", "expected ',' or ']'"},
        {"{} x", "unexpected bytes after the value"},
        {"[1234567890123456789012345678901234567890123456789012345678901234]", "longer than 63"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i].text, strlen(bad[i].text), bad[i].needle);
    /* no NUL is needed or read: a number at the very end of the buffer */
    char num[2] = {'7', '8'};
    json_doc d;
    rerr e;
    ck_assert(json_parse(&d, num, 1, &lim, "t.json", &e) == 0 && d.root.u.num == 7);
    json_free(&d);
}
END_TEST

/* Random arrays of objects of numbers and strings, written with %.17g and
 * escapes, read back value for value. */
START_TEST(test_random_documents)
{
    uint64_t seed = (uint64_t)time(NULL);
    printf("test_random_documents: seed %llu\n", (unsigned long long)seed);
    rng r;
    rng_seed(&r, seed);
    for (int round = 0; round < 50; round++) {
        int n = 1 + (int)(rng_u64(&r) % 200);
        double *want = malloc(sizeof *want * (size_t)n);
        ck_assert_ptr_nonnull(want);
        sbuf b = {0};
        sbuf_puts(&b, "[");
        for (int i = 0; i < n; i++) {
            want[i] = (rng_uniform(&r) - 0.5) * pow(10.0, (double)(rng_u64(&r) % 40) - 20);
            sbuf_printf(&b, "%s{\"v\":%.17g,\"k%d\":\"\\t\\u00e9\"}", i ? "," : "", want[i], i);
        }
        sbuf_puts(&b, "]");
        ck_assert(!b.oom);
        json_doc d;
        rerr e;
        ck_assert_msg(json_parse(&d, b.p, b.len, &lim, "t.json", &e) == 0, "%s", e.msg);
        ck_assert_uint_eq(d.root.n, (unsigned)n);
        for (int i = 0; i < n; i++) {
            const json_value *o = &d.root.u.items[i];
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            ck_assert_msg(json_get(o, "v")->u.num == want[i], "item %d: %.17g read as %.17g", i,
                          want[i], json_get(o, "v")->u.num);
            ck_assert_str_eq(json_get(o, key)->u.str, "\t\xc3\xa9");
        }
        json_free(&d);
        free(b.p);
        free(want);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_random_documents);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
