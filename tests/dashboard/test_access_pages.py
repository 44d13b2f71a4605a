"""The Access pages over HTTP: a policy naming a token, an application using the policy,
edits, the 12139 refusal when deleting a token a policy names, and deletions."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.dashboard.conftest import People, sign_in

_ID = re.compile(r'href="/accounts/[0-9a-f]{32}/(?:policies|apps|tokens)/([0-9a-f-]{36})"')


def test_policies_and_applications(browser: TestClient, people: People) -> None:
    csrf = sign_in(browser, people.email_a)
    base = f"/accounts/{people.account_a}"
    assert "No policies yet." in browser.get(f"{base}/policies").text
    assert "No applications yet." in browser.get(f"{base}/apps").text

    created = browser.post(
        f"{base}/tokens", data={"csrf_token": csrf, "name": "ci", "duration": "24h"}
    )
    token_id = created.headers["location"].split("/")[-2]
    form = browser.get(f"{base}/policies/new").text
    assert f'value="{token_id}"' in form  # the account's tokens are offered

    bad = browser.post(
        f"{base}/policies",
        data={"csrf_token": csrf, "name": "p", "decision": "non_identity", "include_json": "{"},
    )
    assert bad.status_code == 400
    assert "Other include rules must be a JSON list of rules" in bad.text

    saved = browser.post(
        f"{base}/policies",
        data={"csrf_token": csrf, "name": "ci only", "decision": "non_identity", "token": token_id},
    )
    assert saved.status_code == 303
    listing = browser.get(f"{base}/policies").text
    assert "ci only" in listing
    policy_id = _ID.findall(listing)[0]
    edit = browser.get(f"{base}/policies/{policy_id}").text
    assert f'value="{token_id}" checked' in edit

    in_use = browser.post(f"{base}/tokens/{token_id}/delete", data={"csrf_token": csrf})
    assert in_use.status_code == 400
    assert "an Access policy still names it (code 12139)" in in_use.text

    app = browser.post(
        f"{base}/apps",
        data={"csrf_token": csrf, "domain": "app.example.com", "policy": policy_id},
    )
    assert app.status_code == 303, app.text
    apps = browser.get(f"{base}/apps").text
    assert "app.example.com" in apps
    assert "ci only" in apps
    app_id = _ID.findall(apps)[0]
    renamed = browser.post(
        f"{base}/apps/{app_id}",
        data={"csrf_token": csrf, "domain": "app.example.com", "name": "The app"},
    )
    assert renamed.status_code == 303
    assert "The app" in browser.get(f"{base}/apps").text
    claimed = browser.post(f"{base}/apps", data={"csrf_token": csrf, "domain": "app.example.com"})
    assert claimed.status_code == 409

    unconfirmed = browser.post(f"{base}/apps/{app_id}/delete", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 400
    for path in (f"apps/{app_id}", f"policies/{policy_id}"):
        done = browser.post(f"{base}/{path}/delete", data={"csrf_token": csrf, "confirm": "yes"})
        assert done.status_code == 303, done.text
    assert (
        browser.post(f"{base}/tokens/{token_id}/delete", data={"csrf_token": csrf}).status_code
        == 303
    )
    audit = browser.get(f"{base}/audit?action=access_policy.create").text
    assert "access_policy.create" in audit
    assert "<td>service_token.create</td>" not in audit
    assert "<td>access_policy.create</td>" in audit


def test_organization_is_shown_read_only(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    page = browser.get(f"/accounts/{people.account_a}/organization")
    assert page.status_code == 200
    assert "no Access organization yet" in page.text


def test_audit_filters_refuse_a_bad_date(browser: TestClient, people: People) -> None:
    sign_in(browser, people.email_a)
    page = browser.get(f"/accounts/{people.account_a}/audit?since=yesterday")
    assert page.status_code == 400
    assert 'id="since-error">From must be a date (YYYY-MM-DD)' in page.text
