/**
 * SQL lint on the TypeScript syntax tree: query text handed to a driver must be a literal written
 * at the call, so every value can only reach Postgres as a bind parameter. Reading the tree rather
 * than lines catches every spelling of the same mistake: a template with `${…}` on one line or ten,
 * `+` concatenation, text held in a variable or returned by a call, a `{ text }` config object —
 * its `text` named plainly, computed (`{ ["text"]: … }`), a class field, or assigned later
 * (`q.text = …`, `q["text"] += …`).
 *
 * Sinks, for pg's `Client`/`Pool` and Neon's serverless driver alike:
 * - `x.query(text, params?)` and `x.query({ text, values })`: `text` must be a string literal or a
 *   template literal without substitutions. Hono's `c.req.query(name)` reads the URL and is not SQL.
 * - `x.query(q.text, params)`: text carried by a named query object (`src/db/`), allowed because
 *   every `text:` property anywhere must itself be a literal (checked where the object is written).
 * - `x.unsafe(…)`: Neon's escape hatch for raw SQL text; never allowed.
 * - Neon's tagged template ``sql`… ${value} …` `` is safe: the driver sends each substitution as a
 *   bind parameter. Its substitutions are still walked, so ``sql`${sql.unsafe(x)}` `` is caught.
 */
import ts from "typescript";

/** Where the offending call starts (its first line, for a query that spans many). */
export interface SqlFinding {
  line: number;
  column: number;
  message: string;
}

const QUERY_METHODS = new Set(["query"]);
const RAW_SQL_METHODS = new Set(["unsafe"]);

/** Strips wrappers that do not change the value: `(text)`, `text as string`, `text!`, `text satisfies T`. */
function unwrap(node: ts.Expression): ts.Expression {
  let current = node;
  while (
    ts.isParenthesizedExpression(current) ||
    ts.isAsExpression(current) ||
    ts.isSatisfiesExpression(current) ||
    ts.isNonNullExpression(current) ||
    ts.isTypeAssertionExpression(current)
  ) {
    current = current.expression;
  }
  return current;
}

function isLiteralText(node: ts.Expression): boolean {
  const inner = unwrap(node);
  return ts.isStringLiteral(inner) || ts.isNoSubstitutionTemplateLiteral(inner);
}

/** Why `text` is not acceptable query text, or undefined when it is a literal. */
function textProblem(text: ts.Expression): string | undefined {
  const inner = unwrap(text);
  if (isLiteralText(inner)) return undefined;
  if (ts.isPropertyAccessExpression(inner) && inner.name.text === "text") return undefined;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the message names the syntax it refuses.
  if (ts.isTemplateExpression(inner)) return "query text interpolates values with ${…}; pass them as parameters";
  if (
    ts.isBinaryExpression(inner) &&
    (inner.operatorToken.kind === ts.SyntaxKind.PlusToken || inner.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken)
  ) {
    return "query text is built by concatenation; pass values as parameters";
  }
  if (ts.isObjectLiteralExpression(inner)) {
    const textProperty = inner.properties.find(
      (property): property is ts.PropertyAssignment =>
        ts.isPropertyAssignment(property) && propertyName(property.name) === "text",
    );
    if (textProperty === undefined) return "query config object has no literal `text` property";
    return textProblem(textProperty.initializer);
  }
  return "query text is not a literal at the call; write the SQL text inline and pass values as parameters";
}

/** A property's name when it is fixed in the source: `text`, `"text"`, `["text"]`, `` [`text`] ``. */
function propertyName(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name)) return name.text;
  if (!ts.isComputedPropertyName(name)) return undefined;
  const computed = unwrap(name.expression);
  return ts.isStringLiteralLike(computed) ? computed.text : undefined;
}

/** `q.text` or `q["text"]` as an assignment target. */
function isTextTarget(target: ts.Expression): boolean {
  const inner = unwrap(target);
  if (ts.isPropertyAccessExpression(inner)) return inner.name.text === "text";
  if (!ts.isElementAccessExpression(inner)) return false;
  return ts.isStringLiteralLike(inner.argumentExpression) && inner.argumentExpression.text === "text";
}

