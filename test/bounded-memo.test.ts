import { describe, expect, it } from "vitest";
import { boundedMemo } from "../src/bounded-memo.ts";

function counting() {
  const derived: string[] = [];
  return {
    derived,
    derive: (key: string) => {
      derived.push(key);
      return key.length;
    },
  };
}

describe("bounded memo", () => {
  it("derives each key once while it is remembered", () => {
    const { derived, derive } = counting();
    const memo = boundedMemo(derive, 3);
    expect([memo("a"), memo("bb"), memo("a"), memo("bb")]).toEqual([1, 2, 1, 2]);
    expect(derived).toEqual(["a", "bb"]);
  });

  it("starts over once it holds its maximum: memory never grows past it, whatever the keys", () => {
    const { derived, derive } = counting();
    const memo = boundedMemo(derive, 3);
    for (const key of ["a", "b", "c"]) memo(key);
    memo("d");
    memo("a");
    memo("d");
    expect(derived).toEqual(["a", "b", "c", "d", "a"]);
  });
});
