// BullMQ doing real work against the server on REDDWARF_PORT: its Lua
// scripts (EVALSHA with cmsgpack and cjson), BZPOPMIN/blocking waits,
// streams (QueueEvents reads XREAD BLOCK), delayed and prioritized jobs,
// retries with backoff, and a parent/child flow.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents, FlowProducer } from 'bullmq';

const connection = { host: '127.0.0.1', port: Number(process.env.REDDWARF_PORT), maxRetriesPerRequest: null };
const opened = [];
after(async () => {
  for (const o of opened.reverse()) await o.close();
});

test('a worker processes every job a queue is given, in priority order, with retries and delays', async () => {
  const name = 'work' + Date.now();
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  opened.push(queue, events);
  await events.waitUntilReady();
  const seen = [];
  let attempts = 0;
  const worker = new Worker(name, async (job) => {
    if (job.name === 'flaky') {
      attempts++;
      if (attempts < 3) throw new Error('not yet');
    }
    seen.push(job.name);
    return { doubled: job.data.n * 2 };
  }, { connection, autorun: false });
  opened.push(worker);

  const jobs = [];
  for (let i = 0; i < 20; i++) jobs.push(await queue.add('plain' + i, { n: i }));
  const urgent = await queue.add('urgent', { n: 100 }, { priority: 1 });
  const delayed = await queue.add('delayed', { n: 7 }, { delay: 300 });
  const flaky = await queue.add('flaky', { n: 5 }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
  assert.equal(await queue.count(), 23); // waiting, prioritized and delayed

  const done = Promise.all([...jobs, urgent, delayed, flaky].map((j) => j.waitUntilFinished(events, 20000)));
  worker.run();
  const results = await done;
  assert.deepEqual(results.slice(0, 20), jobs.map((_, i) => ({ doubled: i * 2 })));
  assert.deepEqual(results.slice(20), [{ doubled: 200 }, { doubled: 14 }, { doubled: 10 }]);
  assert.equal(attempts, 3);
  assert.equal(seen.length, 23);
  assert.ok(seen.indexOf('delayed') > seen.indexOf('plain0'), 'the delayed job ran after the ready ones');
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
  assert.deepEqual(counts, { completed: 23, failed: 0, waiting: 0, delayed: 0, active: 0 });
  const f = await queue.getJob(flaky.id);
  assert.equal(f.attemptsMade, 3);
  assert.deepEqual(f.returnvalue, { doubled: 10 });
});

test('a job that keeps failing ends failed with its reason', async () => {
  const name = 'fail' + Date.now();
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  opened.push(queue, events);
  await events.waitUntilReady();
  const worker = new Worker(name, async () => { throw new Error('always broken'); }, { connection });
  opened.push(worker);
  const job = await queue.add('bad', {}, { attempts: 2 });
  await assert.rejects(job.waitUntilFinished(events, 20000), /always broken/);
  const failed = await queue.getFailed();
  assert.equal(failed.length, 1);
  assert.equal(failed[0].failedReason, 'always broken');
  assert.equal(failed[0].attemptsMade, 2);
});

test('a parent job runs after its children, reading their results', async () => {
  const name = 'flow' + Date.now();
  const flow = new FlowProducer({ connection });
  const events = new QueueEvents(name, { connection });
  opened.push(flow, events);
  await events.waitUntilReady();
  const worker = new Worker(name, async (job) => {
    if (job.name === 'sum') {
      const vals = Object.values(await job.getChildrenValues());
      return vals.reduce((a, b) => a + b, 0);
    }
    return job.data.v;
  }, { connection });
  opened.push(worker);
  const tree = await flow.add({
    name: 'sum', queueName: name,
    children: [1, 2, 3, 4].map((v) => ({ name: 'leaf', queueName: name, data: { v } })),
  });
  assert.equal(await tree.job.waitUntilFinished(events, 20000), 10);
});