/** `c.req.query(...)` and `req.query(...)`: Hono's URL query reader, not a database. */
function isHonoRequestQuery(receiver: ts.Expression): boolean {
  const inner = unwrap(receiver);
  return (
    (ts.isIdentifier(inner) && inner.text === "req") ||
    (ts.isPropertyAccessExpression(inner) && inner.name.text === "req")
  );
}

/** The method name of a call, its receiver and its arguments; `.call(thisArg, …)` is seen through. */
function sinkCall(
  node: ts.CallExpression,
): { method: string; receiver?: ts.Expression; args: readonly ts.Expression[] } | undefined {
  const callee = unwrap(node.expression);
  const named = (expression: ts.Expression): { method: string; receiver?: ts.Expression } | undefined => {
    if (ts.isIdentifier(expression)) return { method: expression.text };
    if (ts.isPropertyAccessExpression(expression))
      return { method: expression.name.text, receiver: expression.expression };
    if (ts.isElementAccessExpression(expression) && ts.isStringLiteralLike(expression.argumentExpression)) {
      return { method: expression.argumentExpression.text, receiver: expression.expression };
    }
    return undefined;
  };
  const direct = named(callee);
  if (direct?.method === "call" && direct.receiver !== undefined) {
    const target = named(unwrap(direct.receiver));
    if (target !== undefined) return { ...target, args: node.arguments.slice(1) };
  }
  return direct === undefined ? undefined : { ...direct, args: node.arguments };
}

export function findUnsafeSql(sourceText: string, fileName = "source.ts"): SqlFinding[] {
  const source = ts.createSourceFile(fileName, sourceText, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const findings: SqlFinding[] = [];
  const report = (node: ts.Node, message: string) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    findings.push({ line: line + 1, column: character + 1, message });
  };

  const visit = (node: ts.Node): void => {
    // A config object written as a call's argument is judged with the call, below.
    const inCallArgument =
      node.parent !== undefined && ts.isObjectLiteralExpression(node.parent) && ts.isCallExpression(node.parent.parent);
    if (ts.isPropertyAssignment(node) && propertyName(node.name) === "text" && !inCallArgument) {
      const problem = textProblem(node.initializer);
      if (problem !== undefined && !ts.isPropertyAccessExpression(unwrap(node.initializer)))
        report(node, `a query's \`text\`: ${problem}`);
      else if (problem === undefined && ts.isPropertyAccessExpression(unwrap(node.initializer)))
        report(node, "a query's `text` copied from another object; write the SQL text inline");
    }
    if (ts.isShorthandPropertyAssignment(node) && node.name.text === "text" && !inCallArgument)
      report(node, "a query's `text` from a variable; write the SQL text inline");
    if (ts.isPropertyDeclaration(node) && propertyName(node.name) === "text" && node.initializer !== undefined) {
      const problem = textProblem(node.initializer);
      if (problem !== undefined) report(node, `a query class's \`text\` field: ${problem}`);
    }
    if (ts.isBinaryExpression(node) && isTextTarget(node.left)) {
      if (node.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken) {
        report(node, "a query's `text` extended with +=; pass values as parameters");
      } else if (node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
        const problem = textProblem(node.right);
        if (problem !== undefined) report(node, `a query's \`text\` assigned: ${problem}`);
      }
    }
    if (ts.isCallExpression(node)) {
      const call = sinkCall(node);
      if (call !== undefined && RAW_SQL_METHODS.has(call.method)) {
        report(node, `.${call.method}() sends raw SQL text; use a tagged template or .query(literal, params)`);
      } else if (
        call !== undefined &&
        QUERY_METHODS.has(call.method) &&
        !(call.receiver !== undefined && isHonoRequestQuery(call.receiver))
      ) {
        const [text] = call.args;
        if (text === undefined) {
          report(node, "query() without query text");
        } else if (ts.isSpreadElement(text)) {
          report(node, "query text comes from a spread argument; write it inline");
        } else {
          const problem = textProblem(text);
          if (problem !== undefined) report(node, problem);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return findings;
}
