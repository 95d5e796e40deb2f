"""atheris harness of the Python front end: each input is a model file's bytes, loaded
(onnx2cedr/loader.py) and compiled (onnx2cedr/compiler.py compile_model: shape inference, the
passes, placement, the plan) with the size caps in place. An O2CError (the CLI's one-line exit 2)
or a valid model is a clean end; any other exception is a crash.

    .venv/bin/python tests/fuzz/fuzz_loader.py [libFuzzer options] CORPUS_DIR [SEED_DIR]

The file is written beside scripts/mutants.py's base models ($O2C_FUZZ_MODEL_DIR, else a temporary
folder), so a model whose weights live in external data (the MLP's weights.bin) finds them.
tests/fuzz/harnesses.py runs it with seeds; tests/fuzz/test_fuzz.py for a short budget."""
import os
import sys
import tempfile
from pathlib import Path

# lower caps than the defaults (2^31 elements, 16 GiB), so that an accepted input stays small in memory
os.environ.setdefault("O2C_MAX_TENSOR_ELEMENTS", str(1 << 22))
os.environ.setdefault("O2C_MAX_TOTAL_BYTES", str(1 << 28))

import atheris  # noqa: E402

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]  # harnesses, this tree
import harnesses  # noqa: E402

with atheris.instrument_imports(include=["onnx2cedr"]):
    from onnx2cedr.compiler import compile_model
    from onnx2cedr.errors import O2CError

WORK = Path(os.environ.get("O2C_FUZZ_MODEL_DIR") or tempfile.mkdtemp(prefix="o2c-fuzz-loader-"))
MODEL = harnesses._model_bases(WORK)[1].parent / "fuzz_input.onnx"  # beside the MLP's weights.bin


def one_input(data: bytes) -> None:
    MODEL.write_bytes(data)
    try:
        compile_model(str(MODEL))
    except O2CError as e:
        msg = str(e)
        if not msg.strip():
            raise AssertionError(f"{type(e).__name__} with an empty message") from e


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
