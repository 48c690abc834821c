// zod's types: the runtime is zod's entry without `locales`, `fromJSONSchema` and the compiler (see
// index.js, external.js); test/scripts/zod-without-locales.test.ts names what is left out.
export * from "zod";
export { default, z } from "zod";
