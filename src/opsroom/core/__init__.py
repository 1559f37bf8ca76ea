"""Domain types shared by every part of opsroom. Imports nothing else of ours but the
exception tree (opsroom.errors, itself a leaf)."""

from opsroom.core.commands import ArgSpec, ArgType, CommandSpec, HookSpec, Invocation, RunnerSpec
from opsroom.core.events import ActionEvent, Inbound, MessageEvent
from opsroom.core.identity import Principal
from opsroom.core.message import (
    Actions,
    Block,
    Button,
    Code,
    Context,
    Fields,
    Message,
    Section,
)
from opsroom.core.places import MessageRef, Place
from opsroom.core.policy import Decision, Requirement
from opsroom.core.runs import (
    TERMINAL_STATES,
    HookAction,
    HookContext,
    OutputChunk,
    RunContext,
    Runner,
    RunState,
)
from opsroom.errors import ConfigError, OpsroomError, ParseError

__all__ = [
    "ActionEvent",
    "Actions",
    "ArgSpec",
    "ArgType",
    "Block",
    "Button",
    "Code",
    "CommandSpec",
    "ConfigError",
    "Context",
    "Decision",
    "Fields",
    "HookSpec",
    "Inbound",
    "Invocation",
    "Message",
    "MessageEvent",
    "MessageRef",
    "OpsroomError",
    "OutputChunk",
    "ParseError",
    "Place",
    "Principal",
    "Requirement",
    "RunContext",
    "RunState",
    "Runner",
    "RunnerSpec",
    "Section",
    "TERMINAL_STATES",
    "HookAction",
    "HookContext",
]
