"""The desk flow: a question in, the best sections of the top articles out, and then the
asker says whether it helped — Solved (deflected, on the record) or Not solved (a ticket,
pre-filled with the question, what was suggested and where it was asked).

Below the KB's confidence threshold the desk does not guess: "no article fits; open a
ticket?". Every step is audited (``desk.suggested``, ``desk.no_match``, ``desk.solved``,
``desk.escalated``, ``desk.dismissed``) and counted in ``opsroom_desk_questions_total{outcome}``, so the
deflection rate is ``solved / (solved + escalated)`` on /metrics and in ``stats``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from opsroom import metrics
from opsroom.audit import AuditLog
from opsroom.commands.parser import parse
from opsroom.config.desk import DeskConfig
from opsroom.core import Actions, Button, Context, Invocation, Message, MessageRef, Place, Principal, Section
from opsroom.desk.ai import AiUnavailable, DeskAi, eligible, prompt_digest
from opsroom.desk.kb import KnowledgeBase
from opsroom.desk.search import Hit, terms
from opsroom.desk.tables import desk_questions
from opsroom.integrations.tickets.base import NewTicket
from opsroom.store import Database

if TYPE_CHECKING:
    from opsroom.builtins import CommandHost

SNIPPET = 280  # characters of the best section shown under each suggestion
SETTLED = ("solved", "escalated", "dismissed")


class Chat(Protocol):
    async def send(self, place: Place, message: Message) -> MessageRef: ...

    async def update(self, ref: MessageRef, message: Message) -> MessageRef: ...


@dataclass(frozen=True)
class DeskStats:
    asked: int
    open: int  # suggested or matched nothing, and not settled yet
    solved: int
    escalated: int
    dismissed: int

    @property
    def deflection(self) -> float | None:
        """Share of settled questions the KB answered; None before any was settled."""
        settled = self.solved + self.escalated
        return self.solved / settled if settled else None


class DeskService:
    def __init__(
        self,
        config: DeskConfig,
        kb: Callable[[], KnowledgeBase],
        db: Database,
        chat: Chat,
        audit: AuditLog,
        *,
        mint: Callable[..., str],
        redact: Callable[[str], str],
        tickets: Callable[[], Any],
        ai: DeskAi | None = None,
    ) -> None:
        self.config = config
        self._kb = kb  # a callable: reload swaps the knowledge base without restarting the desk
        self.db = db
        self.chat = chat
        self.audit = audit
        self.mint = mint
        self.redact = redact
        self._tickets = tickets
        self.ai = ai

    # -- asking -----------------------------------------------------------------------------
    async def ask(self, inv: Invocation, host: CommandHost | None = None) -> Message | None:
        question = self.redact(str(inv.args.get("question") or "").strip())
        if not terms(question):
            return Message.plain(
                "Ask me in your own words — e.g. `ask how do I connect to the VPN` — "
                "or type `help` for the commands you may run."
            )
        if self.ai is not None and host is not None and eligible(self.ai.config, inv.principal, inv.place):
            handled = await self._ask_ai(question, inv, host)
            if handled:
                return None
        hits = self._kb().answer(question)
        await self._answer(question, inv, hits, self._suggestions if hits else None)
        return None

    async def _answer(
        self,
        question: str,
        inv: Invocation,
        hits: list[Hit],
        render: Callable[[int, Principal, list[Hit]], Message] | None,
    ) -> None:
        """Record the question with what is suggested, audit it, post the answer."""
        outcome = "suggested" if hits else "no_match"
        place = inv.place
        with self.db.begin() as conn:
            question_id = int(
                conn.execute(
                    desk_questions.insert()
                    .values(
                        asker=inv.principal.name,
                        platform=place.platform,
                        channel=place.name,
                        channel_id=place.channel,
                        thread=place.thread,
                        question=question,
                        suggestions=[_suggestion(h) for h in hits],
                        outcome=outcome,
                        asked_at=dt.datetime.now(dt.UTC),
                    )
                    .returning(desk_questions.c.id)
                ).scalar_one()
            )
            summary = (
                f"suggested {', '.join(h.article.id for h in hits)} for: {question[:200]}"
                if hits
                else f"no article fits: {question[:200]}"
            )
            self.audit.append(
                conn,
                actor=inv.principal.name,
                action=f"desk.{outcome}",
                command="ask",
                platform=place.platform,
                channel=place.name,
                summary=summary,
                detail={"question_id": question_id, "articles": [h.article.id for h in hits]},
            )
        metrics.DESK_QUESTIONS.labels(outcome).inc()
        asker = inv.principal
        message = render(question_id, asker, hits) if render else self._no_match(question_id, asker)
        ref = await self.chat.send(place, message)
        with self.db.begin() as conn:
            conn.execute(
                desk_questions.update().where(desk_questions.c.id == question_id).values(message_id=ref.message_id)
            )

    # -- plain English ---------------------------------------------------------------------------
    async def _ask_ai(self, question: str, inv: Invocation, host: CommandHost) -> bool:
        """True when the model's answer was posted; False: answer from the KB alone."""
        assert self.ai is not None
        parts = host.parts
        detail: dict[str, Any] = {
            "model": self.ai.config.model,
            "prompt_sha256": prompt_digest(question),
            "prompt": question[:500],
        }
        try:
            answer = await self.ai.answer(question, inv, parts.catalog, parts.policy, self._kb(), host.engine_flags)
        except AiUnavailable as exc:
            self._audit(inv, "ai.failed", f"plain English unavailable ({exc}); answered from the KB", detail)
            return False
        detail.update(tokens=answer.tokens, cited=answer.cited)
        if answer.proposal is not None:
            text = answer.proposal.text
            self._audit(inv, "ai.proposed", f"proposed `{text}`", {**detail, "proposal": text})
            if answer.proposal.read_only and self.ai.config.auto_run_read_only:
                await host.dispatch(
                    parse(text, parts.catalog, inv.principal, inv.place, engine_flags=host.engine_flags), via="desk.ai"
                )
                return True
            await self.chat.send(inv.place, self._proposal(text, inv.principal))
            return True
        if answer.refused:
            self._audit(inv, "ai.refused", f"no proposal: {answer.refused}", {**detail, "reason": answer.refused})
            await self.chat.send(inv.place, Message.plain(f"I can't propose that: {answer.refused}.", "warning"))
            return False  # … and the KB still gets its turn
        self._audit(
            inv,
            "ai.answered",
            f"answered in words, citing {', '.join(answer.cited) or 'nothing'}",
            {**detail, "response": answer.text[:500]},
        )
        kb = self._kb()
        hits = [Hit(a, a.sections[0], 1.0) for a in (kb.get(i) for i in answer.cited[:3]) if a is not None]

        def render(question_id: int, asker: Principal, found: list[Hit]) -> Message:
            blocks: list[Any] = [Section(answer.text or "Here is what I found.")]
            blocks += [Context(f"source: {self._link(h)}") for h in found]
            blocks.append(self._buttons(question_id, asker, matched=True))
            return Message(answer.text[:150] or "Answer", tuple(blocks))

        if hits or answer.text:
            await self._answer(question, inv, hits, render if hits else None)
            return True
        return False

    def _proposal(self, text: str, asker: Principal) -> Message:
        payload = {"text": text, "asker": asker.name}
        run = Button("Run", self.mint("desk.run", payload), "primary", fallback=f"/{text}")
        edit = Button("Edit", self.mint("desk.edit", payload, single_use=False))
        cancel = Button("Cancel", self.mint("desk.cancel", payload))
        said = f"I understood: `/{text}`"
        return Message(
            said,
            (
                Section(said),
                Context("Nothing runs until you click Run; policy and approvals apply as if you typed it."),
                Actions((run, edit, cancel)),
            ),
        )

    def _audit(self, inv: Invocation, action: str, summary: str, detail: Mapping[str, Any]) -> None:
        with self.db.begin() as conn:
            self.audit.append(
                conn,
                actor=inv.principal.name,
                action=action,
                command="ask",
                platform=inv.place.platform,
                channel=inv.place.name,
                summary=summary[:500],
                detail=dict(detail),
            )

    def _buttons(self, question_id: int, asker: Principal, *, matched: bool) -> Actions:
        payload = {"q": question_id}
        solved = Button(
            "Solved ✓" if matched else "No, thanks",
            self.mint("desk.solved", payload),
            "primary" if matched else "default",
            fallback="",
        )
        ticket = Button(
            "Not solved — open a ticket" if matched else "Open a ticket",
            self.mint("desk.escalate", payload),
            "default" if matched else "primary",
            fallback="",
        )
        return Actions((solved, ticket))

    def _suggestions(self, question_id: int, asker: Principal, hits: list[Hit]) -> Message:
        blocks: list[Any] = [Section(f"Here is what the knowledge base says, {asker.display_name or asker.name}:")]
        for n, hit in enumerate(hits, 1):
            heading = f" › {hit.section.heading}" if hit.section.anchor else ""
            snippet = _snippet(hit.section.text)
            blocks.append(Section(f"*{n}. {hit.article.title}{heading}*\n{snippet}"))
            blocks.append(Context(f"{self._link(hit)} · match {hit.confidence:.0%}"))
        blocks.append(self._buttons(question_id, asker, matched=True))
        top = hits[0]
        return Message(f"KB: {top.article.title}", tuple(blocks))

    def _no_match(self, question_id: int, asker: Principal) -> Message:
        text = "No article fits your question. Open a ticket? The team will see your question as you wrote it."
        return Message(text, (Section(text), self._buttons(question_id, asker, matched=False)), tone="warning")

    def _link(self, hit: Hit) -> str:
        if self.config.article_url:
            url = self.config.article_url.format(id=hit.article.id, anchor=hit.section.anchor)
            return f"<{url}|{hit.article.title}>"
        where = f"#{hit.section.anchor}" if hit.section.anchor else ""
        return f"`{hit.article.path.name}{where}` (line {hit.section.line})"

    # -- settling -----------------------------------------------------------------------------
    async def settle(self, kind: str, payload: Mapping[str, Any], principal: Principal, place: Place) -> Message:
        """A click on Solved or Not solved: only the asker may settle, and only once."""
        question_id = int(payload.get("q", 0))
        with self.db.read() as conn:
            found = conn.execute(select(desk_questions).where(desk_questions.c.id == question_id)).mappings().first()
        if found is None:
            return Message.plain("That question is no longer on record.", "warning")
        row: Mapping[str, Any] = dict(found)
        if row["asker"] != principal.name:
            with self.db.begin() as conn:
                self.audit.append(
                    conn,
                    actor=principal.name,
                    action="action.denied",
                    command="ask",
                    platform=place.platform,
                    channel=place.name,
                    summary=f"{principal.name} may not settle {row['asker']}'s question",
                    detail={"kind": kind, "question_id": question_id, "refused": True},
                )
            return Message.plain(f"Only {row['asker']} can say whether this answered their question.", "denied")
        if row["outcome"] in SETTLED:
            return Message.plain(f"This question is already {row['outcome']}.", "warning")
        if kind == "desk.solved":
            return await self._solved(row, principal, place)
        return await self._escalate(row, principal, place)

    async def _solved(self, row: Mapping[str, Any], principal: Principal, place: Place) -> Message:
        matched = row["outcome"] == "suggested"
        outcome = "solved" if matched else "dismissed"  # a dismissed no-match is no deflection
        self._finish(
            row, outcome, None, principal, place, "answered from the KB" if matched else "closed without a ticket"
        )
        metrics.DESK_QUESTIONS.labels(outcome).inc()
        text = "✅ Glad that helped." if matched else "OK — no ticket opened."
        await self._settle_message(row, Message.plain(text, "success"))
        return Message.plain(text, "success")

    async def _escalate(self, row: Mapping[str, Any], principal: Principal, place: Place) -> Message:
        desk = self._tickets()
        provider = desk.get(self.config.ticket_provider)
        suggested = [
            f"- {s['title']} ({s['article']}{'#' + s['anchor'] if s['anchor'] else ''})" for s in row["suggestions"]
        ]
        where = ("the thread in " if row["thread"] else "") + str(row["channel"])  # plain words, no ids
        body = "\n".join(
            [
                f"{row['asker']} asked the help desk:",
                "",
                row["question"],
                "",
                "Articles suggested (not solved):" if suggested else "No article fitted the question.",
                *suggested,
                "",
                f"Asked in {where}.",
            ]
        )
        ticket = await provider.create(
            NewTicket(
                title=_title(row["question"]),
                priority="p3",
                author=row["asker"],
                thread_link=where,
                body=body,
                origin="desk",
                origin_id=str(row["id"]),
                channel=row["channel"],
            )
        )
        self._finish(row, "escalated", ticket.ref, principal, place, f"ticket {ticket.ref} opened")
        metrics.DESK_QUESTIONS.labels("escalated").inc()
        link = f" <{ticket.url}|open it>" if ticket.url else ""
        text = f"🎫 Ticket *{ticket.ref}* opened with your question; the team will answer there.{link}"
        await self._settle_message(row, Message.plain(text, "success"))
        return Message(f"Ticket {ticket.ref} opened", (Section(text),), tone="success")

    def _finish(
        self, row: Mapping[str, Any], outcome: str, ticket: str | None, principal: Principal, place: Place, summary: str
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                desk_questions.update()
                .where(desk_questions.c.id == row["id"])
                .values(outcome=outcome, ticket=ticket, settled_at=dt.datetime.now(dt.UTC))
            )
            self.audit.append(
                conn,
                actor=principal.name,
                action=f"desk.{outcome}",
                command="ask",
                platform=place.platform,
                channel=place.name,
                summary=f"{summary}: {str(row['question'])[:200]}",
                detail={"question_id": row["id"], "ticket": ticket},
            )

    async def _settle_message(self, row: Mapping[str, Any], outcome: Message) -> None:
        """Replace the buttons of the suggestion with how it ended, so nobody clicks twice."""
        if not row["message_id"]:
            return
        place = Place(row["platform"], row["channel_id"], row["thread"], channel_name=row["channel"])
        await self.chat.update(MessageRef(place, row["message_id"]), outcome)

    # -- figures ------------------------------------------------------------------------------
    def stats(self, since: dt.datetime | None = None) -> DeskStats:
        query = select(desk_questions.c.outcome, func.count()).group_by(desk_questions.c.outcome)
        if since is not None:
            query = query.where(desk_questions.c.asked_at >= since)
        with self.db.read() as conn:
            counts = {outcome: int(n) for outcome, n in conn.execute(query)}
        return DeskStats(
            asked=sum(counts.values()),
            open=counts.get("suggested", 0) + counts.get("no_match", 0),
            solved=counts.get("solved", 0),
            escalated=counts.get("escalated", 0),
            dismissed=counts.get("dismissed", 0),
        )


def _suggestion(hit: Hit) -> dict[str, Any]:
    return {
        "article": hit.article.id,
        "anchor": hit.section.anchor,
        "title": hit.article.title,
        "confidence": round(hit.confidence, 3),
    }


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[:SNIPPET].rsplit(" ", 1)[0] + " …"


def _title(question: str) -> str:
    flat = " ".join(question.split())
    return flat if len(flat) <= 100 else flat[:100].rsplit(" ", 1)[0] + " …"
