import { readFileSync } from 'node:fs';

/**
 * The numeric ID of a group given by name or number. Names are looked up in
 * the group file only: berthd starts before any network directory service
 * could answer, and a socket's group is a local one.
 */
export function groupId(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of readFileSync(groupFile, 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`group "${group}" does not exist in ${groupFile}`);
}
