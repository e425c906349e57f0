#!/usr/bin/env bash
# Data-parallel timings for benchmarks/RESULTS.md: 2 processes x 1 thread (mpirun, shared memory) against 1 process x 2
# threads and x 1 thread, for CifarNet and the Mlp at a global batch of 64, with and without overlap, one bucket (25 MB)
# and several (small caps). Each configuration runs REPEAT times, interleaved, so machine load hits all of them alike.
# Needs Debian's openmpi-bin. Output: benchmarks/last-distributed.txt (one "bench …" line per run).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
dotnet build -c Release tests/GraphCompiler.Distributed.Runner >/dev/null
runner=tests/GraphCompiler.Distributed.Runner/bin/Release/net10.0/GraphCompiler.Distributed.Runner.dll
mpi="mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader -x DOTNET_PROCESSOR_COUNT=1"
out=benchmarks/last-distributed.txt
{ date -u; nproc; if grep -q avx512f /proc/cpuinfo; then echo "cpu: AVX-512"; else echo "cpu: AVX2 (no AVX-512)"; fi; uptime; } > "$out"
for i in $(seq "$REPEAT"); do
  for model in "cifar --steps 40" "mlp --steps 400"; do
    for threads in 2 1; do DOTNET_PROCESSOR_COUNT=$threads dotnet "$runner" bench --model $model | tee -a "$out"; done
    for cap in 25 0.01; do
      for overlap in "" "--no-overlap"; do
        $mpi dotnet "$runner" bench --model $model --bucket-mb $cap $overlap </dev/null | sed 's/\x1b\[?1h\x1b=//' | tee -a "$out"
      done
    done
  done
  uptime >> "$out"
done
