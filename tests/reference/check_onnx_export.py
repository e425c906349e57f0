#!/usr/bin/python3
"""Runs ONNX's full checker on the models GraphCompiler exports and writes the report tests check in.

    apt-get install -y python3-onnx          # 1.12.0 (opset 17) on Debian 12
    d=$(mktemp -d)
    GRAPHCOMPILER_ONNX_EXPORT_DIR=$d dotnet test tests/GraphCompiler.Tests -c Release --filter "FullyQualifiedName~OnnxExportTests.Exported"
    /usr/bin/python3 tests/reference/check_onnx_export.py "$d" > tests/reference/onnx_export_check.txt

(/usr/bin/python3: Debian's interpreter, the one python3-onnx installs into.)

Each exported file gets one line, `<Model>.onnx: ok (opset N)` or `<Model>.onnx: FAILED <why>`; the exit status is 1 when
any failed. OnnxExportTests.The_recorded_full_check_passed_for_every_exported_model reads the report.
"""
import os
import sys

import onnx
import onnx.checker
import onnx.shape_inference


def check(path):
    model = onnx.load(path)
    # full_check also runs strict shape inference: every node's input types and shapes must agree with its schema.
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return f"ok (opset {opset})"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_onnx_export.py DIR_OF_EXPORTED_ONNX_FILES")
    folder = sys.argv[1]
    files = sorted(f for f in os.listdir(folder) if f.endswith(".onnx"))
    if not files:
        sys.exit(f"no .onnx files in {folder}")
    print(f"# onnx.checker.check_model(full_check=True), onnx {onnx.__version__}, on the models OnnxExportTests exports")
    failed = False
    for name in files:
        try:
            verdict = check(os.path.join(folder, name))
        except Exception as e:  # the checker's own error types differ between versions
            verdict = "FAILED " + " ".join(str(e).split())
            failed = True
        print(f"{name}: {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
