#!/usr/bin/env bash
# Issue 10's full speed pass, one job at a time: run it on a quiet machine (check `uptime`
# first: load < 0.3) from the project root, with the venv active and PyTorch CPU installed.
#   bash benchmarks/quiet_pass.sh > quiet_pass.log 2>&1
# Data: $DEEPWISE_DATA (default ../shared/data) must hold tinyshakespeare/input.txt;
# Fashion-MNIST comes from the Debian package dataset-fashion-mnist.
set -u
cd "$(dirname "$0")/.."
export DEEPWISE_DATA="${DEEPWISE_DATA:-$(cd .. && pwd)/shared/data}"
out="$(mktemp -d)"
echo "== start $(date -u +%H:%M:%S) $(uptime)"
for m in cnn rnn mlp transformer; do
  echo "== bench_$m 2 threads $(date -u +%H:%M:%S)"
  python -m benchmarks.harness "benchmarks.bench_$m" --rounds 3 --threads 2 --numpy-path
done
echo "== bench_cnn 1 thread $(date -u +%H:%M:%S)"
python -m benchmarks.harness benchmarks.bench_cnn --rounds 3 --threads 1 --numpy-path --only "128"
echo "== bench_rnn 1 thread $(date -u +%H:%M:%S)"
python -m benchmarks.harness benchmarks.bench_rnn --rounds 3 --threads 1 --no-gemm-share
echo "== Fashion-MNIST SmallCNN epoch $(date -u +%H:%M:%S) $(uptime)"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
deepwise train cnn --data fashion-mnist --epochs 1 --out "$out/fashion" 2>&1 | tail -3
python benchmarks/fashion_torch.py --epochs 1 --threads 2 2>&1 | tail -2
echo "== char-LSTM recipe, 2 minutes each $(date -u +%H:%M:%S) $(uptime)"
text="$DEEPWISE_DATA/tinyshakespeare/input.txt"
deepwise train char-rnn --text "$text" --minutes 2 --batch-size 64 --eval-every 100000 \
  --sample-length 0 --out "$out/char-rnn" 2>&1 | tail -3
python benchmarks/char_rnn_torch.py --text "$text" --minutes 2 --batch-size 64 --threads 2 \
  2>&1 | tail -1
echo "== end $(date -u +%H:%M:%S) $(uptime)"
rm -rf "$out"
