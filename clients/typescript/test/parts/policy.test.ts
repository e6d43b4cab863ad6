import { describe, expect, it } from "vitest";
import { closePolicy, errorAction } from "../../src/client/policy.js";
import { CLOSE_CODES, ERROR_CODE_INFO } from "../../src/generated/protocol.js";

describe("policy", () => {
  it("gives every close code the table's name, action and meaning", () => {
    for (const [code, entry] of Object.entries(CLOSE_CODES)) {
      expect(closePolicy(Number(code))).toEqual({ code: Number(code), name: entry.name, action: entry.action, meaning: entry.meaning });
    }
  });

  it("reconnects after a close code the table does not know (no close frame, a newer server)", () => {
    for (const code of [1005, 1006, 4999]) expect(closePolicy(code)).toEqual({ code, name: null, action: "reconnect", meaning: null });
  });

  it("gives every error code the table's action, and fails an unknown one", () => {
    for (const [code, entry] of Object.entries(ERROR_CODE_INFO)) expect(errorAction(code)).toBe(entry.action);
    expect(errorAction("some_future_code")).toBe("fail");
    expect(errorAction("toString")).toBe("fail"); // not an own key of the table
  });
});
