"""Learner proposals over REST: an out-of-process learner posts a model change (`POST /feedback/proposals`, a
registered feedback type); it passes the same guardrails as an in-process learner's and is applied (auto-apply) or
kept pending until accepted or rejected here (or in the desk's window)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final, Literal, Self

from fastapi import APIRouter, Body, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from imperium_desk.feedback.backend import FeedbackBackend, ProposalDesk
from imperium_desk.feedback.learning.host import ProposalNotPending, UnknownProposal
from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.feedback.registry import FeedbackType
from imperium_desk.feedback.schemas import ErrorOut, storable
from imperium_desk.feedback.strict_json import StrictJsonRoute

ProposalId = Annotated[str, Path(min_length=1, max_length=64)]
Status = Literal["pending", "applying", "applied", "refused", "rejected", "failed"]

_OFF: Final[dict[int | str, dict[str, Any]]] = {503: {"model": ErrorOut, "description": "no learner host runs"}}
_DECIDE: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorOut, "description": "no such proposal"},
    409: {"model": ErrorOut, "description": "the proposal was already decided"},
    **_OFF,
}


class ProposalIn(ModelProposal):
    """A learner's proposal as posted: what a learner in the desk would return (its model validated as the config
    file's), kept in the decision history and pushed to webhook subscribers, so it must serialise as JSON does."""

    @model_validator(mode="after")
    def _can_be_kept(self) -> Self:
        storable(self)
        return self


class ProposalList(BaseModel):
    """The decision history the learner host keeps: every proposal not yet decided, and the latest decided ones up to
    `feedback.learning.history_limit`."""

    proposals: list[Decision] = Field(description="decisions, oldest first")


class RejectIn(BaseModel):
    """The optional body of a reject: the reason kept with the decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(default="rejected over the API", min_length=1, max_length=500)


def proposal_type(backend: FeedbackBackend) -> FeedbackType:
    async def propose(body: ProposalIn) -> Decision:
        return await _host(backend).propose(body, "rest")

    return FeedbackType("proposals", ProposalIn, Decision, propose, 201,
                        "Propose a model change; the answer is the guardrails' decision (applied, pending, refused)")


def proposal_routes(backend: FeedbackBackend) -> APIRouter:
    router = APIRouter(prefix="/feedback/proposals", tags=["learning"], route_class=StrictJsonRoute)

    @router.get("", responses=_OFF)
    async def list_proposals(status: Annotated[Status | None, Query()] = None) -> ProposalList:
        return ProposalList(proposals=_host(backend).proposals(status))

    @router.post("/{proposal_id}/accept", responses=_DECIDE)
    async def accept(proposal_id: ProposalId) -> Decision:
        """Apply a pending proposal (its guardrails checked again: the models may have moved since)."""
        with _answers():
            return await _host(backend).accept(proposal_id)

    @router.post("/{proposal_id}/reject", responses=_DECIDE)
    async def reject(proposal_id: ProposalId, body: Annotated[RejectIn | None, Body()] = None) -> Decision:
        with _answers():
            return _host(backend).reject(proposal_id, (body or RejectIn()).reason)

    return router


def _host(backend: FeedbackBackend) -> ProposalDesk:
    host = backend.learning
    if host is None:
        raise HTTPException(503, "no learner host runs in this desk")
    return host


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except UnknownProposal as exc:
        raise HTTPException(404, str(exc) or "no such proposal") from None
    except ProposalNotPending as exc:
        raise HTTPException(409, str(exc) or "the proposal was already decided") from None
