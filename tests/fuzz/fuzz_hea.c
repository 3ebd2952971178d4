/* libFuzzer target for cinc17_parse_hea: the header text is not
 * NUL-terminated (libFuzzer's buffer ends exactly at size), so any read past
 * it is an ASan error. Accepted headers must hold sane values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/cinc17.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cinc17_header h;
    rerr e;
    if (cinc17_parse_hea((const char *)data, size, "fuzz.hea", &h, &e) == 0) {
        if (h.nsignals < 1 || !(h.fs > 0) || !isfinite(h.fs) || !(h.gain > 0) ||
            !isfinite(h.gain) || h.nsamples < 0 || !h.record[0] ||
            strlen(h.record) >= sizeof h.record || strlen(h.file) >= sizeof h.file)
            abort();
    } else if (strncmp(e.msg, "fuzz.hea", 8) != 0) {
        abort();
    }
    return 0;
}
