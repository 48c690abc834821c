/** Numbers and times as people read them, in the browser's locale and time zone. */
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 2 });
const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

export const formatInteger = (value: number): string => integer.format(value);
export const formatDecimal = (value: number): string => decimal.format(value);
export const formatPercent = (value: number): string => percent.format(value);
export const formatMs = (value: number | null): string => (value === null ? "no data" : `${decimal.format(value)} ms`);

/** Decimal units (1 KB = 1000 B), as network volumes are usually quoted. */
export function formatBytes(value: number): string {
  let unit = 0;
  let scaled = value;
  while (scaled >= 1000 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1000;
    unit++;
  }
  return `${unit === 0 ? integer.format(scaled) : decimal.format(scaled)} ${BYTE_UNITS[unit]}`;
}

export const timeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** `UTC+01:00` for the browser's current offset. */
export function utcOffset(date = new Date()): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const formatDateTime = (iso: string): string => dateTime.format(new Date(iso));
