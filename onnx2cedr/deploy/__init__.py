"""Deploying a converted model to a board: one archive with the app, its weights, the runtime built
for the folder's target, a board config and a run script (`onnx2cedr package`)."""
from .bundle import ACCELERATORS, DEFAULT_ACCELS, PackageResult, board_config, package

__all__ = ["ACCELERATORS", "DEFAULT_ACCELS", "PackageResult", "board_config", "package"]
