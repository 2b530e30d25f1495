import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '../util/errors.js';
import { readRegularFile, UnreadableFile } from '../util/bounded-read.js';

/** Largest /etc/passwd or /etc/group read from an image. */
const MAX_ACCOUNTS_FILE = 4 * 1024 * 1024;

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplemental groups, the image's /etc/group memberships included. */
  additionalGids: number[];
  /** Name from the image's /etc/passwd, for HOME and messages. */
  name?: string;
  home?: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

/**
 * Reads a file from the image's layers, topmost layer first (layerDirs is
 * lowest first). Only a regular file below real directories counts: a
 * symlink would be followed on the host, not in the image, and a FIFO or
 * device could block or never end; either is taken as no file.
 */
export async function readImageFile(layerDirs: readonly string[], path: string): Promise<string | undefined> {
  const parents = path.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
  for (let i = layerDirs.length - 1; i >= 0; i--) {
    try {
      for (const p of parents) {
        const st = await lstat(join(layerDirs[i]!, p)).catch(() => undefined);
        if (st && !st.isDirectory()) return undefined;
      }
      return (await readRegularFile(join(layerDirs[i]!, path), MAX_ACCOUNTS_FILE, { noFollow: true })).toString('utf8');
    } catch (err) {
      if (err instanceof UnreadableFile && err.reason === 'missing') continue; // not in this layer
      return undefined;
    }
  }
  return undefined;
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  return (text ?? '').split('\n').flatMap((l) => {
    const f = l.split(':');
    if (f.length < 7 || l.startsWith('#')) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }];
  });
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  return (text ?? '').split('\n').flatMap((l) => {
    const f = l.split(':');
    if (f.length < 4 || l.startsWith('#')) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) }];
  });
}

export interface UserRequest {
  runAsUser?: number;
  runAsUsername: string;
  runAsGroup?: number;
  supplementalGroups: number[];
  /** The image config's User, used when the request names no user. */
  imageUser: string;
}

const isNumeric = (s: string): boolean => /^\d+$/.test(s);

/**
 * The user a container runs as, following kubelet's rules: run_as_user or
 * run_as_username win over the image's User; names resolve in the image's
 * /etc/passwd; the primary group comes from run_as_group, the user spec or
 * passwd; /etc/group adds the user's memberships.
 */
export function resolveUser(req: UserRequest, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  let userPart: string;
  let groupPart: string | undefined;
  if (req.runAsUser !== undefined) userPart = String(req.runAsUser);
  else if (req.runAsUsername !== '') userPart = req.runAsUsername;
  else {
    const [u, g] = req.imageUser.split(':');
    userPart = u || '0';
    groupPart = g || undefined;
  }
  if (req.runAsGroup !== undefined && req.runAsUser === undefined && req.runAsUsername === '') {
    throw invalidArgument('security_context.run_as_group is set without run_as_user or run_as_username');
  }
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isNumeric(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument(`user "${userPart}" not found in the image's /etc/passwd`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`group "${groupPart}" not found in the image's /etc/group`);
      gid = g.gid;
    }
  }
  if (req.runAsGroup !== undefined) gid = req.runAsGroup;
  // Like initgroups(3): the primary group is also a supplementary one.
  const extra = new Set<number>([gid]);
  if (entry) for (const g of groups) if (g.members.includes(entry.name)) extra.add(g.gid);
  for (const g of req.supplementalGroups) extra.add(g);
  return { uid, gid, additionalGids: [...extra].sort((a, b) => a - b), name: entry?.name, home: entry?.home };
}
