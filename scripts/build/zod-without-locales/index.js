// zod's entry (zod 4.6.7: index.js → v4/classic/external.js) without `locales`: the bundle's alias
// for "zod" (wrangler.jsonc "alias"). The worker uses zod as the `z` namespace object, which
// esbuild keeps whole, every member of it in the bundle, and `locales` alone was a third of the
// worker (40+ languages; zod's schemas import the English messages directly). The rest is zod's
// own modules, re-exported unchanged; test/scripts/zod-without-locales.test.ts proves the exports
// equal zod's minus `locales`, so an upgrade that moves a file fails there, not in production.
import * as z from "./external.js";

export * from "./external.js";
export { z, z as default };
