/**
 * The demo tenants, users and streams; plain data, shared by the seed, the dev banner and the tests.
 * Each tenant has an analyst (reads) and a tenant admin (also manages the tenant's API keys).
 */
export const DEMO_PASSWORD = "streamforge-demo";

export const DEMO_TENANTS = [
  {
    slug: "acme",
    name: "Acme Streaming",
    username: "acme_analyst",
    adminUsername: "acme_admin",
    streams: ["orders.created", "orders.paid", "payments.settled", "clickstream", "inventory.changed", "emails.sent"],
  },
  {
    slug: "globex",
    name: "Globex Corporation",
    username: "globex_analyst",
    adminUsername: "globex_admin",
    streams: ["sensor.readings", "alerts.raised", "billing.events", "audit.log"],
  },
  {
    slug: "initech",
    name: "Initech",
    username: "initech_analyst",
    adminUsername: "initech_admin",
    streams: ["tps.reports", "printer.jobs"],
  },
] as const;

export const DEMO_STREAM_COUNT = DEMO_TENANTS.reduce((total, tenant) => total + tenant.streams.length, 0);
