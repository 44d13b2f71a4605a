"""What the API's start-up leaves alive is frozen out of the cyclic collector's sight (as
the gate's is), so a full collection under load walks only what requests allocate
(issue 13: the collector was ~20 % of the event loop's busy time under get at 10^6)."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.usecases.facade import UseCases


def test_start_up_freezes_what_it_leaves_alive(service: UseCases) -> None:
    gc.unfreeze()  # whatever an earlier app froze in this test process
    assert gc.get_freeze_count() == 0
    app = create_app(service)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
