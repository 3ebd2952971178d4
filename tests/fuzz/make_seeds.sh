#!/usr/bin/env bash
# Writes the seed corpus and dictionaries for the fuzz targets into
# DIR/{mat,hea,labels,checkpoint,modeljson}/ and DIR/*.dict: small files made
# here from the format descriptions (MATLAB v4, WFDB header, REFERENCE csv,
# safetensors, XGBoost's JSON model), no real record.
#   tests/fuzz/make_seeds.sh DIR
set -euo pipefail
dir=${1:?usage: make_seeds.sh DIR}
mkdir -p "$dir/mat" "$dir/hea" "$dir/labels" "$dir/checkpoint" "$dir/modeljson" "$dir/config" "$dir/sweep"

# MATLAB v4 header: type, mrows, ncols, imagf, namlen (int32 little-endian).
hdr() { printf '%b' "$1" "$2" "$3" '\x00\x00\x00\x00' "$4"; }
one='\x01\x00\x00\x00'
five='\x05\x00\x00\x00'
four='\x04\x00\x00\x00'
samples='\x81\xff\x5e\xff\x3b\xff\x00\x00\xff\x7f'
{ hdr '\x1e\x00\x00\x00' "$one" "$five" "$four"; printf '%b' 'val\x00' "$samples"; } >"$dir/mat/int16_row"
{ hdr '\x1e\x00\x00\x00' "$five" "$one" "$four"; printf '%b' 'val\x00' "$samples"; } >"$dir/mat/int16_col"
{ hdr '\x00\x00\x00\x00' "$one" '\x02\x00\x00\x00' "$four"
  printf 'val\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x59\xc0'; } >"$dir/mat/double"
{ hdr '\x1e\x00\x00\x00' "$one" "$five" "$four"; printf 'val\x00\x81\xff\x5e'; } >"$dir/mat/truncated"
{ hdr '\x1e\x00\x00\x00' '\x02\x00\x00\x00' '\x02\x00\x00\x00' "$four"
  printf 'val\x00\x01\x00\x02\x00\x03\x00\x04\x00'; } >"$dir/mat/two_rows"
{ hdr '\x1e\x00\x00\x00' "$one" "$one" '\x06\x00\x00\x00'; printf 'value\x00\x01\x00'; } >"$dir/mat/other_name"
{ printf '\x00\x00\x04\x06\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04'
  printf 'val\x00\x00\x01'; } >"$dir/mat/big_endian"

printf 'A1 1 300 5 05:05:15 1/05/2000 \r\nA1.mat 16+24 1000/mV 16 0 -127 0 0 ECG \r\n' >"$dir/hea/cinc"
printf '# comment\nB2 1\nB2.mat 16\n' >"$dir/hea/minimal"
printf 'C3 2 360/1(0) 650000\nC3.dat 212 200(1024)/mV 11 1024 995 -22131 0 MLII\n' >"$dir/hea/two_signals"
printf 'C3.dat 212 200(1024)/mV 11 1024 995 -22131 0 V5\n' >>"$dir/hea/two_signals"
printf 'D4/2 1 250 100\nD4.mat 16 1000/uV\n' >"$dir/hea/odd"

printf 'A1,N\nA2,A\nA3,O\nA4,~\n' >"$dir/labels/lf"
printf '\xef\xbb\xbfA1,N\r\nA2,A\r\n\r\n A3 , O\r\n' >"$dir/labels/crlf_bom"
printf 'A1,N\nA1,O\nA2,X\n"A3",N\nA4\n"A5,~\n' >"$dir/labels/bad"

printf '%s\n' '"val\x00"' '"\x1e\x00\x00\x00"' '"\x00\x00\x00\x00"' '"\x01\x00\x00\x00"' \
  '"\x04\x00\x00\x00"' '"\xff\xff\xff\x7f"' >"$dir/mat.dict"
