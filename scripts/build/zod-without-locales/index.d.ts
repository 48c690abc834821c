// zod's types: the runtime is zod's entry without only `locales` (see index.js).
export * from "zod";
export { z, default } from "zod";
