"""The engine: the command pipeline (``pipeline``, ``steps``), its no-write check (``check``)
and the ``Engine`` that applies what the pipeline decides (``core``).

Nothing imports this package except the composition root (``opsroom.app``) and the CLI.
"""

from opsroom.engine.core import Engine, EngineParts
from opsroom.engine.pipeline import ORDER, Pipeline, Services, Step, StepContext, Stop

__all__ = ["ORDER", "Engine", "EngineParts", "Pipeline", "Services", "Step", "StepContext", "Stop"]
