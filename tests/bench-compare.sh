#!/usr/bin/env bash
# Side-by-side figures of two checkouts, in one run, alternating, so that the
# machine's noise hits both alike: bash tests/bench-compare.sh BEFORE AFTER [REPS]
#
# BEFORE and AFTER are repository roots that already hold their builds:
#   target/release/fedwasm   (cargo build --release -p fedwasm-cli; older
#                             checkouts: -p fedwasm)
#   target/pkg-node/         (bash tests/build-node-pkg.sh)
# For each figure it prints every run and the median of REPS (default 3):
#   softmax and cnn_dropout (batch 20) epochs, native and wasm32 in Node;
#   a W1 round (simulate --workload w1, median round seconds, native);
#   a W3 client round (bench recon --clients 50 --rounds 21), native and wasm32.
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
reps=${3:-3}
export FEDWASM_BACKEND=cpu

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

# figure NAME UNIT COMMAND-TEMPLATE (with @ for the checkout root) JSON-EXPR
figure() {
  local name=$1 unit=$2 template=$3 expr=$4
  local b=() a=() i v
  for ((i = 0; i < reps; i++)); do
    for side in before after; do
      local root=${!side}
      v=$(cd "$root" && eval "${template//@/$root}" | json "$expr")
      if [[ $side == before ]]; then b+=("$v"); else a+=("$v"); fi
    done
  done
  printf '%-34s before %-12s after %-12s (%s; runs: %s | %s)\n' "$name" \
    "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${a[@]}" | median)" "$unit" \
    "${b[*]}" "${a[*]}"
}

w1_round() {
  # The median of the per-round seconds of a W1 run.
  "$1/target/release/fedwasm" simulate --workload w1 |
    python3 -c "import json,sys,statistics; r=[json.loads(l)['seconds'] for l in sys.stdin if '\"round\"' in l and 'evaluation' not in l]; print(json.dumps({'s': statistics.median(r)}))"
}

figure "softmax epoch, native" "ms" "@/target/release/fedwasm bench train --model softmax --batch 20 --json" "d['epoch_seconds']*1e3"
figure "softmax epoch, wasm32 Node" "ms" "node @/tests/node/bench.mjs --model softmax --batch 20 --json" "d['epoch_seconds']*1e3"
figure "cnn_dropout epoch b20, native" "s" "@/target/release/fedwasm bench train --model cnn --batch 20 --json" "d['epoch_seconds']"
figure "cnn_dropout epoch b20, wasm32 Node" "s" "node @/tests/node/bench.mjs --model cnn --batch 20 --json" "d['epoch_seconds']"
figure "W1 round, native" "ms" "w1_round @" "d['s']*1e3"
figure "W3 client round, native" "ms" "@/target/release/fedwasm bench recon --clients 50 --rounds 21 --json" "d['round_seconds']*1e3"
figure "W3 client round, wasm32 Node" "ms" "node @/tests/node/bench.mjs --model recon --clients 50 --rounds 21 --json" "d['round_seconds']*1e3"
