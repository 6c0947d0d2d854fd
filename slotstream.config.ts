/**
 * This repository's project config: the reference chat deployment, as any service would declare itself to
 * the `slotstream` command — its schema (migrations, streams, publication) and the commands it adds
 * (`start`, `reader`, `writer`).
 */
import { defineConfig } from 'slotstream/cli';
import { reader } from './app/cli/reader.ts';
import { start } from './app/cli/start.ts';
import { writer } from './app/cli/writer.ts';
import { CHAT_SCHEMA } from './app/schema.ts';

export default defineConfig({ ...CHAT_SCHEMA, commands: [start, reader, writer] });
