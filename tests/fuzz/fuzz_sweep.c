/* libFuzzer target for the sweep file parser (runner/sweep_file.c): any
 * input is parsed or refused with a message naming the file, in bounded
 * time and memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sweep sw;
    rerr e = {{0}};
    /* dir "/nonexistent": relative config: paths resolve nowhere, so only
     * the file's own text is exercised */
    int rc = sweep_load_string(&sw, (const char *)data, size, "fuzz.yaml", "/nonexistent", &e);
    if (rc != 0) {
        if (strncmp(e.msg, "fuzz.yaml", 9) != 0 && !strstr(e.msg, "out of memory") &&
            !strstr(e.msg, "/nonexistent"))
            abort(); /* every refusal names the file (or the missing base config) */
        return 0;
    }
    if (!sw.name || !sw.name[0] || sw.nvariants < 0)
        abort();
    sweep_free(&sw);
    return 0;
}
