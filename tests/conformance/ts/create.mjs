// Creates one service token with the official TypeScript SDK and prints it as one JSON line.
// Environment: CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN, ACCOUNT_ID, TOKEN_NAME, and
// optionally DURATION.
import Cloudflare from 'cloudflare';

const client = new Cloudflare({
  apiToken: process.env.CLOUDFLARE_API_TOKEN,
});

const params = { account_id: process.env.ACCOUNT_ID, name: process.env.TOKEN_NAME };
if (process.env.DURATION) {
  params.duration = process.env.DURATION;
}

const serviceToken = await client.zeroTrust.access.serviceTokens.create(params);
console.log(
  JSON.stringify({
    id: serviceToken.id,
    name: serviceToken.name,
    client_id: serviceToken.client_id,
    client_secret: serviceToken.client_secret,
    duration: serviceToken.duration,
  }),
);
