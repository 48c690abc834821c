/**
 * One measured run of one scenario: prepare it, check it answers as it should, read the server's
 * CPU time (and its database server's, if it has one), load it with wrk, read the CPU time again,
 * and check once more. Anything that answered otherwise than the scenario expects comes back as a
 * problem, so the bench can report the numbers and still fail.
 */
import path from "node:path";
import { expectResponse } from "./clients.ts";
import { machineBusyMicros, ownCpuMicros, processTreeCpuMicros, serverCpuMicros } from "./cpu.ts";
import type { RunningInstance } from "./miniflare.ts";
import type { RoundResult } from "./report.ts";
import type { Scenario } from "./scenarios.ts";
import { LUA_DIR, runWrk } from "./wrk.ts";

export interface Target {
  instance: RunningInstance;
  headers: Record<string, string>;
  /** The PostgreSQL postmaster the instance queries, whose process tree is measured too. */
  databaseServerPid?: number;
  /** Requests the local SQL endpoint has run so far: each is one database round trip of the worker. */
  databaseRequests?: () => number;
}

export interface LoadSettings {
  durationSeconds: number;
  connections: number;
  threads: number;
}

/** A response slower than this counts as an error. */
const RESPONSE_TIMEOUT_SECONDS = 10;

export async function measure(
  scenario: Scenario,
  { instance, headers, databaseServerPid, databaseRequests }: Target,
  load: LoadSettings,
  label: string,
): Promise<{ result: RoundResult; problems: string[] }> {
  const what = `${scenario.name} (${label})`;
  const url = `${instance.url}${scenario.path}`;
  const clientIps = scenario.prepare === undefined ? scenario.clientIps : await scenario.prepare({ url, headers });
  const check = async () => {
    try {
      await expectResponse(
        what,
        url,
        { ...headers, "CF-Connecting-IP": clientIps[0]! },
        { status: scenario.expectedStatus, header: scenario.expectedHeader },
        scenario.jsonBody,
      );
    } catch (error) {
      const logged = instance.takeErrors();
      throw new Error(
        `${(error as Error).message}${logged.count > 0 ? `\n  the worker logged: ${logged.first.join("\n  ")}` : ""}`,
      );
    }
  };

  await check();
  const databaseCpu = () => (databaseServerPid === undefined ? 0 : serverCpuMicros(databaseServerPid));
  const tripsBefore = databaseRequests?.();
  const [cpuBefore, databaseBefore, busyBefore, ownBefore] = [
    processTreeCpuMicros(instance.pid),
    databaseCpu(),
    machineBusyMicros(),
    ownCpuMicros(),
  ];
  const wrk = await runWrk({
    url,
    headers,
    lua: path.join(LUA_DIR, scenario.lua ?? "client-ips.lua"),
    luaArgs: scenario.jsonBody === undefined ? clientIps : [`post-json=${scenario.jsonBody}`, ...clientIps],
    ...load,
    timeoutSeconds: RESPONSE_TIMEOUT_SECONDS,
  });
  const cpuMicros = processTreeCpuMicros(instance.pid) - cpuBefore;
  const databaseCpuMicros = databaseCpu() - databaseBefore;
  const trips =
    databaseRequests === undefined || tripsBefore === undefined ? undefined : databaseRequests() - tripsBefore;
  // What the rest of the machine took meanwhile (this process — with the SQL endpoint — and wrk, reaped
  // by now, and the database excluded): the two cores are shared, so a busy neighbour makes a run
  // less trustworthy.
  const otherMicros = machineBusyMicros() - busyBefore - cpuMicros - databaseCpuMicros - (ownCpuMicros() - ownBefore);
  await check();

  const problems: string[] = [];
  const logged = instance.takeErrors();
  if (logged.count > 0)
    problems.push(`${what}: the worker logged ${logged.count} errors, e.g. ${logged.first.join(" | ")}`);
  const expectsSuccess = scenario.expectedStatus < 400;
  const unexpected = expectsSuccess ? wrk.non2xx3xx : wrk.requests - wrk.non2xx3xx;
  if (unexpected > 0) {
    problems.push(
      `${what}: ${unexpected} of ${wrk.requests} responses were ${expectsSuccess ? "not 2xx/3xx" : "2xx/3xx"}; expected all ${scenario.expectedStatus}`,
    );
  }
  const { connect, read, write, timeout } = wrk.socketErrors;
  if (connect + read + write + timeout > 0)
    problems.push(`${what}: socket errors connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);

  return {
    result: {
      ...wrk,
      cpuMicros,
      cpuMicrosPerRequest: cpuMicros / wrk.requests,
      ...(databaseServerPid === undefined ? {} : { databaseCpuMicrosPerRequest: databaseCpuMicros / wrk.requests }),
      ...(trips === undefined ? {} : { databaseRoundTripsPerRequest: trips / wrk.requests }),
      otherLoadCores: Math.max(0, otherMicros) / (wrk.seconds * 1_000_000),
    },
    problems,
  };
}
