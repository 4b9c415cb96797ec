/**
 * Finds SQL text built from data in TypeScript sources (issue 16 item 4): the check behind
 * SqlText.test.ts, on the TypeScript compiler's syntax trees and types.
 *
 * What counts as SQL: a template literal or a `+` concatenation whose own text reads as SQL
 * (`SELECT … FROM`, `INSERT INTO`, `UPDATE … SET`, `DELETE FROM`, `CREATE/ALTER/DROP <object>`,
 * `GRANT`, `COPY`, `TRUNCATE`, `DECLARE … CURSOR`, `FETCH`, `SET TRANSACTION`, the replication
 * commands, `ORDER BY`, `ON CONFLICT`, …), any text given as the statement of a `query(…)` or
 * `copyIn(…)` call, and every template nested in either.
 *
 * What SQL may interpolate (`${…}`), and nothing else:
 *  - `quoteIdent(…)` — the one identifier helper (packages/core/src/Sql.ts);
 *  - a known constant: a value whose type is a number, a boolean, or a string-literal type
 *    or union of them (a closed set fixed at compile time: `TotesysTable`, `"public"`), a
 *    literal, or a `const` whose value is safe (followed through imports);
 *  - SQL-safe pieces: a call of a function of the project all of whose results are safe, a
 *    conditional of safe branches, a safe template, `list.map(safe).join(", ")`, a member
 *    of a `const` object or array all of whose values are safe.
 * A parameter, a property or a call result of type `string` is data, whatever its name.
 *
 * Also reported, even when the value is a constant: a `${…}` inside a SQL string literal
 * (`'${x}'`: values go as `$n` parameters) or inside double quotes (`"${x}"`: an identifier
 * quoted by hand), and a string doubling `"` or `'` outside Sql.ts (a second quoting
 * helper). A `quoteLiteral(…)` in SQL is reported too: it is right only where PostgreSQL
 * takes no parameter, which the caller's allow-list says, site by site, with the reason.
 *
 * Prose is not SQL: a message is checked only from a statement it holds after a colon
 * (`… run: ALTER ROLE …`), not where it merely mentions a SQL word.
 *
 * Invariants: reads the files only; a finding names `file:line`, the expression and why.
 */
import ts from "typescript"
import { relative } from "node:path"

export interface SqlFinding {
  /** Path relative to the root given. */
  readonly file: string
  /** 1-based line of the expression. */
  readonly line: number
  /** The interpolated (or concatenated) expression as written. */
  readonly expression: string
  readonly reason: string
}

/** A finding accepted on purpose: its file (relative), the expression as written, and why it is right. */
export interface Allowed {
  readonly file: string
  readonly expression: string
  readonly reason: string
}

/** SQL statements and clauses, in the upper case the project writes SQL in (`X` stands for an interpolation). */
const SQL_TEXT = new RegExp(
  [
    String.raw`\bSELECT\b[\s\S]*\bFROM\b`,
    String.raw`\bSELECT\s+(DISTINCT|\*|count\(|setval\(|pg_\w+\(|1\b|\$1)`,
    String.raw`\bINSERT\s+INTO\b`,
    String.raw`\bUPDATE\s+\S+(\s+(AS\s+)?\w+)?\s+SET\b`,
    String.raw`\bDELETE\s+FROM\b`,
    String.raw`\b(CREATE|ALTER|DROP)\s+(TEMP\b|TEMPORARY\b|UNLOGGED\b|UNIQUE\b|TABLE\b|INDEX\b|SCHEMA\b|PUBLICATION\b|ROLE\b|USER\b|DATABASE\b|VIEW\b|SEQUENCE\b|EXTENSION\b|FUNCTION\b|TRIGGER\b|TYPE\b|OR\s+REPLACE\b|SYSTEM\b)`,
    String.raw`\bGRANT\s+\S+[\s\S]*\b(ON|TO)\b`,
    String.raw`\bREVOKE\b`,
    String.raw`\bTRUNCATE\s+(TABLE\s+)?\S`,
    String.raw`\bCOPY\s+\S+[\s\S]*\b(FROM|TO)\s+(STDIN|STDOUT)\b`,
    String.raw`\bDECLARE\s+\S+[\s\S]*\bCURSOR\b`,
    String.raw`\bFETCH\s+\S+\s+FROM\b`,
    String.raw`\bSET\s+(TRANSACTION|LOCAL|SESSION|search_path|session_replication_role)\b`,
    String.raw`\b(START_REPLICATION|CREATE_REPLICATION_SLOT|DROP_REPLICATION_SLOT|IDENTIFY_SYSTEM)\b`,
    String.raw`\bORDER\s+BY\b`,
    String.raw`\bGROUP\s+BY\b`,
    String.raw`\bON\s+CONFLICT\b`,
    String.raw`\bRETURNING\b`
  ].join("|")
)

