/**
 * A vitest reporter that ends every run with its slowest test files, so the cost of the suite is
 * in front of whoever makes it slower. Time per file is import plus tests and hooks, as vitest
 * measures them; files of different projects overlap in wall-clock time.
 */
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const SHOWN = 10;

export default class SlowestFiles implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const timed = testModules.map((module) => {
      const { collectDuration, duration } = module.diagnostic();
      return {
        file: path.relative(process.cwd(), module.moduleId),
        project: module.project.name,
        ms: collectDuration + duration,
      };
    });
    timed.sort((a, b) => b.ms - a.ms);
    const lines = timed
      .slice(0, SHOWN)
      .map(({ file, project, ms }) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${project.padEnd(8)} ${file}`);
    console.log(`\nSlowest test files (import + tests):\n${lines.join("\n")}`);
  }
}
