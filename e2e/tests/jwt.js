// Signs access tokens for the e2e tests with the project's JWT secret
// (exported by e2e/run.sh), as the auth capability would issue them.
import crypto from 'node:crypto';

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

export function signJWT(payload, secret = process.env.JWT_SECRET) {
  if (!secret) throw new Error('JWT_SECRET is not set: run the suite with e2e/run.sh');
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  const sig = crypto.createHmac('sha256', secret).update(data).digest('base64url');
  return `${data}.${sig}`;
}

// userToken is an access token of a signed-in user.
export function userToken(sub, { expiresIn = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJWT({ sub, role: 'authenticated', aud: 'authenticated', iat: now, exp: now + expiresIn });
}
