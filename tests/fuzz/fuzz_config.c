/* libFuzzer target for the config loader (core/base/config.c on libyaml): any
 * input is loaded or refused with a message, in bounded time (the nesting
 * limit); a loaded config validates its own way and its canonical text
 * loads back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the loader takes a string, as files are read */
    resecg_config c;
    config_defaults(&c);
    rerr e = {{0}};
    if (config_load_string(&c, text, "fuzz.yaml", &e) != 0) {
        if (!e.msg[0])
            abort(); /* a refusal always says why */
        free(text);
        return 0;
    }
    /* canonical text round trip: what config_write stores reloads as itself */
    char *once = config_to_string(&c);
    if (!once)
        abort();
    resecg_config again;
    config_defaults(&again);
    if (config_load_string(&again, once, "fuzz.yaml", &e) != 0) /* the name is in the header */
        abort();
    char *twice = config_to_string(&again);
    if (!twice || strcmp(once, twice) != 0)
        abort();
    free(once);
    free(twice);
    free(text);
    return 0;
}
