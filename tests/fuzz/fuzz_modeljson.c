/* libFuzzer target for the model.json checks (xgbjson_check, with the JSON
 * reader under it): the text is not NUL-terminated (libFuzzer's buffer ends
 * exactly at size), so any read past it is an ASan error; deep nesting must
 * be refused, not recursed into. Every error names the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "baseline/feat.h"
#include "baseline/xgbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rerr e;
    if (xgbjson_check((const char *)data, size, FEAT_N, 4, "fuzz.json", &e) != 0 &&
        strncmp(e.msg, "fuzz.json: ", 11) != 0)
        abort();
    return 0;
}
