/**
 * The API's docs: the OpenAPI document (docs/openapi.json, generated from the route definitions;
 * src/openapi.ts says why the worker does not generate it) at /openapi.json, and Swagger UI from
 * the `swagger-ui-dist` npm package, served on this worker's own origin. These files come from
 * Workers Static Assets (assets/, see wrangler.jsonc), so they never enter the worker bundle; the
 * page and its start-up script are ours and contain no inline code, so the docs CSP
 * (security-headers.ts) needs neither a third party nor 'unsafe-inline'. Only the files named here
 * are reachable: the worker runs first on every request.
 */
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

/** The OpenAPI document's name, as an asset and on the API. */
const OPENAPI_DOCUMENT = "openapi.json";

/** The package files the page loads, by the name it loads them under. */
const SWAGGER_UI_FILES = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"] as const;

const page = (docsPath: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>StreamForge Edge API</title>
<link rel="icon" type="image/png" href="${docsPath}/favicon-32x32.png">
<link rel="stylesheet" href="${docsPath}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${docsPath}/swagger-ui-bundle.js"></script>
<script src="${docsPath}/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the document to a third-party validator.
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({ url: "/${OPENAPI_DOCUMENT}", dom_id: "#swagger-ui", validatorUrl: null });
`;

export interface DocsRoutesOptions {
  /** The Workers Static Assets binding over assets/: the OpenAPI document and Swagger UI's files. */
  assets: Fetcher;
  /** Where the page lives; its files are served beneath it. */
  docsPath: string;
}

/**
 * @example app.route("/", createDocsRoutes({ assets: config.ASSETS, docsPath: "/docs" }))
 */
export function createDocsRoutes({ assets, docsPath }: DocsRoutesOptions) {
  const html = page(docsPath);
  const app = new Hono<AppEnv>();
  app.get(docsPath, (c) => c.html(html));
  app.get(`${docsPath}/init.js`, (c) => c.body(INIT_SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8" }));
  const serveAsset = (file: string) => async (c: Context<AppEnv>) => {
    const asset = await assets.fetch(new URL(`/${file}`, c.req.url));
    if (!asset.ok) {
      throw new AppError({
        status: 503,
        code: "docs-unavailable",
        title: "Docs unavailable",
        detail: "The API docs are not deployed.",
      });
    }
    // Through the context, so the headers set earlier in the chain (the request id) stay on it.
    for (const [name, value] of asset.headers) c.header(name, value);
    return c.body(asset.body ?? "", 200);
  };
  app.get(`/${OPENAPI_DOCUMENT}`, serveAsset(OPENAPI_DOCUMENT));
  for (const file of SWAGGER_UI_FILES) app.get(`${docsPath}/${file}`, serveAsset(file));
  return app;
}
