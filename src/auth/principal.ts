/** Who is calling, once authenticated; the tenant scopes every query made for them. */
export type Principal =
  | { kind: "user"; subject: string; tenant: string }
  | { kind: "api-key"; subject: string; tenant: string; scopes: readonly string[]; rateLimit?: string };
