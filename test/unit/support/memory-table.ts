/**
 * An in-memory table behind `mockClient(DynamoDBDocumentClient)`: just enough of Get, Put, Update, Delete and
 * Query (with the condition and update expressions `DynamoDbProfileStore` writes) for handler tests that
 * count AWS calls. Real DynamoDB semantics are tested against dynalite in test/integration.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DeleteCommandInput,
  type DynamoDBDocumentClient,
  type GetCommandInput,
  type PutCommandInput,
  type QueryCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';

type Item = Record<string, unknown>;
type Names = Record<string, string> | undefined;
type Values = Record<string, unknown> | undefined;

export interface MemoryTable {
  /** Items by `pk|sk`; tests may read them. */
  items: Map<string, Item>;
  /** The item under a key, or undefined. */
  get(pk: string, sk: string): Item | undefined;
}

const keyOf = (key: Record<string, unknown> | undefined): string => `${String(key?.['pk'])}|${String(key?.['sk'])}`;
const clone = <T>(value: T): T => structuredClone(value);

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ $metadata: {}, message: 'The conditional request failed' });
}

const name = (token: string, names: Names): string => (token.startsWith('#') ? (names?.[token] ?? token) : token);
const value = (token: string, values: Values): unknown => values?.[token];

/**
 * Condition expressions: `attribute_exists(a)`, `attribute_not_exists(a)`, comparisons (`=`, `<>`, `<`,
 * `<=`, `>`, `>=`) of attributes and values, `AND`, `OR`, `NOT` and parentheses. A comparison with a missing
 * attribute is false, as in DynamoDB.
 */
function holds(condition: string | undefined, item: Item | undefined, names: Names, values: Values): boolean {
  if (!condition) return true;
  const tokens = condition.match(/\(|\)|<>|<=|>=|=|<|>|[#:]?\w+/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string): string => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token.toUpperCase() !== expected)) {
      throw new Error(`memory table: cannot parse condition "${condition}"`);
    }
    return token;
  };
  const operand = (token: string): unknown => (token.startsWith(':') ? value(token, values) : item?.[name(token, names)]);
  const compare = (left: unknown, op: string, right: unknown): boolean => {
    if (left === undefined || right === undefined) return false;
    if (op === '=') return JSON.stringify(left) === JSON.stringify(right);
    if (op === '<>') return JSON.stringify(left) !== JSON.stringify(right);
    if (typeof left !== typeof right || (typeof left !== 'number' && typeof left !== 'string')) return false;
    const [l, r] = [left as number | string, right as number | string];
    return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
  };
  const primary = (): boolean => {
    const token = take();
    if (token === '(') {
      const inner = or();
      take(')');
      return inner;
    }
    if (token.toUpperCase() === 'NOT') return !primary();
    if (token === 'attribute_exists' || token === 'attribute_not_exists') {
      take('(');
      const attribute = name(take(), names);
      const present = item !== undefined && item[attribute] !== undefined;
      take(')');
      return token === 'attribute_exists' ? present : !present;
    }
    const op = take();
    if (!['=', '<>', '<', '<=', '>', '>='].includes(op)) throw new Error(`memory table: cannot parse condition "${condition}"`);
    const right = take();
    return compare(operand(token), op, operand(right));
  };
  const and = (): boolean => {
    let result = primary();
    while (peek()?.toUpperCase() === 'AND') {
      take();
      result = primary() && result;
    }
    return result;
  };
  const or = (): boolean => {
    let result = and();
    while (peek()?.toUpperCase() === 'OR') {
      take();
      result = and() || result;
    }
    return result;
  };
  const result = or();
  if (at !== tokens.length) throw new Error(`memory table: cannot parse condition "${condition}"`);
  return result;
}

