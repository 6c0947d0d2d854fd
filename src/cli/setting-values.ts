/** Reading the text of server settings that hold more than one value, for `slotstream doctor`. */

/**
 * Whether a libpq connection string names a database: `dbname=…` in the keyword form, or a path (or a
 * `dbname` parameter) in the URI form. A standby's slot sync connects to that database, and refuses to
 * run without one.
 *
 * @example
 * ```ts
 * conninfoHasDbname("host=primary user=replicator dbname='postgres'"); // true
 * conninfoHasDbname('postgresql://replicator@primary:5432');          // false
 * ```
 */
export function conninfoHasDbname(conninfo: string): boolean {
  const text = conninfo.trim();
  const uri = /^postgres(?:ql)?:\/\/[^/?]*(\/[^?]*)?(\?.*)?$/.exec(text);
  if (uri) return (uri[1] ?? '').length > 1 || /(?:^\?|&)dbname=[^&]/.test(uri[2] ?? '');
  return /(?:^|\s)dbname\s*=\s*(?:'(?:[^'\\]|\\.)+'|[^\s']+)/.test(text);
}

/**
 * A list setting such as synchronized_standby_slots as names, the way the server splits it: at commas,
 * blanks trimmed, a double-quoted name taken as written and any other folded to lower case.
 *
 * @example
 * ```ts
 * parseSlotList('standby_1, "Standby_2"'); // ['standby_1', 'Standby_2']
 * parseSlotList('');                        // []
 * ```
 */
export function parseSlotList(list: string): string[] {
  return list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
    .map((item) =>
      item.length > 1 && item.startsWith('"') && item.endsWith('"')
        ? item.slice(1, -1).replaceAll('""', '"')
        : item.toLowerCase(),
    );
}
