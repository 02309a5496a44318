"""Compile ``recsmith_pipeline`` to ``components/recsmith_pipeline.yaml``.

``python -m components.compile [PATH]`` (``make pipelines``). The YAML ships in the package beside this file.
"""

import sys
from pathlib import Path

from kfp import compiler

DEFAULT_OUTPUT = Path(__file__).resolve().with_name("recsmith_pipeline.yaml")


def compile_pipeline(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the pipeline's IR YAML to ``output`` and return it."""
    from components.pipeline import recsmith_pipeline

    compiler.Compiler().compile(recsmith_pipeline, str(output))
    return output


if __name__ == "__main__":
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT))
