/** The `slotstream` process (bin/slotstream.js imports this): dispatch, then exit with its code. */
import { commands } from './commands.ts';
import { dispatch } from './dispatch.ts';

process.exitCode = await dispatch(process.argv.slice(2), commands, {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  env: process.env,
});
