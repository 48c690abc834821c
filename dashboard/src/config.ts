/** The API's serialized origin, fixed at build time (DASHBOARD_API_ORIGIN); the CSP's connect-src is made from the same value. */
declare const __API_ORIGIN__: string;

export const API_ORIGIN: string = __API_ORIGIN__;
