import { parseArgs } from 'node:util';
import type pg from 'pg';
import { connectReplication, connectSql } from '../replication/connect.ts';
import { formatLsn } from '../replication/lsn.ts';
import { validatePublicationName, validateSlotName } from '../replication/names.ts';
import { createSlot, dropSlot, getSlot, listSlots, type SlotInfo } from '../replication/slots.ts';
import { type Command, UsageError } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, resolveConnection } from './connection.ts';
import { LineWriter } from './line-writer.ts';
import { SlotActiveError, SlotNotFoundError, SlotPluginError } from './slot-errors.ts';
import { peekChanges } from './slot-peek.ts';
import { formatSlotTable, slotRow } from './slots-list.ts';

const DEFAULT_PEEK_LIMIT = 1000;

export const slots: Command = {
  name: 'slots',
  summary: 'list, create, drop, reset or peek at replication slots',
  usage: [
    'usage: slotstream slots [list] [--json]',
    '       slotstream slots create NAME [--no-failover]',
    '       slotstream slots drop NAME',
    '       slotstream slots reset NAME',
    `       slotstream slots peek NAME [--limit N] [--publication NAME]`,
    '',
    '  list                every slot on the server: name, plugin, database, active pid, confirmed_flush_lsn,',
    '                      lag bytes (WAL not yet confirmed), wal_status, safe_wal_size, and on PostgreSQL 17+',
    '                      inactive since, failover (synced to standbys) and synced (from the primary, here)',
    '  create NAME         a pgoutput slot in this database; prints its consistent point. On PostgreSQL 17+',
    '                      (a primary) it is a failover slot, which a promoted standby keeps',
    '  --no-failover       create: an ordinary slot even where a failover slot could be made',
    '  drop NAME           drops the slot (refused while a process uses it: stop that one first)',
    '  reset NAME          drops the slot and creates it again at the current position (a failover slot if it',
    '                      was one), skipping every change it still held: the way past a change its reader',
    '                      cannot decode (SchemaChangeError). The reader starts afresh there; refused while in use',
    '  peek NAME           the pending changes, decoded like `slotstream tail` prints them, without consuming',
    '                      them; needs the slot idle',
    '  --json              list: a JSON array instead of the table',
    `  --limit N           peek: stop after the transaction that reaches N pgoutput messages (default ${DEFAULT_PEEK_LIMIT})`,
    "  --publication NAME  peek: default the project's (slotstream.config), else slotstream",
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv, project) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...CONNECTION_OPTIONS,
        json: { type: 'boolean', default: false },
        limit: { type: 'string' },
        publication: { type: 'string' },
        // node:util's parseArgs on Node 20 has no negated booleans: the negative is an option of its own.
        'no-failover': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: true,
    });
    const [action = 'list', name, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (action === 'list') {
      if (name !== undefined) throw new UsageError(`unexpected argument '${name}'`);
    } else if (action === 'create' || action === 'drop' || action === 'reset' || action === 'peek') {
      if (name === undefined) throw new UsageError(`slots ${action} needs a slot NAME`);
      // Before any connection: a bad name must not touch the server.
      validateSlotName(name);
    } else {
      throw new UsageError(`unknown action '${action}': list, create, drop, reset or peek`);
    }
    if (values.limit !== undefined && action !== 'peek') throw new UsageError('--limit goes with peek');
    if (values['no-failover'] && action !== 'create') throw new UsageError('--no-failover goes with create');
    const limit = parseLimit(values.limit);
    const publication = validatePublicationName(values.publication ?? project.publication);

    const connection = await resolveConnection({
      databaseUrl: values['database-url'],
      log: (line) => console.error(line),
    });
    try {
      const url = connection.url;
      if (action === 'list') await list(url, values.json);
      else if (action === 'create') await create(url, name as string, !values['no-failover']);
      else if (action === 'drop') await drop(url, name as string);
      else if (action === 'reset') await reset(url, name as string);
      else await peek(url, name as string, publication, limit);
    } finally {
      await connection.close();
    }
    return undefined;
  },
};

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PEEK_LIMIT;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--limit wants a positive integer, not '${text}'`);
  return Number(text);
}

async function list(url: string, json: boolean): Promise<void> {
  const client = await connectSql({ connectionString: url });
  try {
    const rows = (await listSlots(client)).map(slotRow);
    console.log(json ? JSON.stringify(rows, null, 2) : formatSlotTable(rows));
  } finally {
    await client.end();
  }
}

/** `failover` false: an ordinary slot; true: the default, a failover slot where the server can make one. */
async function create(url: string, name: string, failover: boolean): Promise<void> {
  const replication = await connectReplication({ connectionString: url });
  try {
    // No snapshot: nobody here would read it.
    const created = await createSlot(replication, name, {
      exportSnapshot: false,
      failover: failover ? undefined : false,
    });
    const kind = created.failover ? 'pgoutput, failover' : 'pgoutput';
    console.log(`created slot ${name} (${kind}) at consistent point ${formatLsn(created.consistentPoint)}`);
  } finally {
    await replication.end();
  }
}

async function drop(url: string, name: string): Promise<void> {
  const client = await connectSql({ connectionString: url });
  try {
    await dropIdle(client, name, 'drop');
    console.log(`dropped slot ${name}`);
  } finally {
    await client.end();
  }
}

/**
 * Drops `name` and creates it again at the server's current position, as the failover slot or the ordinary
 * one it was. A reader that starts on it begins afresh there: it reads its starting position from the
 * database, and its clients' older tokens are answered from the database, not from the skipped changes.
 */
async function reset(url: string, name: string): Promise<void> {
  const client = await connectSql({ connectionString: url });
  let failover: boolean;
  let skipped: bigint | null;
  try {
    const slot = await dropIdle(client, name, 'reset');
    failover = slot.failover === true;
    skipped = slot.lagBytes;
  } finally {
    await client.end();
  }
  console.log(
    `dropped slot ${name}, skipping ${skipped === null ? 'what it held' : `${skipped} bytes of WAL it held`}`,
  );
  await create(url, name, failover);
}

/** Drops a pgoutput slot no process uses, and returns what it was; `doing` names the action for errors. */
async function dropIdle(client: pg.Client, name: string, doing: string): Promise<SlotInfo> {
  const slot = await getSlot(client, name);
  if (!slot) throw new SlotNotFoundError(name);
  if (slot.plugin !== 'pgoutput' && doing === 'reset') throw new SlotPluginError(name, slot.plugin);
  if (slot.active) throw new SlotActiveError(name, slot.activePid, doing);
  try {
    await dropSlot(client, name);
  } catch (err) {
    // Taken between the check and the drop.
    if ((err as { code?: string }).code === '55006') {
      const now = await getSlot(client, name);
      throw new SlotActiveError(name, now?.activePid ?? null, doing);
    }
    throw err;
  }
  return slot;
}

async function peek(url: string, name: string, publication: string, limit: number): Promise<void> {
  const client = await connectSql({ connectionString: url });
  const changes = await peekChanges(client, { slot: name, publication, limit }).finally(() => client.end());
  const out = new LineWriter(process.stdout);
  try {
    for (const text of changes) {
      const full = out.write(text);
      if (full) await full;
    }
    await out.flushed();
  } finally {
    out.release();
  }
}
