#!/usr/bin/env bash
# Set up, then the main job on the bundled model: convert LeNet-5 (trained on scikit-learn's digits),
# inspect it, validate it against onnxruntime on the digits test set and on random inputs, then run
# it on the CEDR-compatible runtime (8 instances beside radar and WiFi apps on 3 CPUs + 4 accelerators)
# and check every instance's output against the standalone executable's, bit for bit.
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

cp "$OUT/x0.npy" "$OUT/app_inputs/input_0.npy"
onnx2cedr run -c runtime/configs/soc_demo.json --log-dir "$OUT/run" "$OUT:8:500" pulse_doppler:4:1000 wifi_tx:4:1000
onnx2cedr gantt "$OUT/run" -o "$OUT/run/gantt.png"
onnx2cedr gantt "$OUT/run" -o "$OUT/run/gantt.html"
python - "$OUT" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
ref = (out / "exe_out" / "output_0.npy").read_bytes()
got = sorted((out / "app_outputs").glob("instance_*/output_0.npy"))
same = sum(p.read_bytes() == ref for p in got)
print(f"runtime: {same} of {len(got)} app instances bit-identical to the standalone executable")
sys.exit(0 if got and same == len(got) else 1)
PY
