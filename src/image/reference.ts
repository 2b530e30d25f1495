// Image references as the Docker/OCI ecosystem writes them, normalized the way
// containerd and CRI-O report them: `busybox` is docker.io/library/busybox:latest.
import { isIPv6 } from 'node:net';
import { invalidArgument } from '../util/errors.js';
import { echo } from '../util/echo.js';

export const DEFAULT_REGISTRY = 'docker.io';

export interface Reference {
  /** host[:port], normalized (index.docker.io → docker.io). */
  registry: string;
  /** Repository path inside the registry, e.g. library/busybox. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Longest reference accepted (a repository name alone may have 255 characters). */
export const MAX_REFERENCE = 4096;

/** Whether a registry's host[:port] is one a URL can be made of: port 1–65535, a bracketed host an IPv6 address. */
function validRegistry(host: string): boolean {
  if (!DOMAIN.test(host)) return false;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  if (!m) return false;
  if (m[1]!.startsWith('[') && !isIPv6(m[1]!.slice(1, -1))) return false;
  return m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65535);
}

/** Parses and normalizes an image reference; throws InvalidArgument naming the input. */
export function parseReference(input: string): Reference {
  const bad = (why: string): never => {
    throw invalidArgument(`invalid image reference ${echo(input)}: ${why}`);
  };
  if (input === '') bad('empty');
  if (input.length > MAX_REFERENCE) bad(`longer than ${MAX_REFERENCE} characters`);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad(`digest ${echo(digest)} is not sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag ${echo(tag)} is not valid`);
  }
  // An image ID is not a name to pull (Docker's rule): it would become docker.io/library/<hex>.
  if (/^[a-f0-9]{64}$/.test(rest)) bad('a 64-character hexadecimal string is an image ID, not a repository name');
  let registry = DEFAULT_REGISTRY;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    rest = rest.slice(slash + 1);
    if (!validRegistry(registry)) bad(`registry ${echo(registry)} is not a valid host[:port] (port 1-65535)`);
    if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  }
  if (rest === '') bad('no repository name');
  const parts = rest.split('/');
  for (const p of parts) if (!COMPONENT.test(p)) bad(`repository component ${echo(p)} must be lowercase letters, digits and separators`);
  if (rest.length > 255) bad('repository name longer than 255 characters');
  if (registry === DEFAULT_REGISTRY && parts.length === 1) rest = `library/${rest}`;
  if (!tag && !digest) tag = 'latest';
  return { registry, repository: rest, tag, digest };
}

/** registry/repository */
export function repoName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

/** The normalized string: name:tag, name@digest or name:tag@digest. */
export function formatReference(r: Reference): string {
  return repoName(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** A bare image ID or ID prefix (hex, optionally `sha256:`), as kubelet and crictl pass them. */
export function asImageId(input: string): { full?: string; prefix?: string } | undefined {
  const hex = input.startsWith('sha256:') ? input.slice(7) : input;
  if (!/^[a-f0-9]+$/.test(hex)) return undefined;
  if (hex.length === 64) return { full: `sha256:${hex}` };
  // Short hex strings are ambiguous with repository names (`cafe`); prefixes
  // need at least 12 characters, as crictl prints them.
  if (hex.length >= 12 && (input.startsWith('sha256:') || hex.length < 64)) return { prefix: `sha256:${hex}` };
  return undefined;
}
