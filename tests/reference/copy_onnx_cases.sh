#!/usr/bin/env bash
# Copies ONNX's own node conformance cases for the op families GraphCompiler implements from Debian's libonnx-testdata
# into tests/GraphCompiler.Tests/Onnx/cases, so `dotnet test` needs nothing installed.
#
#   apt-get install -y libonnx-testdata      # 1.12.0 (opset 17) on Debian 12
#   bash tests/reference/copy_onnx_cases.sh
#
# Each case is a directory: model.onnx (one node) and test_data_set_*/{input,output}_N.pb. The `_expanded` variants
# (the same op written as a subgraph of primitive ops) are left out: they test ONNX function bodies, not the op.
set -euo pipefail

SRC=${ONNX_NODE_DIR:-/usr/share/libonnx-testdata/data/node}
DEST="$(cd "$(dirname "$0")/../GraphCompiler.Tests/Onnx" && pwd)/cases"
[ -d "$SRC" ] || { echo "no ONNX node cases at $SRC: apt-get install -y libonnx-testdata" >&2; exit 1; }

# family=glob of case directories (the integer, transposed, quantized and argmax-output variants are other ops).
FAMILIES=(
  "conv=test_conv_with_* test_basic_conv_with*"
  "maxpool=test_maxpool_[123]d_*"
  "averagepool=test_averagepool_*"
  "gemm=test_gemm_*"
  "matmul=test_matmul_[234]d"
  "relu=test_relu"
  "leakyrelu=test_leakyrelu*"
  "sigmoid=test_sigmoid*"
  "tanh=test_tanh*"
  "softmax=test_softmax_*"
  "logsoftmax=test_logsoftmax_*"
  "flatten=test_flatten_*"
  "batchnormalization=test_batchnorm_*"
  "layernormalization=test_layer_normalization_*"
  "nllloss=test_nllloss_*"
  "softmaxcrossentropyloss=test_sce_*"
)

tmp="$DEST.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
cd "$SRC"
for entry in "${FAMILIES[@]}"; do
  family=${entry%%=*}
  count=0
  for dir in ${entry#*=}; do
    [ -d "$dir" ] || continue
    case "$dir" in *_expanded) continue ;; esac
    cp -r "$dir" "$tmp/"
    count=$((count + 1))
  done
  printf '%-26s %3d cases\n' "$family" "$count"
done
rm -rf "$DEST"
mv "$tmp" "$DEST"
echo "$(find "$DEST" -mindepth 1 -maxdepth 1 -type d | wc -l) cases, $(du -sb "$DEST" | cut -f1) bytes in $DEST"
