// Baseline A: bare Fastify answering a fixed small JSON. The practical limit of the framework on
// this machine. Prints one JSON line { url } when listening.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ url: `${url}/hello`, pid: process.pid }) + '\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
