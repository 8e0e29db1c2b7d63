#!/usr/bin/env bash
# End-to-end check of the feature-derivation example: its `spacetime` (with loan-ratios-v1
# registered) trains in one process and through `local` (its workers apply the derivation),
# predicts, evaluates and transforms with the model; the plain `spacetime` refuses that model
# naming the derivation, and a plain worker refuses the job's tasks.
#   Examples/DerivedFeatures/check.sh [BIN_DIR]   (default .build/debug: spacetime and
#                                                   spacetime-derived-example, or spacetime-derived)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(cd "${1:-$here/../../.build/debug}" && pwd)"
ST="$bin/spacetime"
EX="$bin/spacetime-derived-example"
[ -x "$EX" ] || EX="$bin/spacetime-derived"
for b in "$ST" "$EX"; do [ -x "$b" ] || { echo "missing $b (build first)"; exit 1; }; done
work="$(mktemp -d "${TMPDIR:-/tmp}/spacetime-derived.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

# A loan data set whose label depends on ratios and on the month of a yyyymmdd date.
python3 - <<'PY'
import random
r = random.Random(7)
with open("loans.csv", "w") as f:
    f.write("income,debt,amount,opened,default\n")
    for i in range(4000):
        income = r.randint(20, 200) * 1000
        debt = int(income * r.uniform(0, 0.9))
        amount = int(income * r.uniform(0.05, 1.2))
        y, m, d = r.randint(2015, 2024), r.randint(1, 12), r.randint(1, 28)
        risky = debt / income > 0.5 or (amount / income > 0.9 and m in (12, 1, 2))
        label = int(risky) if r.random() > 0.05 else int(not risky)
        f.write(f"{income},{debt},{amount},{y:04d}{m:02d}{d:02d},{label}\n")
PY
fp() { sed -n 's/.*fingerprint \([0-9a-f]\{16\}\).*/\1/p' "$1" | tail -1; }
common=(--derivation loan-ratios-v1 --trees 20 --partitions 2 --seed 3)

"$EX" train loans.csv "${common[@]}" --model-out one.stm > train.out 2> train.err || { cat train.err; fail "train with the derivation"; }
"$EX" local loans.csv "${common[@]}" --workers 2 --memory-limit 256MiB --model-out local.stm --progress none > local.out 2> local.err \
  || { tail -20 local.err; fail "local with the derivation"; }
a="$(fp train.out)"; b="$(fp local.out)"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "train fingerprint '$a' ≠ local fingerprint '$b'"
echo "train and local (2 workers) with loan-ratios-v1: fingerprint $a"
grep -q "debt_to_income" <("$EX" inspect one.stm) || fail "inspect does not list the derived features"
"$ST" train loans.csv --trees 20 --partitions 2 --seed 3 --model-out plain.stm > plain.out 2>/dev/null
[ "$(fp plain.out)" != "$a" ] || fail "the derivation does not change the model"

"$EX" predict --model one.stm loans.csv --out pred.csv 2>/dev/null || fail "predict with the derivation"
[ "$(wc -l < pred.csv)" -eq 4001 ] || fail "predict wrote $(wc -l < pred.csv) lines"
"$EX" evaluate --model one.stm loans.csv > eval.out || fail "evaluate with the derivation"
grep -q "accuracy" eval.out || fail "evaluate printed no accuracy"
"$EX" transform loans.csv --model one.stm --out-dir shards 2>/dev/null || fail "transform with the derivation"
grep -q '"opened_weekday"' shards/manifest.json || fail "the transform manifest lacks the derived columns"
"$EX" predict --model one.stm loans.csv --out wpred.csv --workers 2 --memory-limit 256MiB --block-rows 1000 2>wpred.err \
  || { tail -5 wpred.err; fail "predict --workers with the derivation"; }
cmp -s pred.csv wpred.csv || fail "predict --workers 2 differs from predict in one process"
"$EX" transform loans.csv --fit --derivation loan-ratios-v1 --out-dir fitted 2>/dev/null || fail "transform --fit --derivation"
grep -q '"opened_weekday"' fitted/manifest.json || fail "the transform --fit manifest lacks the derived columns"
cmp -s shards/features-00000.npy fitted/features-00000.npy || fail "transform --fit --derivation derives other values than the model's transform"
echo "predict (in one process and over 2 workers), evaluate and transform (--model, --fit --derivation) apply it"

# The plain executable refuses the model, naming the derivation.
for cmd in "predict --model one.stm loans.csv --out p2.csv" "evaluate --model one.stm loans.csv" \
           "transform loans.csv --model one.stm --out-dir s2" "export one.stm --format onnx --out one.onnx"; do
  if "$ST" $cmd > refused.out 2>&1; then fail "plain spacetime $cmd accepted the model"; fi
  grep -q "loan-ratios-v1" refused.out || { cat refused.out; fail "plain spacetime $cmd: the refusal does not name the derivation"; }
done
if "$ST" train loans.csv --derivation loan-ratios-v1 > refused.out 2>&1; then fail "plain spacetime train accepted --derivation"; fi
grep -q "loan-ratios-v1" refused.out || fail "plain train: the refusal does not name the derivation"
echo "plain spacetime refuses it: $(head -1 refused.out)"

# A worker without the derivation refuses the job's tasks (the job fails saying so).
port=$(( 20000 + RANDOM % 20000 ))
"$EX" coordinator loans.csv "${common[@]}" --bind "tcp://127.0.0.1:$port" --job-dir job --model-out c.stm --progress none \
  > coord.out 2> coord.err & cpid=$!
"$ST" worker --connect "tcp://127.0.0.1:$port" --memory-limit 256MiB > worker.out 2>&1 & wpid=$!
rc=0; timeout 120 tail --pid=$cpid -f /dev/null || rc=$?
wait $cpid && crc=0 || crc=$?
kill "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true
[ "$rc" -eq 0 ] || fail "the coordinator did not end"
[ "$crc" -ne 0 ] || fail "the job succeeded on a worker without the derivation"
grep -q "not registered in this executable" coord.err worker.out || { tail -5 coord.err; fail "no refusal message"; }
echo "a plain worker refuses: $(grep -ho "this worker cannot run the job[^;]*" coord.err worker.out | head -1)"
echo "derived-features example: OK"
