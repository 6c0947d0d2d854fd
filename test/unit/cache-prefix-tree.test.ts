import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKey } from '../../src/cache/key.ts';
import { PrefixTree } from '../../src/cache/prefix-tree.ts';

test('set, get and delete; deleting prunes every node the key alone needed', () => {
  const tree = new PrefixTree<number>();
  tree.set(['a', 'b', 'c'], 1);
  tree.set(['a', 'b', 'd'], 2);
  tree.set(['x'], 3);
  assert.equal(tree.size, 3);
  assert.equal(tree.nodes, 5); // a, a/b, a/b/c, a/b/d, x
  assert.equal(tree.get(['a', 'b', 'c']), 1);
  assert.equal(tree.get(['a', 'b']), undefined, 'an inner node holds no value');
  assert.equal(tree.delete(['a', 'b']), false);
  assert.equal(tree.delete(['a', 'b', 'c']), true);
  assert.equal(tree.delete(['a', 'b', 'c']), false, 'already gone');
  assert.equal(tree.nodes, 4);
  assert.equal(tree.delete(['a', 'b', 'd']), true);
  assert.equal(tree.nodes, 1, 'a and a/b pruned with their last key');
  assert.equal(tree.delete(['x']), true);
  assert.deepEqual([tree.size, tree.nodes], [0, 0]);
});

test('take hands over exactly what lies under a prefix and prunes the emptied ancestors', () => {
  const tree = new PrefixTree<string>();
  for (const key of [
    ['!r1', '$a'],
    ['!r1', '$b'],
    ['!r2', '$a'],
    ['!r10', '$a'],
  ]) {
    tree.set(key, encodeKey(key));
  }
  assert.deepEqual(tree.take(['!r1']).sort(), ['["!r1","$a"]', '["!r1","$b"]']);
  assert.equal(tree.size, 2);
  assert.equal(tree.nodes, 4, '!r2, !r2/$a, !r10, !r10/$a');
  assert.equal(tree.get(['!r10', '$a']), '["!r10","$a"]', 'a longer sibling name is not under the prefix');
  assert.deepEqual(tree.take(['!r1']), [], 'nothing left');
  assert.deepEqual(tree.take(['!nope', '$a']), []);
  assert.deepEqual(tree.take(['!r2', '$a']), ['["!r2","$a"]'], 'a full key is its own prefix');
  assert.equal(tree.nodes, 2);
  assert.deepEqual(tree.take([]), ['["!r10","$a"]'], 'the empty prefix takes everything');
  assert.deepEqual([tree.size, tree.nodes], [0, 0]);
});

test('keys of different lengths share nodes; undefined is a storable value', () => {
  const tree = new PrefixTree<number | undefined>();
  tree.set(['a'], 1);
  tree.set(['a', 'b'], undefined);
  assert.equal(tree.size, 2);
  assert.equal(tree.nodes, 2);
  assert.equal(tree.delete(['a']), true);
  assert.equal(tree.nodes, 2, 'a still leads to a/b');
  assert.deepEqual(tree.take(['a']), [undefined]);
  assert.deepEqual([tree.size, tree.nodes], [0, 0]);
  tree.set(['a', 'b', 'c'], 1);
  tree.set(['a'], 2);
  assert.deepEqual(tree.take(['a', 'b']), [1]);
  assert.equal(tree.nodes, 1, 'a keeps its own value');
});

test('overwriting a key keeps one entry', () => {
  const tree = new PrefixTree<number>();
  tree.set(['k'], 1);
  tree.set(['k'], 2);
  assert.deepEqual([tree.size, tree.nodes, tree.get(['k'])], [1, 1, 2]);
});

test('elements are compared whole: separators inside them mean nothing', () => {
  const tree = new PrefixTree<number>();
  tree.set(['a|b'], 1);
  tree.set(['a', 'b'], 2);
  tree.set(['a,b'], 3);
  assert.deepEqual(tree.take(['a']), [2]);
  assert.equal(tree.get(['a|b']), 1);
  assert.equal(tree.get(['a,b']), 3);
});
