/* libFuzzer target for the safetensors reader (st_read_buffer) and the
 * checks every checkpoint reader runs before using a file
 * (checkpoint_validate), against a tiny network made once (2 filters, one
 * block, kernel 2: the seeds make_seeds.sh writes are its checkpoints).
 * A file that passes must hold every model tensor, F32 of its size, with
 * finite values; one that fails must name the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/device.h"
#include "run/safetensors.h"
#include "base/config.h"
#include "nn/model.h"
#include "run/checkpoint.h"
#include "run/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static model g_model;

static const model *tiny_model(void)
{
    static int made;
    if (!made) {
        resecg_config c;
        rerr e;
        config_defaults(&c);
        c.model.filters_start = 2;
        c.model.num_blocks = 1;
        c.model.kernel = 2;
        backend *be = backend_create("cpu-ref", 1, c.train.precision, &e);
        if (!be || model_init(&g_model, &c.model, be, &e) != 0)
            abort();
        made = 1;
    }
    return &g_model;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const model *m = tiny_model();
    char *buf = malloc(size ? size : 1); /* st_read_buffer takes ownership */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    st_file f;
    rerr e;
    if (st_read_buffer(&f, buf, size, "fuzz.safetensors", &e) != 0) {
        if (strncmp(e.msg, "fuzz.safetensors: ", 18) != 0)
            abort();
        return 0;
    }
    /* with the Adam moments required on odd sizes, optional on even ones */
    if (checkpoint_validate(&f, m, (int)(size & 1), "fuzz.safetensors", &e) == 0) {
        for (int i = 0; i < m->ntensors; i++) {
            const tensor_info *t = &m->tensors[i];
            const st_tensor *s = st_find(&f, t->name);
            if (!s || s->dtype != ST_F32 || s->nbytes != (size_t)t->numel * sizeof(float))
                abort();
            for (long k = 0; k < t->numel; k++) {
                float x;
                memcpy(&x, (const char *)s->data + k * sizeof x, sizeof x);
                if (!isfinite(x))
                    abort();
            }
        }
    } else if (strncmp(e.msg, "fuzz.safetensors: ", 18) != 0) {
        abort();
    }
    st_free(&f);
    return 0;
}
