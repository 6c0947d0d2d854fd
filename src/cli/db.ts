import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { embeddedBinaries } from '../devdb/binaries.ts';
import { LocalCluster } from '../devdb/local-cluster.ts';
import { type Command, UsageError } from './command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, embeddedDataDir, resolveConnection } from './connection.ts';

/** The development database: print its URL (starting the embedded cluster if needed), or stop it. */
export const db: Command = {
  name: 'db',
  summary: 'the database commands use: `db url` prints it, `db stop` stops the embedded cluster',
  usage: [
    'usage: slotstream db url [--database-url URL]',
    '       slotstream db stop',
    '',
    '  url                 print the connection URL (starting the embedded cluster when it is the one)',
    '  stop                stop the embedded cluster of this directory (its data stays)',
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
      const dataDir = embeddedDataDir();
      // postmaster.pid exists while the server runs; without it, starting the cluster just to stop it
      // would be silly.
      if (!existsSync(path.join(dataDir, 'postmaster.pid'))) {
        console.log(`the embedded cluster in ${dataDir} is not running`);
        return undefined;
      }
      const cluster = await LocalCluster.start({ binaries: embeddedBinaries(), dataDir });
      await cluster.stop();
      console.log(`stopped the embedded cluster in ${dataDir}`);
    } else {
      throw new UsageError(
        action === undefined ? 'missing action: url or stop' : `unknown action '${action}'`,
      );
    }
    return undefined;
  },
};
