// Creates a webhook destination and a notification policy for
// expiring_service_token_alert with the official TypeScript SDK, then lists both
// (auto-paginating) and reads the policy back, one JSON line per object:
// {"kind": "created-webhook"|"created-policy"|"webhook"|"policy"|"fetched-policy", ...}.
// Environment: CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN, ACCOUNT_ID, NAME, RECEIVER_URL.
import Cloudflare from 'cloudflare';

const client = new Cloudflare({ apiToken: process.env.CLOUDFLARE_API_TOKEN, maxRetries: 0 });
const account_id = process.env.ACCOUNT_ID;
const alerting = client.alerting;

const webhook = await alerting.destinations.webhooks.create({
  account_id,
  name: process.env.NAME,
  url: process.env.RECEIVER_URL,
  secret: 's3cret',
});
console.log(JSON.stringify({ kind: 'created-webhook', id: webhook.id }));

const policy = await alerting.policies.create({
  account_id,
  name: process.env.NAME,
  alert_type: 'expiring_service_token_alert',
  enabled: true,
  mechanisms: { webhooks: [{ id: webhook.id }] },
});
console.log(JSON.stringify({ kind: 'created-policy', id: policy.id }));

for await (const listed of alerting.destinations.webhooks.list({ account_id })) {
  console.log(JSON.stringify({ kind: 'webhook', id: listed.id, name: listed.name,
    type: listed.type, url: listed.url, secret: listed.secret ?? null }));
}
for await (const listed of alerting.policies.list({ account_id })) {
  console.log(JSON.stringify({ kind: 'policy', id: listed.id, name: listed.name,
    alert_type: listed.alert_type, enabled: listed.enabled, mechanisms: listed.mechanisms }));
}
const fetched = await alerting.policies.get(policy.id, { account_id });
console.log(JSON.stringify({ kind: 'fetched-policy', id: fetched.id, alert_type: fetched.alert_type }));
