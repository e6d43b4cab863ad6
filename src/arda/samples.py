"""One sample event of each built-in type: ``arda demo`` publishes them, ``arda publish --sample`` sends one."""

from __future__ import annotations

from .events import (
    AnyEvent,
    CardTransition,
    LoopParametersChanged,
    OrderCreated,
    OrderLine,
    OrderStatusChanged,
    ParameterChange,
    RelowisaRecommendation,
)


def demo_events(tenant: str) -> list[AnyEvent]:
    return [
        CardTransition(
            tenant_id=tenant,
            card_id="card-123",
            loop_id="loop-456",
            from_stage="todo",
            to_stage="in-progress",
            method="drag-drop",
            user_id="user-789",
        ),
        OrderCreated(
            tenant_id=tenant,
            order_id="ord-1042",
            order_number="PO-1042",
            supplier_name="Acme Fasteners",
            loop_id="loop-456",
            lines=[OrderLine(part_id="M8-BOLT", quantity=500, unit="pcs")],
            total_amount=129.5,
            currency="EUR",
        ),
        OrderStatusChanged(
            tenant_id=tenant,
            order_id="ord-1042",
            order_number="PO-1042",
            from_status="submitted",
            to_status="confirmed",
        ),
        LoopParametersChanged(
            tenant_id=tenant,
            loop_id="loop-456",
            loop_name="M8 bolts",
            changes=[ParameterChange(parameter="numberOfCards", old_value=4, new_value=5)],
        ),
        RelowisaRecommendation(
            tenant_id=tenant,
            recommendation_id="rec-77",
            loop_id="loop-456",
            kind="resize_loop",
            summary="Demand rose 18% over 4 weeks: add one card to M8 bolts.",
            confidence=0.86,
        ),
    ]
