/** Reads a JSON-with-comments file (wrangler.jsonc), failing on any syntax error rather than guessing. */
import { readFileSync } from "node:fs";
import { type ParseError, parse, printParseErrorCode } from "jsonc-parser";

export function readJsonc(file: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parse(readFileSync(file, "utf8"), errors, { allowTrailingComma: true });
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new Error(`${file}: ${printParseErrorCode(first.error)} at offset ${first.offset}`);
  }
  return value;
}
