/**
 * Orders the suite's files for three workers on two cores: the long ones first, whichever project
 * holds them, so that none of them starts last and becomes the suite's tail. vitest's own order
 * runs projects one after another by name, which started the fuzz campaign (the longest file)
 * after every browser, script and shared-runtime file. A clean clone has no timings cached, so the
 * long files are named (`RUN_FIRST` in vitest.config.ts); the others follow by the duration vitest
 * cached for them, else by size.
 */
import path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

export function longestFirst(runFirst: readonly string[]) {
  return class LongestFirst extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const root = this.ctx.config.root;
      const rank = (spec: TestSpecification) => {
        const file = path.relative(root, spec.moduleId);
        const listed = runFirst.indexOf(file);
        const key = `${spec.project.name}:${file}`;
        return {
          listed: listed === -1 ? runFirst.length : listed,
          durationMs: this.ctx.cache.getFileTestResults(key)?.duration ?? 0,
          size: this.ctx.cache.getFileStats(key)?.size ?? 0,
        };
      };
      const ranked = files.map((spec) => ({ spec, ...rank(spec) }));
      ranked.sort((a, b) => a.listed - b.listed || b.durationMs - a.durationMs || b.size - a.size);
      return ranked.map(({ spec }) => spec);
    }
  };
}
