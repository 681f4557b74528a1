// ioredis against the server on 127.0.0.1:$REDDWARF_PORT.
// Run through `go test ./redis-tests` (clients_test.go), or by hand:
//   REDDWARF_PORT=6380 node --test
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import Redis from 'ioredis';

const port = Number(process.env.REDDWARF_PORT);
if (!port) throw new Error('REDDWARF_PORT is not set');

const opened = [];
function connect(opts = {}) {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, ...opts });
  opened.push(c);
  return c;
}
after(() => { for (const c of opened) c.disconnect(); });

test('set and get round-trip strings and buffers', async () => {
  const c = connect();
  await c.flushall();
  assert.equal(await c.set('node:k', 'value'), 'OK');
  assert.equal(await c.get('node:k'), 'value');
  assert.equal(await c.get('node:missing'), null);
  await c.set('node:bin', Buffer.from([0, 255, 13, 10]));
  assert.deepEqual(await c.getBuffer('node:bin'), Buffer.from([0, 255, 13, 10]));
  assert.equal(await c.set('node:k', 'v2', 'EX', 100, 'GET'), 'value');
  assert.equal(await c.ttl('node:k'), 100);
});

test('errors reach the caller with the Redis text', async () => {
  const c = connect();
  await c.set('node:s', 'abc');
  await assert.rejects(c.incr('node:s'), { message: 'ERR value is not an integer or out of range' });
});

test('a pipeline returns one [err, result] per command, in order', async () => {
  const c = connect();
  const p = c.pipeline();
  for (let i = 0; i < 100; i++) p.incr('node:counter');
  p.get('node:counter');
  const res = await p.exec();
  assert.equal(res.length, 101);
  assert.deepEqual(res[0], [null, 1]);
  assert.deepEqual(res[99], [null, 100]);
  assert.deepEqual(res[100], [null, '100']);
});

test('multi/exec is atomic and watch aborts on a change', async () => {
  const c = connect();
  const res = await c.multi().set('node:m', '1').incr('node:m').exec();
  assert.deepEqual(res, [[null, 'OK'], [null, 2]]);
  const w = connect();
  await w.watch('node:m');
  await c.set('node:m', '10');
  assert.equal(await w.multi().incr('node:m').exec(), null);
  assert.equal(await c.get('node:m'), '10');
});

test('pub/sub delivers messages and pattern messages', async () => {
  const sub = connect();
  const pub = connect();
  await sub.subscribe('node:ch');
  await sub.psubscribe('node:p.*');
  const got = new Promise((resolve) => {
    const seen = [];
    const done = () => { if (seen.length === 2) resolve(seen.sort()); };
    sub.on('message', (ch, msg) => { seen.push(`${ch}=${msg}`); done(); });
    sub.on('pmessage', (pat, ch, msg) => { seen.push(`${pat}:${ch}=${msg}`); done(); });
  });
  assert.equal(await pub.publish('node:ch', 'hello'), 1);
  assert.equal(await pub.publish('node:p.x', 'world'), 1);
  assert.deepEqual(await got, ['node:ch=hello', 'node:p.*:node:p.x=world']);
});

