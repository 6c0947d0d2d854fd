import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { embeddedBinaries } from '../devdb/binaries.ts';
import { LocalCluster } from '../devdb/local-cluster.ts';
import { type Command, UsageError } from './command.ts';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  EMBEDDED_DATABASE,
  embeddedDataDir,
  resolveConnection,
} from './connection.ts';
import { EMBEDDED_STANDBY_SLOT, embeddedStandbyDataDir, promoteEmbeddedStandby } from './embedded-standby.ts';

/**
 * The development database: print its URL (starting the embedded cluster if needed), stop it and its
 * standby, or promote the standby.
 */
export const db: Command = {
  name: 'db',
  summary:
    'the database commands use: `db url` prints it, `db stop` stops the embedded clusters, `db promote` its standby',
  usage: [
    'usage: slotstream db url [--database-url URL]',
    '       slotstream db stop',
    '       slotstream db promote',
    '',
    '  url                 print the connection URL (starting the embedded cluster when it is the one)',
    '  stop                stop the embedded cluster of this directory, and its standby if it has one (their',
    '                      data stays)',
    '  promote             promote the embedded standby (`slotstream start --standby`): it stops following',
    '                      .slotstream/pg and takes writes; readers on it keep their slots and go on',
    CONNECTION_USAGE,
  ].join('\n'),

  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: CONNECTION_OPTIONS,
      strict: true,
      allowPositionals: true,
    });
    const [action, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    if (action === 'url') {
      const connection = await resolveConnection({
        databaseUrl: values['database-url'],
        log: (line) => console.error(line),
      });
      console.log(connection.url);
      await connection.close();
    } else if (action === 'stop') {
      // The standby first: stopped after its primary, it would spend its last moments reconnecting.
      if (existsSync(embeddedStandbyDataDir())) await stop('standby', embeddedStandbyDataDir());
      await stop('cluster', embeddedDataDir());
    } else if (action === 'promote') {
      const { standby, slot } = await promoteEmbeddedStandby();
      console.log(
        `promoted the embedded standby in ${standby.dataDir}: ${standby.url(EMBEDDED_DATABASE)} takes writes ` +
          'now, writes made on .slotstream/pg no longer reach it, and readers on it keep their slots.',
      );
      if (slot === 'dropped') console.log(`dropped its slot ${EMBEDDED_STANDBY_SLOT} on .slotstream/pg.`);
      if (slot === 'kept')
        console.log(
          `.slotstream/pg is not running: its slot ${EMBEDDED_STANDBY_SLOT} there pins WAL until ` +
            `\`slotstream slots drop ${EMBEDDED_STANDBY_SLOT}\` (once it runs).`,
        );
      console.log(`\`slotstream start --standby\` makes a new standby once ${standby.dataDir} is removed.`);
    } else {
      throw new UsageError(
        action === undefined ? 'missing action: url, stop or promote' : `unknown action '${action}'`,
      );
    }
    return undefined;
  },
};

/** Stops the embedded cluster (or standby) in `dataDir`, saying what it did. */
async function stop(what: 'cluster' | 'standby', dataDir: string): Promise<void> {
  // postmaster.pid exists while the server runs; without it, starting the cluster just to stop it would be
  // silly.
  if (!existsSync(path.join(dataDir, 'postmaster.pid'))) {
    console.log(`the embedded ${what} in ${dataDir} is not running`);
    return;
  }
  const cluster = await LocalCluster.start({ binaries: embeddedBinaries(), dataDir });
  await cluster.stop();
  console.log(`stopped the embedded ${what} in ${dataDir}`);
}
