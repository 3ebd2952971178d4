/* The model.json checks (see xgbjson.h). The layout is XGBoost 1.7's
 * (src/learner.cc, src/gbm/gbtree_model.cc, src/tree/tree_model.cc
 * SaveModel): integer parameters are strings ("num_class": "4"), per-node
 * data are parallel arrays indexed by node id, node 0 is the root, a leaf
 * has both children -1 and keeps its value in split_conditions, and the
 * root's parent is 2147483647 (XGBoost's invalid id with the left-child bit
 * cleared). */
#include "baseline/xgbjson.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define ROOT_PARENT 2147483647L

typedef struct xc {
    const char *path;
    rerr *e;
} xc;

/* obj's member key of the given type (where: obj's dotted name). */
static const json_value *field(const xc *c, const json_value *obj, const char *where,
                               const char *key, json_type type)
{
    const json_value *v = json_get(obj, key);
    if (!v) {
        rerr_set(c->e, "%s: %s.%s: missing", c->path, where, key);
        return NULL;
    }
    if (v->type != type) {
        rerr_set(c->e, "%s: %s.%s: expected %s, found %s", c->path, where, key,
                 json_type_name(type), json_type_name(v->type));
        return NULL;
    }
    return v;
}

/* An integral number in [lo, hi]. */
static int int_ok(double x, long lo, long hi) { return x >= lo && x <= hi && x == floor(x); }

/* An integer parameter: XGBoost writes it as a string of digits; a plain
 * number is taken too. Must lie in [lo, hi]. */
static int param_int(const xc *c, const json_value *obj, const char *where, const char *key,
                     long lo, long hi, long *out)
{
    const json_value *v = json_get(obj, key);
    double x = NAN;
    if (!v)
        return rerr_set(c->e, "%s: %s.%s: missing", c->path, where, key);
    if (v->type == JSON_NUMBER) {
        x = v->u.num;
    } else if (v->type == JSON_STRING) {
        const char *s = v->u.str;
        size_t k = (s[0] == '-') ? 1 : 0;
        if (s[k] && strspn(s + k, "0123456789") == strlen(s + k) && strlen(s) < 20)
            x = strtod(s, NULL);
    }
    if (!int_ok(x, lo, hi)) {
        char want[64];
        if (lo == hi)
            snprintf(want, sizeof want, "%ld", lo);
        else
            snprintf(want, sizeof want, "an integer in [%ld, %ld]", lo, hi);
        return rerr_set(c->e, "%s: %s.%s: expected %s, got %s%.40s%s", c->path, where, key, want,
                        v->type == JSON_STRING ? "\"" : "",
                        v->type == JSON_STRING ? v->u.str : json_type_name(v->type),
                        v->type == JSON_STRING ? "\"" : "");
    }
    *out = (long)x;
    return 0;
}

/* A finite real parameter (a string "5E-1" or a number). */
static int param_real(const xc *c, const json_value *obj, const char *where, const char *key)
{
    const json_value *v = json_get(obj, key);
    double x = NAN;
    if (!v)
        return rerr_set(c->e, "%s: %s.%s: missing", c->path, where, key);
    if (v->type == JSON_NUMBER) {
        x = v->u.num;
    } else if (v->type == JSON_STRING && v->u.str[0] && !strchr(" \t\n", v->u.str[0])) {
        char *end;
        x = strtod(v->u.str, &end);
        if (*end)
            x = NAN;
    }
    if (!isfinite(x))
        return rerr_set(c->e, "%s: %s.%s: expected a finite number", c->path, where, key);
    return 0;
}

static int param_str(const xc *c, const json_value *obj, const char *where, const char *key,
                     const char *want)
{
    const json_value *v = field(c, obj, where, key, JSON_STRING);
    if (!v)
        return -1;
    if (strcmp(v->u.str, want) != 0)
        return rerr_set(c->e, "%s: %s.%s: expected \"%s\", got \"%.60s\"", c->path, where, key,
                        want, v->u.str);
    return 0;
}

