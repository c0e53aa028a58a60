import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { tuneV8 } from "../../server/src/v8-tuning.js";

describe("V8 settings at start-up (tuneV8)", () => {
  it("turns allocation-site pretenuring off when the process did not choose", () => {
    assert.equal(tuneV8([], ""), true);
    assert.equal(tuneV8(["--enable-source-maps"], "--max-old-space-size=512"), true);
  });

  it("leaves it to an --allocation-site-pretenuring option of the process's own, either way, in its arguments or NODE_OPTIONS", () => {
    assert.equal(tuneV8(["--allocation-site-pretenuring"], ""), false);
    assert.equal(tuneV8([], "--max-old-space-size=512 --no-allocation-site-pretenuring"), false);
    assert.equal(tuneV8([], "--allocation_site_pretenuring"), false);
  });
});
