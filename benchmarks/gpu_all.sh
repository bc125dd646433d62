#!/usr/bin/env bash
# Every GPU measurement the open work asks for, in one unattended run on a lent H200 (the `device` tool):
#   1. training throughput and MFU at ruGPT-3 small's shape: today's length-grouped padding vs token budgets,
#      packed rows and compiled packed rows (benchmarks/train_throughput.py)
#   2. the books-base experiment: a base pretrained on the books, the seed's baseline vs history runs from it
#      and from scratch over seeds, the history probe, the data-size study (experiments/books_history.py)
# Each stage has its own time limit, so one that fails or overruns leaves the others' results.
#
# Needs, carried beside the repo: .whl/ (datasets, evaluate, ... wheels the GPU image lacks) and .data/
# (the two corpora .xz and books.tar.xz of ../shared/data/books). Results go to $OUT (default out/gpu).
#     bash benchmarks/gpu_all.sh [EXPERIMENT_MINUTES]          (STAGES="experiment" skips the throughput stage)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
MINUTES=${1:-5.5}
STAGES=${STAGES:-"throughput experiment"}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$OUT/stages.log"; }

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PWD/src || { echo "wheel install failed"; exit 1; }
else
    export PYTHONPATH=$PWD/src
fi
[ -d .data/books ] || tar -xJf .data/books.tar.xz -C .data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'datasets', datasets.__version__)" | tee -a "$OUT/gpu.txt"
stamp "setup done"

if [[ $STAGES == *throughput* ]]; then
    timeout 150 python3 benchmarks/train_throughput.py --device cuda --data ".data/*.txt.xz" 2>&1 | tee "$OUT/throughput.log"
    stamp "throughput done (exit ${PIPESTATUS[0]})"
fi

timeout $(python3 -c "print(int($MINUTES * 60 + 40))") python3 experiments/books_history.py \
    --output "$OUT/books-history" --books .data/books --corpora .data/*.txt.xz \
    --time-budget "$MINUTES" --num-proc 16 --seeds 0 1 2 \
    --shape n_layer=6,n_embd=512,n_head=8 --block-size 256 --vocab-size 16000 \
    --base-epochs 3 --base-batch-size 128 --base-lr 1e-3 --base-eval-blocks 1000 \
    --steps 300 --batch-size 128 --lr 5e-4 --scratch-lr 1e-3 --max-length 128 --size-epochs 6 3 --size-batch-size 256 \
    --eval-samples 2000 --probe-samples 1000 --num-samples 200 --generation-batch-size 200 \
    -- --use_cpu false --bf16 true --per_device_eval_batch_size 256 --dataloader_num_workers 2 --disable_tqdm true \
    > "$OUT/books-history.log" 2>&1
stamp "experiment done (exit $?)"
tail -n 30 "$OUT/books-history.log"
# checkpoints stay on the device: only tables, plots and logs come back
find "$OUT/books-history" -name "*.safetensors" -delete 2>/dev/null
find "$OUT/books-history" -type d \( -name "checkpoint-*" -o -name data -o -name "data-*" \) -prune -exec rm -rf {} + 2>/dev/null
du -sh "$OUT"
