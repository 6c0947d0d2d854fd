/** Reading list and connection-string settings for `slotstream doctor`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conninfoHasDbname, parseSlotList } from '../../src/cli/setting-values.ts';

test('conninfoHasDbname: keyword and URI forms', () => {
  assert.equal(conninfoHasDbname('host=primary port=5432 user=replicator dbname=postgres'), true);
  assert.equal(conninfoHasDbname("host=primary dbname = 'my db' application_name=s1"), true);
  assert.equal(conninfoHasDbname('host=primary user=replicator application_name=s1'), false);
  assert.equal(conninfoHasDbname("host=primary dbname=''"), false);
  assert.equal(conninfoHasDbname('host=primary mydbname=x'), false);
  assert.equal(conninfoHasDbname('postgresql://replicator@primary:5432/postgres?sslmode=require'), true);
  assert.equal(conninfoHasDbname('postgres://replicator@primary:5432?dbname=postgres'), true);
  assert.equal(conninfoHasDbname('postgresql://replicator@primary:5432'), false);
  assert.equal(conninfoHasDbname('postgresql://replicator@primary:5432/'), false);
});

test('parseSlotList: split at commas, trimmed, quoted names as written', () => {
  assert.deepEqual(parseSlotList(''), []);
  assert.deepEqual(parseSlotList('standby_1'), ['standby_1']);
  assert.deepEqual(parseSlotList(' standby_1 , "Standby_2",STANDBY_3 '), [
    'standby_1',
    'Standby_2',
    'standby_3',
  ]);
});
