import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';
import { protoPath } from '../cri/proto-path.js';

let root: protobuf.Root | undefined;

function lookup(name: string): protobuf.Type {
  root ??= protobuf.loadSync(protoPath);
  return root.lookupType(`runtime.v1.${name}`);
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * crictl-style config files use the schema's snake_case names; the client
 * speaks camelCase. Map keys (labels, annotations, sysctls) stay untouched, so
 * the walk follows the schema instead of renaming every key.
 */
export function toMessageShape(typeName: string, value: unknown): Record<string, unknown> {
  return convert(lookup(typeName), value) as Record<string, unknown>;
}

function convert(type: protobuf.Type, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = camel(k);
    const field = type.fields[name];
    if (!field) throw new Error(`unknown field "${k}" in ${type.name}`);
    field.resolve();
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (field.map) {
      out[name] = sub
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([mk, mv]) => [mk, convert(sub, mv)]))
        : v;
    } else if (field.repeated && Array.isArray(v)) {
      out[name] = sub ? v.map((x) => convert(sub, x)) : v;
    } else {
      out[name] = sub ? convert(sub, v) : v;
    }
  }
  return out;
}

/** Reads a JSON or YAML file holding a message of `typeName`. */
export function readMessageFile(path: string, typeName: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  const data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  return toMessageShape(typeName, data);
}
