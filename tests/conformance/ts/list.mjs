// Lists an account's service tokens with the official TypeScript SDK, one JSON line each.
// The seed example, adapted only by environment: CLOUDFLARE_BASE_URL is read by the SDK
// itself; PER_PAGE, when set, is forwarded so that auto-pagination spans several pages.
import Cloudflare from 'cloudflare';

const client = new Cloudflare({
  apiToken: process.env.CLOUDFLARE_API_TOKEN,
});

const perPage = process.env.PER_PAGE ? { per_page: Number(process.env.PER_PAGE) } : {};

for await (const serviceToken of client.zeroTrust.access.serviceTokens.list({
  account_id: process.env.ACCOUNT_ID,
  ...perPage,
})) {
  console.log(JSON.stringify({ id: serviceToken.id, name: serviceToken.name }));
}
