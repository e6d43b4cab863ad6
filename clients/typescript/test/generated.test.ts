import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { ardaBin, NOT_NOTIFICATIONS, outputs, renderMessages, renderNotifications, renderProtocol, staleFiles } from "../scripts/gen.mjs";
import { CLIENT_MESSAGE_TYPES, SERVER_MESSAGE_TYPES } from "../src/generated/messages.js";
import { CLOSE_CODE, CLOSE_CODES, ERROR_CODE_INFO, ERROR_CODES } from "../src/generated/protocol.js";
import { EVENT_TYPES } from "../src/generated/events.js";

interface Protocol {
  errorCodes: { code: string; action: string; retry: boolean; meaning: string }[];
  closeCodes: { code: number; name: string; action: string; retry: boolean; meaning: string }[];
  messages: { server: { $defs: Record<string, { properties?: Record<string, unknown>; required?: string[] }> }; client: unknown };
}

let printed: Protocol;
/** A copy of what `arda protocol` printed (once per file). */
const protocol = (): Protocol => structuredClone(printed);
beforeAll(() => {
  printed = JSON.parse(execFileSync(ardaBin(), ["protocol"], { encoding: "utf8" })) as Protocol;
});

// The generated wire types must match what the Python service prints now (`npm run gen` regenerates them).
describe("generated wire types", () => {
  it("are not stale", async () => {
    const stale = await staleFiles();
    expect(stale, "run `npm run gen` in clients/typescript and commit the result").toEqual([]);
  }, 20_000);

  it("the check notices a change", async () => {
    const p = protocol();
    const committed = readFileSync(outputs.protocol, "utf8");
    expect(renderProtocol(p)).toBe(committed);
    const newCode = { code: "new_code", action: "fail", retry: false, meaning: "newer" };
    expect(renderProtocol({ ...p, errorCodes: [...p.errorCodes, newCode] })).not.toBe(committed);
    const retried = p.closeCodes.map((c) => (c.code === 4009 ? { ...c, action: "reconnect" } : c));
    expect(renderProtocol({ ...p, closeCodes: retried })).not.toBe(committed);

    const messages = readFileSync(outputs.messages, "utf8");
    expect(await renderMessages(p)).toBe(messages);
    const changed = structuredClone(p);
    const notification = changed.messages.server.$defs["Notification"];
    notification!.properties = { ...notification!.properties, newField: { type: "string" } };
    expect(await renderMessages(changed)).not.toBe(messages);
  }, 20_000);

  it("the notification union follows the event schema: a new event type is a new member; read announcements are none", () => {
    const schema = JSON.parse(execFileSync(ardaBin(), ["schema"], { encoding: "utf8" })) as {
      discriminator: { mapping: Record<string, string> };
      $defs: Record<string, { description?: string }>;
    };
    const committed = readFileSync(outputs.notifications, "utf8");
    expect(renderNotifications(schema)).toBe(committed);
    for (const type of NOT_NOTIFICATIONS) expect(committed).not.toContain(JSON.stringify(type));
    const more = structuredClone(schema);
    more.discriminator.mapping["stock.low"] = "#/$defs/StockLow";
    more.$defs["StockLow"] = { description: "Stock fell below its reorder point." };
    const rendered = renderNotifications(more);
    expect(rendered).toContain('export interface StockLowNotification extends NotificationCommon {\n  eventType: "stock.low";');
    expect(rendered).toContain("| StockLowNotification");
    const renamed = structuredClone(schema);
    for (const type of NOT_NOTIFICATIONS) delete renamed.discriminator.mapping[type];
    expect(() => renderNotifications(renamed)).toThrow(/not in `arda schema`/);
  });

  it("refuses the old shape of `arda protocol` (error codes as plain strings)", () => {
    const p = protocol();
    expect(() => renderProtocol({ ...p, errorCodes: p.errorCodes.map((e) => e.code) })).toThrow(/did not print/);
  });

  it("refuses a message schema whose error codes differ from the table", async () => {
    const p = protocol();
    await expect(renderMessages({ ...p, errorCodes: p.errorCodes.slice(1) })).rejects.toThrow(/differs from errorCodes/);
  });

  it("carry the protocol's tables, the message types and the event types", () => {
    expect(ERROR_CODES).toContain("token_expired");
    expect(ERROR_CODE_INFO.rate_limited).toMatchObject({ action: "retry", retry: true });
    expect(ERROR_CODE_INFO.unauthorized.action).toBe("reauthenticate");
    expect(CLOSE_CODES[4001].action).toBe("sign_in");
    expect(CLOSE_CODES[4006].action).toBe("reconnect");
    expect(CLOSE_CODE.revoked).toBe(4009);
    expect(SERVER_MESSAGE_TYPES).toContain("notification");
    expect(CLIENT_MESSAGE_TYPES).toContain("acknowledge");
    expect(EVENT_TYPES).toContain("order.created");
  });
});
