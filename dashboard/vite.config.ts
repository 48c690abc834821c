/** `npm run dashboard:build`: DASHBOARD_API_ORIGIN (default the dev API) into DASHBOARD_OUT_DIR (default dashboard/dist). */
import { defineConfig } from "vite";
import { dashboardViteConfig } from "./build-config.ts";

export default defineConfig(
  dashboardViteConfig({
    apiOrigin: process.env.DASHBOARD_API_ORIGIN ?? "http://localhost:8787",
    ...(process.env.DASHBOARD_OUT_DIR === undefined ? {} : { outDir: process.env.DASHBOARD_OUT_DIR }),
  }),
);
