#!/bin/bash
# LoRA vs full fine-tuning of the history recipe from one books base, same budget (CPU, small; EXPERIMENTS.md).
# Run from the repo root: bash experiments/lora_vs_full_cpu.sh [OUTPUT_DIR]   (~50 minutes on the loaded 2-core VM)
set -euo pipefail
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
B=../shared/data/books
O=${1:-runs/lora-vs-full}
mkdir -p $O
date -u +"%T start"
rugpt-chitchat pretrain --config configs/base-tiny.yaml --output_dir $O/base \
  --data $B/Chekhov $B/Turgenev $B/Gogol $B/Pushkin $B/Lermontov $B/Herzen \
  --config_overrides n_layer=2,n_embd=128,n_head=2,n_positions=128 --max_steps 300 --warmup_steps 30 \
  --eval_steps 150 --save_steps 150 --max_eval_blocks 200 --disable_tqdm true > $O/base.log 2>&1
date -u +"%T base done"
rugpt-chitchat preprocess --data "../shared/data/*.xz" --tokenizer_name $O/base --output_dir $O/samples > $O/prep.log 2>&1
date -u +"%T samples done"
COMMON="--config configs/tiny.yaml --data $O/samples --model_name_or_path $O/base --tokenizer_name $O/base
  --max_steps 400 --per_device_train_batch_size 64 --warmup_steps 40 --eval_steps 100 --save_steps 100
  --max_eval_samples 2000 --early_stopping_patience 0 --disable_tqdm true"
rugpt-chitchat train $COMMON --output_dir $O/full --learning_rate 1e-3 > $O/full.log 2>&1
date -u +"%T full done"
for lr in 5e-3 1e-3; do
  rugpt-chitchat train $COMMON --output_dir $O/lora-$lr --use_peft true --learning_rate $lr > $O/lora-$lr.log 2>&1
  date -u +"%T lora $lr done"
done
for run in full lora-5e-3 lora-1e-3; do
  rugpt-chitchat evaluate --checkpoint $O/$run --max_eval_samples 2000 --probe_samples 300 --num_samples 40 \
    --output_dir $O/$run/evaluation > $O/eval-$run.log 2>&1
  date -u +"%T evaluated $run"
done
