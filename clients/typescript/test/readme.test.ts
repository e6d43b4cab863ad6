import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLOSE_CODES, ERROR_CODE_INFO } from "../src/generated/protocol.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const section = readme.slice(readme.indexOf("## Close codes and error codes"), readme.indexOf("## Generated wire types"));

// The README describes the actions and points to the generated tables: a new action must be described, and
// no list of codes can fall out of step with the tables.
describe("README: close codes and error codes", () => {
  it("describes every action of the tables, in a row of its own", () => {
    expect(section.length).toBeGreaterThan(0);
    for (const action of new Set(Object.values(CLOSE_CODES).map((c) => c.action))) expect(section).toContain(`| \`${action}\` |`);
    for (const action of new Set(Object.values(ERROR_CODE_INFO).map((e) => e.action))) expect(section).toContain(`| \`${action}\` |`);
  });

  it("lists no close code of the table (the table is the list)", () => {
    for (const code of Object.keys(CLOSE_CODES)) expect(section).not.toMatch(new RegExp(`\\b${code}\\b`));
  });
});
