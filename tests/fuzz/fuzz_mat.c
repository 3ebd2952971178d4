/* libFuzzer target for cinc17_parse_mat: any bytes must give either samples
 * of the length promised or an error naming the file, never a crash, an
 * over-read (ASan) or a leak (LSan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/cinc17.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int16_t *x = NULL;
    int len = -1;
    rerr e;
    if (cinc17_parse_mat(data, size, "fuzz.mat", &x, &len, &e) == 0) {
        /* The samples must all be there: 24 header bytes + 2 per sample at
         * least, and touching each one lets ASan check the allocation. */
        if (len < 1 || (size_t)len > size / 2)
            abort();
        long sum = 0;
        for (int i = 0; i < len; i++)
            sum += x[i];
        (void)sum;
        free(x);
    } else if (x || strncmp(e.msg, "fuzz.mat: ", 10) != 0) {
        abort();
    }
    return 0;
}