/* The per-node arrays of a tree. */
enum {
    LEFT,
    RIGHT,
    PARENT,
    SPLIT_INDEX,
    SPLIT_COND,
    SPLIT_TYPE,
    DEFAULT_LEFT,
    BASE_WEIGHT,
    LOSS_CHANGE,
    SUM_HESSIAN,
    NODE_ARRAYS
};
static const char *const node_field[NODE_ARRAYS] = {
    "left_children",  "right_children", "parents",      "split_indices", "split_conditions",
    "split_type",     "default_left",   "base_weights", "loss_changes",  "sum_hessian"};

static const char *const node_why[NODE_ARRAYS] = {
    "not -1 or a node id in [1, num_nodes)", "not -1 or a node id in [1, num_nodes)",
    "not a node id (the root's is 2147483647)", "not a feature index below num_feature",
    "not finite", "not 0 (only numerical splits are supported)", "not 0 or 1",
    "not finite", "not finite", "not finite"};

/* The checks of one node whose values v[k] of every array k are at hand. */
static int node_check(const xc *c, int t, long i, long n, long nfeat, const double *v)
{
    if (v[LEFT] == i || v[RIGHT] == i)
        return rerr_set(c->e, "%s: tree %d node %ld: %s is %ld (the node itself)", c->path, t, i,
                        v[LEFT] == i ? "left_children" : "right_children", i);
    for (int k = 0; k < NODE_ARRAYS; k++) {
        double x = v[k];
        int ok;
        switch (k) {
        case LEFT:
        case RIGHT: ok = x == -1 || int_ok(x, 1, n - 1); break;
        case PARENT: ok = i == 0 ? x == ROOT_PARENT : int_ok(x, 0, n - 1); break;
        case SPLIT_INDEX: ok = int_ok(x, 0, nfeat - 1); break;
        case SPLIT_TYPE: ok = x == 0; break;
        case DEFAULT_LEFT: ok = x == 0 || x == 1; break;
        default: ok = isfinite(x); break;
        }
        if (!ok)
            return rerr_set(c->e, "%s: tree %d node %ld: %s is %.17g (%s)", c->path, t, i,
                            node_field[k], x, node_why[k]);
    }
    if ((v[LEFT] == -1) != (v[RIGHT] == -1))
        return rerr_set(c->e, "%s: tree %d node %ld: left_children %.0f and right_children %.0f "
                              "(a leaf has both -1, a split neither)",
                        c->path, t, i, v[LEFT], v[RIGHT]);
    if (v[LEFT] != -1 && v[LEFT] == v[RIGHT])
        return rerr_set(c->e, "%s: tree %d node %ld: both children are node %.0f", c->path, t, i,
                        v[LEFT]);
    return 0;
}

/* From the root every node must be reached exactly once, from the parent
 * its parents entry names: then the node arrays form one tree, and
 * XGBoost's walk down it ends at a leaf within num_nodes steps. */
static int tree_walk(const xc *c, int t, long n, const json_value *arr[NODE_ARRAYS])
{
    unsigned char *seen = calloc((size_t)n, 1);
    long *stack = malloc(sizeof *stack * (size_t)n);
    int rc = 0;
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return rerr_set(c->e, "%s: out of memory", c->path);
    }
    long sp = 0;
    seen[0] = 1;
    stack[sp++] = 0;
    while (sp > 0 && rc == 0) {
        long id = stack[--sp];
        for (int k = LEFT; k <= RIGHT && rc == 0; k++) {
            long ch = (long)arr[k]->u.items[id].u.num;
            if (ch == -1)
                continue;
            if (seen[ch])
                rc = rerr_set(c->e, "%s: tree %d node %ld: %s is %ld, a node already reached "
                                    "(a cycle or a shared child)",
                              c->path, t, id, node_field[k], ch);
            else if ((long)arr[PARENT]->u.items[ch].u.num != id)
                rc = rerr_set(c->e, "%s: tree %d node %ld: parents is %.0f, but node %ld has it "
                                    "as a child",
                              c->path, t, ch, arr[PARENT]->u.items[ch].u.num, id);
            if (rc != 0)
                break;
            seen[ch] = 1; /* each node is pushed once: n entries suffice */
            stack[sp++] = ch;
        }
    }
    for (long i = 0; i < n && rc == 0; i++)
        if (!seen[i])
            rc = rerr_set(c->e, "%s: tree %d node %ld: not reached from the root", c->path, t, i);
    free(seen);
    free(stack);
    return rc;
}

