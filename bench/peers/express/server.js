// Peer (a) of baton's benchmark: the refresh-token server that a developer following the widely
// known tutorial "JWT Authentication Tutorial - Node.js" (Web Dev Simplified) ends up with.
//
// Taken from the tutorial (authServer.js and server.js), kept as written there:
//   - `let refreshTokens = []`: refresh tokens live in an in-memory array, looked up with
//     `refreshTokens.includes(token)` (a linear scan) and never pruned except by /logout;
//   - POST /login -> { accessToken, refreshToken }: the access token is
//     `jwt.sign(user, ACCESS_TOKEN_SECRET, { expiresIn: ... })`, the refresh token is
//     `jwt.sign(user, REFRESH_TOKEN_SECRET)` (no expiry) pushed into the array; `user` is `{ name }`;
//   - POST /token { token } -> { accessToken }: 401 without a token, 403 when it is not in the
//     array or `jwt.verify` fails; no rotation: the same refresh token stays valid;
//   - DELETE /logout { token } -> 204, filtering the token out of the array;
//   - GET /posts behind the tutorial's `authenticateToken` middleware: `Authorization: Bearer ...`,
//     401 without a token, 403 when `jwt.verify` fails; req.user is the token's payload;
//   - HS256 (jsonwebtoken's default), one secret for access tokens and another for refresh tokens.
//
// Changed or added for the benchmark:
//   - access tokens last '15m' instead of the tutorial's '15s', so the benchmark's tokens stay
//     valid for a whole run;
//   - the secrets are `crypto.createSecretKey(Buffer.from(secret))` KeyObjects (the "key objects"
//     variant; jsonwebtoken 9 accepts them); they come from ACCESS_TOKEN_SECRET and
//     REFRESH_TOKEN_SECRET as in the tutorial (which loads them from .env with dotenv; here they are
//     plain environment variables), and when unset each is `crypto.randomBytes(64).toString('hex')`,
//     the tutorial's own recipe for making them;
//   - ONE process on one port serves both the auth routes (the tutorial's authServer.js, port
//     4000) and /posts (the tutorial's server.js, port 3000); the code of each is unchanged;
//   - the tutorial's /login checks no password. To compare like with like, users register with
//     POST /users { username, password } -> 201, stored in memory (a Map by username; 409 for a
//     name already taken) with a bcryptjs hash of cost 10, as in the tutorial series' companion
//     bcrypt video (`bcrypt.hash(password, 10)`, checked with `bcrypt.compare`); /login takes
//     { username, password } and answers 401 when the user is unknown or the password is wrong
//     (the companion video answers 400 / "Not Allowed");
//   - GET /posts answers { username, posts } where posts is the tutorial's filter of its posts
//     array by req.user.name (the benchmark user has none, so it is an empty list);
//   - the tutorial's `console.log(err)` in authenticateToken (one log line per request) is
//     dropped; listening only on 127.0.0.1, port from the environment variable PORT (required);
//     prints `listening on http://127.0.0.1:PORT` once it accepts connections.
'use strict'

const crypto = require('crypto')
const express = require('express')
const jwt = require('jsonwebtoken')
const bcrypt = require('bcryptjs')

const port = Number.parseInt(process.env.PORT || '', 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('PORT must be set to a TCP port (1-65535)')
  process.exit(2)
}

const ACCESS_TOKEN_SECRET = crypto.createSecretKey(
  Buffer.from(process.env.ACCESS_TOKEN_SECRET || crypto.randomBytes(64).toString('hex'))
)
const REFRESH_TOKEN_SECRET = crypto.createSecretKey(
  Buffer.from(process.env.REFRESH_TOKEN_SECRET || crypto.randomBytes(64).toString('hex'))
)

const app = express()
app.use(express.json())

// --- added: registration with bcrypt-hashed passwords (companion video) ---------------------
const users = new Map() // username -> { name, password: bcrypt hash }

app.post('/users', async (req, res) => {
  const { username, password } = req.body || {}
  if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
    return res.sendStatus(400)
  }
  if (users.has(username)) return res.sendStatus(409)
  try {
    const hashedPassword = await bcrypt.hash(password, 10)
    if (users.has(username)) return res.sendStatus(409)
    users.set(username, { name: username, password: hashedPassword })
    res.status(201).json({ username })
  } catch {
    res.sendStatus(500)
  }
})

// --- the tutorial's authServer.js ---------------------------------------------------------------
let refreshTokens = []

app.post('/token', (req, res) => {
  const refreshToken = req.body.token
  if (refreshToken == null) return res.sendStatus(401)
  if (!refreshTokens.includes(refreshToken)) return res.sendStatus(403)
  jwt.verify(refreshToken, REFRESH_TOKEN_SECRET, (err, user) => {
    if (err) return res.sendStatus(403)
    const accessToken = generateAccessToken({ name: user.name })
    res.json({ accessToken: accessToken })
  })
})

app.delete('/logout', (req, res) => {
  refreshTokens = refreshTokens.filter(token => token !== req.body.token)
  res.sendStatus(204)
})

app.post('/login', async (req, res) => {
  // Authenticate User (added: the tutorial leaves this step out)
  const { username, password } = req.body || {}
  const stored = typeof username === 'string' ? users.get(username) : undefined
  let ok = false
  try {
    ok = stored != null && typeof password === 'string' && (await bcrypt.compare(password, stored.password))
  } catch {
    ok = false
  }
  if (!ok) return res.sendStatus(401)

  const user = { name: username }
  const accessToken = generateAccessToken(user)
  const refreshToken = jwt.sign(user, REFRESH_TOKEN_SECRET)
  refreshTokens.push(refreshToken)
  res.json({ accessToken: accessToken, refreshToken: refreshToken })
})

function generateAccessToken (user) {
  return jwt.sign(user, ACCESS_TOKEN_SECRET, { expiresIn: '15m' })
}

// --- the tutorial's server.js ---------------------------------------------------------------------
const posts = [
  { username: 'Kyle', title: 'Post 1' },
  { username: 'Jim', title: 'Post 2' }
]

app.get('/posts', authenticateToken, (req, res) => {
  res.json({ username: req.user.name, posts: posts.filter(post => post.username === req.user.name) })
})

function authenticateToken (req, res, next) {
  const authHeader = req.headers['authorization']
  const token = authHeader && authHeader.split(' ')[1]
  if (token == null) return res.sendStatus(401)

  jwt.verify(token, ACCESS_TOKEN_SECRET, (err, user) => {
    if (err) return res.sendStatus(403)
    req.user = user
    next()
  })
}

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`)
})
server.on('error', err => {
  console.error(err.message)
  process.exit(1)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0))
}