test('hello 2 through ioredis describes the server as a flat array', async () => {
  const c = connect();
  const reply = await c.call('HELLO', '2');
  const m = new Map();
  for (let i = 0; i < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  assert.equal(m.get('proto'), 2);
  assert.equal(m.get('mode'), 'standalone');
  assert.equal(m.get('role'), 'master');
});

// ioredis 5 parses RESP2 only, so RESP3 is checked on a plain socket.
test('hello 3 switches the connection to RESP3 (map, null, push)', async () => {
  const sock = net.createConnection({ host: '127.0.0.1', port });
  opened.push({ disconnect: () => sock.destroy() });
  let buf = '';
  sock.setEncoding('latin1');
  const waitFor = (re) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re} in ${JSON.stringify(buf)}`)), 3000);
    const check = () => {
      const m = buf.match(re);
      if (m) { clearTimeout(t); sock.off('data', onData); buf = buf.slice(m.index + m[0].length); resolve(m); }
    };
    const onData = (d) => { buf += d; check(); };
    sock.on('data', onData);
    check();
  });
  await new Promise((resolve) => sock.once('connect', resolve));
  sock.write('HELLO 3\r\n');
  await waitFor(/^%7\r\n/);
  await waitFor(/\$5\r\nproto\r\n:3\r\n/);
  await waitFor(/modules\r\n\*0\r\n/);
  sock.write('GET node:nosuch\r\n');
  await waitFor(/^_\r\n/);
  sock.write('SUBSCRIBE node:push\r\n');
  await waitFor(/^>3\r\n\$9\r\nsubscribe\r\n\$9\r\nnode:push\r\n:1\r\n/);
  // Listen before publishing: the push may arrive before PUBLISH's reply.
  const pushed = waitFor(/^>3\r\n\$7\r\nmessage\r\n\$9\r\nnode:push\r\n\$2\r\nhi\r\n/);
  const pub = connect();
  assert.equal(await pub.publish('node:push', 'hi'), 1);
  await pushed;
});

test('hashes, lists, sets and sorted sets through ioredis', async () => {
  const c = connect();
  await c.flushall();
  assert.equal(await c.hset('node:h', { a: '1', b: '2' }), 2);
  assert.deepEqual(await c.hgetall('node:h'), { a: '1', b: '2' });
  assert.equal(await c.hincrby('node:h', 'a', 5), 6);
  assert.equal(await c.rpush('node:l', 'x', 'y', 'z'), 3);
  assert.deepEqual(await c.lrange('node:l', 0, -1), ['x', 'y', 'z']);
  assert.equal(await c.sadd('node:s', 3, 1, 2), 3);
  assert.deepEqual(await c.smembers('node:s'), ['1', '2', '3']);
  assert.equal(await c.zadd('node:z', 2, 'b', 1, 'a'), 2);
  assert.deepEqual(await c.zrange('node:z', 0, -1, 'WITHSCORES'), ['a', '1', 'b', '2']);
  await assert.rejects(c.lpush('node:h', 'v'), { message: /^WRONGTYPE/ });
});

test('a BLPOP on one connection is served by an RPUSH on another', async () => {
  const waiter = connect();
  const pusher = connect();
  await pusher.del('node:queue');
  const popped = waiter.blpop('node:queue', 5);
  // Let the BLPOP reach the server before the push.
  for (let i = 0; i < 100; i++) {
    const info = await pusher.info('clients');
    if (/blocked_clients:1/.test(info)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await pusher.rpush('node:queue', 'job1');
  assert.deepEqual(await popped, ['node:queue', 'job1']);
});

test('a stream work queue through ioredis: a blocked XREADGROUP worker, XACK, XAUTOCLAIM', async () => {
  const producer = connect();
  const worker = connect();
  await producer.del('node:jobs');
  assert.equal(await producer.xgroup('CREATE', 'node:jobs', 'workers', '$', 'MKSTREAM'), 'OK');
  const read = worker.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 10, 'BLOCK', 5000, 'STREAMS', 'node:jobs', '>');
  for (let i = 0; i < 100; i++) {
    const info = await producer.info('clients');
    if (/blocked_clients:1/.test(info)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const id = await producer.xadd('node:jobs', '*', 'task', 'resize', 'n', '1');
  assert.deepEqual(await read, [['node:jobs', [[id, ['task', 'resize', 'n', '1']]]]]);
  const [count, first, last, owners] = await producer.xpending('node:jobs', 'workers');
  assert.deepEqual([count, first, last, owners], [1, id, id, [['w1', '1']]]);
  // A second worker takes over what the first left pending.
  const [cursor, claimed, deleted] = await producer.xautoclaim('node:jobs', 'workers', 'w2', 0, '0', 'JUSTID');
  assert.deepEqual([cursor, claimed, deleted], ['0-0', [id], []]);
  assert.equal(await producer.xack('node:jobs', 'workers', id), 1);
  assert.equal(await producer.xlen('node:jobs'), 1);
  assert.equal(await producer.type('node:jobs'), 'stream');
});
