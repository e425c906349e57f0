#!/usr/bin/env bash
# Runs the C# benchmarks and the PyTorch peer in one session, so their ratio is measured under the same machine load.
# The peer comparison only: FusionBenchmarks (fused vs unfused) and IlgpuTrainStepBenchmarks (minutes per step) run on
# their own, see RESULTS.md. Needs (apt-get): python3-torch libopenblas0-pthread dataset-fashion-mnist. Output: benchmarks/last-run.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/last-run.txt
{ date -u; nproc; } > "$out"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/torch_peer.py | tee -a "$out"
dotnet run -c Release --project benchmarks/GraphCompiler.Benchmarks -- --filter '*.TrainStepBenchmarks.*' '*.MlpEpochBenchmark.*' --join --exporters markdown 2>&1 | tee -a "$out" | grep -E '^\|' || true
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/peers/torch_peer.py | tee -a "$out"
