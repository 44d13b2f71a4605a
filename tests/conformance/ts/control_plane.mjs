// Creates a reusable Service Auth policy and a self-hosted application using it with the
// official TypeScript SDK, then lists both (auto-paginating), one JSON line per object:
// {"kind": "created-policy"|"created-app"|"policy"|"app", ...}.
// Environment: CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN, ACCOUNT_ID, NAME, DOMAIN, PER_PAGE.
import Cloudflare from 'cloudflare';

const client = new Cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN });
const account_id = process.env.ACCOUNT_ID;
const per_page = Number(process.env.PER_PAGE || '1000');

const policy = await client.zeroTrust.access.policies.create({
  account_id,
  name: process.env.NAME,
  decision: 'non_identity',
  include: [{ any_valid_service_token: {} }],
});
console.log(JSON.stringify({ kind: 'created-policy', id: policy.id, name: policy.name,
  decision: policy.decision, include: policy.include, app_count: policy.app_count }));

const app = await client.zeroTrust.access.applications.create({
  account_id,
  domain: process.env.DOMAIN,
  type: 'self_hosted',
  name: process.env.NAME,
  policies: [policy.id],
});
console.log(JSON.stringify({ kind: 'created-app', id: app.id, aud: app.aud, domain: app.domain,
  type: app.type, policies: app.policies.map((p) => ({ id: p.id, precedence: p.precedence })) }));

for await (const listed of client.zeroTrust.access.policies.list({ account_id, per_page })) {
  console.log(JSON.stringify({ kind: 'policy', id: listed.id, app_count: listed.app_count }));
}
for await (const listed of client.zeroTrust.access.applications.list({ account_id, per_page })) {
  console.log(JSON.stringify({ kind: 'app', id: listed.id, name: listed.name }));
}
