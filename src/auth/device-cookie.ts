/**
 * Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a browser or
 * client that has signed in as a user before carries a signed cookie naming that user and a random
 * device id. Its login attempts for that user draw on the device's own allowance, so an attacker
 * hammering the username from elsewhere — who exhausts the username's shared allowance — cannot
 * lock the user out of their own client. Everyone without a valid cookie for that username shares
 * the username's allowance, so an attacker's guesses stay bounded.
 *
 * The cookie is `__Host-` prefixed (Secure, Path=/, no Domain), HttpOnly and SameSite=Strict, and
 * signed with HMAC-SHA256 (hono/cookie) under a key derived from JWT_SIGNING_KEY for this purpose
 * only; rotating the signing key invalidates every device cookie, which only means the next login
 * shares the username's allowance again.
 */
import type { Context } from "hono";
import { getSignedCookie, setSignedCookie } from "hono/cookie";
import { deriveKey } from "./derived-key.ts";

const COOKIE_NAME = "sf-device";
const MAX_AGE_SECONDS = 180 * 24 * 3600;
const KEY_PURPOSE = "streamforge device cookie v1";

export interface DeviceCookies {
  /** The device id of a valid cookie issued to `username`, or undefined. */
  deviceFor(c: Context, username: string): Promise<string | undefined>;
  /** Sets (or renews) the cookie for `username` after a successful login. */
  remember(c: Context, username: string, deviceId?: string): Promise<void>;
}

/** @example const devices = deviceCookies({ signingKey: config.JWT_SIGNING_KEY }) */
export function deviceCookies({ signingKey }: { signingKey: string }): DeviceCookies {
  let secret: Promise<ArrayBuffer> | undefined;
  const secretOnce = () => (secret ??= deriveKey(signingKey, KEY_PURPOSE));
  return {
    async deviceFor(c, username) {
      const value = await getSignedCookie(c, await secretOnce(), COOKIE_NAME, "host");
      if (typeof value !== "string") return undefined;
      const separator = value.lastIndexOf(":");
      return separator > 0 && value.slice(0, separator) === username ? value.slice(separator + 1) : undefined;
    },
    async remember(c, username, deviceId = crypto.randomUUID()) {
      await setSignedCookie(c, COOKIE_NAME, `${username}:${deviceId}`, await secretOnce(), {
        prefix: "host",
        httpOnly: true,
        sameSite: "Strict",
        maxAge: MAX_AGE_SECONDS,
      });
    },
  };
}
