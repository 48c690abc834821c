/**
 * Orders the suite's files for three workers on two cores: the long ones first, whichever project
 * holds them, so that none of them starts last and becomes the suite's tail. vitest's own order
 * runs projects one after another by name, which started the fuzz campaign (the longest file)
 * after every browser, script and shared-runtime file. A clean clone has no timings cached, so the
 * long files are named (`RUN_FIRST` in vitest.config.ts); the others follow by the duration vitest
 * cached for them, else by size.
 *
 * After the named files, each project's files stay together, in `projectOrder`: vitest keeps a
 * shared runtime (`isolate: false`) only while the next queued file is of the same project, and
 * stops it otherwise, so interleaved by size the small files of three projects cost a new workerd
 * per file.
 */
import path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

export function longestFirst(runFirst: readonly string[], projectOrder: readonly string[]) {
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
      const ranked = files.map((spec) => ({ spec, project: spec.project.name, ...rank(spec) }));
      const projectRank = (project: string) => {
        const index = projectOrder.indexOf(project);
        return index === -1 ? projectOrder.length : index;
      };
      ranked.sort(
        (a, b) =>
          a.listed - b.listed ||
          projectRank(a.project) - projectRank(b.project) ||
          a.project.localeCompare(b.project) ||
          b.durationMs - a.durationMs ||
          b.size - a.size,
      );
      return ranked.map(({ spec }) => spec);
    }
  };
}
