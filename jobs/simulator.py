"""The simulator's own webhooks (queue `simulator`): post one, signed with the
current Signature Key, to GATEWAY_SIMULATOR_WEBHOOK_URL; a refusal raises, and
RQ retries on the webhook schedule."""

from __future__ import annotations

import httpx

from gateway.processors.simulator.webhooks import webhook_url
from jobs.context import job_context, job_processors

POST_TIMEOUT_S = 10.0


async def post_simulator_webhook(notification_id: str) -> str:
    async with job_context("post_simulator_webhook") as job:
        url = webhook_url(job.settings)
        keys = job.settings.processor.authorize_net_signature_keys
        if url is None or not keys:
            return "disabled"
        async with (
            job_processors(job) as processors,
            httpx.AsyncClient(timeout=POST_TIMEOUT_S) as client,
        ):
            return await processors.simulator.post_webhook(
                notification_id, url=url, key=keys[0], client=client
            )
