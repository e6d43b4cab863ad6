import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ardaBin, outputs, renderProtocol, staleFiles } from "../scripts/gen.mjs";
import { CLOSE_CODES, ERROR_CODES } from "../src/generated/protocol.js";
import { EVENT_TYPES } from "../src/generated/events.js";

// The generated wire types must match what the Python service prints now (`npm run gen` regenerates them).
describe("generated wire types", () => {
  it("are not stale", async () => {
    const stale = await staleFiles();
    expect(stale, "run `npm run gen` in clients/typescript and commit the result").toEqual([]);
  }, 20_000);

  it("the check notices a change", () => {
    const protocol = JSON.parse(execFileSync(ardaBin(), ["protocol"], { encoding: "utf8" })) as {
      errorCodes: string[];
      closeCodes: unknown[];
    };
    const committed = readFileSync(outputs.protocol, "utf8");
    expect(renderProtocol(protocol)).toBe(committed);
    expect(renderProtocol({ ...protocol, errorCodes: [...protocol.errorCodes, "new_code"] })).not.toBe(committed);
  });

  it("carry the protocol's tables and the event types", () => {
    expect(ERROR_CODES).toContain("token_expired");
    expect(CLOSE_CODES[4001].action).toBe("stop");
    expect(CLOSE_CODES[4006].action).toBe("reconnect");
    expect(EVENT_TYPES).toContain("order.created");
  });
});
