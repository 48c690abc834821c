/**
 * The checksum that lets a secret scanner tell a real key from a look-alike without asking us: a
 * CRC32 (IEEE 802.3, the polynomial of zlib and GitHub's own tokens) of everything before it, in
 * six base62 characters. It is not a MAC and proves nothing about who made the key; it makes a
 * random string with the right prefix pass only one time in 2^32, so a scanner reports almost no
 * false positives, and the worker refuses a mistyped or truncated key before spending an HMAC.
 */
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 62^6 > 2^32: six characters hold any CRC32. */
export const CHECKSUM_LENGTH = 6;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let value = byte;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
    table[byte] = value >>> 0;
  }
  return table;
})();

/** CRC32 of an ASCII string (keys are ASCII, so each character is one byte). */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let index = 0; index < text.length; index++)
    crc = CRC_TABLE[(crc ^ text.charCodeAt(index)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The six base62 characters a key ending in `body` carries after it. */
export function keyChecksum(body: string): string {
  let value = crc32(body);
  let encoded = "";
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    encoded = BASE62[value % 62]! + encoded;
    value = Math.floor(value / 62);
  }
  return encoded;
}
