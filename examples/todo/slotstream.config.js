import { defineConfig } from 'slotstream/cli';
import { todos } from './streams.js';

/**
 * What `npx slotstream …` knows about this project (it finds this file in the working directory):
 * `migrate` applies slotstream's schema, then ./migrations, then makes publication `todo` cover the
 * streams' tables; `tail` and `slots peek` decode through that publication unless told otherwise.
 */
export default defineConfig({
  streams: [todos],
  migrations: { directory: './migrations' },
  publication: 'todo',
});