/** Words a statement starts with. */
const STATEMENT_START = String.raw`(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|GRANT|REVOKE|TRUNCATE|COPY|DECLARE|FETCH|SET|LOCK|ANALYZE|VACUUM|BEGIN|COMMIT|ROLLBACK|START_REPLICATION|CREATE_REPLICATION_SLOT|DROP_REPLICATION_SLOT)\b`

/**
 * Where the SQL of a template's text begins: at its start when it opens with a statement,
 * an interpolation or a parenthesis; else at a statement after a colon (`… run: ALTER ROLE
 * …`, `(fix: GRANT …)`). Undefined: prose that only mentions SQL words (`e.g. from SELECT
 * pg_current_wal_lsn()`), not SQL.
 */
const sqlStart = (text: string): number | undefined => {
  if (new RegExp(String.raw`^\s*(X|\(|${STATEMENT_START})`).test(text)) return 0
  const after = new RegExp(String.raw`:\s+(?=${STATEMENT_START})`).exec(text)
  return after === null ? undefined : after.index + after[0].length
}

/** Method names whose first argument is a statement. */
const STATEMENT_METHODS = new Set(["query", "copyIn"])

type Template = ts.TemplateExpression | ts.NoSubstitutionTemplateLiteral

/** The text of a template with each interpolation as `X`. */
const staticText = (node: Template): string =>
  ts.isNoSubstitutionTemplateLiteral(node) ? node.text : node.head.text + node.templateSpans.map((span) => `X${span.literal.text}`).join("")

const isStringish = (node: ts.Node): node is ts.StringLiteral | Template =>
  ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)

const textOf = (node: ts.StringLiteral | Template): string => (ts.isStringLiteral(node) ? node.text : staticText(node))

/** The operands of a chain of `+`, left to right. */
const plusOperands = (node: ts.Expression): ReadonlyArray<ts.Expression> =>
  ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken ? [...plusOperands(node.left), ...plusOperands(node.right)] : [node]

const unwrap = (node: ts.Expression): ts.Expression => {
  let current = node
  while (ts.isParenthesizedExpression(current) || ts.isAsExpression(current) || ts.isNonNullExpression(current) || ts.isSatisfiesExpression(current)) {
    current = current.expression
  }
  return current
}

/** Sql.ts, whose helpers are the rule rather than subject to it. */
const isSqlModule = (fileName: string) => fileName.endsWith("/packages/core/src/Sql.ts")

/**
 * The findings in `files` (absolute paths) of `program`, paths reported relative to `root`,
 * except those `allowed` names (same file and expression). Pure apart from reading the program.
 */
