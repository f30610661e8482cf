#!/bin/bash
# Train per-frame models on a lent GPU machine that has JAX but no TensorFlow, in one call:
# the default model's training data (Makefile: train-data) simulated on every core, then each
# variant in VARIANTS (configs/unet-default.json with the --set overrides below) trained side by
# side on the GPU (Keras on JAX; torch if JAX fails) until a shared deadline, then exported
# without the optimizer's state. Everything lands in $OUT:
# log.txt, train_NAME.txt, NAME_model.keras, NAME_meta.tgz (config, history, metrics, ...).
#   make device-wheels   # here, once: the packages the machine lacks, into .whl/
#   device run: bash scripts/device/train.sh   (carry .whl; END = seconds the job may take)
# SKIP_PIP=1 PY=... NP=... SHRINK=100 try it out on a machine that has the packages.
T0=$(date +%s); END=${END:-540}; PY=${PY:-python3}; SHRINK=${SHRINK:-1}
VARIANTS=${VARIANTS:-"unet-long unet-wide"}
# the default model trained longer, and the same with wider layers
LONG="--set epochs=400 --set lr_decay=0.975 --set patience=20 --set trajectories_per_epoch=50000"
declare -A SETS=([unet-long]="$LONG" [unet-wide]="$LONG --set model.filters=[48,96,192]")
mkdir -p "$OUT"; exec > >(tee -a "$OUT/log.txt") 2>&1
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( END - $(el) )); }
export PYTHONUNBUFFERED=1
if [ -z "$SKIP_PIP" ]; then
  pipi() { $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$@"; }
  pipi /tmp/site $(ls .whl/*.whl | grep -v numpy-) && pipi /tmp/np .whl/numpy-*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=${KERAS_BACKEND:-jax}
nvidia-smi -L; echo "$(nproc) cores"
SMOKE='import numpy as np, keras; from andi2kit.models.attention_unet import UNetConfig, build_model; o = build_model(UNetConfig()).predict(np.zeros((2,64,208,2),"float32"), verbose=0); print(keras.backend.backend(), [np.shape(v) for v in (o.values() if isinstance(o, dict) else o)])'
$PY -c "$SMOKE" || { export KERAS_BACKEND=torch; $PY -c "$SMOKE" || exit 1; }
echo "backend $KERAS_BACKEND ready at $(el) s"
for spec in "train 300 15 1" "train2 1500 50 2"; do
  set -- $spec
  PYTHONPATH=${NP:-/tmp/np}:$PYTHONPATH timeout $(( $(left) > 400 ? $(left) - 200 : 200 )) \
    $PY -W ignore -m andi2kit --quiet make-train-data /tmp/d/$1 --boxes $(( $2 / SHRINK )) \
    --boxes-per-shard $3 --seed $4 --workers $(nproc) || exit 1
done
echo "data done at $(el) s: $(ls /tmp/d/train /tmp/d/train2 | grep -c npz) shards"
M=$($PY -c "print(max(0.5, ($(left) - 80) / 60))")
echo "training for $M min"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.4
pids=""
set -f  # the overrides hold [ ]: no globbing
for name in $VARIANTS; do
  timeout $(( $(left) - 35 )) $PY -m andi2kit --quiet train --config configs/unet-default.json \
    ${SETS[$name]} --out /tmp/ck/$name \
    --data /tmp/d/train:/tmp/d/train2 --max-minutes "$M" > "$OUT/train_$name.txt" 2>&1 &
  pids="$pids $!"
done
set +f
wait $pids  # not a bare wait: that would wait for the log's tee too
echo "trained at $(el) s"
for name in $VARIANTS; do
  $PY scripts/device/export_weights.py /tmp/ck/$name "$OUT/${name}_model.keras"
  tar czf "$OUT/${name}_meta.tgz" -C /tmp/ck/$name $(cd /tmp/ck/$name && ls ./*.json ./*.csv)
done
echo "end at $(el) s"