static int tree_check(const xc *c, int t, const json_value *tree, long nfeat)
{
    char where[64];
    snprintf(where, sizeof where, "tree %d", t);
    if (tree->type != JSON_OBJECT)
        return rerr_set(c->e, "%s: %s: expected an object, found %s", c->path, where,
                        json_type_name(tree->type));
    long id, n, v;
    const json_value *tp = field(c, tree, where, "tree_param", JSON_OBJECT);
    if (!tp || param_int(c, tree, where, "id", t, t, &id) != 0 ||
        param_int(c, tp, where, "num_nodes", 1, INT32_MAX, &n) != 0 ||
        param_int(c, tp, where, "num_deleted", 0, 0, &v) != 0 ||
        param_int(c, tp, where, "num_feature", nfeat, nfeat, &v) != 0 ||
        param_int(c, tp, where, "size_leaf_vector", 0, 0, &v) != 0)
        return -1;
    const json_value *arr[NODE_ARRAYS];
    for (int k = 0; k < NODE_ARRAYS; k++) {
        if (!(arr[k] = field(c, tree, where, node_field[k], JSON_ARRAY)))
            return -1;
        if (arr[k]->n != n)
            return rerr_set(c->e, "%s: %s: %s has %u entries, num_nodes is %ld", c->path, where,
                            node_field[k], arr[k]->n, n);
        for (uint32_t i = 0; i < arr[k]->n; i++)
            if (arr[k]->u.items[i].type != JSON_NUMBER)
                return rerr_set(c->e, "%s: %s node %u: %s is %s, expected a number", c->path,
                                where, i, node_field[k], json_type_name(arr[k]->u.items[i].type));
    }
    static const char *const cats[] = {"categories", "categories_nodes", "categories_segments",
                                       "categories_sizes"};
    for (size_t k = 0; k < sizeof cats / sizeof cats[0]; k++) {
        const json_value *a = json_get(tree, cats[k]);
        if (a && (a->type != JSON_ARRAY || a->n != 0))
            return rerr_set(c->e, "%s: %s: %s is not empty (categorical splits are not supported)",
                            c->path, where, cats[k]);
    }
    for (long i = 0; i < n; i++) {
        double vals[NODE_ARRAYS];
        for (int k = 0; k < NODE_ARRAYS; k++)
            vals[k] = arr[k]->u.items[i].u.num;
        if (node_check(c, t, i, n, nfeat, vals) != 0)
            return -1;
    }
    return tree_walk(c, t, n, arr);
}

/* learner.gradient_booster: a gbtree whose trees and tree_info agree. */
static int booster_check(const xc *c, const json_value *gb, long nfeat, long ncls)
{
    static const char *const gbw = "learner.gradient_booster";
    static const char *const mw = "learner.gradient_booster.model";
    long v;
    if (param_str(c, gb, gbw, "name", "gbtree") != 0)
        return -1;
    const json_value *model = field(c, gb, gbw, "model", JSON_OBJECT);
    const json_value *mp = model ? field(c, model, mw, "gbtree_model_param", JSON_OBJECT) : NULL;
    const json_value *trees = mp ? field(c, model, mw, "trees", JSON_ARRAY) : NULL;
    const json_value *info = trees ? field(c, model, mw, "tree_info", JSON_ARRAY) : NULL;
    if (!info)
        return -1;
    if (param_int(c, mp, "learner.gradient_booster.model.gbtree_model_param", "num_trees",
                  trees->n, trees->n, &v) != 0 ||
        param_int(c, mp, "learner.gradient_booster.model.gbtree_model_param", "size_leaf_vector",
                  0, 0, &v) != 0)
        return -1;
    if (info->n != trees->n)
        return rerr_set(c->e, "%s: %s.tree_info has %u entries for %u trees", c->path, mw,
                        info->n, trees->n);
    for (uint32_t t = 0; t < info->n; t++) {
        const json_value *x = &info->u.items[t];
        if (x->type != JSON_NUMBER || !int_ok(x->u.num, 0, ncls - 1))
            return rerr_set(c->e, "%s: tree %u: tree_info is not a class in [0, %ld)", c->path, t,
                            ncls);
    }
    for (uint32_t t = 0; t < trees->n; t++)
        if (tree_check(c, (int)t, &trees->u.items[t], nfeat) != 0)
            return -1;
    return 0;
}

