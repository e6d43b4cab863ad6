/**
 * Typed notifications: `Notification` is a union on `eventType` whose `data` is typed from the generated event
 * types (src/generated/notifications.ts). The type checks run in `npm run typecheck` (tsc covers test/); the
 * run-time ones in `npm test`.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  isKnownEventType,
  isKnownNotification,
  NOTIFICATION_EVENT_TYPES,
  type ClientNotification,
  type KnownNotification,
  type Notification,
  type NotificationByType,
  type OrderCreatedNotification,
  type UnknownEventType,
  type UnknownNotification,
} from "../src/index.js";
import { EVENT_TYPES } from "../src/generated/events.js";
import { settle } from "./helpers/fakes.js";
import { connected, notification, pushNotification } from "./helpers/harness.js";

/** What an app writes: narrowing on `eventType`, no cast. */
function describeNotification(n: Notification): string {
  switch (n.eventType) {
    case "order.created":
      return `${n.data.orderNumber} (${n.data.supplierName ?? "no supplier"})`;
    case "order.status_changed":
      return `${n.data.orderNumber}: ${n.data.fromStatus} → ${n.data.toStatus}`;
    case "card.transition":
      return `${n.data.cardId} to ${n.data.toStage}`;
    case "loop.parameters_changed":
      return n.data.changes.map((c) => c.parameter).join(", ");
    case "relowisa.recommendation":
      return `${n.data.summary} (${Math.round(n.data.confidence * 100)}%)`;
    default: {
      const unknown: UnknownNotification = n; // every known type handled above
      const type: string = unknown.eventType;
      return `${type}: ${Object.keys(unknown.data).join(", ")}`;
    }
  }
}

describe("typed notifications (types)", () => {
  it("narrowing on eventType types data", () => {
    const n = {} as Notification;
    if (n.eventType === "order.created") {
      expectTypeOf(n).toEqualTypeOf<OrderCreatedNotification>();
      expectTypeOf(n.data.orderNumber).toEqualTypeOf<string>();
      expectTypeOf(n.data.totalAmount).toEqualTypeOf<number | null | undefined>();
      expectTypeOf(n.data["addedByANewerPublisher"]).toEqualTypeOf<unknown>();
    }
    if (n.eventType === "loop.parameters_changed") expectTypeOf(n.data.changes[0].parameter).toEqualTypeOf<string>();
    expectTypeOf<NotificationByType["card.transition"]["data"]["cardId"]>().toEqualTypeOf<string>();
    // common fields on every member; an event type is a string
    expectTypeOf(n.id).toEqualTypeOf<string>();
    expectTypeOf(n.read).toEqualTypeOf<boolean>();
    expectTypeOf(n.eventType).toExtend<string>();
    expectTypeOf<ClientNotification>().toEqualTypeOf<Notification>();
    // the position is the notification's, not in data
    expectTypeOf<OrderCreatedNotification["data"]["position"]>().toEqualTypeOf<unknown>();
  });

  it("an event type the schema does not have is compared as a string", () => {
    const n = {} as Notification;
    const custom: string = "custom.thing";
    if (n.eventType === custom) expectTypeOf(n.data).toExtend<{ readonly [field: string]: unknown }>();
    if (!isKnownNotification(n)) expectTypeOf(n).toEqualTypeOf<UnknownNotification>();
    else expectTypeOf(n).toEqualTypeOf<KnownNotification>();
    expectTypeOf<UnknownEventType>().toExtend<string>();
    // a typo of a known type does not compile
    // @ts-expect-error -- "order.craeted" is no event type of the schema
    void (n.eventType === "order.craeted");
  });
});

describe("typed notifications (run time)", () => {
  it("the notification types are the schema's event types but read announcements", () => {
    expect([...NOTIFICATION_EVENT_TYPES]).toEqual(EVENT_TYPES.filter((t) => t !== "notification.acknowledged"));
    expect(isKnownEventType("order.created")).toBe(true);
    expect(isKnownEventType("notification.acknowledged")).toBe(false);
    expect(isKnownEventType("custom.thing")).toBe(false);
  });

  it("the client keeps notifications of known and unknown types; an app switches on eventType", async () => {
    const h = await connected();
    pushNotification(h.ws, notification({ eventType: "order.created", data: { type: "order.created", tenantId: "tenant-001", orderId: "o-1", orderNumber: "PO-1" } }));
    pushNotification(h.ws, notification({ eventType: "custom.thing", data: { widget: 7 } }));
    await settle();
    const [custom, order] = h.client.getSnapshot().notifications;
    expect(custom && describeNotification(custom)).toBe("custom.thing: widget");
    expect(order && describeNotification(order)).toBe("PO-1 (no supplier)");
    expect(order && isKnownNotification(order)).toBe(true);
    expect(custom && isKnownNotification(custom)).toBe(false);
  });
});
