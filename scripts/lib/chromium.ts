/**
 * Debian's Chromium headless shell driven by playwright-core: the browser of the browser tests and
 * of the dashboard's first-paint measurement. The shell is Chromium's old headless mode built on
 * its own: the same Blink, V8 and network stack (CORS, CSP, cookies), without the browser's UI
 * layer. On this 2-core machine the browser files took 66 s of Chromium CPU with the full browser's
 * headless mode and 28 s with the shell (docs/testing.md). Nothing is downloaded; a missing binary
 * says how to install it.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium-headless-shell";
export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile, no background traffic and nothing fetched from the network. */
export async function launchChromium(options: { timezoneId?: string } = {}): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium-headless-shell (run scripts/install-system-deps.sh as root).`,
    );
  }
  const userDataDir = await mkdtemp(path.join(tmpdir(), "streamforge-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      ...options,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
}
