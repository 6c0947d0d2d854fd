import { tableStream } from 'slotstream';

/**
 * The service's one stream: the todos table. The columns are declared once, as PostgreSQL types; readers
 * check them against the database at start, and the row type (`RowOf<typeof todos.columns>`) comes from
 * them. `keys` names who is woken by a change: the todo's owner.
 */
export const todos = tableStream({
  name: 'todos',
  position: 'position',
  columns: {
    id: 'text',
    owner: 'text',
    title: 'text',
    done: 'bool',
    position: 'int8',
  },
  keys: (u) => {
    const row = u.row ?? u.old; // the old row of a delete (whole, under REPLICA IDENTITY FULL)
    return row?.owner === undefined ? [] : [row.owner];
  },
});

/** @typedef {import('slotstream').RowOf<typeof todos.columns>} Todo */
