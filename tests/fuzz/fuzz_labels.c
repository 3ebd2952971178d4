/* libFuzzer target for cinc17_parse_labels, strict and with skip_bad: every
 * accepted label must be a plain record name with a class in 0..3 and a
 * line inside the file, records must be unique, and the report must add up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/cinc17.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_labels(const cinc17_label *lab, int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        size_t k = strlen(lab[i].record);
        if (k == 0 || k >= sizeof lab[i].record || strchr(lab[i].record, '/') ||
            lab[i].label < 0 || lab[i].label > 3 || lab[i].line < 1 ||
            (size_t)lab[i].line > size + 1 || (i && lab[i].line <= lab[i - 1].line))
            abort();
        /* Uniqueness, quadratic but inputs are small. */
        for (int j = 0; j < i && n <= 256; j++)
            if (strcmp(lab[i].record, lab[j].record) == 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cinc17_label *lab = NULL;
    int n = -1;
    rerr e;
    int strict_rc = cinc17_parse_labels(text, size, "fuzz.csv", &lab, &n, NULL, &e);
    if (strict_rc == 0) {
        check_labels(lab, n, size);
    } else if (lab || strncmp(e.msg, "fuzz.csv:", 9) != 0) {
        abort();
    }
    int strict_n = n;
    free(lab);

    cinc17_report rep;
    memset(&rep, 0, sizeof rep);
    if (cinc17_parse_labels(text, size, "fuzz.csv", &lab, &n, &rep, &e) != 0)
        abort(); /* with a report only running out of memory fails */
    check_labels(lab, n, size);
    int sum = 0;
    for (int k = 0; k < CINC17_NPROBLEMS; k++)
        sum += rep.by_problem[k];
    if (sum != rep.skipped || rep.nexamples > 8 || rep.nexamples > rep.skipped ||
        (strict_rc == 0) != (rep.skipped == 0) || (strict_rc == 0 && n != strict_n))
        abort();
    free(lab);
    return 0;
}