/** `SET #a = :v, #b = #b + :n, #c = if_not_exists(#c, :v)` and `REMOVE #c, #d`, in either order. */
function applyUpdate(item: Item, expression: string, names: Names, values: Values): void {
  const clauses = expression.trim().split(/\s*\b(SET|REMOVE)\s+/).slice(1);
  if (clauses.length === 0) throw new Error(`memory table: unsupported update "${expression}"`);
  for (let i = 0; i < clauses.length; i += 2) {
    const keyword = clauses[i]!.toUpperCase();
    // Commas inside `if_not_exists(…)` do not separate actions.
    const actions = clauses[i + 1]!.split(/,(?![^(]*\))/);
    if (keyword === 'REMOVE') {
      for (const attribute of actions) delete item[name(attribute.trim(), names)];
      continue;
    }
    for (const assignment of actions) {
      const increment = /^\s*(#?\w+)\s*=\s*(#?\w+)\s*\+\s*(:\w+)\s*$/.exec(assignment);
      if (increment) {
        item[name(increment[1]!, names)] = Number(item[name(increment[2]!, names)] ?? 0) + Number(value(increment[3]!, values));
        continue;
      }
      const ifAbsent = /^\s*(#?\w+)\s*=\s*if_not_exists\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)\s*$/.exec(assignment);
      if (ifAbsent) {
        item[name(ifAbsent[1]!, names)] = item[name(ifAbsent[2]!, names)] ?? clone(value(ifAbsent[3]!, values));
        continue;
      }
      const set = /^\s*(#?\w+)\s*=\s*(:\w+)\s*$/.exec(assignment);
      if (!set) throw new Error(`memory table: unsupported assignment "${assignment}"`);
      item[name(set[1]!, names)] = clone(value(set[2]!, values));
    }
  }
}

/** `#pk = :pk` with an optional `AND #sk <= :v` on the table or an index. */
function query(items: Iterable<Item>, input: QueryCommandInput): Item[] {
  const names = input.ExpressionAttributeNames;
  const values = input.ExpressionAttributeValues;
  const match = /^(#\w+)\s*=\s*(:\w+)(?:\s+AND\s+(#\w+)\s*<=\s*(:\w+))?$/.exec(input.KeyConditionExpression?.trim() ?? '');
  if (!match) throw new Error(`memory table: unsupported key condition "${input.KeyConditionExpression}"`);
  const pk = name(match[1]!, names);
  const sk = match[3] ? name(match[3], names) : undefined;
  return [...items]
    .filter((item) => item[pk] === value(match[2]!, values))
    .filter((item) => sk === undefined || (typeof item[sk] === 'string' && (item[sk] as string) <= String(value(match[4]!, values))))
    .sort((a, b) => (sk ? String(a[sk]).localeCompare(String(b[sk])) : 0))
    .map(clone);
}

/** Installs the table's behaviour on a (freshly reset) document client mock. */
export function installMemoryTable(mock: AwsClientStub<DynamoDBDocumentClient>): MemoryTable {
  const items = new Map<string, Item>();
  mock.on(GetCommand).callsFake(async (input: GetCommandInput) => {
    const item = items.get(keyOf(input.Key));
    return { $metadata: {}, ...(item ? { Item: clone(item) } : {}) };
  });
  mock.on(PutCommand).callsFake(async (input: PutCommandInput) => {
    const key = keyOf(input.Item);
    if (!holds(input.ConditionExpression, items.get(key), input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw conditionFailed();
    }
    items.set(key, clone(input.Item as Item));
    return { $metadata: {} };
  });
  mock.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
    const key = keyOf(input.Key);
    const existing = items.get(key);
    if (!holds(input.ConditionExpression, existing, input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw conditionFailed();
    }
    const item = clone(existing ?? { ...input.Key });
    applyUpdate(item, input.UpdateExpression ?? '', input.ExpressionAttributeNames, input.ExpressionAttributeValues);
    items.set(key, item);
    return { $metadata: {}, Attributes: clone(item) };
  });
  mock.on(DeleteCommand).callsFake(async (input: DeleteCommandInput) => {
    const key = keyOf(input.Key);
    const existing = items.get(key);
    if (!holds(input.ConditionExpression, existing, input.ExpressionAttributeNames, input.ExpressionAttributeValues)) {
      throw conditionFailed();
    }
    items.delete(key);
    return { $metadata: {}, ...(existing && input.ReturnValues === 'ALL_OLD' ? { Attributes: clone(existing) } : {}) };
  });
  mock.on(QueryCommand).callsFake(async (input: QueryCommandInput) => ({ $metadata: {}, Items: query(items.values(), input) }));
  return {
    items,
    get: (pk, sk) => items.get(`${pk}|${sk}`),
  };
}
