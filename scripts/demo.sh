#!/usr/bin/env bash
# Set up, then the main job on the bundled model: convert LeNet-5 (trained on scikit-learn's digits),
# inspect it, validate it against onnxruntime on the digits test set and on random inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
OUT=${1:-demo-out}
set -x
onnx2cedr convert models/demo/lenet5_digits.onnx -o "$OUT"
onnx2cedr inspect models/demo/lenet5_digits.onnx
onnx2cedr validate models/demo/lenet5_digits.onnx --inputs models/demo/digits_test.npz --labels y
onnx2cedr validate models/demo/lenet5_digits.onnx --samples 200 --per-layer
python -c "import numpy as np; np.save('$OUT/x0.npy', np.load('models/demo/digits_test.npz')['x'][:1])"
"$OUT/lenet5_digits" "$OUT/x0.npy" -o "$OUT/exe_out"
python -c "import numpy as np; z=np.load('models/demo/digits_test.npz'); print('standalone executable: predicted', int(np.load('$OUT/exe_out/output_0.npy').argmax()), 'label', int(z['y'][0]))"