printf '%s\n' '"/mV"' '"16+24"' '"\x0d\x0a"' '"#"' '".mat"' '"(0)"' '" 1 300 "' '"/"' >"$dir/hea.dict"
printf '%s\n' '",N"' '",A"' '",O"' '",~"' '"\x0d\x0a"' '"\""' '"\xef\xbb\xbf"' >"$dir/labels.dict"

# Checkpoints of fuzz_checkpoint.c's tiny network (2 filters, one block,
# kernel 2, 4 classes) as resecg writes them: best (weights, BN statistics
# and counters), last (plus the Adam moments and the loop state), then the
# issue 18 reproductions, each one change away (norm_std "0", a NaN weight, a
# flipped data bit, a missing tensor). And XGBoost 1.7 JSON models of one
# 5-node tree over 37 features (core/baseline/feat.h's FEAT_N) for fuzz_modeljson.c:
# a valid one, then a split index out of range, a self child and a cycle.
python3 - "$dir" <<'EOF'
import json, struct, sys
d = sys.argv[1]
params = [("conv.weight", [2, 1, 2]), ("conv.bias", [2]), ("bn.weight", [2]), ("bn.bias", [2]),
          ("blocks.0.conv1.weight", [2, 2, 2]), ("blocks.0.conv1.bias", [2]),
          ("blocks.0.bn2.weight", [2]), ("blocks.0.bn2.bias", [2]),
          ("blocks.0.conv2.weight", [2, 2, 2]), ("blocks.0.conv2.bias", [2]),
          ("bn_out.weight", [2]), ("bn_out.bias", [2]), ("dense.weight", [4, 2]), ("dense.bias", [4])]
bns = ["bn", "blocks.0.bn2", "bn_out"]

def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n

def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h

def tensors(adam):
    out, x = [], 0.25
    def floats(name, shape, lo=None):
        nonlocal x
        vals = []
        for _ in range(numel(shape)):
            x = (x * 3.7 + 0.31) % 1.0
            vals.append(x if lo == 0 else x - 0.5)
        out.append((name, "F32", shape, struct.pack("<%df" % len(vals), *vals)))
    for name, shape in params:
        floats(name, shape)
        if name.endswith(".bias") and name.rsplit(".", 1)[0] in bns:
            bn = name.rsplit(".", 1)[0]
            floats(bn + ".running_mean", [2])
            floats(bn + ".running_var", [2], lo=0)
            out.append((bn + ".num_batches_tracked", "I64", [], struct.pack("<q", 6)))
    if adam:
        for name, shape in params:
            floats("adam.m." + name, shape)
        for name, shape in params:
            floats("adam.v." + name, shape, lo=0)
    return out

def write(path, ts, meta, checksum=True, flip=False):
    data = b"".join(t[3] for t in ts)
    meta = dict(meta)
    if checksum:
        meta["data_fnv1a64"] = fnv(data)
    h, at = {"__metadata__": meta}, 0
    for name, dt, shape, raw in ts:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [at, at + len(raw)]}
        at += len(raw)
    text = json.dumps(h, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    if flip:
        data = data[:-4] + bytes([data[-4] ^ 1]) + data[-3:]
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)

best = {"format": "resecg-checkpoint-1", "epoch": "2", "norm_mean": "0.0231", "norm_std": "0.7545"}
last = dict(best, adam_step="6", lr="0.001", best_dev_loss="1.25", best_epoch="2",
            plateau_best="1.25", waits="0 0")
write(d + "/checkpoint/best", tensors(False), best)
write(d + "/checkpoint/last", tensors(True), last)
write(d + "/checkpoint/no_checksum", tensors(False), best, checksum=False)
write(d + "/checkpoint/norm_std_zero", tensors(False), dict(best, norm_std="0"))
nan = tensors(False)
nan[0] = (nan[0][0], "F32", nan[0][2], struct.pack("<f", float("nan")) + nan[0][3][4:])
write(d + "/checkpoint/nan_weight", nan, best)
write(d + "/checkpoint/flipped", tensors(False), best, flip=True)
write(d + "/checkpoint/missing", tensors(False)[1:], best)