/* feature_names or feature_types: absent, empty or one string per feature. */
static int feature_info_check(const xc *c, const json_value *learner, const char *key, long nfeat)
{
    const json_value *a = json_get(learner, key);
    if (!a)
        return 0;
    if (a->type != JSON_ARRAY || (a->n != 0 && a->n != nfeat))
        return rerr_set(c->e, "%s: learner.%s: expected an array of 0 or %ld strings", c->path, key,
                        nfeat);
    for (uint32_t i = 0; i < a->n; i++)
        if (a->u.items[i].type != JSON_STRING)
            return rerr_set(c->e, "%s: learner.%s: entry %u is not a string", c->path, key, i);
    return 0;
}

static int model_check(const xc *c, const json_value *root, long nfeat, long ncls)
{
    long v;
    if (root->type != JSON_OBJECT)
        return rerr_set(c->e, "%s: expected an object (XGBoost's JSON model), found %s", c->path,
                        json_type_name(root->type));
    const json_value *ver = field(c, root, "(top level)", "version", JSON_ARRAY);
    if (!ver)
        return -1;
    for (uint32_t i = 0; i < ver->n; i++)
        if (ver->n != 3 || ver->u.items[i].type != JSON_NUMBER ||
            !int_ok(ver->u.items[i].u.num, 0, INT32_MAX))
            return rerr_set(c->e, "%s: version: expected three integers", c->path);
    const json_value *learner = field(c, root, "(top level)", "learner", JSON_OBJECT);
    const json_value *lp = learner ? field(c, learner, "learner", "learner_model_param",
                                           JSON_OBJECT)
                                   : NULL;
    const json_value *obj = lp ? field(c, learner, "learner", "objective", JSON_OBJECT) : NULL;
    const json_value *gb = obj ? field(c, learner, "learner", "gradient_booster", JSON_OBJECT)
                               : NULL;
    if (!gb)
        return -1;
    static const char *const lpw = "learner.learner_model_param";
    if (param_int(c, lp, lpw, "num_class", ncls, ncls, &v) != 0 ||
        param_int(c, lp, lpw, "num_feature", nfeat, nfeat, &v) != 0 ||
        param_real(c, lp, lpw, "base_score") != 0 ||
        param_str(c, obj, "learner.objective", "name", "multi:softprob") != 0 ||
        feature_info_check(c, learner, "feature_names", nfeat) != 0 ||
        feature_info_check(c, learner, "feature_types", nfeat) != 0)
        return -1;
    const json_value *smp = json_get(obj, "softmax_multiclass_param");
    if (smp && param_int(c, smp, "learner.objective.softmax_multiclass_param", "num_class", ncls,
                         ncls, &v) != 0)
        return -1;
    return booster_check(c, gb, nfeat, ncls);
}

int xgbjson_check(const char *text, size_t len, int num_features, int num_classes,
                  const char *path, rerr *e)
{
    json_limits lim = {.max_bytes = XGBJSON_MAX_BYTES, .max_depth = XGBJSON_MAX_DEPTH};
    json_doc d;
    if (json_parse(&d, text, len, &lim, path, e) != 0)
        return -1;
    xc c = {.path = path, .e = e};
    int rc = model_check(&c, &d.root, num_features, num_classes);
    json_free(&d);
    return rc;
}
