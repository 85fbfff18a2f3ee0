// Baseline B: the classic Express stack most Node APIs run today. Express 5 + helmet +
// express-rate-limit + express.json + an authenticateToken middleware that verifies an HS256 JWT
// with jsonwebtoken from `Authorization: Bearer` and returns the token's user as JSON.
// Prints one JSON line { url, token, user } when listening.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import jwt from 'jsonwebtoken';

// As in the tutorials: the secret is a string, handed to jsonwebtoken on every call.
const TOKEN_SECRET = randomBytes(32).toString('hex');

function authenticateToken(req, res, next) {
  const header = req.headers.authorization;
  const token = header && header.split(' ')[1];
  if (token == null) return res.sendStatus(401);
  jwt.verify(token, TOKEN_SECRET, { algorithms: ['HS256'] }, (err, user) => {
    if (err) return res.sendStatus(403);
    req.user = user;
    next();
  });
}

const app = express();
app.use(helmet());
// A limit no benchmark reaches: the limiter still counts every request.
app.use(rateLimit({ windowMs: 60_000, limit: 1_000_000, standardHeaders: 'draft-7' }));
app.use(express.json());
app.get('/api/users/me', authenticateToken, (req, res) => {
  res.json({ id: req.user.sub, email: req.user.email, role: req.user.role });
});

const user = {
  sub: 'a0c1e7f2-5b7e-4c55-9d64-2f0c3a1b9e10',
  email: 'bench@example.com',
  role: 'user',
};
const token = jwt.sign(user, TOKEN_SECRET, { algorithm: 'HS256', expiresIn: '15m' });
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(
    JSON.stringify({
      url: `http://127.0.0.1:${port}/api/users/me`,
      token,
      user,
      pid: process.pid,
    }) + '\n',
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
