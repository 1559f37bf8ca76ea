"""The service desk as a plugin: the ``ask`` command, the route step that turns a question in
a desk channel (or a DM) into ``ask``, and the Solved / Not solved buttons.

A question is free text, so the route step builds the invocation itself rather than letting
the command parser split it (an apostrophe or a ``key=value`` in "what's the VPN address for
env=prod?" must not become a parse error); it still goes through authorize like any command,
so the policy decides who may ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsroom.commands.parser import extract
from opsroom.commands.values import closest
from opsroom.config.loader import LoadedConfig, content_dir
from opsroom.core import ArgSpec, CommandSpec, Invocation, Message
from opsroom.engine.pipeline import Step, StepContext, Stop
from opsroom.plugins import ActionHandler, Declaration, Extension, Live, Plugin

if TYPE_CHECKING:
    from opsroom.actions import ActionRequest
    from opsroom.builtins import CommandHost

QUESTION_MAX = 1000
ASK = CommandSpec(
    "ask",
    summary="Ask the help desk: answers from the knowledge base, or a ticket",
    args=(ArgSpec("question", greedy=True, max_length=QUESTION_MAX, help="your question, in your own words"),),
    examples=("ask how do I connect to the VPN", "ask my password expired"),
    builtin=True,
)
SETTLE_PERMISSION = CommandSpec("desk.settle", summary="Click Solved / Not solved on a desk answer", builtin=True)


def desk_on(loaded: LoadedConfig) -> bool:
    """The desk needs a knowledge base to answer from."""
    return bool(loaded.config.kb.paths)


def _route_step(loaded: LoadedConfig) -> Step:
    desk = loaded.config.desk
    channels = frozenset(desk.channels)

    async def route_question(ctx: StepContext) -> Stop | None:
        if ctx.inv is not None:
            return None
        spec = ctx.services.catalog.get("ask")
        if spec is None:
            return None
        bots = ctx.services.bot_names
        prefixed = extract(ctx.text, addressed=False, bot_names=bots)  # "/…", "!…", "@opsroom …"
        in_desk = ctx.place.name in channels or (ctx.place.is_direct and desk.direct_messages)
        if prefixed is not None:
            first, _, rest = prefixed.partition(" ")
            if first.lower() == "ask":
                question = rest.strip()
            elif in_desk and not ctx.text.lstrip().startswith(("/", "!")) and _not_a_command(prefixed, ctx):
                question = prefixed  # "@opsroom how do I …" in a desk channel: a question too
            else:
                return None
        elif ctx.place.name in channels or (ctx.place.is_direct and desk.direct_messages):
            # Plain words in a desk channel or a DM are a question — unless the platform says
            # they are for the bot (a DM, the shell) and they read as a command or a near miss.
            question = ctx.text.strip()
            if ctx.addressed and not _not_a_command(question, ctx):
                return None
        else:
            return None
        if len(question) > QUESTION_MAX:
            return Stop("error", f"Please keep a question under {QUESTION_MAX} characters.", "warning")
        ctx.inv = Invocation(spec, {"question": question}, f"ask {question}", ctx.principal, ctx.place)
        return None

    return Step("route", route_question, builtins=True, first=True)


def _not_a_command(text: str, ctx: StepContext) -> bool:
    word = text.split(maxsplit=1)[0].lower() if text.split() else ""
    catalog = ctx.services.catalog
    return bool(word) and word not in catalog and closest(word, catalog.callable_names(), cutoff=75.0) is None


def _declare(loaded: LoadedConfig) -> Declaration | None:
    if not desk_on(loaded):
        return None
    return Declaration(commands=(ASK,), permissions=(SETTLE_PERMISSION,), steps=(_route_step(loaded),))


def _start(loaded: LoadedConfig, live: Live) -> Extension:
    from opsroom.desk.ai import DeskAi
    from opsroom.desk.flow import DeskService
    from opsroom.desk.kb import LiveKnowledgeBase
    from opsroom.integrations.tickets.desk import EXTRAS_KEY
    from opsroom.policy import redaction

    config = loaded.config
    kb = LiveKnowledgeBase(config.kb, content_dir(loaded))
    redactor = redaction.current()  # the system's one redactor (build_system installs it first)

    def redact(text: str) -> str:
        return redactor.redact(text)[0]

    ai = DeskAi(config.desk.ai, live.db, redact=redact) if config.desk.ai.enabled else None
    service = DeskService(
        config.desk,
        kb,
        live.db,
        live.chat,
        live.audit,
        mint=live.signer.mint,
        redact=redact,
        tickets=lambda: live.host().parts.extras[EXTRAS_KEY],
        ai=ai,
    )

    async def ask(host: CommandHost, inv: Invocation) -> Message | None:
        return await service.ask(inv, host)

    def settle(kind: str) -> ActionHandler:
        async def run(engine: CommandHost, req: ActionRequest) -> Message | None:
            place = req.event.place
            decision = engine.authorize_action(req.principal, "desk.settle", {}, place)
            if not decision.allowed:
                await engine.audit_denied_click(req, "desk.settle", decision)
                return Message.plain(f"⛔ {decision.reason}", "denied")
            return await service.settle(kind, req.payload, req.principal, place)

        return run

    actions = {kind: settle(kind) for kind in ("desk.solved", "desk.escalate")}
    actions.update({kind: proposal_click(kind) for kind in ("desk.run", "desk.edit", "desk.cancel")})
    return Extension(name="desk", handlers={"ask": ask}, actions=actions, extras={"desk": service})


def proposal_click(kind: str) -> ActionHandler:
    """Run / Edit / Cancel on a proposed command: only the person who asked may click, and Run
    sends the exact proposed text through the parser, policy and guardrails as them."""
    from opsroom.commands.parser import parse
    from opsroom.core import ParseError

    async def run(engine: CommandHost, req: ActionRequest) -> Message | None:
        text, asker = str(req.payload.get("text", "")), str(req.payload.get("asker", ""))
        place = req.event.place
        if req.principal.name != asker:
            with engine.db.begin() as conn:
                engine.audit.append(
                    conn,
                    actor=req.principal.name,
                    action="action.denied",
                    command="ask",
                    platform=place.platform,
                    channel=place.name,
                    summary=f"{req.principal.name} may not click {asker}'s proposal",
                    detail={"kind": kind, "proposal": text, "refused": True},
                )
            return Message.plain(f"Only {asker} can run, edit or cancel this proposal.", "denied")
        if kind == "desk.edit":
            return Message.plain(f"Copy it, change what you need and send it: `/{text}`")
        action = "ai.accepted" if kind == "desk.run" else "ai.rejected"
        with engine.db.begin() as conn:
            engine.audit.append(
                conn,
                actor=asker,
                action=action,
                command="ask",
                platform=place.platform,
                channel=place.name,
                summary=f"{'ran' if kind == 'desk.run' else 'cancelled'} proposal `{text}`",
                detail={"proposal": text},
            )
        if req.event.message is not None:
            said = f"{'▶ Running' if kind == 'desk.run' else '✖ Cancelled'}: `/{text}`"
            await engine.chat.update(req.event.message, Message.plain(said))
        if kind == "desk.cancel":
            return None
        try:
            inv = parse(text, engine.parts.catalog, req.principal, place, engine_flags=engine.engine_flags)
        except ParseError as exc:  # the catalog changed since: say so, run nothing
            return Message.plain(str(exc), "warning")
        await engine.dispatch(inv, via="desk.ai")
        return None

    return run


plugin = Plugin("desk", _declare, _start)
