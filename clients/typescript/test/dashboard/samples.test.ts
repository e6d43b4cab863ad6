import { describe, expect, it } from "vitest";
import { addSample, latestSample, MAX_SAMPLES, WINDOW_MS, type Sample } from "../../app/dashboard/samples.js";
import { instanceDoc, sampleAt } from "./fixtures.js";

const fill = (times: number[]): Sample[] => times.reduce<Sample[]>((acc, t) => addSample(acc, sampleAt(t)), []);

describe("the sample buffer", () => {
  it("keeps the samples of the last 5 minutes, oldest first", () => {
    let samples: Sample[] = [];
    for (let t = 0; t <= 400_000; t += 1000) samples = addSample(samples, sampleAt(t));
    expect(samples[0]?.at).toBe(400_000 - WINDOW_MS);
    expect(latestSample(samples)?.at).toBe(400_000);
    expect(samples).toHaveLength(WINDOW_MS / 1000 + 1);
  });

  it("does not change the array it is given", () => {
    const before = fill([0, 1000]);
    const after = addSample(before, sampleAt(2000));
    expect(before).toHaveLength(2);
    expect(after).toHaveLength(3);
  });

  it("stays bounded whatever the rate", () => {
    let samples: Sample[] = [];
    for (let t = 0; t < 1000; t++) samples = addSample(samples, sampleAt(t)); // 1000 in one second
    expect(samples).toHaveLength(MAX_SAMPLES);
    expect(latestSample(samples)?.at).toBe(999);
  });

  it("a sample from before the last one (the clock went back) replaces those from its time on", () => {
    const samples = addSample(fill([0, 1000, 2000, 3000]), sampleAt(1500));
    expect(samples.map((s) => s.at)).toEqual([0, 1000, 1500]);
  });

  it("computes each sample's overview once, over every instance", () => {
    const sample = sampleAt(0, [instanceDoc("a"), instanceDoc("b")]);
    expect(sample.overview.total.connections).toBe(6);
    expect(sample.overview.eventsPerSecondByType["order.created"]).toBe(20);
  });

  it("latestSample of none is null", () => {
    expect(latestSample([])).toBeNull();
  });
});
