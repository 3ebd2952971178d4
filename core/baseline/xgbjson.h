/* Validation of an XGBoost JSON model (model.json of the feature baseline)
 * before XGBoost reads it. XGBoost's loader trusts the file: a split on a
 * feature past the row's end reads out of bounds (a segfault), and a node
 * that is its own child, or any cycle, makes prediction loop forever. So
 * the file is parsed here first (core/base/json.h: size cap, nesting limit) and
 * its trees are checked to be trees XGBoost can walk. */
#ifndef RESECG_XGBJSON_H
#define RESECG_XGBJSON_H

#include <stddef.h>

#include "base/util.h"

/* model.json files over this are refused unread by XGBoost: 400 rounds x 4
 * classes at depth 5 take about 10 MB. */
#define XGBJSON_MAX_BYTES (256u << 20)
/* XGBoost's own models nest 7 levels deep. */
#define XGBJSON_MAX_DEPTH 32

/* Checks the model text (len bytes) as XGBoost 1.7 writes it for a
 * gbtree booster with objective multi:softprob:
 *   - well-formed JSON within the limits above, no duplicate keys;
 *   - learner_model_param: num_class = num_classes, num_feature =
 *     num_features, a finite base_score; objective multi:softprob;
 *     gradient_booster gbtree with num_trees = the number of trees, one
 *     tree_info entry per tree naming a class below num_class, trees with
 *     id = their position;
 *   - every tree: num_nodes >= 1, no deleted nodes, no leaf vectors, every
 *     per-node array (left_children, right_children, parents,
 *     split_indices, split_conditions, split_type, default_left,
 *     base_weights, loss_changes, sum_hessian) num_nodes long; children -1
 *     (both, a leaf) or in [1, num_nodes), never the node itself; from the
 *     root every node is reached exactly once (no cycle, no shared or
 *     orphaned node) and parents agree; split_indices in [0, num_feature);
 *     numeric splits only (no categories); finite split_conditions (a
 *     leaf's value), base_weights, loss_changes and sum_hessian; default_left
 *     0 or 1.
 * Errors name path and the field, with the tree and node where there is
 * one: "model.json: tree 3 node 5: left_children is 5 (the node itself)". */
int xgbjson_check(const char *text, size_t len, int num_features, int num_classes,
                  const char *path, rerr *e);

#endif