def model(left, right, parents, split, cond):
    n = len(left)
    tree = {"base_weights": [c if l == -1 else 0.1 for l, c in zip(left, cond)],
            "categories": [], "categories_nodes": [], "categories_segments": [],
            "categories_sizes": [], "default_left": [1] * n, "id": 0, "left_children": left,
            "loss_changes": [0.5] * n, "parents": parents, "right_children": right,
            "split_conditions": cond, "split_indices": split, "split_type": [0] * n,
            "sum_hessian": [2.5] * n,
            "tree_param": {"num_deleted": "0", "num_feature": "37", "num_nodes": str(n),
                           "size_leaf_vector": "0"}}
    return {"learner": {"attributes": {"resecg_format": "resecg-features-1"},
                        "feature_names": [], "feature_types": [],
                        "gradient_booster": {"model": {
                            "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1",
                                                   "size_leaf_vector": "0"},
                            "tree_info": [0], "trees": [tree]}, "name": "gbtree"},
                        "learner_model_param": {"base_score": "5E-1", "boost_from_average": "1",
                                                "num_class": "4", "num_feature": "37",
                                                "num_target": "1"},
                        "objective": {"name": "multi:softprob",
                                      "softmax_multiclass_param": {"num_class": "4"}}},
            "version": [1, 7, 4]}

R = 2147483647
good = dict(left=[1, 3, -1, -1, -1], right=[2, 4, -1, -1, -1], parents=[R, 0, 0, 1, 1],
            split=[8, 0, 0, 0, 0], cond=[0.5, 60.0, 0.1, -0.2, 0.3])
cases = {"valid": {}, "split_index": {"split": [1000000, 0, 0, 0, 0]},
         "self_child": {"left": [1, 1, -1, -1, -1]},
         "cycle": {"left": [1, 3, -1, 1, -1], "right": [2, 4, -1, 4, -1]}}
for name, change in cases.items():
    spec = dict(good, **change)
    open(d + "/modeljson/" + name, "w").write(json.dumps(model(**spec), separators=(",", ":")))
EOF

printf '%s\n' '"F32"' '"I64"' '"dtype"' '"shape"' '"data_offsets"' '"__metadata__"' '"adam.m."' \
  '"adam.v."' '"norm_std"' '"norm_mean"' '"data_fnv1a64"' '"epoch"' '".num_batches_tracked"' \
  '"\x00\x00\xc0\x7f"' '"\x00\x00\x80\x7f"' '"nan"' '"inf"' >"$dir/checkpoint.dict"
printf '%s\n' '"left_children"' '"right_children"' '"parents"' '"split_indices"' \
  '"split_conditions"' '"base_weights"' '"num_nodes"' '"tree_info"' '"-1"' '"2147483647"' \
  '"1e999"' '"\\u"' '"[["' '"{\"a\":"' >"$dir/modeljson.dict"

# the project's own configs and sweep files, and the keys they use
root=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$root"/cfgs/*.yaml; do cp "$f" "$dir/config/$(basename "$f")"; done
for f in "$root"/sweeps/*.yaml; do cp "$f" "$dir/sweep/$(basename "$f")"; done
printf '%s\n' '"model:"' '"train:"' '"optim:"' '"loss:"' '"data:"' '"features:"' '"filters"' \
  '"kind"' '"precision"' '"bf16"' '"focal"' '"[1, 2]"' '"{a: 1}"' '"&a "' '"*a"' '"!!str"' \
  '"<<: "' '"---"' '"1e999"' '".nan"' >"$dir/config.dict"
printf '%s\n' '"name:"' '"config:"' '"variants:"' '"grid:"' '"include:"' '"exclude:"' '"seeds:"' \
  '"set:"' '"resources:"' '"gpus:"' '"[1, 2]"' '"{a: 1}"' '"&a "' '"*a"' '"- "' >"$dir/sweep.dict"
