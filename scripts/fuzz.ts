/**
 * `npm run fuzz [-- --runs N] [--seed S]`: a longer campaign of generated attacks
 * (test/fuzz/requests.test.ts) inside workerd against a real Postgres, the suite's own setup.
 * The test prints the seed it used; pass it back with --seed to replay a failure exactly.
 */
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10000" }, seed: { type: "string" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error("--runs must be a positive integer");
  process.exit(1);
}
if (values.seed !== undefined && !/^-?\d+$/.test(values.seed)) {
  console.error("--seed must be an integer");
  process.exit(1);
}

const child = spawn("npx", ["vitest", "run", "--project", "worker", "test/fuzz"], {
  stdio: "inherit",
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SEED: values.seed ?? "" },
});
child.on("exit", (code) => process.exit(code ?? 1));
