#!/usr/bin/env bash
# The long fuzz campaign: the same seeded mutators and checks as the test suite, for many more inputs per reader.
#
#   tests/fuzz/campaign.sh [inputs-per-reader] [seed] [reader-filter]
#
# Defaults: 100000 inputs per reader, seed 1, every reader. Each input runs under a 2 s watchdog (GC_FUZZ_WATCHDOG_MS)
# with the suite's allocation check; unexpected inputs are saved to $TMPDIR/gc-fuzz-found/<reader>-<seed>-<index>.bin
# (check them in under tests/fuzz/regressions/<reader>/ with the message they must give). The counts per reader are
# printed as a Markdown table for tests/fuzz/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
inputs="${1:-100000}"
seed="${2:-1}"
filter="FullyQualifiedName~GraphCompiler.Tests.Fuzz.FuzzTests"
[ -n "${3:-}" ] && filter="$filter&DisplayName~${3}"
report="$(mktemp)"
dotnet build tests/GraphCompiler.Tests -c Release -v q -nologo >/dev/null
# Run from a copy of the build output, so rebuilding the repository during a long campaign cannot touch loaded assemblies.
bin="$(mktemp -d)"
cp -r tests/GraphCompiler.Tests/bin/Release/net10.0/. "$bin"
start=$(date +%s)
GC_FUZZ_INPUTS="$inputs" GC_FUZZ_SEED="$seed" GC_FUZZ_WATCHDOG_MS="${GC_FUZZ_WATCHDOG_MS:-2000}" GC_FUZZ_REPORT="$report" \
  dotnet test "$bin/GraphCompiler.Tests.dll" --filter "$filter" || status=$?
echo
echo "campaign: $inputs inputs per reader, seed $seed, $(( $(date +%s) - start )) s, $(dotnet --version), $(uname -m)"
echo
echo "| reader | inputs | loaded | rejected | unexpected | seconds | largest allocation (bytes) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
sort "$report" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $3, $4, $5, $6, $7, $8 }'
rm -rf "$report" "$bin"
exit "${status:-0}"