export const findSqlBuiltFromData = (
  program: ts.Program,
  files: ReadonlyArray<string>,
  root: string,
  allowed: ReadonlyArray<Allowed> = []
): ReadonlyArray<SqlFinding> => {
  const checker = program.getTypeChecker()
  const findings: Array<SqlFinding> = []
  const safeDeclarations = new Map<ts.Node, boolean>()
  /** SQL templates found, with where their SQL starts (0: all of it). */
  const sqlNodes = new Map<ts.TemplateExpression, number>()
  const addSql = (node: ts.TemplateExpression, start = 0) => {
    const known = sqlNodes.get(node)
    if (known === undefined || start < known) sqlNodes.set(node, start)
  }

  const where = (node: ts.Node) => {
    const source = node.getSourceFile()
    return { file: relative(root, source.fileName), line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 }
  }
  const report = (node: ts.Node, reason: string) => findings.push({ ...where(node), expression: node.getText(), reason })

  /** Number, boolean, or string/number literal types only: a closed set of constants. */
  const constantType = (type: ts.Type): boolean => {
    if (type.isUnion()) return type.types.every(constantType)
    const flags = type.getFlags()
    return (flags & (ts.TypeFlags.NumberLike | ts.TypeFlags.BigIntLike | ts.TypeFlags.BooleanLike | ts.TypeFlags.StringLiteral | ts.TypeFlags.EnumLike)) !== 0
  }

  const symbolOf = (node: ts.Node): ts.Symbol | undefined => {
    const symbol = checker.getSymbolAtLocation(node)
    return symbol !== undefined && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
  }

  const inProject = (node: ts.Node) => !node.getSourceFile().fileName.includes("/node_modules/")

  const calleeName = (call: ts.CallExpression): string | undefined => {
    const callee = unwrap(call.expression)
    return ts.isIdentifier(callee) ? (symbolOf(callee)?.getName() ?? callee.text) : undefined
  }

  /** The expressions a function can return. */
  const returnsOf = (fn: ts.SignatureDeclaration): ReadonlyArray<ts.Expression> | undefined => {
    if (!("body" in fn) || fn.body === undefined) return undefined
    const body = fn.body as ts.Node
    if (!ts.isBlock(body)) return [body as ts.Expression]
    const found: Array<ts.Expression> = []
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node)) return
      if (ts.isReturnStatement(node) && node.expression !== undefined) found.push(node.expression)
      ts.forEachChild(node, visit)
    }
    ts.forEachChild(body, visit)
    return found
  }

  /** A declaration (const, function) whose value is safe SQL; memoised, cycles assumed safe. */
  const safeDeclaration = (declaration: ts.Declaration): boolean => {
    if (isSqlModule(declaration.getSourceFile().fileName)) return ts.isVariableDeclaration(declaration) && declaration.name.getText() === "quoteIdent"
    const known = safeDeclarations.get(declaration)
    if (known !== undefined) return known
    safeDeclarations.set(declaration, true)
    let result = false
    if (inProject(declaration)) {
      if (ts.isVariableDeclaration(declaration) && declaration.initializer !== undefined && ts.getCombinedNodeFlags(declaration) & ts.NodeFlags.Const) {
        result = safeValue(declaration.initializer)
      } else if (ts.isFunctionDeclaration(declaration) || ts.isMethodDeclaration(declaration)) {
        const returns = returnsOf(declaration)
        result = returns !== undefined && returns.every(safe)
      }
    }
    safeDeclarations.set(declaration, result)
    return result
  }

  /** A `const` initializer: a safe expression, or an object/array literal of safe values. */
  const safeValue = (node: ts.Expression): boolean => {
    const value = unwrap(node)
    if (ts.isObjectLiteralExpression(value)) {
      return value.properties.every((p) => ts.isPropertyAssignment(p) && safeValue(p.initializer))
    }
    if (ts.isArrayLiteralExpression(value)) return value.elements.every((e) => !ts.isSpreadElement(e) && safeValue(e))
    if (ts.isArrowFunction(value) || ts.isFunctionExpression(value)) {
      const returns = returnsOf(value)
      return returns !== undefined && returns.every(safe)
    }
    return safe(value)
  }

  /** A function given to `.map`: `quoteIdent`, a safe function, or a function whose results are safe. */
  const safeMapper = (node: ts.Expression): boolean => {
    const fn = unwrap(node)
    if (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) {
      const returns = returnsOf(fn)
      return returns !== undefined && returns.every(safe)
    }
    if (ts.isIdentifier(fn)) {
      const symbol = symbolOf(fn)
      if (symbol?.getName() === "quoteIdent") return true
      return (symbol?.declarations ?? []).length > 0 && symbol!.declarations!.every((d) => safeDeclaration(d))
    }
    return false
  }

  /** An array whose elements are safe SQL (for `.join`). */
  const safeArray = (node: ts.Expression): boolean => {
    const array = unwrap(node)
    const type = checker.getTypeAtLocation(array)
    const element = checker.getIndexTypeOfType(type, ts.IndexKind.Number)
    if (element !== undefined && constantType(element)) return true
    if (ts.isArrayLiteralExpression(array)) return array.elements.every((e) => (ts.isSpreadElement(e) ? safeArray(e.expression) : safe(e)))
    if (ts.isCallExpression(array) && ts.isPropertyAccessExpression(array.expression)) {
      const method = array.expression.name.text
      if (method === "map" && array.arguments[0] !== undefined) return safeMapper(array.arguments[0])
      if (method === "filter" || method === "slice" || method === "concat") return safeArray(array.expression.expression)
    }
    if (ts.isIdentifier(array)) {
      const declarations = symbolOf(array)?.declarations ?? []
      return declarations.length > 0 && declarations.every((d) => safeDeclaration(d))
    }
    return false
  }

  /** An expression whose text may go into SQL as it is. */
  const safe = (node: ts.Expression): boolean => {
    const expr = unwrap(node)
    if (ts.isStringLiteral(expr) || ts.isNumericLiteral(expr) || ts.isNoSubstitutionTemplateLiteral(expr)) return true
    // A template inside SQL is SQL: its own interpolations are checked (and reported) where they are.
    if (ts.isTemplateExpression(expr)) {
      addSql(expr)
      return true
    }
    if (ts.isConditionalExpression(expr)) return safe(expr.whenTrue) && safe(expr.whenFalse)
    if (
      ts.isBinaryExpression(expr) &&
      [ts.SyntaxKind.PlusToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken].includes(expr.operatorToken.kind)
    ) {
      return safe(expr.left) && safe(expr.right)
    }
    if (ts.isCallExpression(expr)) {
      const name = calleeName(expr)
      if (name === "quoteIdent") return true
      if (name === "quoteLiteral") return false
      if (ts.isPropertyAccessExpression(expr.expression) && expr.expression.name.text === "join") {
        const separator = expr.arguments[0]
        return (separator === undefined || safe(separator)) && safeArray(expr.expression.expression)
      }
    }
    if (constantType(checker.getTypeAtLocation(expr))) return true
    if (ts.isIdentifier(expr)) {
      const declarations = symbolOf(expr)?.declarations ?? []
      return declarations.length > 0 && declarations.every((d) => safeDeclaration(d))
    }
    if (ts.isCallExpression(expr)) {
      const callee = unwrap(expr.expression)
      const declarations = (ts.isIdentifier(callee) || ts.isPropertyAccessExpression(callee) ? symbolOf(ts.isIdentifier(callee) ? callee : callee.name)?.declarations : undefined) ?? []
      return declarations.length > 0 && declarations.every((d) => safeDeclaration(d))
    }
    if (ts.isPropertyAccessExpression(expr) || ts.isElementAccessExpression(expr)) {
      // A member of a const object or array literal all of whose values are safe.
      const owner = unwrap(expr.expression)
      if (ts.isIdentifier(owner)) {
        const declarations = symbolOf(owner)?.declarations ?? []
        return declarations.length > 0 && declarations.every((d) => safeDeclaration(d))
      }
    }
    return false
  }

  /** Checks one interpolation (or `+` operand) of SQL text (`before`: the SQL before it): its value, and where it sits. */
  const checkPart = (expr: ts.Expression, before: string) => {
    const quotes = (char: string) => before.split(char).length - 1
    const call = ts.isCallExpression(unwrap(expr)) ? (unwrap(expr) as ts.CallExpression) : undefined
    if (call !== undefined && calleeName(call) === "quoteLiteral") {
      return report(expr, "a literal made in SQL text: pass the value as a $n parameter (quoteLiteral only where PostgreSQL takes none: allow it with the reason)")
    }
    if (quotes("'") % 2 === 1) return report(expr, "inside a SQL string literal: pass the value as a $n parameter")
    if (quotes("\"") % 2 === 1) return report(expr, "an identifier quoted by hand: use quoteIdent")
    if (!safe(expr)) report(expr, "data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters")
  }

  /** Checks the interpolations from character `start` of the template's text on (`X` per interpolation). */
  const checkTemplate = (template: ts.TemplateExpression, start: number) => {
    let before = template.head.text
    for (const span of template.templateSpans) {
      if (before.length >= start) checkPart(span.expression, before.slice(start))
      before += `X${span.literal.text}`
    }
  }

  const checkConcatenation = (operands: ReadonlyArray<ts.Expression>, start: number) => {
    let before = ""
    for (const operand of operands) {
      const value = unwrap(operand)
      if (isStringish(value)) {
        if (ts.isTemplateExpression(value)) addSql(value, Math.max(0, start - before.length))
        before += textOf(value)
      } else {
        if (before.length >= start) checkPart(operand, before.slice(start))
        before += "X"
      }
    }
  }

  /** Marks as SQL the templates a statement argument is, or comes from (a const, a function's results). */
  const markStatement = (node: ts.Expression, seen = new Set<ts.Node>()): void => {
    const expr = unwrap(node)
    if (seen.has(expr)) return
    seen.add(expr)
    if (ts.isTemplateExpression(expr)) return addSql(expr)
    if (ts.isConditionalExpression(expr)) return [expr.whenTrue, expr.whenFalse].forEach((e) => markStatement(e, seen))
    if (ts.isBinaryExpression(expr) && expr.operatorToken.kind === ts.SyntaxKind.PlusToken) return checkConcatenation(plusOperands(expr), 0)
    const target = ts.isCallExpression(expr) ? unwrap(expr.expression) : expr
    const name = ts.isIdentifier(target) ? target : ts.isPropertyAccessExpression(target) ? target.name : undefined
    for (const declaration of (name === undefined ? undefined : symbolOf(name)?.declarations) ?? []) {
      if (!inProject(declaration) || isSqlModule(declaration.getSourceFile().fileName)) continue
      if (ts.isVariableDeclaration(declaration) && declaration.initializer !== undefined) {
        const value = unwrap(declaration.initializer)
        if (ts.isArrowFunction(value) || ts.isFunctionExpression(value)) (returnsOf(value) ?? []).forEach((e) => markStatement(e, seen))
        else if (!ts.isCallExpression(expr)) markStatement(value, seen)
      } else if (ts.isFunctionDeclaration(declaration) || ts.isMethodDeclaration(declaration)) {
        ;(returnsOf(declaration) ?? []).forEach((e) => markStatement(e, seen))
      }
    }
  }

  const doubling = (call: ts.CallExpression): string | undefined => {
    if (!ts.isPropertyAccessExpression(call.expression) || !["replace", "replaceAll"].includes(call.expression.name.text)) return undefined
    const [from, to] = call.arguments
    if (from === undefined || to === undefined || !ts.isStringLiteralLike(to)) return undefined
    const fromText = ts.isStringLiteralLike(from) ? from.text : ts.isRegularExpressionLiteral(from) ? from.text.replace(/^\/|\/[a-z]*$/g, "") : undefined
    if (fromText === "\"" && to.text === "\"\"") return "identifier"
    if (fromText === "'" && to.text === "''") return "literal"
    return undefined
  }

  for (const fileName of files) {
    const source = program.getSourceFile(fileName)
    if (source === undefined) throw new Error(`not in the program: ${fileName}`)
    if (isSqlModule(fileName)) continue
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const method = ts.isPropertyAccessExpression(node.expression) ? node.expression.name.text : ts.isIdentifier(node.expression) ? node.expression.text : ""
        if (STATEMENT_METHODS.has(method) && node.arguments[0] !== undefined) markStatement(node.arguments[0])
        const kind = doubling(node)
        if (kind !== undefined) report(node, `a second ${kind} quoting helper: use ${kind === "identifier" ? "quoteIdent" : "quoteLiteral"} (packages/core/src/Sql.ts)`)
      }
      if (ts.isTemplateExpression(node) && SQL_TEXT.test(staticText(node))) {
        const start = sqlStart(staticText(node))
        if (start !== undefined) addSql(node, start)
      }
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken && !(ts.isBinaryExpression(node.parent) && node.parent.operatorToken.kind === ts.SyntaxKind.PlusToken)) {
        const operands = plusOperands(node)
        const text = operands.map((o) => unwrap(o)).map((o) => (isStringish(o) ? textOf(o) : "X")).join("")
        const start = sqlStart(text)
        if (operands.some((o) => !isStringish(unwrap(o))) && SQL_TEXT.test(text) && start !== undefined) checkConcatenation(operands, start)
      }
      ts.forEachChild(node, visit)
    }
    visit(source)
  }

  // Checking SQL finds the templates it interpolates, which are SQL too: until no new one.
  const checked = new Map<ts.Node, number>()
  for (;;) {
    const next = [...sqlNodes].filter(([node, start]) => (checked.get(node) ?? Infinity) > start)
    if (next.length === 0) break
    for (const [node, start] of next) {
      checked.set(node, start)
      checkTemplate(node, start)
    }
  }
  const key = (f: SqlFinding) => `${f.file}:${f.line}:${f.expression}:${f.reason}`
  return [...new Map(findings.map((f) => [key(f), f])).values()]
    .filter((f) => !allowed.some((a) => a.file === f.file && a.expression === f.expression))
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
}

/** A program over `files` with the repository's compiler options (tsconfig.base.json at `root`). */
export const makeProgram = (root: string, files: ReadonlyArray<string>, host?: ts.CompilerHost): ts.Program => {
  const config = ts.readConfigFile(`${root}/tsconfig.base.json`, ts.sys.readFile)
  if (config.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"))
  const { options } = ts.convertCompilerOptionsFromJson((config.config as { compilerOptions: unknown }).compilerOptions, root)
  return ts.createProgram({ rootNames: [...files], options, ...(host === undefined ? {} : { host }) })
}
