/**
 * The suite's database faults, injected through the SQL endpoint's `beforeExecute` hook and chosen
 * per connection string by its `application_name` (SQL_FAULTS). Each mimics what the worker would
 * get from Neon's proxy when Postgres misbehaves, and carries SQL_FAULT_MARKER in whatever text it
 * sends, so tests can prove none of it reaches a client.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { InjectedAnswer, InjectedHangUp, type SqlRequest } from "../../scripts/lib/sql-endpoint.ts";
import { SQL_FAULT_MARKER, SQL_FAULTS } from "./constants.ts";

const neonError = (code: string, severity: string) =>
  new InjectedAnswer(
    400,
    JSON.stringify({
      message: `${SQL_FAULT_MARKER}: ${code}`,
      code,
      severity,
      where: `${SQL_FAULT_MARKER} at select password_hash`,
    }),
  );

export async function injectSqlFault({ applicationName }: SqlRequest): Promise<void> {
  switch (applicationName) {
    case SQL_FAULTS.statementTimeout:
      await sleep(5000, undefined, { ref: false });
      throw neonError("57014", "ERROR");
    case SQL_FAULTS.unanswered:
      // Unreferenced, so a sleeping fault never holds the test runner open at the end.
      await sleep(10_000, undefined, { ref: false });
      throw new InjectedHangUp();
    case SQL_FAULTS.terminated:
      throw neonError("57P01", "FATAL");
    case SQL_FAULTS.hangUp:
      throw new InjectedHangUp();
    case SQL_FAULTS.refused:
      throw new Error(`${SQL_FAULT_MARKER}: connection refused`);
    case SQL_FAULTS.notJson:
      throw new InjectedAnswer(200, `<html>${SQL_FAULT_MARKER} 502 Bad Gateway</html>`);
    case SQL_FAULTS.wrongShape:
      throw new InjectedAnswer(200, JSON.stringify({ results: { rows: [SQL_FAULT_MARKER] } }));
    case SQL_FAULTS.missingResults:
      throw new InjectedAnswer(200, JSON.stringify({ results: [] }));
    case SQL_FAULTS.truncated:
      throw new InjectedAnswer(200, `{"results":[{"command":"SELECT","rowCount":1,"rows":[["${SQL_FAULT_MARKER}`);
  }
}
