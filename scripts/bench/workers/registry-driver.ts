/**
 * For `npm run bench -- --registry`: runs a batch of calls against the project's own registry
 * objects (each tenant's revocation list, each user's SessionFamilies), as the simulated isolates
 * and users of the bench make them, and answers each call's outcome and the size of what the
 * object returned.
 */
import { revocationShard } from "../../../src/keys/registry.ts";
import { sessionFamilies } from "../../../src/keys/session-families.ts";
import type { RegistryOp } from "../registry-ops.ts";

interface Env {
  KEY_REGISTRY: DurableObjectNamespace<import("../../../src/keys/registry.ts").KeyRegistry>;
  SESSION_FAMILIES: DurableObjectNamespace<import("../../../src/keys/session-families.ts").SessionFamilies>;
}

const encoder = new TextEncoder();

async function run(op: RegistryOp, env: Env): Promise<unknown> {
  switch (op.op) {
    case "start":
      return sessionFamilies(env.SESSION_FAMILIES, op.user).start(
        { id: op.family, tenant: op.tenant, authTimeSeconds: op.authSeconds, endsAtSeconds: op.endsSeconds },
        op.nowSeconds,
      );
    case "rotate":
      return sessionFamilies(env.SESSION_FAMILIES, op.user).rotate(op.family, op.generation, op.nowSeconds);
    case "end":
      return sessionFamilies(env.SESSION_FAMILIES, op.user).end(op.family);
    case "live":
      return (await sessionFamilies(env.SESSION_FAMILIES, op.user).live(op.nowSeconds)).map((family) => [
        family.id,
        family.generation,
      ]);
    case "revoke":
      return revocationShard(env.KEY_REGISTRY, op.tenant).revoke(op.kind, op.subject, op.atMs);
    case "since":
      return revocationShard(env.KEY_REGISTRY, op.tenant).revocationsSince(op.seq);
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const ops = (await request.json()) as RegistryOp[];
    const answers = await Promise.all(
      ops.map(async (op) => {
        const answer = await run(op, env);
        return { answer, bytes: encoder.encode(JSON.stringify(answer)).length };
      }),
    );
    return Response.json(answers);
  },
};
