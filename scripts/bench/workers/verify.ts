/**
 * Verification alone, for `npm run bench -- --keys`: the bare route plus the project's API-key
 * verifier, built once per isolate from the same secrets the worker reads (legacy API_KEYS digests
 * and API_KEY_SIGNING_SECRETS), with its memory of verified keys off. What it adds to `bare` is
 * the verification's CPU per request.
 */
import { Hono } from "hono";
import {
  type ApiKeyVerifier,
  apiKeysSchema,
  createApiKeyVerifier,
  signingSecretsSchema,
} from "../../../src/auth/api-keys.ts";

interface VerifyEnv {
  API_KEYS: string;
  API_KEY_SIGNING_SECRETS: string;
}

let verifier: ApiKeyVerifier | undefined;
const app = new Hono<{ Bindings: VerifyEnv }>();
app.get("/verify", async (c) => {
  verifier ??= createApiKeyVerifier({
    legacyEntries: apiKeysSchema.parse(JSON.parse(c.env.API_KEYS)),
    signingSecrets: signingSecretsSchema.parse(JSON.parse(c.env.API_KEY_SIGNING_SECRETS)),
    // Every request verifies: the memory would answer the one legacy key from a lookup.
    rememberedKeys: 0,
  });
  const claims = await verifier.verify(c.req.header("x-api-key") ?? "");
  return claims === undefined ? c.text("refused", 403) : c.text("ok");
});

export default app;
