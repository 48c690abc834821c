/** The demo tenants, users and streams; plain data, shared by the seed, the dev banner and the tests. */
export const DEMO_PASSWORD = "streamforge-demo";

export const DEMO_TENANTS = [
  {
    slug: "acme",
    name: "Acme Streaming",
    username: "acme_analyst",
    streams: ["orders.created", "orders.paid", "payments.settled", "clickstream", "inventory.changed", "emails.sent"],
  },
  {
    slug: "globex",
    name: "Globex Corporation",
    username: "globex_analyst",
    streams: ["sensor.readings", "alerts.raised", "billing.events", "audit.log"],
  },
  { slug: "initech", name: "Initech", username: "initech_analyst", streams: ["tps.reports", "printer.jobs"] },
] as const;

export const DEMO_STREAM_COUNT = DEMO_TENANTS.reduce((total, tenant) => total + tenant.streams.length, 0);
