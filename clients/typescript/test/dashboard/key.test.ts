import { describe, expect, it } from "vitest";
import { keyFromUrl } from "../../app/dashboard/key.js";

describe("the key from the address", () => {
  it("reads ?key= and gives the address without it", () => {
    expect(keyFromUrl("http://127.0.0.1:3002/dashboard?key=s3cret")).toEqual({ key: "s3cret", cleaned: "/dashboard" });
    expect(keyFromUrl("http://h/dashboard?x=1&key=a%2Bb&y=2#top")).toEqual({ key: "a+b", cleaned: "/dashboard?x=1&y=2#top" });
  });

  it("no key: the address as it is", () => {
    expect(keyFromUrl("http://h/dashboard?x=1")).toEqual({ key: null, cleaned: "http://h/dashboard?x=1" });
  });

  it("an empty key is no key (and is taken out too)", () => {
    expect(keyFromUrl("http://h/dashboard?key=")).toEqual({ key: null, cleaned: "/dashboard" });
  });
});
